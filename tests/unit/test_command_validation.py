"""Command field validation: names, ids, request ids, expected versions."""

from __future__ import annotations

import pytest

from command_service import validation
from eventkit.errors import InvalidArgument


def test_names_are_trimmed() -> None:
    assert validation.clean_name("  Ada Lovelace \t") == "Ada Lovelace"


@pytest.mark.parametrize(
    "raw, problem",
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 201, "at most 200"),
        ("a\x00b", "control characters"),
        ("line\nbreak", "control characters"),
        ("bell\x07", "control characters"),
        ("del\x7f", "control characters"),
    ],
)
def test_bad_names_are_rejected_naming_the_field(raw: str, problem: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validation.clean_name(raw)
    assert caught.value.field == "name"
    assert problem in caught.value.message


def test_a_name_of_exactly_200_characters_after_trimming_is_accepted() -> None:
    assert validation.clean_name(" " + "é" * 200 + " ") == "é" * 200


def test_ids_are_canonical_uuids() -> None:
    assert validation.parse_id("6F1C1D2E-0000-4000-8000-000000000001") == "6f1c1d2e-0000-4000-8000-000000000001"


@pytest.mark.parametrize("raw", ["", "42", "not-a-uuid", "6f1c1d2e-0000-4000-8000-00000000000"])
def test_malformed_ids_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validation.parse_id(raw)
    assert caught.value.field == "id"


def test_request_id_is_optional_but_must_be_a_uuid_when_given() -> None:
    assert validation.parse_request_id("") is None
    with pytest.raises(InvalidArgument) as caught:
        validation.parse_request_id("retry-1")
    assert caught.value.field == "request_id"


def test_negative_expected_versions_are_rejected() -> None:
    assert validation.check_expected_version(0) == 0
    with pytest.raises(InvalidArgument):
        validation.check_expected_version(-1)
