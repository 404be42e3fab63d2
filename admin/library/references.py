"""Reference lists (比对名单) for roster cross-checks: deceased, supported persons, public employees, ….

Imported per region from CSV/.xlsx (身份证号 [, 备注, 生效日期]); only the person key is stored,
never the ID number. Re-importing an entry updates it.

The kinds of list are data (table ``reference_kinds``): a system admin adds one (残疾人员,
建档立卡 …) on /reference-kinds and imports its list like any other. The four built-in kinds
(``BUILTIN_KINDS``, seeded by migration 0006) are always known, even before the table holds them;
a row of the table overrides a built-in kind (its name, its date, whether it is active).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.audit import trail
from admin.batches.rosters import as_text, chunks, read_table
from admin.models import ReferenceEntry, ReferenceKind
from core import personkey
from core.config import Config
from core.validation import check_id_number, parse_id_number

# code → (name, what the date means, a payment dated after it is an anomaly); as migration 0006 seeds
BUILTIN_KINDS: dict[str, tuple[str, str, bool]] = {
    "deceased": ("死亡人员", "死亡日期", True),
    "supported": ("特困供养人员", "认定日期", False),
    "public_employee": ("财政供养人员", "入职日期", True),
    "imprisoned": ("服刑人员", "入监日期", False),
}
LIST_KINDS = {code: spec[0] for code, spec in BUILTIN_KINDS.items()}  # the built-in kinds' names
KIND_CODE = re.compile(r"[a-z][a-z0-9_]{1,31}")


class KindError(ValueError):
    """A reference kind that cannot be added or changed (Chinese message)."""


@dataclass(frozen=True)
class Kind:
    code: str
    name: str
    date_meaning: str
    paid_after_is_problem: bool
    active: bool
    builtin: bool

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "name": self.name, "date_meaning": self.date_meaning,
                "paid_after_is_problem": self.paid_after_is_problem, "active": self.active, "builtin": self.builtin}


def all_kinds(session: Session) -> list[Kind]:
    """Every kind, built-in ones first, then the added ones in code order (inactive ones too)."""
    rows = {k.code: k for k in session.execute(select(ReferenceKind)).scalars()}
    out = []
    for code, (name, meaning, flag) in BUILTIN_KINDS.items():
        row = rows.pop(code, None)
        out.append(Kind(code, row.name, row.date_meaning, row.paid_after_is_problem, row.active, True) if row
                   else Kind(code, name, meaning, flag, True, True))
    out += [Kind(r.code, r.name, r.date_meaning, r.paid_after_is_problem, r.active, False)
            for r in sorted(rows.values(), key=lambda r: r.code)]
    return out


def list_kinds(session: Session) -> dict[str, str]:
    """The active kinds: code → Chinese name (what the forms offer and the imports accept)."""
    return {k.code: k.name for k in all_kinds(session) if k.active}


def add_kind(session: Session, *, actor: str, code: str, name: str, date_meaning: str = "",
             paid_after_is_problem: bool = False) -> ReferenceKind:
    code, name, date_meaning = code.strip(), name.strip(), (date_meaning.strip() or "生效日期")
    if not KIND_CODE.fullmatch(code):
        raise KindError("类型代码应为 2–32 位小写英文字母、数字或下划线，以字母开头，如 disabled")
    if not name or len(name) > 40:
        raise KindError("请填写名单名称（最多 40 个字）")
    if len(date_meaning) > 40:
        raise KindError("日期含义最多 40 个字")
    if code in BUILTIN_KINDS or session.get(ReferenceKind, code) is not None:
        raise KindError(f"类型代码 {code} 已存在")
    if name in {k.name for k in all_kinds(session)}:
        raise KindError(f"名单“{name}”已存在")
    kind = ReferenceKind(code=code, name=name, date_meaning=date_meaning,
                         paid_after_is_problem=paid_after_is_problem, active=True)
    session.add(kind)
    session.flush()
    trail.record(session, actor=actor, action="reference_kind.create", object_type="reference_kind", object_id=code,
                 after=kind_snapshot(kind))
    return kind


def set_kind_active(session: Session, *, actor: str, code: str, active: bool) -> None:
    """Stop (or resume) using a kind: an inactive kind is neither offered, imported nor checked."""
    known = {k.code: k for k in all_kinds(session)}
    if code not in known:
        raise KindError("未知的名单类型")
    row = session.get(ReferenceKind, code)
    if row is None:
        name, meaning, flag = BUILTIN_KINDS[code]
        row = ReferenceKind(code=code, name=name, date_meaning=meaning, paid_after_is_problem=flag, active=True)
        session.add(row)
    before = kind_snapshot(row)
    row.active = active
    session.flush()
    trail.record(session, actor=actor, action="reference_kind.update", object_type="reference_kind", object_id=code,
                 before=before, after=kind_snapshot(row))


def kind_snapshot(kind: ReferenceKind) -> dict[str, object]:
    return {"code": kind.code, "name": kind.name, "date_meaning": kind.date_meaning,
            "paid_after_is_problem": bool(kind.paid_after_is_problem), "active": bool(kind.active)}
COLUMNS = ("身份证号", "备注", "生效日期")
ALIASES = {"身份证号": "身份证号", "身份证号码": "身份证号", "公民身份号码": "身份证号", "备注": "备注",
           "生效日期": "生效日期", "死亡日期": "生效日期", "日期": "生效日期"}


@dataclass
class ReferenceImport:
    added: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _date(value: object) -> date | None:
    text = as_text(value).strip()[:10]
    if not text:
        return None
    try:
        return date.fromisoformat(text.replace("/", "-"))
    except ValueError:
        raise ValueError("生效日期格式应为 2025-01-31") from None


def import_list(session: Session, config: Config, data: bytes, filename: str, *, actor: str, list_kind: str,
                region_code: str) -> ReferenceImport:
    kind = next((k for k in all_kinds(session) if k.code == list_kind and k.active), None)
    if kind is None:
        raise ValueError("未知的名单类型")
    aliases = {**ALIASES, kind.date_meaning: "生效日期"}  # e.g. 任职日期 for a kind added as data
    _fmt, _enc, _header, table = read_table(data, filename, COLUMNS, ("身份证号",), aliases)
    outcome = ReferenceImport()
    rows: dict[str, tuple[date | None, str]] = {}
    for line_no, values in table:
        issues = check_id_number(values.get("身份证号"))
        if issues:
            outcome.errors.append((line_no, "；".join(i.message for i in issues)))
            continue
        try:
            effective = _date(values.get("生效日期"))
        except ValueError as exc:
            outcome.errors.append((line_no, str(exc)))
            continue
        key = personkey.person_key(config.hmac_key, parse_id_number(values["身份证号"]).number)
        rows[key] = (effective, as_text(values.get("备注", ""))[:200])
    if outcome.errors:
        return outcome
    existing: dict[str, ReferenceEntry] = {}
    for chunk in chunks(sorted(rows)):
        for entry in session.execute(select(ReferenceEntry).where(
                ReferenceEntry.list_kind == list_kind, ReferenceEntry.person_key.in_(chunk))).scalars():
            existing[entry.person_key] = entry
    for key, (effective, note) in rows.items():
        entry = existing.get(key)
        if entry is None:
            session.add(ReferenceEntry(list_kind=list_kind, person_key=key, region_code=region_code,
                                       effective_on=effective, note=note))
            outcome.added += 1
        else:
            entry.effective_on, entry.note, entry.region_code = effective, note, region_code
            outcome.updated += 1
    trail.record(session, actor=actor, action="reference.import", object_type="reference_list", object_id=list_kind,
                 region_code=region_code, after={"file": filename[:100], "added": outcome.added,
                                                 "updated": outcome.updated})
    return outcome


def add_persons(session: Session, persons: list, *, actor: str, list_kind: str, note: str = "") -> ReferenceImport:
    """Put registered persons on a reference list (bulk action of the person registry); one audit entry."""
    if list_kind not in list_kinds(session):
        raise ValueError("未知的名单类型")
    outcome = ReferenceImport()
    keys = [p.person_key for p in persons]
    existing = {e.person_key: e for e in session.execute(select(ReferenceEntry).where(
        ReferenceEntry.list_kind == list_kind, ReferenceEntry.person_key.in_(keys or [""]))).scalars()}
    for person in persons:
        entry = existing.get(person.person_key)
        if entry is None:
            session.add(ReferenceEntry(list_kind=list_kind, person_key=person.person_key,
                                       region_code=person.region_code, note=note))
            outcome.added += 1
        else:
            entry.note = note or entry.note
            outcome.updated += 1
    regions = sorted({p.region_code for p in persons})
    common = regions[0] if len(regions) == 1 else ""
    if len(regions) > 1:
        common = os.path.commonprefix(regions)
    trail.record(session, actor=actor, action="reference.add", object_type="reference_list", object_id=list_kind,
                 region_code=common, after={"person_ids": sorted(p.id for p in persons), "added": outcome.added,
                                            "updated": outcome.updated, "note": note})
    return outcome
