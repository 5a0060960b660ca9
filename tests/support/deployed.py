"""Services started as a deployment file's container would start them: only its environment and the image's."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import grpc

from devtools.processes import die_with_parent, free_port
from tests.support.deploy.image import parse
from tests.support.processes import PORT_VARIABLE, ROOT, ServiceProcess
from users.v1 import command_service_pb2, command_service_pb2_grpc, query_service_pb2, query_service_pb2_grpc

DEPLOY = ROOT / "deploy"
DOCKERFILE = parse(DEPLOY / "Dockerfile")
# What the image itself sets for every container (PATH points into the image, so ours stands in).
IMAGE_ENV = {k: v for k, v in DOCKERFILE.stages[-1].env().items() if k != "PATH"}
SERVING_TIMEOUT = 90


class DeployedProcess(ServiceProcess):
    """A service started with the environment a deployment file gives its container, and nothing from ours."""

    def start(self) -> DeployedProcess:
        self.port = self.port or free_port()
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **IMAGE_ENV, **self.env}
        env[PORT_VARIABLE[self.module]] = str(self.port)
        self.log_path = Path(os.environ.get("TEST_LOG_DIR", "/tmp")) / f"deployed-{self.module}-{self.port}.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        return self


def healthcheck(process: DeployedProcess) -> subprocess.CompletedProcess[str]:
    """Runs the image's `healthcheck <module>` with the container's environment."""
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        **IMAGE_ENV,
        **process.env,
        PORT_VARIABLE[process.module]: str(process.port),
    }
    return subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py"), process.module],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_serving_and_healthy(process: DeployedProcess) -> None:
    """Waits for SERVING, then checks that the image's healthcheck command agrees."""
    process.wait_serving(SERVING_TIMEOUT)
    checked = healthcheck(process)
    assert checked.returncode == 0, f"healthcheck {process.module}: {checked.stdout}{checked.stderr}"


def round_trip(command_address: str, query_address: str) -> None:
    """Adds a user through the command service and reads it back through the query service."""
    name = f"deployed {uuid.uuid4().hex[:8]}"
    with grpc.insecure_channel(command_address) as channel:
        added = command_service_pb2_grpc.CommandServiceStub(channel).AddUser(
            command_service_pb2.AddUserRequest(name=name), timeout=30
        )
    with grpc.insecure_channel(query_address) as channel:
        found = query_service_pb2_grpc.QueryServiceStub(channel).GetUser(
            query_service_pb2.GetUserRequest(id=added.user.id, min_position=added.position), timeout=60
        )
    assert found.user.name == name


def run_step(argv: list[str] | None, env: dict[str, str]) -> None:
    """Runs a one-shot step (`migrate`) with the environment the file gives its container, to success."""
    assert argv and argv[:2] == ["python", "-m"], argv
    done = subprocess.run(
        [sys.executable, *argv[1:]],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **IMAGE_ENV, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
