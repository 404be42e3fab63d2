"""Anomaly signals (#16): every kind planted through the real roster import (and the reference-list
import where needed), carried by the real workflow and bank services, refreshed, and seen with
exactly the right lines; reviews by the supervision roles only, audited; JSON filters."""

from __future__ import annotations

import io
import threading
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from admin.access import operators
from admin.bank import files, service as bank
from admin.batches import service as batches
from admin.library import projects as project_lib, references
from admin.models import AuditEntry, Batch, PaymentLine, Project, Signal, SignalLine
from admin.supervision import signals
from tests.admin.conftest import (
    HEADER,
    TEST_PASSWORD,
    TOWNSHIP,
    csv_bytes,
    make_card,
    make_id,
    person_row,
    test_password_hash as password_hash,
)
from tests.admin.conftest import act, operator

PAYMENT_DAY = date(2025, 10, 9)
PAID_DAY = date(2025, 10, 10)


# --- driving the real services -----------------------------------------------------------------
def new_batch(batch_db, seeded, period: str = "2025-09", project: str = "project") -> int:
    with batch_db.session() as s:
        batch = batches.create_batch(s, actor="civil_op", project=s.get(Project, seeded[project]),
                                     region_code=TOWNSHIP, year=int(period[:4]), period=period, title="高龄津贴")
        return batch.id


def import_roster(batch_db, config, batch_id: int, rows: list[list[str]], header: list[str] = HEADER) -> None:
    """The real roster import (a CSV file as a clerk uploads it); every line must pass."""
    with batch_db.session() as s:
        outcome = batches.import_roster(s, config, s.get(Batch, batch_id), csv_bytes(rows, header), "花名册.csv",
                                        actor="clerk", scope_region=TOWNSHIP)
        assert outcome.ok, [r.as_dict() for r in outcome.results if not r.ok]


def submit(batch_db, batch_id: int) -> None:
    act(batch_db, "clerk", batch_id, "submit", date(2025, 9, 22))


def to_bank(batch_db, batch_id: int, *, submitted: bool = False) -> None:
    """submit → review → publicity → approval → finance → payment request on PAYMENT_DAY (as tests/admin/bank)."""
    if not submitted:
        submit(batch_db, batch_id)
    act(batch_db, "civil_rev", batch_id, "review_pass", date(2025, 9, 24))
    act(batch_db, "civil_op", batch_id, "publicity_open", date(2025, 9, 25), start=date(2025, 9, 25),
        end=date(2025, 9, 29), place="各村村务公开栏")
    act(batch_db, "civil_rev", batch_id, "publicity_close", date(2025, 9, 29))
    act(batch_db, "civil_rev", batch_id, "approve", date(2025, 9, 30))
    act(batch_db, "finance", batch_id, "finance_pass", date(2025, 10, 9))
    act(batch_db, "finance", batch_id, "payment_request", PAYMENT_DAY)


def pay(batch_db, config, batch_id: int) -> None:
    """The bank file exported and its result file (every line 成功) imported on PAID_DAY."""
    with batch_db.session() as s:
        info = bank.find_file(s, batch_id, "")
        data = bank.export_file(s, config, operator(s, "bank"), batch_id, file_id=info.id, fmt="csv",
                                today=PAID_DAY).data
    with batch_db.session() as s:
        bank.import_results(s, config, operator(s, "bank"), files.with_results(data, {}), "回盘.csv", PAID_DAY)
    with batch_db.session() as s:
        assert s.get(Batch, batch_id).state == "paid"


def refresh(batch_db, config, today: date = PAID_DAY) -> signals.RefreshReport:
    with batch_db.session() as s:
        return signals.refresh(s, config, today=today)


def seen(batch_db, kind: str) -> dict[str, set[tuple[int, int]]]:
    """Active signals of a kind: key → {(batch id, line no)}."""
    with batch_db.session() as s:
        out: dict[str, set[tuple[int, int]]] = {}
        for key, batch_id, line_no in s.execute(
                select(Signal.key, PaymentLine.batch_id, PaymentLine.line_no)
                .join(SignalLine, SignalLine.signal_id == Signal.id)
                .join(PaymentLine, SignalLine.line_id == PaymentLine.id)
                .where(Signal.kind == kind, Signal.active.is_(True))):
            out.setdefault(key, set()).add((batch_id, line_no))
        return out


