"""TLS, mTLS and bearer tokens on the three services as real processes, with a throwaway CA; the CLI against them."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from devtools.pgcluster import Cluster
from tests.support.certs import Pki, make_pki
from tests.support.processes import PORT_VARIABLE, ROOT, ServiceProcess
from tests.support.stack import Result, Stack, run_cli, running_stack
from tests.support.system import GRPCURL, store_events
from users.v1 import command_service_pb2 as cmd
from users.v1 import command_service_pb2_grpc as cmd_grpc
from users.v1 import query_service_pb2 as qry
from users.v1 import query_service_pb2_grpc as qry_grpc
from users_client import UsersClient
from users_client.transport import Security, open_channel

WRITE_TOKEN = secrets.token_hex(24)
READ_TOKEN = secrets.token_hex(24)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def stack(cluster: Cluster, pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tokens = tmp_path_factory.mktemp("tokens") / "tokens"
    tokens.write_text(f"# who may call\n{WRITE_TOKEN} write\n\n{READ_TOKEN} read\n")
    env = {
        "TLS_CERT_FILE": str(pki.server.cert),
        "TLS_KEY_FILE": str(pki.server.key),
        "TLS_CLIENT_CA_FILE": str(pki.ca),
        "HEALTHCHECK_TLS_CA_FILE": str(pki.ca),
        "AUTH_TOKENS_FILE": str(tokens),
    }
    with running_stack(cluster, extra_env=env) as running:
        yield running


def security(pki: Pki, token: str = "", **changes: object) -> Security:
    """What a legitimate client uses: the CA, its client certificate, and `token`."""
    full = Security(ca_file=str(pki.ca), cert_file=str(pki.client.cert), key_file=str(pki.client.key), token=token)
    return replace(full, **changes)  # type: ignore[arg-type]


def code_of(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code()


def health_status(address: str, chosen: Security) -> int:
    channel = open_channel(address, chosen)
    try:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
    finally:
        channel.close()


def add_user(stack: Stack, chosen: Security, name: str) -> cmd.AddUserResponse:
    assert stack.command is not None
    channel = open_channel(stack.command.address, chosen)
    try:
        return cmd_grpc.CommandServiceStub(channel).AddUser(cmd.AddUserRequest(name=name), timeout=10)
    finally:
        channel.close()


def list_users(stack: Stack, chosen: Security) -> qry.ListUsersResponse:
    assert stack.query is not None
    channel = open_channel(stack.query.address, chosen)
    try:
        return qry_grpc.QueryServiceStub(channel).ListUsers(qry.ListUsersRequest(), timeout=10)
    finally:
        channel.close()


def test_a_client_with_the_ca_its_certificate_and_a_write_token_writes_and_reads_back(stack, pki) -> None:
    assert stack.command is not None and stack.query is not None
    name = f"secure {uuid.uuid4().hex[:8]}"
    with UsersClient(stack.command.address, stack.query.address, security=security(pki, WRITE_TOKEN)) as client:
        written = client.add_user(name)
        read = client.get_user(written.user.id, min_position=written.position)
    assert read.name == name and read.version == 1


def test_a_plaintext_client_gets_no_answer_from_a_tls_service(stack) -> None:
    for process in (stack.command, stack.query, stack.projector):
        assert code_of(lambda p=process: health_status(p.address, Security())) == grpc.StatusCode.UNAVAILABLE


def test_mtls_refuses_a_client_without_a_certificate_even_for_health(stack, pki) -> None:
    no_certificate = Security(ca_file=str(pki.ca), token=WRITE_TOKEN)
    for process in (stack.command, stack.query, stack.projector):
        assert code_of(lambda p=process: health_status(p.address, no_certificate)) == grpc.StatusCode.UNAVAILABLE
    assert code_of(lambda: add_user(stack, no_certificate, "no cert")) == grpc.StatusCode.UNAVAILABLE


def test_mtls_refuses_a_certificate_from_a_ca_it_does_not_trust(stack, pki) -> None:
    stranger = security(pki, WRITE_TOKEN, cert_file=str(pki.stranger.cert), key_file=str(pki.stranger.key))
    assert code_of(lambda: add_user(stack, stranger, "stranger")) == grpc.StatusCode.UNAVAILABLE


def test_a_client_that_does_not_trust_the_services_ca_does_not_connect(stack, pki) -> None:
    system_roots = security(pki, WRITE_TOKEN, ca_file="", tls=True)
    assert code_of(lambda: add_user(stack, system_roots, "unverified")) == grpc.StatusCode.UNAVAILABLE


def test_health_stays_open_without_a_token_on_every_service(stack, pki) -> None:
    for process in (stack.command, stack.query, stack.projector):
        assert health_status(process.address, security(pki)) == health_pb2.HealthCheckResponse.SERVING


def test_calls_without_a_token_or_with_an_unknown_one_are_unauthenticated_on_both_servers(stack, pki) -> None:
    for token in ("", secrets.token_hex(24), WRITE_TOKEN[:-1]):
        assert code_of(lambda t=token: add_user(stack, security(pki, t), "x")) == grpc.StatusCode.UNAUTHENTICATED
        assert code_of(lambda t=token: list_users(stack, security(pki, t))) == grpc.StatusCode.UNAUTHENTICATED


def test_a_read_token_reads_but_may_not_write_and_appends_nothing(stack, pki) -> None:
    before = len(store_events(stack.event_store))
    with pytest.raises(grpc.RpcError) as raised:
        add_user(stack, security(pki, READ_TOKEN), "read only")
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "read token may not call /users.v1.CommandService/AddUser" in (raised.value.details() or "")
    assert len(store_events(stack.event_store)) == before
    assert list_users(stack, security(pki, READ_TOKEN)) is not None
    assert list_users(stack, security(pki, WRITE_TOKEN)) is not None


def reflect(address: str, chosen: Security) -> list[str]:
    channel = open_channel(address, chosen)
    try:
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        answers = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(iter([request]), timeout=10)
        return [s.name for answer in answers for s in answer.list_services_response.service]
    finally:
        channel.close()


def test_reflection_follows_the_same_rule_as_the_api(stack, pki) -> None:
    assert stack.command is not None and stack.query is not None
    for process in (stack.command, stack.query):
        assert code_of(lambda p=process: reflect(p.address, security(pki))) == grpc.StatusCode.UNAUTHENTICATED
    assert "users.v1.QueryService" in reflect(stack.query.address, security(pki, READ_TOKEN))


def test_the_images_healthcheck_probes_a_tls_and_mtls_service(stack) -> None:
    for process in (stack.command, stack.query, stack.projector):
        assert process is not None
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            **process.env,
            "LISTEN_HOST": "127.0.0.1",
            PORT_VARIABLE[process.module]: str(process.port),
        }
        done = subprocess.run(
            [sys.executable, str(ROOT / "deploy" / "healthcheck.py"), process.module],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0 and "SERVING" in done.stdout, done.stdout + done.stderr


def cli(stack: Stack, pki: Pki, *args: str, token: str = WRITE_TOKEN, certificate: bool = True) -> Result:
    flags = ["--ca-file", str(pki.ca)]
    if certificate:
        flags += ["--cert-file", str(pki.client.cert), "--key-file", str(pki.client.key)]
    return run_cli(*flags, *args, env={**stack.client_env(), "USERS_TOKEN": token})


def test_the_cli_works_against_the_secured_stack_with_flags_and_a_token(stack, pki) -> None:
    name = f"cli {uuid.uuid4().hex[:8]}"
    added = cli(stack, pki, "--json", "add", "--name", name)
    assert added.code == 0, added.err
    body = added.json()
    got = cli(stack, pki, "--json", "get", body["user"]["id"], "--min-position", str(body["position"]))
    assert got.code == 0, got.err
    assert got.json()["name"] == name


def test_the_cli_takes_its_tls_files_and_token_file_from_the_environment(stack, pki, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(READ_TOKEN + "\n")
    env = {
        **stack.client_env(),
        "USERS_TLS_CA_FILE": str(pki.ca),
        "USERS_TLS_CERT_FILE": str(pki.client.cert),
        "USERS_TLS_KEY_FILE": str(pki.client.key),
        "USERS_TOKEN_FILE": str(token_file),
    }
    listed = run_cli("list", env=env)
    assert listed.code == 0, listed.err
    refused = run_cli("add", "--name", "not with a read token", env=env)
    assert refused.code == 1 and "PERMISSION_DENIED" in refused.err


def test_the_cli_without_a_token_or_without_a_certificate_fails_clearly(stack, pki) -> None:
    no_token = cli(stack, pki, "list", token="")
    assert no_token.code == 1 and "UNAUTHENTICATED" in no_token.err and "Bearer" in no_token.err
    no_certificate = cli(stack, pki, "list", certificate=False)
    assert no_certificate.code == 5 and "closed the connection; if it serves TLS, check --ca-file" in no_certificate.err
    untrusted = run_cli("--tls", "list", env={**stack.client_env(), "USERS_TOKEN": WRITE_TOKEN})
    assert "the TLS handshake with the query service" in untrusted.err
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.err


def test_a_missing_certificate_file_is_a_usage_error_naming_it(stack, pki) -> None:
    missing = run_cli("--ca-file", "/nonexistent/ca.crt", "list", env=stack.client_env())
    assert missing.code == 2 and "/nonexistent/ca.crt" in missing.err


def test_reflection_can_be_turned_off(services: Callable[..., ServiceProcess], event_store, pki) -> None:
    command = services(
        "command_service",
        {"EVENT_STORE_DSN": event_store.dsn, "EVENT_STORE_SCHEMA": event_store.schema, "GRPC_REFLECTION": "false"},
    ).wait_serving(60)
    assert code_of(lambda: reflect(command.address, Security())) == grpc.StatusCode.UNIMPLEMENTED
    assert health_status(command.address, Security()) == health_pb2.HealthCheckResponse.SERVING


def test_grpcurl_reaches_the_secured_query_service_with_the_readmes_flags(stack, pki) -> None:
    assert stack.query is not None
    flags = ["-cacert", str(pki.ca), "-cert", str(pki.client.cert), "-key", str(pki.client.key)]
    done = subprocess.run(
        [
            GRPCURL,
            *flags,
            "-H",
            f"authorization: Bearer {READ_TOKEN}",
            stack.query.address,
            "users.v1.QueryService/ListUsers",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    refused = subprocess.run(
        [GRPCURL, *flags, stack.query.address, "users.v1.QueryService/ListUsers"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "Unauthenticated" in refused.stderr
