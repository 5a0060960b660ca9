"""The public API's proto files: buf lint (STANDARD) passes and the contract's names are present."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from users.v1 import command_service_pb2, query_service_pb2, resources_pb2

ROOT = Path(__file__).resolve().parents[2]
BUF = shutil.which("buf", path=str(Path(sys.executable).parent)) or "buf"


def test_buf_lint_passes_with_the_standard_rules() -> None:
    done = subprocess.run([BUF, "lint"], cwd=ROOT / "protos", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_services_offer_the_contracted_methods() -> None:
    command = command_service_pb2.DESCRIPTOR.services_by_name["CommandService"]
    query = query_service_pb2.DESCRIPTOR.services_by_name["QueryService"]
    assert [m.name for m in command.methods] == ["AddUser", "EditUser", "DeleteUser", "ForgetUser"]
    assert [m.name for m in query.methods] == ["GetUser", "ListUsers", "StreamEvents"]
    assert query.methods_by_name["StreamEvents"].server_streaming


def test_event_types_keep_the_seeds_ids() -> None:
    names = {v.name: v.number for v in resources_pb2.EventType.DESCRIPTOR.values}
    assert names == {
        "EVENT_TYPE_UNSPECIFIED": 0,
        "EVENT_TYPE_USER_ADDED": 1,
        "EVENT_TYPE_USER_EDITED": 2,
        "EVENT_TYPE_USER_DELETED": 3,
        "EVENT_TYPE_USER_FORGOTTEN": 4,
    }
