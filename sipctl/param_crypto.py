"""Encrypted parameter values: ``encrypted__X__<data>`` where X is the method id of the
reference's ``pwdencrypted`` list (1 xor, 2 DES+base64, 3 xor+base64, 4 base64).

xor here is obfuscation, not security: the key of Mizu's public demo builds is published.
"""
from __future__ import annotations

import base64
import binascii
import re

from .errors import BadArgument

__all__ = ["decode_value", "encode_value", "is_encrypted", "PREFIX"]

PREFIX = "encrypted__"
_RE = re.compile(r"encrypted__(\d+)__(.*)", re.DOTALL)


def is_encrypted(text: str) -> bool:
    """Whether ``text`` carries the ``encrypted__X__`` prefix."""
    return text.startswith(PREFIX)


def _xor(data: bytes, key: str) -> bytes:
    if not key:
        raise BadArgument("an encryption key is needed for xor-encrypted values (encryptionkey)")
    k = key.encode("utf-8")
    return bytes(b ^ k[i % len(k)] for i, b in enumerate(data))


def _b64decode(data: str, method: int) -> bytes:
    try:
        return base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadArgument(f"encrypted__{method}__ value is not valid base64") from None


def _text(raw: bytes, method: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadArgument(f"encrypted__{method}__ value does not decode to UTF-8 text "
                          "(wrong key?)") from None


def _des_error() -> BadArgument:
    return BadArgument("encrypted__2__ (DES) is not supported by sipctl; use method 3 "
                       "(xor+base64) or 4 (base64)")


def decode_value(text: str, key: str) -> str:
    """The plain value of ``encrypted__X__data`` (others are returned unchanged).

    Method 1 xors the characters of ``data`` (as UTF-8 bytes) with ``key``; 3 base64-decodes
    then xors; 4 base64-decodes. Raises :class:`BadArgument` for method 2 (DES), unknown
    methods and bad base64.
    """
    if not is_encrypted(text):
        return text
    m = _RE.fullmatch(text)
    if m is None:
        raise BadArgument(f"malformed encrypted value: expected encrypted__X__data, "
                          f"got {text[:24]!r}...")
    method, data = int(m.group(1)), m.group(2)
    if method == 1:
        # one character per xored byte (latin-1), so every byte value survives as text
        try:
            raw = data.encode("latin-1")
        except UnicodeEncodeError:
            raise BadArgument("encrypted__1__ value has characters above U+00FF") from None
        return _text(_xor(raw, key), 1)
    if method == 2:
        raise _des_error()
    if method == 3:
        return _text(_xor(_b64decode(data, 3), key), 3)
    if method == 4:
        return _text(_b64decode(data, 4), 4)
    raise BadArgument(f"unknown encryption method encrypted__{method}__ (sipctl supports "
                      "1 xor, 3 xor+base64, 4 base64)")


def encode_value(plain: str, method: int, key: str) -> str:
    """``encrypted__<method>__...`` for ``plain`` (the inverse of :func:`decode_value`)."""
    raw = plain.encode("utf-8")
    if method == 1:
        return f"{PREFIX}1__" + _xor(raw, key).decode("latin-1")
    if method == 2:
        raise _des_error()
    if method == 3:
        return f"{PREFIX}3__" + base64.b64encode(_xor(raw, key)).decode("ascii")
    if method == 4:
        return f"{PREFIX}4__" + base64.b64encode(raw).decode("ascii")
    raise BadArgument(f"unknown encryption method {method} (sipctl supports 1, 3, 4)")