def only(batch_db, kind: str) -> set[tuple[int, int]]:
    found = seen(batch_db, kind)
    assert len(found) == 1, found
    return next(iter(found.values()))


# --- each kind ---------------------------------------------------------------------------------


def test_one_card_used_by_two_people(seeded, batch_db, config):
    b = new_batch(batch_db, seeded)
    shared = make_card(900)
    rows = [person_row(1), person_row(2), person_row(3)]
    rows[0][2] = shared
    rows[2][2] = shared
    import_roster(batch_db, config, b, rows)
    refresh(batch_db, config)
    assert only(batch_db, "shared_card") == {(b, 1), (b, 3)}
    with batch_db.session() as s:
        signal = s.execute(select(Signal).where(Signal.kind == "shared_card")).scalar_one()
        assert signal.details["person_count"] == 2 and signal.details["card_last4"] == shared[-4:]
        assert make_card(900) not in signal.summary + signal.key


def test_a_line_removed_from_the_draft_leaves_its_signal(seeded, batch_db, config):
    b = new_batch(batch_db, seeded)
    rows = [person_row(1), person_row(2)]
    rows[1][2] = rows[0][2]
    import_roster(batch_db, config, b, rows)
    refresh(batch_db, config)
    with batch_db.session() as s:
        line = s.execute(select(PaymentLine).where(PaymentLine.batch_id == b, PaymentLine.line_no == 2)).scalar_one()
        batches.remove_line(s, line, actor="clerk")
    refresh(batch_db, config)
    assert seen(batch_db, "shared_card") == {}
    with batch_db.session() as s:
        assert s.execute(select(Signal.active)).scalar_one() is False


def test_a_card_of_one_person_in_two_batches_is_not_shared(seeded, batch_db, config):
    b = new_batch(batch_db, seeded)
    import_roster(batch_db, config, b, [person_row(1), person_row(2)])
    b2 = new_batch(batch_db, seeded, project="project2", period="2025")
    import_roster(batch_db, config, b2, [person_row(1, amount="300.00")])
    refresh(batch_db, config)
    assert seen(batch_db, "shared_card") == {}


def test_cards_entered_before_fingerprints_get_one_on_refresh(seeded, batch_db, config):
    from admin.models import CardAccount

    b = new_batch(batch_db, seeded)
    rows = [person_row(1), person_row(2)]
    rows[1][2] = rows[0][2]
    import_roster(batch_db, config, b, rows)
    with batch_db.session() as s:  # as a database migrated from before 0006 holds them
        for card in s.scalars(select(CardAccount)):
            card.card_fingerprint = None
    report = refresh(batch_db, config)
    assert report.fingerprints_filled == 2
    assert only(batch_db, "shared_card") == {(b, 1), (b, 2)}


def test_deceased_person_paid_after_the_date_of_death(seeded, batch_db, config):
    b = new_batch(batch_db, seeded)
    import_roster(batch_db, config, b, [person_row(1), person_row(2), person_row(3)])
    to_bank(batch_db, b)
    pay(batch_db, config, b)
    refresh(batch_db, config)
    assert seen(batch_db, "paid_after_listed") == {}
    # the civil affairs bureau's list of deaths arrives later: person 1 died before the payment,
    # person 2 after it; person 3 is on the supported-persons list (no date rule)
    deaths = csv_bytes([[make_id(1), "", "2025-10-01"], [make_id(2), "", "2025-10-20"]], ["身份证号", "备注", "死亡日期"])
    supported = csv_bytes([[make_id(3), "", "2025-01-01"]], ["身份证号", "备注", "生效日期"])
    with batch_db.session() as s:
        assert not references.import_list(s, config, deaths, "死亡.csv", actor="admin", list_kind="deceased",
                                          region_code=TOWNSHIP).errors
        assert not references.import_list(s, config, supported, "特困.csv", actor="admin", list_kind="supported",
                                          region_code=TOWNSHIP).errors
    refresh(batch_db, config)
    found = seen(batch_db, "paid_after_listed")
    assert list(found.values()) == [{(b, 1)}] and next(iter(found)).startswith("deceased:")


