"""Runs a private PostgreSQL cluster, as an unprivileged user when root."""

from __future__ import annotations

import os
import pwd
import signal
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from devtools.pgbinaries import ensure_bindir
from devtools.processes import free_port, set_death_signal

__all__ = ["Cluster", "free_port", "reachable_by", "runtime_account"]

RUNTIME_USER = "users-pg"  # created when root and the distribution's `postgres` user is absent


def runtime_account() -> tuple[int, int] | None:
    """Returns the (uid, gid) the server must run as, or None to run as the current user (not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", RUNTIME_USER):
        try:
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", RUNTIME_USER],
        check=True,
    )
    entry = pwd.getpwnam(RUNTIME_USER)
    return entry.pw_uid, entry.pw_gid


def reachable_by(path: Path, account: tuple[int, int] | None) -> bool:
    """Tells whether `account` can traverse every parent of `path` (the server chdirs into its data dir)."""
    if account is None:
        return True
    uid, gid = account
    for parent in path.resolve().parents:
        st = parent.stat()
        if st.st_mode & stat.S_IXOTH:
            continue
        if st.st_uid == uid and st.st_mode & stat.S_IXUSR:
            continue
        if st.st_gid == gid and st.st_mode & stat.S_IXGRP:
            continue
        return False
    return True


def _as_account(account: tuple[int, int] | None, death_signal: int):
    def prepare() -> None:
        os.setsid()
        if account is not None:
            os.setgroups([])
            os.setgid(account[1])
            os.setuid(account[0])
        # After the uid change, which would clear it: the server dies with whoever started it.
        set_death_signal(death_signal)

    return prepare


@dataclass
class Cluster:
    """One private PostgreSQL cluster: its data directory, port, and server process."""

    datadir: Path
    port: int
    durable: bool = True
    bindir: Path = field(default_factory=ensure_bindir)
    account: tuple[int, int] | None = field(default_factory=runtime_account)
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket_dir(self) -> Path:
        return self.datadir.parent / f"{self.datadir.name}.sock"

    @property
    def log_file(self) -> Path:
        return self.datadir.parent / f"{self.datadir.name}.log"

    def dsn(self, dbname: str = "postgres") -> str:
        """Returns a libpq URI for `dbname` on this cluster over TCP loopback."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _own(self, path: Path) -> None:
        if self.account is not None:
            os.chown(path, *self.account)

    def init(self) -> None:
        """Creates the data directory with initdb unless it already holds a cluster."""
        if (self.datadir / "PG_VERSION").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        self._own(self.datadir)
        os.chmod(self.datadir, 0o700)
        args = [
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        ]
        if not self.durable:
            args.append("--no-sync")
        # cwd: the data directory, which the server's user can enter (the caller's folder may be
        # private: PostgreSQL would warn "could not change directory ... Permission denied").
        with open(self.log_file, "ab") as log:
            done = subprocess.run(
                args,
                cwd=self.datadir,
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=_as_account(self.account, signal.SIGKILL),
            )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}); its output:\n{self.log_tail()}")

    def start(self, timeout: float = 60.0) -> None:
        """Starts the server and waits until it accepts connections."""
        self.socket_dir.mkdir(exist_ok=True)
        self._own(self.socket_dir)
        settings = {
            "listen_addresses": "127.0.0.1",
            "max_connections": "400",
            "unix_socket_directories": str(self.socket_dir),
        }
        if not self.durable:
            # No fsync, but commits still reach the WAL before they return: an immediate shutdown
            # (used by outage tests) then loses nothing, as on a real server.
            settings |= {"fsync": "off", "full_page_writes": "off"}
        args = [str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        log = open(self.log_file, "ab")
        # SIGQUIT is an immediate (crash-safe) shutdown: nothing outlives the process that started it.
        self.process = subprocess.Popen(
            args,
            cwd=self.datadir,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            preexec_fn=_as_account(self.account, signal.SIGQUIT),
        )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited at start; its log:\n{self.log_tail()}")
            try:
                psycopg.connect(self.dsn(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"PostgreSQL not ready after {timeout}s; its log:\n{self.log_tail()}") from None
                time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def create_database(self, name: str) -> None:
        """Creates database `name` unless it exists."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drops database `name`, disconnecting its sessions."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def stop(self, fast: bool = True) -> None:
        """Stops the server: a fast shutdown (SIGINT) by default, an immediate one otherwise."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT if fast else signal.SIGQUIT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def replicate(self, datadir: Path, port: int) -> Cluster:
        """Copies this running cluster with pg_basebackup -R into `datadir`: a streaming hot standby, not started.

        initdb's defaults suffice on the primary (wal_level=replica, max_wal_senders=10, and with
        --auth=trust a pg_hba line that trusts replication connections from loopback).
        """
        datadir.mkdir(parents=True)  # pg_basebackup fills an empty directory the server's user owns
        self._own(datadir)
        os.chmod(datadir, 0o700)
        args = [str(self.bindir / "pg_basebackup"), "-D", str(datadir), "-h", "127.0.0.1", "-p", str(self.port)]
        args += ["-U", "postgres", "-R", "-X", "stream", "-c", "fast"]
        if not self.durable:
            args.append("--no-sync")
        with open(self.log_file, "ab") as log:
            done = subprocess.run(
                args,
                cwd=datadir,
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=_as_account(self.account, signal.SIGKILL),
            )
        if done.returncode != 0:
            raise RuntimeError(f"pg_basebackup failed ({done.returncode}); its output:\n{self.log_tail()}")
        return Cluster(datadir, port, durable=self.durable, bindir=self.bindir, account=self.account)

    def restart(self) -> None:
        """Stops and starts the server on the same port (for outage tests)."""
        self.stop(fast=False)
        self.start()
