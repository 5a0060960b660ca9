"""What the CLI prints: aligned tables (wide characters included), sentences, event lines, JSON, error lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import grpc

from users_client import errors, messages, models, output

T = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
ADA = models.User("11111111-1111-1111-1111-111111111111", "Ada", 2, T, T)
CJK = models.User("22222222-2222-2222-2222-222222222222", "山田太郎", 1, T, T)


def test_a_table_aligns_columns_by_display_width_with_wide_characters() -> None:
    lines = output.table(["NAME", "N"], [["山田", "1"], ["Ada Lovelace", "22"]]).splitlines()
    assert lines == ["NAME          N", "山田          1", "Ada Lovelace  22"]


def test_the_users_table_puts_the_name_last() -> None:
    lines = output.users_table([ADA, CJK]).splitlines()
    assert lines[0].split() == ["ID", "VERSION", "UPDATED", "NAME"]
    assert lines[1] == f"{ADA.id}  2        2025-01-02T03:04:05Z  Ada"
    assert lines[2].endswith("  山田太郎")
    assert len({line.index("UPDATED" if i == 0 else "2025") for i, line in enumerate(lines)}) == 1


def test_json_uses_snake_case_numbers_and_utc_times() -> None:
    body = json.loads(output.to_json(models.Written(ADA, 9)))
    assert body == {
        "user": {
            "id": ADA.id,
            "name": "Ada",
            "version": 2,
            "create_time": "2025-01-02T03:04:05.678000Z",
            "update_time": "2025-01-02T03:04:05.678000Z",
        },
        "position": 9,
    }
    assert json.loads(output.to_json(models.Page([CJK], "")))["users"][0]["name"] == "山田太郎"


def test_stream_messages_are_json_lines_keyed_by_their_kind() -> None:
    event = models.Event(5, "UserEdited", ADA.id, 2, "Ada", T)
    assert json.loads(output.stream_json(event))["event"]["type"] == "UserEdited"
    assert json.loads(output.stream_json(models.CaughtUp(5))) == {"caught_up": {"position": 5}}
    assert json.loads(output.stream_json(models.Heartbeat(6))) == {"heartbeat": {"position": 6}}


def test_an_event_line_shows_time_position_type_user_version_and_name() -> None:
    line = output.event_line(models.Event(12, "UserAdded", ADA.id, 1, "Ada", T))
    assert line.split() == ["2025-01-02T03:04:05Z", "12", "UserAdded", ADA.id, "v1", '"Ada"']
    assert output.event_line(models.Event(13, "UserDeleted", ADA.id, 3, "", T)).endswith("v3")


def test_event_type_names_follow_the_proto_enum() -> None:
    assert models.EVENT_TYPES == {"UserAdded": 1, "UserEdited": 2, "UserDeleted": 3, "UserForgotten": 4}


def unavailable(reason: str = "", message: str = "down") -> errors.Unavailable:
    return errors.Unavailable(
        message, code=grpc.StatusCode.UNAVAILABLE, reason=reason, service="query service", address="localhost:50052"
    )


def test_each_error_class_has_its_own_exit_code() -> None:
    cases = [
        errors.NotFound("x"),
        errors.VersionConflict("x", metadata={"current_version": "4"}),
        errors.InvalidArgument("name: must not be empty"),
        errors.RequestIdReused("x"),
        unavailable(),
        errors.DeadlineExceeded("x"),
        errors.UsersError("boom", code=grpc.StatusCode.INTERNAL),
    ]
    codes = [messages.describe(error)[1] for error in cases]
    assert codes == [3, 4, 2, 6, 5, 7, 1]


def test_an_unreachable_service_and_a_service_that_says_why_read_differently() -> None:
    assert (
        messages.describe(unavailable())[0]
        == "cannot reach the query service at localhost:50052 — is `make run` running?"
    )
    line, code = messages.describe(unavailable("DATABASE_UNAVAILABLE", "the database is unreachable; retry later"))
    assert (
        line == "the query service at localhost:50052 is unavailable: the database is unreachable; retry later"
        and code == 5
    )


def test_a_failed_command_names_the_request_id_that_makes_its_retry_safe() -> None:
    context = messages.Context(request_id="r-1", is_command=True)
    line, _ = messages.describe(
        errors.DeadlineExceeded("no answer within 1s", service="command service", address="a:1"), context
    )
    assert (
        line
        == "the command service at a:1 did not answer in time (no answer within 1s); it is safe to retry with --request-id r-1"
    )


def test_ctrl_c_during_a_read_says_nothing_about_commands_applied() -> None:
    assert messages.interrupted(messages.Context()) == "interrupted"
    written = messages.interrupted(messages.Context(request_id="r-2", is_command=True))
    assert (
        written.startswith("interrupted; the command may or may not have been applied")
        and "--request-id r-2" in written
    )


def test_a_user_missing_from_the_read_model_suggests_it_may_not_be_applied_yet() -> None:
    missing = errors.NotFound("user u-1 not found", metadata={"user_id": "u-1", "read_position": "41"})
    line, code = messages.describe(missing, messages.Context(user_id="u-1"))
    assert code == 3 and line.startswith("user u-1 not found in the read model as of position 41;")
    assert "--min-position" in line
    # Once the read waited for a position, or for a command, "not found" is the whole answer.
    waited, _ = messages.describe(missing, messages.Context(user_id="u-1", min_position=50))
    command, _ = messages.describe(missing, messages.Context(user_id="u-1", is_command=True))
    assert waited == command == "user u-1 not found (see `users list`)"
