"""The case-insensitive key of a user's name, and the key range a name prefix covers: one definition for writer and reader."""

from __future__ import annotations

import unicodedata

_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)  # not characters: PostgreSQL text cannot hold them


def name_key(text: str) -> str:
    """Returns `text` Unicode case-folded, in NFC: 'Émile' and 'ÉMILE' give 'émile', 'ΣΟΦΊΑ' and 'Σοφία' 'σοφία'.

    Case folding (str.casefold) is Unicode's caseless matching, not lower-casing: 'ß' folds to 'ss'
    and the final 'ς' to 'σ'. NFD first, then NFC, is Unicode's canonical caseless match, so a name
    typed with combining accents finds one stored precomposed and the other way round.
    """
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """Returns [low, high) such that a key starts with name_key(prefix) iff low <= key < high in code-point order.

    High is the prefix's key with its last code point increased by one; None means no upper bound
    (an empty prefix, or one of nothing but the last code point). Code-point order is byte order of
    UTF-8, which is what PostgreSQL's "C" collation compares.
    """
    low = name_key(prefix)
    head = low
    while head:
        last = ord(head[-1]) + 1
        if last in _SURROGATES:
            last = _SURROGATES.stop
        if last <= _MAX_CODE_POINT:
            return low, head[:-1] + chr(last)
        head = head[:-1]
    return low, None
