"""The demo data generator: valid numbers and names, consistent amounts and workflow, the
sample people's cases, determinism, --if-changed and the `yikatong demo people` command."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import select

import cli
from admin.audit import trail
from admin.fieldcrypt import cipher
from admin.access import roles
from admin.batches import workflow
from admin.models import (
    AuditEntry,
    Batch,
    BatchState,
    CardAccount,
    Complaint,
    ComplaintEvent,
    Operator,
    OutboxEntry,
    PaymentLine,
    PaymentRequest,
    PaymentRequestBank,
    Person,
    Project,
    Region,
    WorkflowEvent,
)
from core import personkey, workdays
from core.config import Config
from core.timeutil import local
from core.db import Database
from core.validation import check_card_number, check_id_number, check_name, parse_id_number
from demo.build import GENERATOR_VERSION, build
from demo.batches import COMMENTS
from demo.data import AS_OF, FAILURES
from demo.people import demo_people, load_demo_people
from tests.conftest import TEST_SECRETS, _fresh_url

N = 3000
SEED = 42
HISTORICAL = ("412631", "512330", "513522")


def _config(data_dir: Path, batch_url: str, public_url: str) -> Config:
    return Config.from_env({
        "YIKATONG_DATA_DIR": str(data_dir), "YIKATONG_DEMO": "1",
        "BATCH_DATABASE_URL": batch_url, "PUBLIC_DATABASE_URL": public_url, **TEST_SECRETS,
    })


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, Database]]:
    """One demo database (N lines) shared by the read-only tests of this module."""
    tmp = tmp_path_factory.mktemp("demo")
    url, cleanup = _fresh_url(tmp, "demobatch")
    config = _config(tmp / "data", url, f"sqlite:///{tmp / 'public.sqlite3'}")
    report = build(config, N, SEED)
    assert report.lines == N
    db = Database(url)
    yield config, db
    db.dispose()
    cleanup()  # type: ignore[operator]


def _people(config: Config, db: Database) -> dict[int, tuple[str, Person]]:
    decrypt = cipher(config.field_key).decrypt
    with db.session() as s:
        return {p.id: (decrypt(p.id_number_enc), p) for p in s.scalars(select(Person))}


def test_every_id_number_card_and_name_is_valid(built: tuple[Config, Database]) -> None:
    config, db = built
    decrypt = cipher(config.field_key).decrypt
    people = _people(config, db)
    prefixes = Counter()
    for number, person in people.values():
        assert check_id_number(number) == [], number
        info = parse_id_number(number)
        assert info.birth_date == person.birth_date
        assert person.sex == ("M" if info.sex == "male" else "F")
        assert person.person_key == personkey.person_key(config.hmac_key, number)
        assert person.id_last4 == number[-4:]
        assert check_name(person.name) == [], person.name
        prefixes[number[:6]] += 1
    assert all(prefixes[code] > 0 for code in HISTORICAL), prefixes
    assert {"410423", "500241", "530128"} <= set(prefixes)
    # historical codes only on the old enough (Xiushan's before 1997, Lushan's before 1983)
    for number, person in people.values():
        if number[:6] in ("512330", "513522"):
            assert person.birth_date.year < 1997
        if number[:6] == "412631":
            assert person.birth_date.year < 1983
    names = [p.name for _, p in people.values()]
    assert any("·" in n for n in names) and any(n[:2] in ("欧阳", "司马", "诸葛", "上官", "皇甫", "令狐") for n in names)
    assert len(set(n for n, _ in people.values())) == len(people)
    with db.session() as s:
        cards = list(s.scalars(select(CardAccount)))
    numbers = [decrypt(c.card_number_enc) for c in cards]
    assert len(set(numbers)) == len(numbers)
    for card, number in zip(cards, numbers):
        assert check_card_number(number) == [] and len(number) == 19
        assert card.card_last4 == number[-4:]
        assert card.bank_name
    assert any(c.status == "closed" and c.closed_on for c in cards)


def test_amounts_are_within_the_project_standard_and_ages_fit_the_policy(built: tuple[Config, Database]) -> None:
    config, db = built
    with db.session() as s:
        rows = s.execute(
            select(PaymentLine.amount, PaymentLine.quantity, Project.amount_min, Project.amount_max, Project.code,
                   Person.birth_date, Batch.period)
            .join(Batch, Batch.id == PaymentLine.batch_id).join(Project, Project.id == Batch.project_id)
            .join(Person, Person.id == PaymentLine.person_id)
        ).all()
    assert len(rows) == N
    for amount, quantity, low, high, code, birth, period in rows:
        assert isinstance(amount, Decimal) and amount == amount.quantize(Decimal("0.01"))
        assert low <= amount <= high, (code, amount, low, high)
        if "GDDL" in code:
            assert quantity is not None and quantity > 0
        if "GLJT" in code:  # 高龄津贴: 80 or older in the batch's year
            assert int(period[:4]) - birth.year >= 80
        if "CXYL" in code:
            assert int(period[:4]) - birth.year >= 60


def test_every_workflow_state_with_realistic_dates(built: tuple[Config, Database]) -> None:
    _config_, db = built
    with db.session() as s:
        batches = list(s.scalars(select(Batch)))
        events = list(s.scalars(select(WorkflowEvent).order_by(WorkflowEvent.id)))
        lines = s.execute(select(PaymentLine.batch_id, PaymentLine.state)).all()
    states = Counter(b.state for b in batches)
    assert set(states) == {state.value for state in BatchState}
    assert states["published"] > len(batches) * 0.8
    assert {b.year for b in batches} == set(range(2021, 2027))
    by_batch: dict[int, list[WorkflowEvent]] = {}
    for event in events:
        by_batch.setdefault(event.batch_id, []).append(event)
    line_states: dict[int, set[str]] = {}
    for batch_id, state in lines:
        line_states.setdefault(batch_id, set()).add(state)
    for batch in batches:
        chain = by_batch[batch.id]
        assert chain[0].from_state is None and chain[0].to_state == "draft"
        assert chain[-1].to_state == batch.state
        assert all(a.to_state == b.from_state and a.at <= b.at for a, b in zip(chain, chain[1:]))
        assert chain[-1].at.date() <= AS_OF
        if batch.publicity_start:
            assert workdays.workdays_between(batch.publicity_start, batch.publicity_end) >= 3
            assert batch.publicity_place
        if batch.state in ("paid", "published"):
            assert batch.paid_on and line_states[batch.id] <= {"paid", "failed", "reissued", "returned"}
        elif batch.state == "cancelled":
            assert line_states[batch.id] == {"withdrawn"}
        else:
            assert line_states[batch.id] == {"pending"}
            if batch.state not in ("draft", "published", "cancelled"):
                assert batch.step_due_on and batch.step_due_on >= batch.step_started_on
        if batch.state == "published":
            assert batch.published_on and batch.published_on >= batch.paid_on


def test_about_two_percent_fail_with_a_reason_and_most_are_reissued(built: tuple[Config, Database]) -> None:
    _config_, db = built
    with db.session() as s:
        lines = {line.id: line for line in s.scalars(select(PaymentLine))}
        paid_on = {bid: day for bid, day in s.execute(select(Batch.id, Batch.paid_on))}
    settled = [x for x in lines.values() if x.state in ("paid", "failed", "reissued", "returned")]
    failed = [x for x in settled if x.failure_code]
    share = len(failed) / len(settled)
    assert 0.01 <= share <= 0.04, share
    for line in failed:  # the bank's words, classified by the result import (admin/bank/reasons.py)
        assert line.state in ("failed", "reissued", "returned")
        if line.state == "returned":  # the department's reason is added when the money goes back
            assert line.failure_reason == f"{FAILURES[line.failure_code]}；{COMMENTS['returned']}"
        else:
            assert line.failure_reason == FAILURES[line.failure_code]
        if line.state == "failed":  # still to correct: what to do, and by when (3 working days)
            assert line.advice and line.correction_due_on == workdays.add_workdays(paid_on[line.batch_id], 3)
    reissues = [x for x in lines.values() if x.reissue_of_id]
    assert len(reissues) >= len(failed) * 0.6
    targets = Counter(x.reissue_of_id for x in reissues)
    assert max(targets.values()) == 1
    for new in reissues:
        old = lines[new.reissue_of_id]
        assert old.state == "reissued" and old.failure_code
        assert new.state == "paid" and new.paid_on is not None and new.paid_on > paid_on[new.batch_id]
        assert (new.batch_id, new.person_id, new.amount) == (old.batch_id, old.person_id, old.amount)
    assert {x.id for x in lines.values() if x.state == "reissued"} == set(targets)


def test_regions_departments_outbox_and_audit(built: tuple[Config, Database]) -> None:
    _config_, db = built
    with db.session() as s:
        villages = list(s.scalars(select(Region).where(Region.level == "village")))
        townships = {r.code for r in s.scalars(select(Region).where(Region.level == "township"))}
        person_villages = set(s.scalars(select(Person.region_code)))
        outbox = Counter(s.scalars(select(OutboxEntry.topic)))
        outbox_batches = {int(key) for key in s.scalars(select(OutboxEntry.key).where(OutboxEntry.topic == "batch"))}
        states = dict(s.execute(select(Batch.id, Batch.state)).all())
        assert trail.verify_chain(s) is None
        assert s.scalar(select(AuditEntry.id).limit(1)) is not None
    assert villages and all(len(v.code) == 12 and v.parent_code in townships for v in villages)
    assert all(v.name.endswith(("村", "社区")) for v in villages)
    assert person_villages <= {v.code for v in villages}
    # every batch the public side shows (it left draft, and was not cancelled there) went out through
    # the outbox, and nothing of a draft did
    assert outbox_batches == {bid for bid, state in states.items() if state not in ("draft", "cancelled")}
    assert {bid for bid, state in states.items() if state in ("publicity", "paid", "published")} <= outbox_batches
    assert outbox["policy"] >= 20 * 6 * 3


def test_every_step_went_through_the_workflow_or_a_bank_service(built: tuple[Config, Database]) -> None:
    """No state is written by the build itself: after the creation event (the batch service), every
    event names the action that wrote it (workflow.perform, or a bank service through it), was taken
    by a role allowed to, and has its audit entry; paid and published came from the result import
    and ``publish``, and every bank file was exported before its result came back."""
    _config_, db = built
    with db.session() as s:
        batches = {b.id: b for b in s.scalars(select(Batch))}
        events = list(s.scalars(select(WorkflowEvent).order_by(WorkflowEvent.id)))
        audit = s.execute(select(AuditEntry.object_id, AuditEntry.action, AuditEntry.actor, AuditEntry.after)
                          .where(AuditEntry.object_type == "batch").order_by(AuditEntry.id)).all()
        role_of = dict(s.execute(select(Operator.username, Operator.role)).all())
        originals = Counter(s.scalars(select(PaymentLine.batch_id).where(PaymentLine.reissue_of_id.is_(None))))
        reissued = Counter(s.scalars(select(PaymentLine.batch_id).where(PaymentLine.reissue_of_id.is_not(None))))
        requests: dict[int, list[PaymentRequest]] = {}
        for request in s.scalars(select(PaymentRequest).order_by(PaymentRequest.id)):
            requests.setdefault(request.batch_id, []).append(request)
        shares = s.execute(select(PaymentRequestBank.export_count, PaymentRequestBank.results_at)).all()
    by_batch: dict[int, list[WorkflowEvent]] = {}
    for event in events:
        by_batch.setdefault(event.batch_id, []).append(event)
    taken: dict[int, list[tuple[str, str]]] = {}
    imported: dict[int, int] = {}
    exports: Counter[int] = Counter()
    for object_id, action, actor, after in audit:
        if action.startswith("workflow."):
            taken.setdefault(int(object_id), []).append((action.removeprefix("workflow."), actor))
        elif action == "roster.import":
            imported[int(object_id)] = imported.get(int(object_id), 0) + after["lines"]
        elif action == "bank.export":
            exports[int(object_id)] += 1
    assert set(by_batch) == set(batches)
    for batch_id, chain in by_batch.items():
        created, steps = chain[0], chain[1:]
        assert (created.action, created.from_state, created.to_state) == (None, None, "draft")
        assert role_of[created.actor] == "department_operator"  # batch service, by the department
        for event in steps:
            assert event.action, (batch_id, event.from_state, event.to_state)  # written by workflow.perform
            spec = workflow.SPECS[event.action]
            assert role_of[event.actor] in roles.PERMISSIONS[spec.permissions[event.from_state]], event.action
        # one workflow audit entry per event, by the same operator, in the same order
        assert taken.get(batch_id, []) == [(e.action, e.actor) for e in steps]
        # the roster went in through the roster service (enter_rows: the import's checks and audit entry)
        assert imported[batch_id] == originals[batch_id]
        batch = batches[batch_id]
        moves = [(e.from_state, e.to_state, e.action) for e in steps if e.from_state != e.to_state]
        if batch.state in ("bank", "paid", "published"):
            first = requests[batch_id][0]
            assert first.kind == "payment" and first.line_count == originals[batch_id]
            assert [action for _f, to, action in moves if to == "bank"] == ["payment_request"]
            assert all(r.kind == "reissue" for r in requests[batch_id][1:])  # 补发 of the re-issued lines
            assert sum(r.line_count for r in requests[batch_id][1:]) == reissued[batch_id]
        else:
            assert batch_id not in requests
        if batch.state in ("paid", "published"):
            assert ("bank", "paid", "bank_import") in moves
            assert exports[batch_id] == sum(1 for e in steps if e.action == "bank_import")  # each file out, then back
            assert [e.action for e in steps if e.action == "reissue"] == ["reissue"] * (len(requests[batch_id]) - 1)
        if batch.state == "published":
            assert moves[-1] == ("paid", "published", "publish")
    # every bank file was exported once and its result imported, but those still at the bank
    assert {(count, results_at is not None) for count, results_at in shares} == {(1, True), (0, False)}


def _fingerprint(config: Config) -> tuple[list[tuple[str, str]], list[tuple], list[tuple]]:
    db = Database(config.batch_database_url)
    try:
        people = _people(config, db)
        decrypt = cipher(config.field_key).decrypt
        with db.session() as s:
            lines = [
                (code, line_no, people[pid][0], amount, state, failure)
                for code, line_no, pid, amount, state, failure in s.execute(
                    select(Batch.code, PaymentLine.line_no, PaymentLine.person_id, PaymentLine.amount,
                           PaymentLine.state, PaymentLine.failure_code)
                    .join(Batch, Batch.id == PaymentLine.batch_id).order_by(PaymentLine.id))
            ]
            # the complaints: all but the tracking code (random, as the product draws it) and the times of day
            complaints = [
                (c.kind, c.subject, c.text, c.project_code, c.region_code, c.status, local(c.filed_at).date(),
                 c.due_on, c.answered_at and local(c.answered_at).date(), c.answer, c.answer_unit, c.department_id,
                 c.handling_region, c.confidential, c.satisfaction, c.contact_enc and decrypt(c.contact_enc),
                 [(e.action, e.actor, local(e.at).date()) for e in s.scalars(
                     select(ComplaintEvent).where(ComplaintEvent.complaint_id == c.id).order_by(ComplaintEvent.id))])
                for c in s.scalars(select(Complaint).order_by(Complaint.id))
            ]
        return sorted((number, p.name) for number, p in people.values()), lines, complaints
    finally:
        db.dispose()


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path) -> None:
    results = []
    for n, seed in enumerate((7, 7, 8)):
        url, cleanup = _fresh_url(tmp_path, f"det{n}")
        try:
            config = _config(tmp_path / f"d{n}", url, f"sqlite:///{tmp_path / f'p{n}.sqlite3'}")
            build(config, 600, seed)
            results.append(_fingerprint(config))
        finally:
            cleanup()  # type: ignore[operator]
    assert results[0] == results[1]
    assert results[0][2] and len({c[0] for c in results[0][2]}) == 5  # complaints of every kind, same for a seed
    assert results[0][0] != results[2][0] and results[0][1] != results[2][1] and results[0][2] != results[2][2]


def _sample_records(config: Config, db: Database) -> dict[str, dict]:
    out: dict[str, dict] = {}
    with db.session() as s:
        for entry in demo_people(config):
            key = personkey.person_key(config.hmac_key, entry["id_number"])
            person = s.scalars(select(Person).where(Person.person_key == key)).one()
            rows = s.execute(
                select(PaymentLine, Batch.state, Batch.year, Project.code)
                .join(Batch, Batch.id == PaymentLine.batch_id).join(Project, Project.id == Batch.project_id)
                .where(PaymentLine.person_id == person.id)).all()
            cards = list(s.scalars(select(CardAccount).where(CardAccount.person_id == person.id).order_by(CardAccount.id)))
            out[entry["key"]] = {"entry": entry, "person": person, "rows": rows, "cards": cards}
    return out


def test_sample_people_show_the_cases_they_claim(built: tuple[Config, Database]) -> None:
    config, db = built
    samples = _sample_records(config, db)
    assert len(samples) == 6
    for record in samples.values():
        entry = record["entry"]
        assert check_id_number(entry["id_number"]) == [] and check_card_number(entry["card_number"]) == []
        assert entry["card_last4"] == entry["card_number"][-4:] and entry["shows"]
        assert record["person"].name == entry["name"]
        assert cipher(config.field_key).decrypt(record["cards"][-1].card_number_enc) == entry["card_number"]
        paid_years = {year for line, _s, year, _c in record["rows"] if line.state == "paid"}
        assert len(paid_years) >= 5  # several paid lines over the years

    def pending_in(record: dict, state: str) -> bool:
        return any(line.state == "pending" and bstate == state for line, bstate, _y, _c in record["rows"])

    elder = samples["elder"]
    assert elder["entry"]["id_number"].startswith("412631")
    assert AS_OF.year - elder["person"].birth_date.year >= 90 and pending_in(elder, "publicity")
    farmer = samples["farmer"]
    closed = [line for line, *_ in farmer["rows"] if line.failure_code == "ACCOUNT_CLOSED"]
    assert len(closed) == 2 and all(line.state == "reissued" for line in closed)
    assert [c.status for c in farmer["cards"]] == ["closed", "active"]
    reissued_to = {line.card_account_id for line, *_ in farmer["rows"] if line.reissue_of_id}
    assert reissued_to == {farmer["cards"][1].id}
    xiushan = samples["xiushan"]
    assert xiushan["entry"]["id_number"].startswith("512330") and pending_in(xiushan, "bank")
    minority = samples["minority"]
    assert "·" in minority["entry"]["name"]
    failed = [line for line, *_ in minority["rows"] if line.state == "failed"]
    assert [line.failure_code for line in failed] == ["NAME_MISMATCH"]
    assert not any(line.reissue_of_id == failed[0].id for line, *_ in minority["rows"])
    compound = samples["compound"]
    assert compound["entry"]["name"].startswith("欧阳") and compound["entry"]["id_number"].startswith("513522")
    frozen = [line for line, *_ in compound["rows"] if line.failure_code == "ACCOUNT_FROZEN"]
    assert len(frozen) == 1 and frozen[0].state == "reissued" and pending_in(compound, "approval")
    yunnan = samples["yunnan"]
    assert len({code[6:-4] for _l, _s, _y, code in yunnan["rows"]}) == 4


def test_cli_builds_skips_when_unchanged_and_prints_the_people(
    tmp_path: Path, batch_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "data"
    for name in ("DATABASE_URL", "PUBLIC_DATABASE_URL", *TEST_SECRETS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("YIKATONG_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BATCH_DATABASE_URL", batch_db_url)

    monkeypatch.setenv("YIKATONG_DEMO", "0")  # outside demo mode: refused, nothing written
    assert cli.main(["demo", "--lines", "500", "--seed", "3"]) == 2
    assert "YIKATONG_DEMO=1" in capsys.readouterr().err
    assert not (data_dir / "demo.json").exists()

    monkeypatch.setenv("YIKATONG_DEMO", "1")
    assert cli.main(["demo", "--lines", "10", "--seed", "3"]) == 2  # too few for the sample people
    assert "--lines 至少为" in capsys.readouterr().err
    assert cli.main(["demo", "people", "--json"]) == 2  # nothing built yet
    assert "yikatong demo" in capsys.readouterr().err

    assert cli.main(["demo", "--lines", "500", "--seed", "3", "--if-changed"]) == 0
    assert "500 条发放明细" in capsys.readouterr().out
    marker = json.loads((data_dir / "demo.json").read_text(encoding="utf-8"))
    assert (marker["lines"], marker["seed"], marker["version"]) == (500, 3, GENERATOR_VERSION)

    assert cli.main(["demo", "--lines", "500", "--seed", "3", "--if-changed"]) == 0
    assert "跳过" in capsys.readouterr().out
    config = Config.from_env()
    db = Database(batch_db_url)
    try:
        with db.session() as s:  # one build only: a single demo.build audit entry
            assert len(list(s.scalars(select(AuditEntry).where(AuditEntry.action == "demo.build")))) == 1
    finally:
        db.dispose()

    assert cli.main(["demo", "people", "--json"]) == 0
    people = json.loads(capsys.readouterr().out)
    assert people == demo_people(config) == load_demo_people(data_dir)
    assert len(people) == 6
    for entry in people:
        assert {"id_number", "name", "card_number", "card_last4", "shows"} <= set(entry)
        assert check_id_number(entry["id_number"]) == []
    assert cli.main(["demo", "people"]) == 0
    table = capsys.readouterr().out
    assert people[0]["id_number"] in table and people[0]["name"] in table

    assert cli.main(["demo", "--lines", "520", "--seed", "3", "--if-changed"]) == 0  # changed: rebuilt
    assert "520 条发放明细" in capsys.readouterr().out


def test_planted_anomalies_are_signalled_for_the_supervisor(built: tuple[Config, Database]) -> None:
    """The build plants a death and an employment dated before a payment, and a per-household cap
    (docs/admin.md 监督：异常信号); the supervision roles find them on /signals."""
    from admin.models import Signal

    _config_, db = built
    with db.session() as s:
        kinds = Counter(s.scalars(select(Signal.kind).where(Signal.active.is_(True))))
    assert kinds["paid_after_listed"] == 2
    assert kinds["household_over_cap"] >= 1
