"""Masking: the transform applied before anything reaches a public index.

Rules (docs/indexer.md has the reasoning):

* names and address levels: :mod:`core.masking` (``mask_name``, :class:`MaskingPolicy`), shared
  with the printed village publicity list so the board and the web show the same thing;
* no ID number at all, no phone number, no card number — only the last 4 card digits, and only in
  the private ``payments`` index;
* free text written by people (a bank's failure reason, a reviewer's reason for withdrawing a
  line) goes through :func:`redact` or :func:`free_text_or` before it is indexed.

This module is the one place the indexer masks documents: :mod:`indexer.documents` imports the
rules from here.

:func:`scan_for_personal_data` finds ID-like, card-like and mobile-number-like strings in any text;
tests of the indexer and of the portal's pages use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from core.masking import (
    COMPOUND_SURNAMES,
    MaskingPolicy,
    NameStyle,
    RegionLevel,
    card_last4,
    load_policy,
    mask_name,
    surname_of,
)
from core.validation import normalize_name

__all__ = [
    "COMPOUND_SURNAMES",
    "MaskingPolicy",
    "NameStyle",
    "RegionLevel",
    "card_last4",
    "free_text_or",
    "load_policy",
    "mask_name",
    "redact",
    "scan_document",
    "scan_for_personal_data",
    "surname_of",
]


# --- detector -----------------------------------------------------------------------------------

_EDGE_L = r"(?<![0-9A-Za-z])"
_EDGE_R = r"(?![0-9A-Za-z])"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("id_number", re.compile(_EDGE_L + r"\d{6}(?:19|20)\d{2}[01]\d[0-3]\d\d{3}[\dXx]" + _EDGE_R)),
    ("id_number", re.compile(_EDGE_L + r"\d{17}[Xx]" + _EDGE_R)),
    ("card_number", re.compile(_EDGE_L + r"\d{16,19}" + _EDGE_R)),
    ("card_number", re.compile(_EDGE_L + r"\d{4}(?:[ -]\d{4}){3}(?:[ -]?\d{1,3})?" + _EDGE_R)),
    ("phone", re.compile(_EDGE_L + r"(?:(?:\+|00)?86[ -]?)?1[3-9]\d{9}" + _EDGE_R)),
    ("phone", re.compile(_EDGE_L + r"1[3-9]\d[ -]\d{4}[ -]\d{4}" + _EDGE_R)),
)


def scan_for_personal_data(text: str | None) -> list[str]:
    """Every ID-number-like, card-number-like or mobile-number-like string in ``text``.

    Shapes: 18 digits (or 17 + X) as an ID number, 16–19 digits (also in groups of four) as a card
    number, 11 digits 1[3-9]… (optionally +86, or 3-4-4 groups) as a mobile number. Digit runs glued
    to letters (hex digests, tokens) are not counted. Returns ``"kind:match"`` strings, empty when
    the text is clean.
    """
    if not text:
        return []
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            span = match.span()
            if any(s <= span[0] and span[1] <= e for s, e in seen):
                continue
            seen.add(span)
            found.append(f"{kind}:{match.group(0)}")
    return found


def redact(text: str | None, names: tuple[str, ...] = ()) -> str:
    """``text`` with every ID/card/phone-like string replaced by ``****`` and each of ``names``
    (full names known to be in it) masked — for free text such as a bank's failure reason."""
    if not text:
        return ""
    for _kind, pattern in _PATTERNS:
        text = pattern.sub("****", text)
    for name in names:
        name = normalize_name(name)
        if len(name) >= 2:
            text = text.replace(name, mask_name(name))
    return text


# A run of 11 or more digits (spaces and dashes between them allowed): the shape of an ID number
# (also the old 15-digit one), a card or a phone number, stricter than the detector on purpose.
_LONG_DIGITS = re.compile(r"(?:\d[\s-]?){10,}\d")


def free_text_or(text: str | None, fallback: str, *, own_names: Iterable[str] = (),
                 other_names: Iterable[str] = ()) -> str:
    """Free text a reviewer wrote about a person (why a line was withdrawn), made safe for the
    person's own view in the private ``payments`` index, or ``fallback`` (a generic reason).

    The person's own full name (``own_names``) is masked as the public lists mask it. The text is
    replaced by ``fallback`` when it is empty, holds anything :func:`scan_for_personal_data` finds or
    any run of 11 or more digits, or names another person (``other_names``: the full names of the
    people it could be about, e.g. the other people of the same village on the batch) — the person
    must not learn who objected, nor anyone's numbers.
    """
    text = " ".join((text or "").split())
    if not text or scan_for_personal_data(text) or _LONG_DIGITS.search(text):
        return fallback
    for name in own_names:
        name = normalize_name(name)
        if len(name) >= 2:
            text = text.replace(name, mask_name(name))
    for name in other_names:
        name = normalize_name(name)
        if len(name) >= 2 and name in text:
            return fallback
    return text


def scan_document(doc: Any) -> list[str]:
    """:func:`scan_for_personal_data` over every string and number in a (nested) document."""
    out: list[str] = []
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            out.extend(scan_for_personal_data(str(value)))
    return out

