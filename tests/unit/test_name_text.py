"""Name text rules: NFC, invisible-only names and bidirectional controls refused, real scripts accepted."""

from __future__ import annotations

import pytest

from command_service import validation
from eventkit import text
from eventkit.errors import InvalidArgument
from query_service import requests


@pytest.mark.parametrize(
    "name",
    ["Ada Lovelace", "山田 太郎", "محمد", "Ελένη", "नमस्ते", "👩‍💻 Grace", "O'Brien-Smith", "Zoë", "\u200bAda"],
)
def test_names_people_write_in_any_script_are_accepted(name: str) -> None:
    assert validation.clean_name(name) == text.normalize(name)


@pytest.mark.parametrize(
    "name, problem",
    [
        ("\u200b", "visible"),
        ("\ufeff \u200b", "visible"),
        ("\u0301", "visible"),
        ("\u2800", "visible"),
        ("abc\u202e", "bidirectional"),
        ("\u2067x\u2069", "bidirectional"),
        ("x\u200f", "bidirectional"),
    ],
)
def test_invisible_and_direction_changing_names_are_refused(name: str, problem: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validation.clean_name(name)
    assert caught.value.field == "name"
    assert problem in caught.value.message


def test_normalization_is_nfc_and_keeps_compatibility_characters() -> None:
    assert validation.clean_name("Cafe\u0301") == "Caf\u00e9"
    assert validation.clean_name("\uff21da \ufb01") == "\uff21da \ufb01"  # NFKC would give "Ada fi"


def test_the_length_limit_counts_the_normalized_name() -> None:
    assert validation.clean_name("e\u0301" * 200) == "\u00e9" * 200


def test_a_name_prefix_is_normalized_like_the_names_it_matches() -> None:
    assert requests.name_prefix("Rene\u0301") == "Ren\u00e9"
