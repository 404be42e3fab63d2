"""Money out and back on a real database: a batch from its payment request through bank files,
a result file with two failures, correction and re-issue (补发), a second result file and
publication; the balance holds at every step, the portal shows the outcome, one arrival SMS per
paid line. Refused files change nothing."""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from starlette.testclient import TestClient

from admin.bank import files, ledger, results, service
from admin.bank.files import BankFileError
from admin.batches import workflow
from admin.actions import WorkflowError
from admin.fieldcrypt import cipher
from admin.models import (
    AuditEntry,
    Batch,
    CardAccount,
    LineCorrection,
    PaymentLine,
    PaymentRequest,
    SmsMessage,
    WorkflowEvent,
)
from admin.sms import messages as sms
from admin.sms.gateways import SandboxGateway
from cli.apps import public_app
from core import personkey
from core.deadlines import Step, due_date
from indexer.documents import DocumentBuilder
from indexer.sync import sync
from search import engine_for
from tests.admin.bank.conftest import BANK_A, BANK_B, PAYMENT_DAY, act, operator, phone
from tests.admin.conftest import make_card, make_id, make_name

YUAN = Decimal


def balance(batch_db, batch_id: int) -> ledger.Balance:
    with batch_db.session() as s:
        money = ledger.balance(s, batch_id)
    assert money.holds, money  # allocated = paid + returned + pending, always
    return money


def names(batch_db, username: str, batch_id: int, today: date) -> set[str]:
    with batch_db.session() as s:
        return {a.name for a in workflow.available_actions(s, operator(s, username), s.get(Batch, batch_id),
                                                           today=today)}


def open_files(batch_db, batch_id: int) -> dict[str, ledger.BankFileInfo]:
    with batch_db.session() as s:
        return {f.bank_name: f for f in ledger.open_bank_files(s, batch_id)}


def export(batch_db, config, batch_id: int, bank: str, fmt: str, today: date, username: str = "bank") -> bytes:
    with batch_db.session() as s:
        info = service.find_file(s, batch_id, bank)
        exported = service.export_file(s, config, operator(s, username), batch_id, file_id=info.id, fmt=fmt,
                                       today=today)
    assert exported.media_type == (files.CSV if fmt == "csv" else files.XLSX)
    return exported.data


def import_results(batch_db, config, data: bytes, today: date, username: str = "bank") -> service.ImportResult:
    with batch_db.session() as s:
        return service.import_results(s, config, operator(s, username), data, "回盘.xlsx", today)


def line(batch_db, batch_id: int, line_no: int) -> PaymentLine:
    with batch_db.session() as s:
        return s.execute(select(PaymentLine).where(PaymentLine.batch_id == batch_id,
                                                   PaymentLine.line_no == line_no)).scalar_one()


def ref(code: str, line_no: int) -> str:
    return files.line_ref(code, line_no)


def csv_rows(data: bytes) -> list[list[str]]:
    import csv

    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# --- the whole way -----------------------------------------------------------------------------------


