"""`python -m users_client`: the same as the `users` command."""

from __future__ import annotations

import sys

from users_client.cli import main

if __name__ == "__main__":
    sys.exit(main())