def test_a_kind_added_as_data_is_imported_checked_and_signalled(seeded, batch_db, config):
    b = new_batch(batch_db, seeded)
    import_roster(batch_db, config, b, [person_row(1), person_row(2)])
    with batch_db.session() as s:
        references.add_kind(s, actor="admin", code="village_cadre", name="村干部", date_meaning="任职日期",
                            paid_after_is_problem=True)
    listed = csv_bytes([[make_id(2), "", "2025-01-01"]], ["身份证号", "备注", "任职日期"])
    with batch_db.session() as s:
        assert "village_cadre" in references.list_kinds(s)
        assert not references.import_list(s, config, listed, "村干部.csv", actor="admin", list_kind="village_cadre",
                                          region_code=TOWNSHIP).errors
    refresh(batch_db, config)  # not yet sent: the planned date is today, after 2025-01-01
    assert only(batch_db, "paid_after_listed") == {(b, 2)}
    # the roster check uses the new list too, with its name
    with batch_db.session() as s:
        outcome = batches.import_roster(s, config, s.get(Batch, new_batch(batch_db, seeded, period="2025-10")),
                                        csv_bytes([person_row(2)]), "x.csv", actor="clerk", scope_region=TOWNSHIP)
        issues = outcome.results[0].issues
        assert [i.code for i in issues] == ["REFERENCE_VILLAGE_CADRE"] and "村干部" in issues[0].message
    # stopped by the system admin: neither offered nor checked nor signalled
    with batch_db.session() as s:
        references.set_kind_active(s, actor="admin", code="village_cadre", active=False)
    refresh(batch_db, config)
    assert seen(batch_db, "paid_after_listed") == {}


def test_amount_outside_the_project_standard(seeded, batch_db, config):
    b = new_batch(batch_db, seeded)
    import_roster(batch_db, config, b, [person_row(1, amount="120.00"), person_row(2, amount="250.00"),
                                        person_row(3, amount="280.00")])
    refresh(batch_db, config)
    assert seen(batch_db, "amount_outside") == {}
    with batch_db.session() as s:  # the standard is lowered after the roster was entered
        project_lib.update_standard(s, s.get(Project, seeded["project"]), actor="civil_op", amount_min="100",
                                    amount_max="200", active=True)
    refresh(batch_db, config)
    assert only(batch_db, "amount_outside") == {(b, 2), (b, 3)}


def test_amount_not_quantity_times_the_per_unit_rate(seeded, batch_db, config):
    """耕地地力保护补贴 paid per 亩: a roster held by another system entered with its quantities
    (service.enter_rows, the roster import's checks)."""
    b = new_batch(batch_db, seeded, project="project2", period="2025")
    rows = []
    for n, (i, quantity, amount) in enumerate(((1, "2.5", "263.25"), (2, "3", "320.00"), (3, None, "100.00"),
                                               (4, "10.33", "1087.75")), start=2):
        row = batches.row_from_values(n, dict(zip(HEADER, person_row(i, amount=amount))))
        row.quantity = Decimal(quantity) if quantity else None
        rows.append(row)
    with batch_db.session() as s:
        assert batches.enter_rows(s, config, s.get(Batch, b), rows, actor="agri_op", scope_region=None,
                                  source="耕地面积系统").ok
        project_lib.set_supervision_standards(s, s.get(Project, seeded["project2"]), actor="agri_op",
                                              household_cap="", unit_rate="105.30")
    refresh(batch_db, config)
    assert only(batch_db, "amount_outside") == {(b, 2)}  # 3 × 105.30 = 315.90, not 320.00


def test_one_person_in_two_villages_for_the_same_project_and_period(seeded, batch_db, config):
    """The roster check refuses a second line of a person for the same project and period; two
    imports racing (each checked before the other committed) slip past it — the signal catches it."""
    earlier = new_batch(batch_db, seeded, project="project2", period="2025")
    import_roster(batch_db, config, earlier, [person_row(1, amount="300.00")])  # person 1 is registered
    a, b = new_batch(batch_db, seeded), new_batch(batch_db, seeded)
    first = batch_db.session()
    s1 = first.__enter__()
    outcome = batches.import_roster(s1, config, s1.get(Batch, a), csv_bytes([person_row(1, village="王庄村"),
                                                                              person_row(2)]),
                                    "a.csv", actor="clerk", scope_region=TOWNSHIP)
    assert outcome.ok
    errors: list[BaseException] = []

    def second() -> None:
        try:  # checked against what is committed (nothing of batch a yet), then waits for the write lock
            import_roster(batch_db, config, b, [person_row(1, village="李湾村"), person_row(3)])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(1.0)
    first.__exit__(None, None, None)
    thread.join(30)
    assert not errors, errors
    refresh(batch_db, config)
    assert only(batch_db, "multi_region") == {(a, 1), (b, 1)}


