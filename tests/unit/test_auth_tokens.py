"""Bearer tokens: the configured list's format, and the decision the interceptors apply."""

from __future__ import annotations

import pytest

from eventkit import errors
from eventkit.auth import Authorizer, parse

WRITER = "w" * 32
READER = "r" * 32
AUTHORIZER = Authorizer([(WRITER, "write"), (READER, "read")], ["users.v1.CommandService"])


def test_the_list_takes_one_token_and_role_a_line_and_skips_blanks_and_comments() -> None:
    text = f"# tokens\n\n  {WRITER} write\n{READER}   read  \n"
    assert parse(text, "AUTH_TOKENS_FILE") == [(WRITER, "write"), (READER, "read")]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (f"{WRITER} admin", "expected `TOKEN read` or `TOKEN write`"),
        (WRITER, "expected `TOKEN read` or `TOKEN write`"),
        ("short write", "a token needs at least 16 characters"),
    ],
)
def test_a_bad_entry_names_its_line_and_never_shows_the_token(line: str, problem: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse(f"\n{line}\n", "AUTH_TOKENS_FILE")
    assert f"AUTH_TOKENS_FILE entry 2: {problem}" in str(raised.value)
    assert WRITER not in str(raised.value)


def test_health_is_open_without_any_token() -> None:
    assert AUTHORIZER.check("/grpc.health.v1.Health/Check", []) is None


@pytest.mark.parametrize(
    "metadata",
    [[], [("authorization", WRITER)], [("authorization", "Basic abc")], [("authorization", "Bearer nope")]],
)
def test_a_missing_malformed_or_unknown_token_is_unauthenticated(metadata: list[tuple[str, str]]) -> None:
    assert isinstance(AUTHORIZER.check("/users.v1.QueryService/GetUser", metadata), errors.Unauthenticated)


def test_a_read_token_reads_but_may_not_call_a_writing_service() -> None:
    header = [("authorization", f"Bearer {READER}")]
    assert AUTHORIZER.check("/users.v1.QueryService/GetUser", header) is None
    assert isinstance(AUTHORIZER.check("/users.v1.CommandService/AddUser", header), errors.PermissionDenied)


def test_a_write_token_may_read_and_write_and_the_scheme_is_case_insensitive() -> None:
    for method in ("/users.v1.CommandService/AddUser", "/users.v1.QueryService/ListUsers"):
        assert AUTHORIZER.check(method, [("authorization", f"bearer {WRITER}")]) is None


def test_every_configured_token_is_compared_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[bytes] = []
    import eventkit.auth as auth

    def recording(a: bytes, b: bytes) -> bool:
        compared.append(a)
        return a == b

    monkeypatch.setattr(auth.hmac, "compare_digest", recording)
    assert AUTHORIZER.role_of(WRITER.encode()) == "write"
    assert compared == [WRITER.encode(), READER.encode()]
