"""Keyed digests that let the public side recognise a person without holding the ID number.

- `person_key`: HMAC-SHA256 of the normalised ID number. Both sides share the key
  (`YIKATONG_HMAC_KEY`); the public side only ever sees the digest.
- `name_digest` / `card_digest`: digests of the second factor, bound to the person key, so a
  leaked payments index does not reveal names or card numbers either.

Callers normalise first (core.validation); these functions only hash.
"""

from __future__ import annotations

import hashlib
import hmac


def _digest(key: bytes, *parts: str) -> str:
    message = "\x1f".join(parts).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def person_key(key: bytes, normalized_id_number: str) -> str:
    return _digest(key, "person", normalized_id_number)


def name_digest(key: bytes, person_key_hex: str, normalized_name: str) -> str:
    return _digest(key, "name", person_key_hex, normalized_name)


def card_digest(key: bytes, person_key_hex: str, card_number: str) -> str:
    return _digest(key, "card", person_key_hex, card_number)


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def card_fingerprint(key: bytes, card_number: str) -> str:
    """The card number alone, keyed: the same card entered for two people has the same fingerprint."""
    return _digest(key, "card-alone", card_number)


def address_digest(key: bytes, normalized_address: str) -> str:
    return _digest(key, "address", normalized_address)
