"""Administrative regions (区划): province → city → county → township → village.

Data: National Bureau of Statistics division codes as of 2022-10-31, shipped in
``core/data/regions/*.csv`` (see the README there). Villages are not in the data; a 12-digit
village code is the 9-digit township code plus 3 digits (:func:`village_code`).

Codes are kept in their short form: province ``41``, city ``4104``, county ``410423``,
township ``410423204``, village ``410423204201``. Lookups also accept the zero-padded forms
seen on paper and in ID numbers (``410000``, ``410400``, ``410423000000``).

Everything is loaded lazily and cached; townships (41k rows) only when first needed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

__all__ = [
    "Region",
    "RegionLevel",
    "canonical_code",
    "children",
    "county_codes",
    "full_name",
    "get",
    "is_known_county_prefix",
    "level_of",
    "load",
    "path",
    "village_code",
]

RegionLevel = Literal["province", "city", "county", "township", "village"]

_LEVEL_BY_LENGTH: dict[int, RegionLevel] = {
    2: "province",
    4: "city",
    6: "county",
    9: "township",
    12: "village",
}
_PARENT_LENGTH = {4: 2, 6: 4, 9: 6, 12: 9}

# Placeholder city-level names that are left out of a full name (北京市市辖区东城区 → 北京市东城区).
_PLACEHOLDER_NAMES = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    level: RegionLevel
    parent_code: str | None


def _read(filename: str) -> list[dict[str, str]]:
    data = resources.files("core").joinpath("data", "regions", filename).read_bytes()
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


@cache
def _upper() -> dict[str, Region]:
    """Provinces, cities and counties by code."""
    out: dict[str, Region] = {}
    for row in _read("provinces.csv"):
        out[row["code"]] = Region(row["code"], row["name"], "province", None)
    for row in _read("cities.csv"):
        out[row["code"]] = Region(row["code"], row["name"], "city", row["provinceCode"])
    for row in _read("areas.csv"):
        out[row["code"]] = Region(row["code"], row["name"], "county", row["cityCode"])
    return out


@cache
def _townships() -> dict[str, Region]:
    return {
        row["code"]: Region(row["code"], row["name"], "township", row["areaCode"])
        for row in _read("streets.csv")
    }


@cache
def _children_index() -> dict[str, tuple[Region, ...]]:
    index: dict[str, list[Region]] = {}
    for table in (_upper(), _townships()):
        for region in table.values():
            if region.parent_code is not None:
                index.setdefault(region.parent_code, []).append(region)
    return {k: tuple(sorted(v, key=lambda r: r.code)) for k, v in index.items()}


def load() -> None:
    """Read the region tables now (a server calls this at start-up, so that its first township
    lookup does not pay the ~0.5 s it takes to read them)."""
    _children_index()


def _lookup(code: str) -> Region | None:
    if len(code) == 9:
        return _townships().get(code)
    if len(code) in (2, 4, 6):
        return _upper().get(code)
    return None


def canonical_code(code: str) -> str:
    """Short form of a region code: strips spaces and trailing all-zero levels.

    ``410000`` → ``41``, ``410400`` → ``4104``, ``410423204000`` → ``410423204``. A code that
    exists as written is kept (东莞市 ``441900`` is a county-level row in the NBS data).
    Raises ``ValueError`` for anything that is not 2/4/6/9/12 digits.
    """
    code = code.strip()
    if not code.isascii() or not code.isdigit() or len(code) not in _LEVEL_BY_LENGTH:
        raise ValueError(f"not a region code: {code!r}")
    while len(code) > 2 and _lookup(code) is None:
        parent_len = _PARENT_LENGTH[len(code)]
        if set(code[parent_len:]) != {"0"}:
            break
        code = code[:parent_len]
    return code


def level_of(code: str) -> RegionLevel:
    """Level implied by the length of a short code."""
    try:
        return _LEVEL_BY_LENGTH[len(code)]
    except KeyError:
        raise ValueError(f"not a region code: {code!r}") from None


def get(code: str) -> Region | None:
    """The region with this code, or ``None``. Villages are not in the data: ``None``."""
    try:
        return _lookup(canonical_code(code))
    except ValueError:
        return None


def children(code: str) -> list[Region]:
    """Direct children, ordered by code (townships of a county; none below a township)."""
    try:
        code = canonical_code(code)
    except ValueError:
        return []
    return list(_children_index().get(code, ()))


def path(code: str) -> list[Region]:
    """Regions from the province down to ``code`` itself; empty if ``code`` is unknown."""
    region = get(code)
    out: list[Region] = []
    while region is not None:
        out.append(region)
        region = _lookup(region.parent_code) if region.parent_code else None
    out.reverse()
    return out


def full_name(code: str) -> str:
    """E.g. ``410423204`` → 河南省平顶山市鲁山县让河乡; empty string if unknown.

    Placeholder levels (市辖区, 县, 省直辖县级行政区划) and repeated names are left out.
    """
    parts: list[str] = []
    for region in path(code):
        if region.name in _PLACEHOLDER_NAMES and region.level == "city":
            continue
        if parts and parts[-1] == region.name:
            continue
        parts.append(region.name)
    return "".join(parts)


@cache
def county_codes() -> frozenset[str]:
    """Current NBS county-level codes (6 digits)."""
    return frozenset(code for code, r in _upper().items() if r.level == "county")


def is_known_county_prefix(six_digits: str) -> bool:
    """Whether the first six digits of an ID number name a current region.

    Accepts current county codes and the zero-padded prefecture and province codes that appear on
    real older ID numbers (``410400`` 平顶山市, ``410000`` 河南省). Historical codes are checked in
    :mod:`core.validation` (python-stdnum's data), not here.
    """
    if len(six_digits) != 6 or not six_digits.isascii() or not six_digits.isdigit():
        return False
    if six_digits in county_codes():
        return True
    if six_digits.endswith("0000"):
        return six_digits[:2] in _upper()
    if six_digits.endswith("00"):
        return six_digits[:4] in _upper()
    return False


def village_code(township_code: str, n: int) -> str:
    """12-digit village code: the township's 9-digit code plus ``n`` as 3 digits (1–999)."""
    code = canonical_code(township_code)
    if len(code) != 9:
        raise ValueError(f"not a township code: {township_code!r}")
    if not 1 <= n <= 999:
        raise ValueError(f"village number out of range 1–999: {n}")
    return f"{code}{n:03d}"