def test_a_batch_from_payment_request_to_publication(at_bank, batch_db, config, public_db, unchanged):
    b, code = at_bank["batch"], at_bank["code"]
    day = date(2025, 10, 10)
    money = balance(batch_db, b)
    assert (money.allocated, money.pending, money.paid) == (YUAN("700.00"), YUAN("700.00"), YUAN("0.00"))

    # at the bank: the bank exports and imports; finance may export; nobody else acts
    assert names(batch_db, "bank", b, day) == {"bank_export", "bank_import"}
    assert names(batch_db, "finance", b, day) == {"bank_export"}
    for username in ("clerk", "civil_op", "civil_rev", "auditor"):
        assert names(batch_db, username, b, day) == set(), username
    with batch_db.session() as s:
        listed = {a.name: a.as_dict() for a in workflow.available_actions(s, operator(s, "bank"), s.get(Batch, b),
                                                                          today=day)}
    assert listed["bank_export"]["method"] == "GET" and listed["bank_export"]["url"] == f"/batches/{b}/bank/export"
    assert listed["bank_import"]["url"] == f"/batches/{b}/bank/import"
    assert [f["type"] for f in listed["bank_import"]["fields"]] == ["file"]
    assert {o["label"] for o in listed["bank_export"]["fields"][0]["options"]} == {
        "支付申请 1（首次发放）鲁山农商银行：3 笔，400.50 元", "支付申请 1（首次发放）中国邮政储蓄银行：2 笔，299.50 元"}

    # export: one file per bank, full numbers as text, control line, audited without the numbers
    file_a = export(batch_db, config, b, BANK_A, "xlsx", day)
    file_b = export(batch_db, config, b, BANK_B, "csv", day, username="finance")
    sheet = load_workbook(io.BytesIO(file_a)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[1][:2] == ["批次编号", code] and rows[5][:2] == ["代发银行", BANK_A]
    assert rows[6][:2] == ["笔数", "3"] and rows[7][:2] == ["金额合计", "400.50"]
    assert rows[10][:5] == list(files.DETAIL_COLUMNS)
    assert rows[11][:5] == [ref(code, 1), make_name(1), make_id(1), make_card(1), "120.50"]
    assert all(c.data_type == "s" for row in sheet.iter_rows(min_row=12, max_row=14) for c in row[:5])
    assert rows[14][0] == files.CONTROL and rows[14][1:3] == ["3", "400.50"] and len(rows[14][3]) == 16
    lines_b = csv_rows(file_b)
    assert lines_b[11] == [ref(code, 4), make_name(4), make_id(4), make_card(4), "200.00"]
    assert lines_b[-1][:3] == [files.CONTROL, "2", "299.50"]
    with batch_db.session() as s:
        exports = s.scalars(select(AuditEntry).where(AuditEntry.action == "bank.export")).all()
        assert [(e.actor, e.after["bank"], e.after["lines"]) for e in exports] == [("bank", BANK_A, 3),
                                                                                 ("finance", BANK_B, 2)]
        audit_text = json.dumps([e.after for e in exports], ensure_ascii=False)
        for i in range(1, 6):
            assert make_id(i) not in audit_text and make_card(i) not in audit_text
    assert open_files(batch_db, b)[BANK_A].export_count == 1

    # the first result file: line 2 failed (closed account); the batch is still at the bank
    result_a = files.with_results(file_a, {ref(code, 2): (False, "账户已销户")})
    outcome = import_results(batch_db, config, result_a, day)
    assert outcome.changed and (outcome.paid, outcome.failed) == (2, 1)
    assert outcome.action.to_state == "bank"
    failed = line(batch_db, b, 2)
    correction_due = due_date(Step.CORRECTION, day)
    assert (failed.state, failed.failure_code, failed.failure_reason) == ("failed", "ACCOUNT_CLOSED", "账户已销户")
    assert "销户" in failed.advice and failed.correction_due_on == correction_due
    assert line(batch_db, b, 1).paid_on == day
    money = balance(batch_db, b)
    assert (money.paid, money.pending, money.failed) == (YUAN("270.50"), YUAN("429.50"), YUAN("130.00"))

    # the same file again changes nothing, not even the audit trail
    with unchanged():
        again = import_results(batch_db, config, result_a, day)
    assert not again.changed and "已导入过" in again.message

    # a result file with a changed amount is refused, naming the row, and changes nothing
    result_b = files.with_results(file_b, {ref(code, 4): (False, "户名不符")})
    tampered = result_b.decode("utf-8-sig").replace(",200.00,", ",2000.00,").encode("utf-8-sig")
    with unchanged():
        with pytest.raises(BankFileError) as refused:
            import_results(batch_db, config, tampered, day)
    assert refused.value.code == "amount_mismatch" and refused.value.row == 12
    assert "2000.00" in refused.value.message and "200.00" in refused.value.message

    # the second bank's results: line 4 failed (name); every line has its result: the batch is paid
    outcome = import_results(batch_db, config, result_b, day)
    assert outcome.action.from_state == "bank" and outcome.action.to_state == "paid"
    assert outcome.action.due_on == due_date(Step.RESULTS_PUBLICATION, day)
    batch = batch_db_batch(batch_db, b)
    assert (batch.state, batch.paid_on) == ("paid", day)
    assert line(batch_db, b, 4).failure_code == "NAME_MISMATCH"
    money = balance(batch_db, b)
    assert (money.paid, money.pending, money.failed) == (YUAN("370.00"), YUAN("330.00"), YUAN("330.00"))
    assert money.correction_due_on == correction_due

    # nothing awaits the bank now; the failed lines wait for their correction (overdue after 3 days)
    assert names(batch_db, "bank", b, day) == set()
    assert names(batch_db, "clerk", b, day) == {"correct_failed"}
    assert names(batch_db, "civil_op", b, day) == {"correct_failed", "return_unpaid", "publish"}
    assert names(batch_db, "clerk2", b, day) == set()
    late = date(2025, 10, 15)
    with batch_db.session() as s:
        due = [i for i in workflow.due_work(s, operator(s, "clerk"), late, acting_only=True) if i.batch_id == b]
    assert [(i.step, i.due_on, i.overdue) for i in due] == [("correction", correction_due, True)]

    # corrections: a new card for line 2 (by the township clerk), the name of line 4 (department)
    with batch_db.session() as s:
        with pytest.raises(WorkflowError) as bad:
            results.correct_failed(s, config, operator(s, "clerk"), b, {"line": "2", "card_number": "6217000000000001",
                                                                        "note": "换卡"}, day)
    assert bad.value.field == "card_number" and bad.value.status == 400
    new_card = make_card(902)
    with batch_db.session() as s:
        done = results.correct_failed(s, config, operator(s, "clerk"), b, {
            "line": "2", "card_number": new_card, "bank_name": BANK_A, "note": "原卡已销户，本人已补办新卡"}, day)
    assert done.to_state == "paid" and "第 2 行已更正" in done.message
    assert names(batch_db, "clerk", b, day) == {"correct_failed"}  # line 4 is still to correct
    with batch_db.session() as s:
        results.correct_failed(s, config, operator(s, "civil_op"), b, {
            "line": "4", "name": "王秀英", "note": "经核对户口簿，姓名应为王秀英"}, day)
    assert names(batch_db, "civil_op", b, day) == {"reissue", "return_unpaid", "publish"}
    money = balance(batch_db, b)
    assert money.failed == YUAN("330.00") and money.correction_due_on is None  # corrected in time

    # re-issue: a supplementary payment with one line per corrected line, at the new card's bank
    reissue_day = date(2025, 10, 13)
    with batch_db.session() as s:
        issued = results.reissue(s, operator(s, "civil_op"), b, {}, reissue_day)
    assert issued.details["lines"] == 2 and issued.details["total"] == "330.00"
    assert (line(batch_db, b, 2).state, line(batch_db, b, 4).state) == ("reissued", "reissued")
    again_2, again_4 = line(batch_db, b, 6), line(batch_db, b, 7)
    assert (again_2.reissue_of_id, again_2.amount, again_2.state) == (line(batch_db, b, 2).id, YUAN("130.00"), "pending")
    assert again_4.reissue_of_id == line(batch_db, b, 4).id
    with batch_db.session() as s:
        request = s.get(PaymentRequest, again_2.payment_request_id)
        assert (request.kind, request.line_count, request.total) == ("reissue", 2, YUAN("330.00"))
        assert s.execute(select(func.count(LineCorrection.id)).where(
            LineCorrection.reissue_line_id.is_not(None))).scalar_one() == 2
    money = balance(batch_db, b)
    assert (money.paid, money.pending, money.failed) == (YUAN("370.00"), YUAN("330.00"), YUAN("0.00"))
    assert names(batch_db, "bank", b, reissue_day) == {"bank_export", "bank_import"}

    # the second result files (补发): both paid
    second_day = date(2025, 10, 14)
    file_a2 = export(batch_db, config, b, BANK_A, "xlsx", second_day)
    assert ref(code, 6) in load_workbook(io.BytesIO(file_a2)).active["A12"].value
    assert make_card(902) == load_workbook(io.BytesIO(file_a2)).active["D12"].value
    file_b2 = export(batch_db, config, b, BANK_B, "xlsx", second_day)
    assert "王秀英" == load_workbook(io.BytesIO(file_b2)).active["B12"].value
    for data in (file_a2, file_b2):
        outcome = import_results(batch_db, config, files.with_results(data, {}), second_day)
        assert outcome.changed and outcome.paid == 1 and outcome.action.to_state == "paid"
    money = balance(batch_db, b)
    assert (money.allocated, money.paid, money.pending, money.returned) == (
        YUAN("700.00"), YUAN("700.00"), YUAN("0.00"), YUAN("0.00"))

    # publication, by the department, within 5 working days
    assert names(batch_db, "civil_op", b, second_day) == {"publish"}
    assert names(batch_db, "civil_rev", b, second_day) == {"publish"}
    publish_day = date(2025, 10, 15)
    published = act(batch_db, "civil_op", b, "publish", publish_day)
    assert (published.from_state, published.to_state, published.due_on) == ("paid", "published", None)
    assert "5 条到账短信" in published.message
    batch = batch_db_batch(batch_db, b)
    assert (batch.state, batch.published_on) == ("published", publish_day)
    balance(batch_db, b)
    with batch_db.session() as s:
        events = [tuple(e) for e in s.execute(select(WorkflowEvent.action, WorkflowEvent.to_state).where(
            WorkflowEvent.batch_id == b, WorkflowEvent.id > 0).order_by(WorkflowEvent.id)).all()][-9:]
    assert events == [("payment_request", "bank"), ("bank_import", "bank"), ("bank_import", "paid"),
                      ("correct_failed", "paid"), ("correct_failed", "paid"), ("reissue", "paid"),
                      ("bank_import", "paid"), ("bank_import", "paid"), ("publish", "published")]

    # arrival SMS: exactly one per paid line, with the Yunnan fields; none for the failed lines
    gateway = SandboxGateway(batch_db)
    report = sms.send_pending(batch_db, gateway, config.field_key)
    assert (report.sent, report.retrying, report.failed) == (5, 0, 0)
    assert sms.send_pending(batch_db, gateway, config.field_key).sent == 0
    with batch_db.session() as s:
        inbox = sms.sandbox_messages(s, b)
        paid_ids = {line_id: no for line_id, no in s.execute(select(PaymentLine.id, PaymentLine.line_no).where(
            PaymentLine.batch_id == b, PaymentLine.state == "paid"))}
    assert sorted(paid_ids[m["line_id"]] for m in inbox) == [1, 3, 5, 6, 7]
    by_no = {paid_ids[m["line_id"]]: m for m in inbox}
    assert by_no[6]["text"] == ("您的80周岁以上高龄津贴130.00元已于2025年10月14日发放到您的社会保障卡（一卡通）账户。"
                                "发放部门：鲁山县民政局；发放周期：2025年9月。如有疑问请咨询鲁山县民政局。")
    assert by_no[1]["text"].startswith("您的80周岁以上高龄津贴120.50元已于2025年10月10日")
    assert by_no[1]["phone_masked"] == phone(1)[:3] + "****" + phone(1)[-4:]
    for message in inbox:
        assert phone(1)[3:7] not in message["text"]

    # the portal, once the outbox sync ran: disclosures of the paid lines, the failed person's own query
    engine = engine_for(config)
    sync(batch_db, engine, DocumentBuilder.from_config(config))
    with TestClient(public_app(config, search=engine)) as portal:
        found = portal.get("/disclosures.json", params={"q": "高龄津贴", "kind": "result"}).json()
        assert found["total"] == 5
        assert {h["amount"] for h in found["hits"]} == {"120.50", "150.00", "99.50", "130.00", "200.00"}
        answer = portal.post("/api/query", json={"id_number": make_id(2), "name": make_name(2),
                                                 "card_digits": new_card[-4:]})
        assert answer.status_code == 200, answer.text
        year = answer.json()["years"][0]
        assert [(i["amount"], i["state"]) for i in year["paid"]] == [("130.00", "paid")]
        assert [(i["state"], i["failure_reason"]) for i in year["failed"]] == [("reissued", "账户已销户")]
        assert "重新发放" in year["failed"][0]["advice"]


def batch_db_batch(batch_db, batch_id: int) -> Batch:
    with batch_db.session() as s:
        return s.get(Batch, batch_id)


# --- failures the person sees before the re-issue, and money returned -------------------------------


def test_a_failed_line_shows_reason_and_advice_and_unpayable_money_is_returned(at_bank, batch_db, config,
                                                                               public_db):
    b, code = at_bank["batch"], at_bank["code"]
    day = date(2025, 10, 10)
    for bank, failures in ((BANK_A, {ref(code, 3): (False, "该账户已冻结（司法冻结）")}),
                           (BANK_B, {ref(code, 5): (False, "E99 系统繁忙")})):
        data = export(batch_db, config, b, bank, "csv", day)
        import_results(batch_db, config, files.with_results(data, failures), day)
    frozen, other = line(batch_db, b, 3), line(batch_db, b, 5)
    assert (frozen.failure_code, other.failure_code) == ("ACCOUNT_FROZEN", "BANK_OTHER")
    assert other.failure_reason == "E99 系统繁忙" and "核实账户信息" in other.advice
    act(batch_db, "civil_op", b, "publish", date(2025, 10, 13))

    engine = engine_for(config)
    sync(batch_db, engine, DocumentBuilder.from_config(config))
    with TestClient(public_app(config, search=engine)) as portal:
        answer = portal.post("/api/query", json={"id_number": make_id(3), "name": make_name(3),
                                                 "card_digits": make_card(3)[-4:]}).json()
        failed = answer["years"][0]["failed"][0]
        assert (failed["state"], failed["failure_reason"]) == ("failed", "该账户已冻结（司法冻结）")
        assert "解除冻结" in failed["advice"]
        found = portal.get("/disclosures.json", params={"q": "高龄津贴"}).json()
        assert found["total"] == 3  # failed lines are never disclosed

    # line 5 cannot be paid: its money is returned; the balance holds
    with batch_db.session() as s:
        done = results.return_unpaid(s, operator(s, "civil_op"), b, {"line": "5", "reason": "补贴对象已去世，资金退回国库"},
                                     date(2025, 10, 14))
    assert "99.50 元资金退回" in done.message
    assert line(batch_db, b, 5).state == "returned"
    money = balance(batch_db, b)
    assert (money.returned, money.failed, money.paid) == (YUAN("99.50"), YUAN("150.00"), YUAN("450.50"))
    with batch_db.session() as s:
        assert s.execute(select(func.count(SmsMessage.id))).scalar_one() == 3  # the paid lines only
        with pytest.raises(WorkflowError) as refused:  # the clerk may not return money
            results.return_unpaid(s, operator(s, "clerk"), b, {"line": "3", "reason": "x"}, date(2025, 10, 14))
    assert refused.value.status == 403


def test_a_correction_naming_a_card_already_registered_uses_it(at_bank, batch_db, config, unchanged):
    """The person's new card may already be in the registry (a later roster carried it): the
    correction uses that account, it is not registered twice; a closed card is refused."""
    b, code = at_bank["batch"], at_bank["code"]
    day = date(2025, 10, 10)
    data = export(batch_db, config, b, BANK_A, "csv", day)
    import_results(batch_db, config, files.with_results(data, {ref(code, 3): (False, "账户已销户")}), day)
    known_number, closed_number = make_card(903), make_card(904)
    with batch_db.session() as s:  # arranged: two more cards of the person, as a later roster registers them
        person = s.get(PaymentLine, line(batch_db, b, 3).id).person
        for number, status in ((known_number, "active"), (closed_number, "closed")):
            s.add(CardAccount(person_id=person.id, card_number_enc=cipher(config.field_key).encrypt(number),
                              card_digest=personkey.card_digest(config.hmac_key, person.person_key, number),
                              card_last4=number[-4:], status=status, opened_on=date(2025, 10, 1), bank_name=BANK_B))
        person_id = person.id
    with unchanged():
        with batch_db.session() as s:
            with pytest.raises(WorkflowError) as refused:
                results.correct_failed(s, config, operator(s, "civil_op"), b, {
                    "line": "3", "card_number": closed_number, "note": "换卡"}, day)
    assert (refused.value.code, refused.value.field, refused.value.status) == ("closed_card", "card_number", 400)
    with batch_db.session() as s:
        cards_before = s.execute(select(func.count(CardAccount.id))).scalar_one()
        results.correct_failed(s, config, operator(s, "civil_op"), b, {
            "line": "3", "card_number": known_number, "note": "本人已补办新卡"}, day)
    with batch_db.session() as s:
        assert s.execute(select(func.count(CardAccount.id))).scalar_one() == cards_before
        known = s.execute(select(CardAccount).where(CardAccount.person_id == person_id,
                                                    CardAccount.card_last4 == known_number[-4:])).scalar_one()
        correction = s.execute(select(LineCorrection).where(LineCorrection.batch_id == b)).scalar_one()
        assert correction.card_account_id == known.id
        results.reissue(s, operator(s, "civil_op"), b, {}, date(2025, 10, 13))
    again = line(batch_db, b, 6)
    assert (again.reissue_of_id, again.card_account_id) == (line(batch_db, b, 3).id, known.id)


def test_a_result_file_that_does_not_match_the_export_is_refused(at_bank, batch_db, config, unchanged):
    b, code = at_bank["batch"], at_bank["code"]
    day = date(2025, 10, 10)
    exported = export(batch_db, config, b, BANK_A, "csv", day)
    good = files.with_results(exported, {}).decode("utf-8-sig")

    def variant(text: str) -> bytes:
        return text.encode("utf-8-sig")

    row_1 = f"{ref(code, 1)},{make_name(1)},{make_id(1)},{make_card(1)},120.50,成功,"
    assert row_1 in good
    cases = {
        "unknown_ref": variant(good.replace(ref(code, 1) + ",", ref(code, 9) + ",")),
        "count_mismatch": variant(good.replace(row_1 + "\r\n", "")),
        "card_mismatch": variant(good.replace(make_card(1), "6.21799E+18")),
        "bad_result": variant(good.replace(row_1, row_1.replace("成功", "OK"))),
        "no_results": exported,
        "not_a_bank_file": "姓名,金额\r\n王明,1\r\n".encode(),
        "id_mismatch": variant(good.replace(make_id(1), make_id(7))),
        "amount_mismatch": variant(good.replace(",120.50,", ",120.5,").replace(",120.5,", ",12.50,")),
        "checksum_mismatch": variant(good[:good.rindex(",") + 1] + "0123456789ABCDEF\r\n"),
        "total_mismatch": variant(good.replace("金额合计,400.50", "金额合计,401.50")),
    }
    for expected, data in cases.items():
        with unchanged():
            with pytest.raises(BankFileError) as refused:
                import_results(batch_db, config, data, day)
        assert refused.value.code == expected, (expected, refused.value.code)
        assert refused.value.message
        for i in range(1, 10):  # a refusal never repeats a number of a person
            assert make_id(i) not in refused.value.message and make_card(i) not in refused.value.message
    # a result that contradicts the recorded one is refused too
    import_results(batch_db, config, variant(good), day)
    contradicting = files.with_results(exported, {ref(code, 1): (False, "账户冻结")})
    with unchanged():
        with pytest.raises(BankFileError) as refused:
            import_results(batch_db, config, contradicting, day)
    assert refused.value.code == "result_conflict" and "第12行" in refused.value.message


def test_the_bank_balance_of_the_payment_request(at_bank, batch_db):
    with batch_db.session() as s:
        request = s.execute(select(PaymentRequest)).scalar_one()
        lines = s.execute(select(func.count(PaymentLine.id)).where(
            PaymentLine.payment_request_id == request.id)).scalar_one()
    assert (request.kind, request.requested_on, lines) == ("payment", PAYMENT_DAY, 5)
