"""Page tokens: round trips, and every kind of tampering or foreign token refused as INVALID_ARGUMENT."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from eventkit.errors import InvalidArgument
from query_service.tokens import PageTokens

KEY = ("ada lovelace", str(uuid.uuid4()))


def test_a_token_gives_back_the_key_it_was_made_from() -> None:
    tokens = PageTokens(b"secret")
    assert tokens.decode(tokens.encode(KEY, "Ad"), "Ad") == KEY


def test_a_token_is_urlsafe_and_does_not_show_its_key_in_plain_text() -> None:
    token = PageTokens(b"secret").encode(KEY, "")
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert KEY[0] not in token


def test_every_single_character_change_is_refused() -> None:
    tokens = PageTokens(b"secret")
    token = tokens.encode(KEY, "")
    for index in range(len(token)):
        for replacement in "A_.":
            if token[index] != replacement:
                changed = token[:index] + replacement + token[index + 1 :]
                with pytest.raises(InvalidArgument):
                    tokens.decode(changed, "")


def test_a_token_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        PageTokens(b"mine").decode(PageTokens(b"theirs").encode(KEY, ""), "")


def test_a_token_of_another_prefix_is_refused_even_when_only_the_case_differs() -> None:
    tokens = PageTokens(b"secret")
    with pytest.raises(InvalidArgument, match="name_prefix"):
        tokens.decode(tokens.encode(KEY, "ada"), "Ada")


def test_a_correctly_signed_token_with_a_foreign_layout_is_refused() -> None:
    tokens = PageTokens(b"secret")
    for payload in ([9, "a", KEY[1], ""], [1, "a", "not a uuid", ""], {"a": 1}, "text"):
        raw = json.dumps(payload).encode()
        body = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        mac = base64.urlsafe_b64encode(tokens._mac(raw)).rstrip(b"=").decode()
        with pytest.raises(InvalidArgument):
            tokens.decode(f"{body}.{mac}", "")


@pytest.mark.parametrize("garbage", ["", ".", "a.b.c", "%%%.%%%", "é.é"])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(InvalidArgument):
        PageTokens(b"secret").decode(garbage, "")