def test_one_person_in_two_villages_in_different_periods_is_no_signal(seeded, batch_db, config):
    august, september = new_batch(batch_db, seeded, period="2025-08"), new_batch(batch_db, seeded)
    import_roster(batch_db, config, august, [person_row(1, village="王庄村")])
    import_roster(batch_db, config, september, [person_row(1, village="李湾村")])
    with batch_db.session() as s:  # and the same period one after the other is refused at entry
        outcome = batches.import_roster(s, config, s.get(Batch, new_batch(batch_db, seeded)),
                                        csv_bytes([person_row(1, village="王庄村")]), "x.csv", actor="clerk",
                                        scope_region=TOWNSHIP)
        assert [i.code for i in outcome.results[0].issues] == ["DUPLICATE_BENEFIT"]
    refresh(batch_db, config)
    assert seen(batch_db, "multi_region") == {}


def test_missed_payment_of_a_recurring_project(seeded, batch_db, config):
    august = new_batch(batch_db, seeded, period="2025-08")
    import_roster(batch_db, config, august, [person_row(1), person_row(2), person_row(3)])
    to_bank(batch_db, august)
    pay(batch_db, config, august)
    september = new_batch(batch_db, seeded, period="2025-09")
    import_roster(batch_db, config, september, [person_row(1), person_row(3), person_row(4)])
    refresh(batch_db, config)
    assert seen(batch_db, "missed_payment") == {}  # the current batch is still being entered
    submit(batch_db, september)
    refresh(batch_db, config)
    assert only(batch_db, "missed_payment") == {(august, 2)}


def test_card_not_activated_at_the_payment_request(seeded, batch_db, config):
    b = new_batch(batch_db, seeded)
    header = [*HEADER, "社保卡状态", "激活日期"]
    import_roster(batch_db, config, b, [person_row(1) + ["未激活", ""], person_row(2) + ["已激活", "2025-01-01"],
                                        person_row(3) + ["已激活", "2025-12-01"], person_row(4) + ["", ""]], header)
    refresh(batch_db, config)
    assert seen(batch_db, "card_not_activated") == {}  # not sent to the bank yet
    to_bank(batch_db, b)
    refresh(batch_db, config)
    assert only(batch_db, "card_not_activated") == {(b, 1), (b, 3)}


def test_a_frozen_card_on_the_roster_is_refused(seeded, batch_db, config):
    b = new_batch(batch_db, seeded)
    with batch_db.session() as s:
        outcome = batches.import_roster(s, config, s.get(Batch, b), csv_bytes([person_row(1) + ["冻结"]],
                                                                               [*HEADER, "社保卡状态"]),
                                        "x.csv", actor="clerk", scope_region=TOWNSHIP)
    assert [i.code for i in outcome.results[0].issues] == ["CARD_STATE_INACTIVE"]


def test_household_above_the_projects_cap(seeded, batch_db, config):
    b = new_batch(batch_db, seeded)
    header = [*HEADER, "家庭住址"]
    # persons 1 and 11 share surname 李 and an address (written differently); person 2 (王) lives there too
    import_roster(batch_db, config, b, [person_row(1, amount="120.00") + ["王庄村 3组5号"],
                                        person_row(11, amount="130.00") + ["王庄村３组５号"],
                                        person_row(2, amount="150.00") + ["王庄村3组5号"],
                                        person_row(3, amount="100.00") + [""]], header)
    with batch_db.session() as s:
        project_lib.set_household_cap(s, s.get(Project, seeded["project"]), actor="civil_op", cap="300")
    refresh(batch_db, config)
    assert seen(batch_db, "household_over_cap") == {}  # 250 ≤ 300
    with batch_db.session() as s:
        project_lib.set_household_cap(s, s.get(Project, seeded["project"]), actor="civil_op", cap="200")
    refresh(batch_db, config)
    assert only(batch_db, "household_over_cap") == {(b, 1), (b, 2)}


# --- refresh keeps reviews; cleared signals are kept ---------------------------------------------


