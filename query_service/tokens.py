"""Opaque, signed page tokens for ListUsers: the last key of a page and the filter it belongs to."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid

from eventkit.errors import InvalidArgument, Unavailable

_VERSION = 1
_MAC_BYTES = 16  # 128 bits: forging by chance is out of reach; tokens stay short
_INVALID = "is not a page token of this listing; start again with an empty page_token"
# Our tokens hold a name (at most 200 characters, lower-cased: up to 3 UTF-8 bytes and 2 code
# points each) and a prefix of the same bound; anything much longer is not ours, whatever it says.
MAX_TOKEN_LENGTH = 4096
_MAX_KEY_CHARACTERS = 400


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:  # one spelling per token: the decoder forgives stray padding and characters
        raise ValueError("not canonical base64")
    return raw


class PageTokens:
    """Encodes and checks page tokens with an HMAC, so a tampered or foreign token is refused."""

    def __init__(self, secret: bytes | None) -> None:
        self._secret = secret

    @property
    def ready(self) -> bool:
        """Tells whether the key is known (given, or read from the read model with use())."""
        return self._secret is not None

    def use(self, secret: bytes) -> None:
        """Sets the key read from the read model (when none was given)."""
        self._secret = secret

    def _mac(self, payload: bytes) -> bytes:
        if self._secret is None:
            raise Unavailable("the page-token key is not read yet; retry later")
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, key: tuple[str, str], prefix: str) -> str:
        """Returns the token that continues after `key` (lower-cased name, id) in the listing of `prefix`."""
        payload = json.dumps([_VERSION, key[0], key[1], prefix], ensure_ascii=False, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, token: str, prefix: str) -> tuple[str, str]:
        """Returns the key a token continues after; raises InvalidArgument unless it is ours and for `prefix`."""
        try:
            if len(token) > MAX_TOKEN_LENGTH:
                raise ValueError("too long")
            body, mac = token.split(".")
            payload = _unb64(body)
            if not hmac.compare_digest(_unb64(mac), self._mac(payload)):
                raise ValueError("bad signature")
            # A valid signature only says which key signed it: the default key is derived from
            # public names, so the payload is checked as fully as if it came from the caller.
            version, name, user_id, token_prefix = json.loads(payload)
            if version != _VERSION or not all(_is_text(v) for v in (name, user_id, token_prefix)):
                raise ValueError("unknown layout")
            if str(uuid.UUID(user_id)) != user_id:  # the SQL casts it to uuid: only the canonical form
                raise ValueError("not a canonical id")
        except (ValueError, TypeError, binascii.Error, RecursionError):
            raise InvalidArgument("page_token", _INVALID) from None
        if token_prefix != prefix:
            raise InvalidArgument("page_token", "belongs to a listing with another name_prefix")
        return name, user_id


def _is_text(value: object) -> bool:
    """Tells whether a decoded field is a string PostgreSQL can take as a text parameter."""
    if not isinstance(value, str) or len(value) > _MAX_KEY_CHARACTERS or "\x00" in value:
        return False
    try:
        value.encode("utf-8")  # refuses lone surrogates, which a JSON escape such as \ud800 can carry
    except UnicodeEncodeError:
        return False
    return True
