"""The private PostgreSQL cluster of `make run` and the tests, started from a folder its server user cannot enter."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.pgcluster import Cluster, free_port


@pytest.fixture
def private_folder() -> Iterator[Path]:
    """A folder only its owner may enter, like a clone in a home folder (mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="users-cqrs-private-"))
    os.chmod(folder, 0o700)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_initdb_and_the_server_do_not_complain_about_the_folder_they_were_started_from(
    private_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(private_folder)  # where `make run` is typed: the server's user cannot enter it
    base = Path(tempfile.mkdtemp(prefix="users-cqrs-cwd-"))
    os.chmod(base, 0o755)
    cluster = Cluster(base / "data", free_port(), durable=False)
    try:
        cluster.init()
        cluster.start()
        cluster.create_database("probe")
        log = cluster.log_file.read_text(errors="replace")
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert cluster.account is None or os.stat(private_folder).st_uid != cluster.account[0]
    assert "database system is ready to accept connections" in log, log
    assert "could not change directory" not in log, log
