"""The case-folded name key and the key range of a prefix: what ListUsers' case-insensitive search compares."""

from __future__ import annotations

import pytest

from eventkit.namekey import name_key, prefix_range


@pytest.mark.parametrize(
    ("prefix", "name"),
    [
        ("é", "Émile"),
        ("ÉMI", "émile"),
        ("ΣΟΦ", "Σοφία"),
        ("σοφια", "ΣΟΦΙΑ"),
        ("strasse", "Straße"),
        ("E\u0301m", "Émile"),  # typed with a combining accent, stored precomposed
        ("É", "E\u0301mile"),  # and the other way round
        ("ǅ", "ǆemal"),  # a title-case digraph
        ("İ", "i\u0307stanbul"),
    ],
)
def test_a_prefix_finds_a_name_whatever_its_case_and_composition(prefix, name) -> None:
    low, high = prefix_range(prefix)
    assert name_key(name).startswith(low) and (high is None or name_key(name) < high)


@pytest.mark.parametrize(("prefix", "name"), [("e", "Émile"), ("ΣΟΦΙΑ", "Σοφ"), ("b", "Ada"), ("ada ", "Ada")])
def test_a_prefix_does_not_find_a_name_it_does_not_start(prefix, name) -> None:
    low, high = prefix_range(prefix)
    assert not (low <= name_key(name) and (high is None or name_key(name) < high))


def test_the_range_is_exactly_the_keys_that_start_with_the_prefix() -> None:
    keys = [name_key(n) for n in ["Ada", "ada lovelace", "adb", "ad", "adz\U0010ffff", "b", "", "Émile", "\ud7ffx"]]
    for prefix in ["", "ad", "ADA", "é", "adz\U0010ffff", "\U0010ffff", "\ud7ff"]:
        low, high = prefix_range(prefix)
        in_range = {k for k in keys if low <= k and (high is None or k < high)}
        assert in_range == {k for k in keys if k.startswith(low)}, prefix


def test_the_upper_bound_skips_surrogates_and_drops_a_maximal_last_character() -> None:
    assert prefix_range("") == ("", None)
    assert prefix_range("ab") == ("ab", "ac")
    assert prefix_range("a\U0010ffff") == ("a\U0010ffff", "b")
    assert prefix_range("\U0010ffff") == ("\U0010ffff", None)
    assert prefix_range("\ud7ff")[1] == "\ue000"
