"""A random page-token key for `make run`, kept beside the data so restarts and `make run-query` agree on it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_NAME = "page-token-secret"


def page_token_secret(state: Path) -> str:
    """Returns the key stored in `state`, creating a random one (readable by this user only) the first time."""
    path = state / FILE_NAME
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")
    return key
