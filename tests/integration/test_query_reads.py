"""GetUser and ListUsers against a real read model: lookups, keyset pages, tokens, prefixes, the index."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import grpc
import psycopg
import pytest
from psycopg import sql

from eventkit import db
from eventkit.namekey import name_key
from query_service import queries
from query_service.tokens import PageTokens
from tests.support.query import QueryServer, query_server
from tests.support.read_model import TinyProjection
from users.v1 import query_service_pb2 as pb


@pytest.fixture
def projection(read_model) -> Iterator[TinyProjection]:
    tiny = TinyProjection(read_model)
    yield tiny
    tiny.close()


@pytest.fixture
def query(read_model, projection) -> Iterator[QueryServer]:
    with query_server(read_model) as running:
        yield running


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code()


def test_get_user_returns_the_user_as_the_read_model_holds_it(projection, query) -> None:
    user_id, _ = projection.add("Ada Lovelace")
    position = projection.edit(user_id, "Ada King")

    user = query.stub.GetUser(pb.GetUserRequest(id=user_id, min_position=position), timeout=10).user

    assert (user.id, user.name, user.version) == (user_id, "Ada King", 2)
    assert user.update_time.ToDatetime() >= user.create_time.ToDatetime()


def test_get_user_is_not_found_for_unknown_and_for_deleted_ids(projection, query) -> None:
    user_id, _ = projection.add("Gone Soon")
    position = projection.delete(user_id)

    deleted = code_of(lambda: query.stub.GetUser(pb.GetUserRequest(id=user_id, min_position=position), timeout=10))
    unknown = code_of(lambda: query.stub.GetUser(pb.GetUserRequest(id=str(uuid.uuid4())), timeout=10))

    assert deleted == unknown == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("bad_id", ["", "not-a-uuid", "123", "\x00", str(uuid.uuid4()) + "x"])
def test_get_user_rejects_malformed_ids_as_invalid_argument(query, bad_id) -> None:
    assert (
        code_of(lambda: query.stub.GetUser(pb.GetUserRequest(id=bad_id), timeout=10))
        == grpc.StatusCode.INVALID_ARGUMENT
    )


def list_all(query: QueryServer, page_size: int, prefix: str = "") -> list[tuple[str, str]]:
    seen, token = [], ""
    while True:
        page = query.stub.ListUsers(
            pb.ListUsersRequest(page_size=page_size, page_token=token, name_prefix=prefix), timeout=10
        )
        seen += [(u.name, u.id) for u in page.users]
        assert len(page.users) <= page_size
        token = page.next_page_token
        if not token:
            return seen


def test_list_users_pages_return_every_user_once_ordered_case_insensitively_by_name_then_id(projection, query) -> None:
    names = ["bob", "Alice", "alice", "ALICE", "Zoë", "_under", "100%", "carol", "Bob", "dave"] * 3
    projection.apply([(1, str(uuid.uuid4()), name) for name in names])

    listed = list_all(query, page_size=4)

    assert sorted(listed, key=lambda item: (item[0].lower().encode(), item[1])) == listed
    assert sorted(name for name, _ in listed) == sorted(names)
    assert len({user_id for _, user_id in listed}) == len(names)


def test_list_users_filters_by_a_case_insensitive_prefix_with_wildcards_taken_literally(projection, query) -> None:
    projection.apply(
        [(1, str(uuid.uuid4()), name) for name in ["Pat", "patricia", "PATTY", "Paul", "pa_x", "pa%y", "Spat"]]
    )

    assert sorted(name for name, _ in list_all(query, 2, "pAt")) == ["PATTY", "Pat", "patricia"]
    assert [name for name, _ in list_all(query, 10, "pa_")] == ["pa_x"]
    assert [name for name, _ in list_all(query, 10, "pa%")] == ["pa%y"]


def test_list_users_page_size_zero_means_fifty_and_more_than_a_thousand_is_capped(projection, query) -> None:
    projection.apply([(1, str(uuid.uuid4()), f"user {i:04d}") for i in range(1001)])

    assert len(query.stub.ListUsers(pb.ListUsersRequest(page_size=0), timeout=10).users) == 50
    capped = query.stub.ListUsers(pb.ListUsersRequest(page_size=5000), timeout=10)
    assert len(capped.users) == 1000 and capped.next_page_token


def test_list_users_rejects_a_negative_page_size(query) -> None:
    assert (
        code_of(lambda: query.stub.ListUsers(pb.ListUsersRequest(page_size=-1), timeout=10))
        == grpc.StatusCode.INVALID_ARGUMENT
    )


def test_list_users_rejects_tampered_foreign_and_other_prefix_tokens(projection, query) -> None:
    projection.apply([(1, str(uuid.uuid4()), f"name {i}") for i in range(5)])
    token = query.stub.ListUsers(pb.ListUsersRequest(page_size=2, name_prefix="name"), timeout=10).next_page_token
    body, mac = token.split(".")
    flipped = ("A" if body[5] != "A" else "B").join([body[:5], body[6:]])
    foreign = PageTokens(b"another deployment").encode(("name 1", str(uuid.uuid4())), "name")

    for bad in [f"{flipped}.{mac}", token[:-2], "garbage", foreign, token + "="]:
        request = pb.ListUsersRequest(page_size=2, name_prefix="name", page_token=bad)
        assert code_of(lambda: query.stub.ListUsers(request, timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT, bad
    other_prefix = pb.ListUsersRequest(page_size=2, name_prefix="nam", page_token=token)
    assert code_of(lambda: query.stub.ListUsers(other_prefix, timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT
    assert query.stub.ListUsers(
        pb.ListUsersRequest(page_size=2, name_prefix="name", page_token=token), timeout=10
    ).users


def test_list_users_rejects_a_prefix_with_control_characters(query) -> None:
    request = pb.ListUsersRequest(name_prefix="a\x00b")
    assert code_of(lambda: query.stub.ListUsers(request, timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT


def test_the_prefix_filter_and_a_later_page_are_both_index_range_scans(read_model, projection) -> None:
    projection.apply([(1, str(uuid.uuid4()), f"user {i:04d}") for i in range(2000)])
    with db.connect(read_model, autocommit=True) as conn:
        conn.execute("ANALYZE users")
        query, params = queries.list_users_query("User 01", ("user 0150", str(uuid.uuid4())), 51)
        # Planned with its values (as the service sends it), and as a generic plan (a prepared statement).
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + query, params, prepare=False))
        conn.execute("SET plan_cache_mode = force_generic_plan")
        generic = "\n".join(row[0] for row in conn.execute("EXPLAIN " + query, params, prepare=True))

    for shown in (plan, generic):
        assert "users_name_key" in shown and "Seq Scan" not in shown and "Sort" not in shown, shown
    index_cond = next(line for line in plan.splitlines() if "Index Cond" in line)
    assert ">= 'user 01'" in index_cond and "< 'user 02'" in index_cond, plan  # the prefix is a range
    assert "ROW(" in index_cond, plan  # the keyset start is part of the range, not a filter


def test_list_users_prefix_is_case_insensitive_beyond_ascii(projection, query) -> None:
    names = ["Émile", "émilie", "Emil", "Σοφία", "ΣΟΦΟΚΛΗΣ", "σοφός", "Straße", "STRASSER", "Ödön", "E\u0301tienne"]
    projection.apply([(1, str(uuid.uuid4()), name) for name in names])

    def found(prefix: str) -> list[str]:
        return sorted(name for name, _ in list_all(query, 2, prefix))

    assert found("é") == sorted(["Émile", "émilie", "E\u0301tienne"])
    assert found("ÉMIL") == sorted(["Émile", "émilie"])
    assert found("ΣΟΦ") == sorted(["Σοφία", "ΣΟΦΟΚΛΗΣ", "σοφός"])
    assert found("ΣΟΦΌΣ") == ["σοφός"]  # a final ς folds to σ, as a capital Σ does
    assert found("strasse") == sorted(["Straße", "STRASSER"])
    assert found("ö") == ["Ödön"] and found("e") == ["Emil"]


def test_list_users_orders_by_the_case_folded_name(projection, query) -> None:
    names = ["Ωmega", "alpha", "Émile", "ÄRGER", "zeta", "Beta", "émile"]
    projection.apply([(1, str(uuid.uuid4()), name) for name in names])

    listed = [name for name, _ in list_all(query, 3)]

    assert [name_key(name) for name in listed] == sorted(name_key(name) for name in names)
    assert sorted(listed) == sorted(names)


def test_reads_answer_unavailable_not_internal_while_the_read_model_is_unreachable(
    read_model, projection, cluster
) -> None:
    dbname = read_model.dsn.rsplit("/", 1)[1]
    with query_server(read_model, pool_timeout=1.0) as query, psycopg.connect(cluster.dsn(), autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(dbname)))
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [dbname])
            request = pb.GetUserRequest(id=str(uuid.uuid4()))
            assert code_of(lambda: query.stub.GetUser(request, timeout=30)) == grpc.StatusCode.UNAVAILABLE
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(dbname)))


def test_the_hub_reads_the_checkpoint_and_the_rows_it_covers_in_one_statement(read_model, projection) -> None:
    first = projection.apply([(1, str(uuid.uuid4()), f"user {i}") for i in range(5)])
    projection.skip(2)  # positions without rows: the checkpoint moves past them
    with db.connect(read_model, autocommit=True) as conn:
        # A row past the checkpoint (as a batch in flight would leave it, were it visible) is not covered.
        conn.execute(
            "INSERT INTO event_log (position, type, user_id, version, name, record_time) VALUES (%s, 1, %s, 1, 'later', now())",
            [first + 3, str(uuid.uuid4())],
        )

    async def read(projection_name: str, after: int, limit: int) -> tuple[queries.Checkpoint, list[int]]:
        async with await db.connect_async(read_model, autocommit=True) as aconn:
            checkpoint, rows = await queries.checkpoint_and_log(aconn, projection_name, after, limit)
            return checkpoint, [row.position for row in rows]

    checkpoint, positions = asyncio.run(read(projection.name, 0, 1000))
    assert checkpoint.position == first + 2 and checkpoint.seen_seconds_ago is not None
    assert positions == list(range(1, first + 1))
    assert asyncio.run(read(projection.name, 1, 3))[1] == [2, 3, 4]  # after, and at most `limit`
    assert asyncio.run(read(projection.name, first, 1000))[1] == []
    assert asyncio.run(read("never projected", 0, 1000)) == (queries.Checkpoint(0, None), [])
