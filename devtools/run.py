"""`make run` (the stack, supervised until Ctrl-C) and `make run-X` (`--service X_service`: one service rejoining it)."""

from __future__ import annotations

import os
import sys

# Before anything imports grpc: this process starts children while it checks their health over gRPC
# (grpc/grpc#43055: with fork support on, a child can abort between fork and exec).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


def main(argv: list[str]) -> int:
    """Runs the stack, or with `--service MODULE` one service against the running stack."""
    if len(argv) == 2 and argv[0] == "--service":
        from devtools.rejoin import run_one

        return run_one(argv[1])
    from devtools.supervisor import run

    return run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
