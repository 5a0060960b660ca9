"""Unicode rules for names people type: one normal form, no invisible-only or direction-spoofing text."""

from __future__ import annotations

import unicodedata
from typing import Final

# NFC, not NFKC: NFC only merges different encodings of the same character (an "é" typed as one
# code point or as "e" plus a combining accent), so a name is stored as its owner wrote it. NFKC
# would also fold compatibility characters ("ﬁ" to "fi", "²" to "2", full-width to ASCII), which
# changes what people chose to write in a display name; names are not identifiers here.
NORMAL_FORM: Final = "NFC"

# Characters that change the display direction of the text around them: "user\u202egnp.exe"
# shows as "userexe.png". Refused anywhere in a name (Trojan Source, CVE-2021-42574).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# Letters by category that render as blank space (Hangul fillers, the braille blank).
_BLANK_LETTERS = frozenset("\u115f\u1160\u2800\u3164\uffa0")


def normalize(text: str) -> str:
    """Returns `text` in the normal form names are stored and compared in."""
    return unicodedata.normalize(NORMAL_FORM, text)


def has_bidi_control(text: str) -> bool:
    """Tells whether `text` holds a character that overrides or isolates the text direction."""
    return any(ch in BIDI_CONTROLS for ch in text)


def is_visible(ch: str) -> bool:
    """Tells whether a character shows on its own: a letter, digit, punctuation mark or symbol.

    Format characters (U+200B zero width space, U+FEFF, joiners), combining marks without a
    base, separators and controls do not.
    """
    return unicodedata.category(ch)[0] in "LNPS" and ch not in _BLANK_LETTERS


def has_visible(text: str) -> bool:
    """Tells whether anything in `text` would show once invisible characters are removed."""
    return any(is_visible(ch) for ch in text)