def test_refresh_keeps_the_review_and_clears_a_gone_condition(seeded, batch_db, config):
    b = new_batch(batch_db, seeded)
    import_roster(batch_db, config, b, [person_row(1, amount="250.00"), person_row(2)])
    with batch_db.session() as s:
        project_lib.update_standard(s, s.get(Project, seeded["project"]), actor="civil_op", amount_min="50",
                                    amount_max="200", active=True)
    refresh(batch_db, config)
    with batch_db.session() as s:
        signal_id = s.execute(select(Signal.id)).scalar_one()
        signals.perform(s, _actor(s, "auditor"), signal_id, "explain", {"note": "县政府文件调整标准，已核实"})
    refresh(batch_db, config)
    with batch_db.session() as s:
        signal = s.get(Signal, signal_id)
        assert (signal.status, signal.active, signal.reviewed_by) == ("explained", True, "auditor")
    with batch_db.session() as s:
        project_lib.update_standard(s, s.get(Project, seeded["project"]), actor="civil_op", amount_min="50",
                                    amount_max="300", active=True)
    report = refresh(batch_db, config)
    assert report.cleared == 1
    with batch_db.session() as s:
        signal = s.get(Signal, signal_id)
        assert (signal.status, signal.active) == ("explained", False) and signal.cleared_at is not None


def test_the_background_consumer_refreshes_only_when_something_moved(seeded, batch_db, config):
    b = new_batch(batch_db, seeded)
    rows = [person_row(1), person_row(2)]
    rows[1][2] = rows[0][2]
    import_roster(batch_db, config, b, rows)
    assert signals.follow(batch_db, config) is not None
    assert signals.follow(batch_db, config) is None
    assert only(batch_db, "shared_card") == {(b, 1), (b, 2)}
    submit(batch_db, b)  # a workflow step moves it
    assert signals.follow(batch_db, config) is not None
    assert signals.follow(batch_db, config) is None
    other = new_batch(batch_db, seeded, project="project2", period="2025")
    shared = [person_row(5, amount="300.00"), person_row(6, amount="300.00")]
    shared[1][2] = shared[0][2]
    import_roster(batch_db, config, other, shared)  # a roster imported into a draft moves it too
    assert signals.follow(batch_db, config) is not None
    assert len(seen(batch_db, "shared_card")) == 2


# --- pages, JSON twins, reviews -------------------------------------------------------------------


def _actor(s, username: str):
    from admin.access.roles import actor_of

    return actor_of(s, operator(s, username))


@pytest.fixture
def planted(seeded, batch_db, config) -> dict[str, int]:
    """A shared card and an amount outside the standard in the clerk's township; a supervisor."""
    b = new_batch(batch_db, seeded)
    rows = [person_row(1, amount="250.00"), person_row(2), person_row(3)]
    rows[2][2] = rows[1][2]
    import_roster(batch_db, config, b, rows)
    with batch_db.session() as s:
        project_lib.update_standard(s, s.get(Project, seeded["project"]), actor="civil_op", amount_min="50",
                                    amount_max="200", active=True)
        operators.create_operator(s, config, actor="seed", username="supervisor", name="测试员", role="supervisor",
                                  region_code="410423", password=TEST_PASSWORD, must_change_password=False,
                                  password_hash=password_hash())
    refresh(batch_db, config)
    with batch_db.session() as s:
        ids = dict(s.execute(select(Signal.kind, Signal.id)).all())
    return {"batch": b, **ids}


def test_list_and_filters_as_json(planted, user_client):
    c = user_client("auditor")
    data = c.get("/signals.json").json()
    assert data["total"] == 2 and [a["name"] for a in data["actions"]] == ["refresh"]
    by_kind = {s["kind"]: s for s in data["signals"]}
    assert {(l["batch_id"], l["line_no"]) for l in by_kind["shared_card"]["lines"]} == {(planted["batch"], 2),
                                                                                      (planted["batch"], 3)}
    line = by_kind["amount_outside"]["lines"][0]
    assert (line["line_no"], line["village"], line["amount"]) == (1, "王庄村", "250.00")
    assert line["name"] == person_row(1)[0]
    only_cards = c.get("/signals.json?kind=shared_card").json()
    assert [s["kind"] for s in only_cards["signals"]] == ["shared_card"]
    assert c.get("/signals.json?status=confirmed").json()["total"] == 0
    assert c.get("/signals.json?status=open").json()["total"] == 2
    for bad in ("kind=<script>", "status=closed"):
        refused = c.get(f"/signals.json?{bad}")
        assert refused.status_code == 400 and refused.json()["error"]["code"] in {"bad_kind", "bad_status"}
        assert "无效" in refused.json()["error"]["message"]
    page = c.get("/signals")
    assert page.status_code == 200 and "一卡多人" in page.text and 'data-action="refresh"' in page.text
    export = c.get("/signals/export.xlsx")
    assert export.status_code == 200 and export.headers["content-type"].startswith("application/vnd.openxml")
    cells = [str(v) for row in load_workbook(io.BytesIO(export.content)).active.iter_rows(values_only=True)
             for v in row if v is not None]
    assert any(v == "一卡多人" or "一卡多人" in v for v in cells)  # the export holds the signals …
    assert not any(make_card(2) in v or make_id(2) in v for v in cells)  # … never a full card or ID number


