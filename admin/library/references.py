"""Reference lists (比对名单) for roster cross-checks: deceased, supported persons, public employees, ….

Imported per region from CSV/.xlsx (身份证号 [, 备注, 生效日期]); only the person key is stored,
never the ID number. Re-importing an entry updates it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.audit import trail
from admin.batches.rosters import as_text, chunks, read_table
from admin.models import ReferenceEntry
from core import personkey
from core.config import Config
from core.validation import check_id_number, parse_id_number

LIST_KINDS = {"deceased": "死亡人员", "supported": "特困供养人员", "public_employee": "财政供养人员",
              "imprisoned": "服刑人员"}
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
    if list_kind not in LIST_KINDS:
        raise ValueError("未知的名单类型")
    _fmt, _enc, _header, table = read_table(data, filename, COLUMNS, ("身份证号",), ALIASES)
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
    if list_kind not in LIST_KINDS:
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
