"""Person registry (人员信息库) and card accounts (社保卡账户).

Imported from the social security card system's export (CSV/.xlsx, all-or-nothing per file).
A new card number for a known person closes the old card (kept, with its closing date), so
the card history stays visible. Search by ID number (exact, via the person key) or by name,
always inside the operator's region.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from admin.access import roles
from admin.audit import trail
from admin.batches.rosters import as_text, chunks, read_table
from admin.fieldcrypt import cipher
from admin.models import CardAccount, Person
from core import personkey
from core.config import Config
from core.timeutil import today
from core.validation import (
    check_card_number,
    check_id_number,
    check_name,
    check_phone,
    normalize_card_number,
    normalize_name,
    normalize_phone,
    parse_id_number,
)

COLUMNS = ("姓名", "身份证号", "社保卡号", "开户银行", "区划代码", "手机号", "卡状态")
REQUIRED = ("姓名", "身份证号", "社保卡号", "区划代码")
ALIASES = {
    "姓名": "姓名", "身份证号": "身份证号", "身份证号码": "身份证号", "公民身份号码": "身份证号",
    "社保卡号": "社保卡号", "社会保障卡号": "社保卡号", "银行账号": "社保卡号", "卡号": "社保卡号",
    "开户银行": "开户银行", "发卡银行": "开户银行", "区划代码": "区划代码", "村代码": "区划代码",
    "所在村代码": "区划代码", "手机号": "手机号", "手机号码": "手机号", "卡状态": "卡状态", "状态": "卡状态",
}
CARD_STATUS = {"": "active", "正常": "active", "冻结": "frozen", "注销": "closed"}
CARD_STATUS_LABELS = {"active": "正常", "frozen": "冻结", "closed": "已注销"}


class PersonsError(ValueError):
    pass


@dataclass
class RegistryImport:
    persons_created: int = 0
    persons_updated: int = 0
    cards_created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def import_registry(session: Session, config: Config, data: bytes, filename: str, *, actor: str,
                    scope_region: str | None = None) -> RegistryImport:
    """Import persons and cards. Any bad line: nothing is written, `errors` says where and why."""
    _fmt, _enc, _header, table = read_table(data, filename, COLUMNS, REQUIRED, ALIASES,
                                            "请按社保卡系统导出格式整理后再导入。")
    outcome = RegistryImport()
    parsed: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for line_no, values in table:
        problems: list[str] = []
        problems += [i.message for i in check_name(as_text(values.get("姓名", "")))]
        id_issues = check_id_number(values.get("身份证号"))
        problems += [i.message for i in id_issues]
        problems += [i.message for i in check_card_number(values.get("社保卡号"))]
        problems += [i.message for i in check_phone(values.get("手机号"))]
        region = as_text(values.get("区划代码", "")).strip()
        if not (region.isdigit() and len(region) == 12):
            problems.append("区划代码应为12位村级代码")
        elif scope_region and not region.startswith(scope_region):
            problems.append("区划代码不在您的管辖区域内")
        status = CARD_STATUS.get(as_text(values.get("卡状态", "")).strip())
        if status is None:
            problems.append("卡状态应为：正常、冻结或注销")
        if not id_issues:
            number = parse_id_number(values["身份证号"]).number
            if number in seen:
                problems.append(f"身份证号与第{seen[number]}行重复")
            seen.setdefault(number, line_no)
        if problems:
            outcome.errors.append((line_no, "；".join(problems)))
            continue
        parsed.append((line_no, {
            "id": parse_id_number(values["身份证号"]), "name": normalize_name(as_text(values["姓名"])),
            "card": normalize_card_number(values["社保卡号"]), "bank": as_text(values.get("开户银行", ""))[:64],
            "region": region, "phone": normalize_phone(values.get("手机号")), "status": status,
        }))
    if outcome.errors:
        return outcome
    crypt = cipher(config.field_key)
    keys = {line_no: personkey.person_key(config.hmac_key, row["id"].number) for line_no, row in parsed}
    existing: dict[str, Person] = {}
    for chunk in chunks(sorted(set(keys.values()))):
        for person in session.execute(select(Person).where(Person.person_key.in_(chunk))
                                      .options(selectinload(Person.cards))).scalars():
            existing[person.person_key] = person
    for line_no, row in parsed:
        key = keys[line_no]
        person = existing.get(key)
        if person is None:
            person = Person(person_key=key, id_number_enc=crypt.encrypt(row["id"].number),
                            id_last4=row["id"].number[-4:], name=row["name"], birth_date=row["id"].birth_date,
                            sex="M" if row["id"].sex == "male" else "F", region_code=row["region"],
                            phone_enc=crypt.encrypt(row["phone"]) if row["phone"] else None)
            person.cards = []
            session.add(person)
            existing[key] = person
            outcome.persons_created += 1
        else:
            changed = (person.name, person.region_code) != (row["name"], row["region"])
            person.name, person.region_code = row["name"], row["region"]
            if row["phone"]:
                person.phone_enc = crypt.encrypt(row["phone"])
            outcome.persons_updated += int(changed)
        digest = personkey.card_digest(config.hmac_key, key, row["card"])
        card = next((c for c in person.cards if c.card_digest == digest), None)
        if card is None:
            if row["status"] == "active":
                for old in person.cards:
                    if old.status == "active":
                        old.status, old.closed_on = "closed", today()
            person.cards.append(CardAccount(card_number_enc=crypt.encrypt(row["card"]), card_digest=digest,
                                            card_last4=row["card"][-4:], bank_name=row["bank"],
                                            status=row["status"], opened_on=today(),
                                            closed_on=today() if row["status"] == "closed" else None))
            outcome.cards_created += 1
        else:
            card.status = row["status"]
            card.bank_name = row["bank"] or card.bank_name
            card.closed_on = today() if row["status"] == "closed" and card.closed_on is None else card.closed_on
    session.flush()
    trail.record(session, actor=actor, action="persons.import", object_type="person_registry", object_id=filename[:64],
                 region_code=scope_region or "", after={"lines": len(parsed), "created": outcome.persons_created,
                                                        "updated": outcome.persons_updated,
                                                        "cards": outcome.cards_created})
    return outcome


def search(session: Session, config: Config, actor: roles.Actor, query: str, *, limit: int = 50) -> list[Person]:
    """By ID number (exact, through the person key) or by name (prefix), inside the actor's region."""
    query = query.strip()
    if not query:
        return []
    stmt = select(Person).options(selectinload(Person.cards))
    if not check_id_number(query):
        key = personkey.person_key(config.hmac_key, parse_id_number(query).number)
        stmt = stmt.where(Person.person_key == key)
    elif any("\u4e00" <= ch <= "\u9fff" for ch in query):
        stmt = stmt.where(Person.name.startswith(normalize_name(query)))
    else:
        return []
    stmt = roles.scope_persons(stmt, actor).order_by(Person.name, Person.id).limit(limit)
    return list(session.execute(stmt).scalars())


def card_history(person: Person) -> list[dict[str, Any]]:
    return [{"last4": c.card_last4, "bank": c.bank_name, "status": CARD_STATUS_LABELS.get(c.status, c.status),
             "opened_on": c.opened_on, "closed_on": c.closed_on} for c in person.cards]


__all__: Sequence[str] = ("import_registry", "search", "card_history", "PersonsError", "RegistryImport")