def test_review_by_auditor_and_supervisor_audited(planted, user_client, batch_db, get_csrf):
    sid = planted["shared_card"]
    auditor = user_client("auditor")
    detail = auditor.get(f"/signals/{sid}.json").json()
    assert {a["name"] for a in detail["actions"]} == {"explain", "confirm"}
    assert detail["actions"][0]["fields"][0]["required"] is True
    token = get_csrf(auditor, f"/signals/{sid}")
    r = auditor.post(f"/signals/{sid}/actions/confirm",
                     data={"csrf_token": token, "note": ""}, headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_field"
    r = auditor.post(f"/signals/{sid}/actions/confirm", data={"csrf_token": token, "note": "同一张卡，已移交纪检"},
                     follow_redirects=False)
    assert r.status_code == 303
    supervisor = user_client("supervisor")
    token = get_csrf(supervisor, f"/signals/{sid}")
    r = supervisor.post(f"/signals/{sid}/actions/reopen", data={"csrf_token": token, "note": "需补充核实"},
                        headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json()["status"] == "open"
    data = auditor.get(f"/signals/{sid}.json").json()
    assert [(r["actor"], r["action"], r["note"]) for r in data["reviews"]] == [
        ("auditor", "confirm", "同一张卡，已移交纪检"), ("supervisor", "reopen", "需补充核实")]
    with batch_db.session() as s:
        audited = s.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "signal")).all()
        assert audited == ["signal.confirm", "signal.reopen"]


