"""`pip install` of a fresh clone gives the `users` console script, the client package and importable generated stubs.

The copy holds only what git tracks (no generated `users/`), as a fresh clone does: the stubs in
the wheel and the sdist come from setup.py's build hook, nowhere else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.support.processes import ROOT

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
STUBS = [
    f"users/v1/{p.stem}{suffix}"
    for p in sorted((ROOT / "protos/users/v1").glob("*.proto"))
    for suffix in ("_pb2.py", "_pb2_grpc.py")
]


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the files git tracks (with their working-tree content), as a fresh clone has them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout.decode()
    destination = tmp_path_factory.mktemp("clone") / "src"
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    assert not (destination / "users").exists(), "the generated stubs are never committed"
    return destination


def build(kind: str, source: Path, out: Path) -> Path:
    """Builds a wheel or sdist of `source` with the build requirements of this venv (no index needed)."""
    if kind == "wheel":
        argv = [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)]
    else:
        argv = [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out), str(source)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return next(out.glob("*.whl" if kind == "wheel" else "*.tar.gz"))


def test_an_sdist_of_a_fresh_clone_carries_the_stubs_and_the_protos(fresh_clone, tmp_path) -> None:
    sdist = build("sdist", fresh_clone, tmp_path / "dist")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert set(STUBS) <= names
    assert {"protos/users/v1/command_service.proto", "setup.py", "pyproject.toml"} <= names
    # And a wheel built from the sdist alone (as pip does from PyPI) carries them too.
    unpacked = tmp_path / "unpacked"
    with tarfile.open(sdist) as archive:
        archive.extractall(unpacked, filter="data")
    wheel = build("wheel", next(unpacked.iterdir()), tmp_path / "wheel")
    assert set(STUBS) <= set(zipfile.ZipFile(wheel).namelist())


def test_an_installed_wheel_of_a_fresh_clone_has_the_stubs_the_client_and_a_working_users_script(
    fresh_clone, tmp_path
) -> None:
    wheel = build("wheel", fresh_clone, tmp_path / "dist")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        *STUBS,
        "users_client/cli.py",
        "users_client/client.py",
        "eventkit/migrations/event_store/0001_events.sql",
    ):
        assert expected in names
    assert not any(n.startswith(("tests/", "devtools/", "deploy/", "bench/", "protos/")) for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "users = users_client.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    prefix = tmp_path / "prefix"
    subprocess.run(
        [*PIP, "install", "--no-deps", "--no-index", "--prefix", str(prefix), str(wheel)],
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
