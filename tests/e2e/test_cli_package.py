"""`pip install` of the project gives the `users` console script, the client package and importable generated stubs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from tests.support.processes import ROOT

PACKAGES = ["eventkit", "command_service", "query_service", "projector_service", "users_client", "users"]


def test_an_installed_wheel_has_the_stubs_the_client_and_a_working_users_script(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    # A copy, so that the build's scratch folders never land in the shared checkout.
    shutil.copy(ROOT / "pyproject.toml", source)
    for package in PACKAGES:
        if (ROOT / package).is_dir():
            shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next((tmp_path / "dist").glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "users/v1/command_service_pb2_grpc.py",
        "users/v1/query_service_pb2_grpc.py",
        "users/v1/resources_pb2.py",
        "users_client/cli.py",
        "users_client/client.py",
        "eventkit/migrations/event_store/0001_events.sql",
    ):
        assert expected in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "users = users_client.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    prefix = tmp_path / "prefix"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--prefix", str(prefix), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))
    # Outside the checkout, with only the installed copy on the path (the dependencies come from
    # this interpreter's own site-packages).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "USERS_COMMAND_ADDR", "USERS_QUERY_ADDR")}
    env["PYTHONPATH"] = str(purelib)
    version = subprocess.run(
        [str(prefix / "bin" / "users"), "--version"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0 and version.stdout.startswith("users "), version.stderr
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "from users.v1 import command_service_pb2_grpc, query_service_pb2_grpc\n"
            "import users_client; print(users_client.__file__, command_service_pb2_grpc.__file__)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr
    assert all(path.startswith(str(purelib)) for path in imported.stdout.split())