def test_other_roles_read_but_cannot_review(planted, user_client, get_csrf, unchanged, batch_db):
    sid = planted["shared_card"]
    department = user_client("civil_op")
    assert department.get(f"/signals/{sid}.json").json()["actions"] == []
    token = get_csrf(department, f"/signals/{sid}")
    outsider = user_client("other_auditor")
    agri, bank_user = user_client("agri_op"), user_client("bank")
    with unchanged():
        r = department.post(f"/signals/{sid}/actions/explain", data={"csrf_token": token, "note": "x"},
                            headers={"Accept": "application/json"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert outsider.get(f"/signals/{sid}.json").status_code == 404
        r = outsider.post(f"/signals/{sid}/actions/explain", data={"csrf_token": get_csrf(outsider, "/signals"),
                                                                  "note": "x"}, headers={"Accept": "application/json"})
        assert r.status_code == 404
        assert agri.get("/signals.json").json()["total"] == 0  # not their project
        assert bank_user.get("/signals.json").status_code == 403
        r = department.post("/signals/refresh", data={"csrf_token": token}, headers={"Accept": "application/json"})
        assert r.status_code == 403
    assert outsider.get("/signals.json").json()["total"] == 0


def test_reference_kinds_page(seeded, user_client, get_csrf, batch_db, unchanged):
    admin = user_client("admin")
    kinds = admin.get("/reference-kinds.json").json()["kinds"]
    assert [k["code"] for k in kinds] == ["deceased", "supported", "public_employee", "imprisoned"]
    token = get_csrf(admin, "/reference-kinds")
    r = admin.post("/reference-kinds", data={"csrf_token": token, "code": "disabled", "name": "残疾人员",
                                             "date_meaning": "认定日期"}, follow_redirects=False)
    assert r.status_code == 303
    assert "残疾人员" in admin.get("/persons").text
    clerk = user_client("civil_op")
    token = get_csrf(clerk, "/persons")
    with unchanged():
        r = clerk.post("/reference-kinds", data={"csrf_token": token, "code": "poor",
                                                 "name": "建档立卡"}, headers={"Accept": "application/json"})
        assert r.status_code == 403
    with batch_db.session() as s:
        assert s.execute(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.action == "reference_kind.create")).scalar_one() == 1


def test_previous_period():
    assert [signals.previous_period(p) for p in ("2025", "2025H1", "2025H2", "2025Q1", "2025Q3", "2025-01", "2025-10")] \
        == ["2024", "2024H2", "2025H1", "2024Q4", "2025Q2", "2024-12", "2025-09"]


def test_a_kind_added_on_the_page_is_imported_with_the_existing_form(seeded, user_client, get_csrf, batch_db):
    admin = user_client("admin")
    admin.post("/reference-kinds", data={"csrf_token": get_csrf(admin, "/reference-kinds"), "code": "poverty",
                                         "name": "建档立卡", "date_meaning": "识别日期"})
    department = user_client("civil_op")
    token = get_csrf(department, "/persons")
    assert 'value="poverty"' in department.get("/persons?q=x").text
    data = csv_bytes([[make_id(7), "2024-05-01"]], header=["身份证号", "识别日期"])
    r = department.post("/references/import", data={"csrf_token": token, "list_kind": "poverty",
                                                     "region_code": "410423"},
                        files={"file": ("p.csv", data, "text/csv")})
    assert "建档立卡名单：新增 1 人" in r.text
    with batch_db.session() as s:
        from admin.models import ReferenceEntry

        entry = s.execute(select(ReferenceEntry)).scalar_one()
        assert (entry.list_kind, entry.effective_on) == ("poverty", date(2024, 5, 1))


def test_project_standards_on_the_project_page(seeded, user_client, get_csrf, unchanged):
    civil = user_client("civil_op")
    token = get_csrf(civil, "/projects")
    r = civil.post(f"/projects/{seeded['project']}/standards", data={"csrf_token": token, "household_cap": "500",
                                                                     "unit_rate": ""}, follow_redirects=False)
    assert r.status_code == 303
    listed = {p["code"]: p for p in civil.get("/projects.json").json()["projects"]}
    assert (listed["GLJT-410423"]["household_cap"], listed["GLJT-410423"]["unit_rate"]) == ("500.00", None)
    r = civil.post(f"/projects/{seeded['project']}/standards", data={"csrf_token": token, "household_cap": "abc"},
                   headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_standard"
    agri = user_client("agri_op")
    agri_token = get_csrf(agri, "/projects")
    with unchanged():
        r = agri.post(f"/projects/{seeded['project']}/standards", data={"csrf_token": agri_token,
                                                                         "household_cap": "1"})
        assert r.status_code in (403, 404)


def test_the_command_line_refreshes(seeded, batch_db, config, monkeypatch, capsys):
    from alembic import command

    from cli import main
    from core.migrate import alembic_config
    from tests.conftest import TEST_SECRETS

    command.stamp(alembic_config(config.batch_database_url, "batch"), "head")  # the fixture made the schema
    b = new_batch(batch_db, seeded)
    rows = [person_row(1), person_row(2)]
    rows[1][2] = rows[0][2]
    import_roster(batch_db, config, b, rows)
    for name, value in {**TEST_SECRETS, "BATCH_DATABASE_URL": config.batch_database_url,
                        "YIKATONG_DATA_DIR": str(config.data_dir)}.items():
        monkeypatch.setenv(name, value)
    assert main(["admin", "signals"]) == 0
    assert "一卡多人 1" in capsys.readouterr().out
    assert only(batch_db, "shared_card") == {(b, 1), (b, 2)}


def test_home_page_lists_open_signals_for_reviewers_only(planted, user_client, get_csrf):
    auditor = user_client("auditor")
    home = auditor.get("/")
    assert 'id="signals-open"' in home.text and "一卡多人" in home.text
    assert '?kind=shared_card&amp;status=open' in home.text
    sid = planted["shared_card"]
    detail = auditor.get(f"/signals/{sid}.json").json()
    confirm = next(a for a in detail["actions"] if a["name"] == "confirm")
    done = auditor.post(confirm["url"], data={"note": "已核实", "csrf_token": get_csrf(auditor, f"/signals/{sid}")},
                        headers={"Accept": "application/json"})
    assert done.status_code == 200
    assert "一卡多人" not in auditor.get("/").text.split('id="signals-open"')[-1].split("</section>")[0]
    assert 'id="signals-open"' not in user_client("clerk").get("/").text
