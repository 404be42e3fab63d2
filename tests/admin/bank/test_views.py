"""The bank pages through HTTP (login, CSRF): downloads are no-store and hold text cells, uploads are
checked whole; a wrong role or scope gets 403 and changes nothing; the batch page and its JSON
twin show the balance."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from admin.access import operators
from admin.bank import files, ledger
from admin.models import PaymentLine
from tests.admin.bank.conftest import BANK_A, BANK_B
from tests.admin.conftest import TEST_PASSWORD, make_card, make_id
from tests.admin.conftest import test_password_hash as password_hash


@pytest.fixture
def outsider_bank(seeded, batch_db, config) -> str:
    """A bank operator of another county."""
    with batch_db.session() as s:
        operators.create_operator(s, config, actor="seed", username="far_bank", name="测试员", role="bank_operator",
                                  region_code="410482", password=TEST_PASSWORD, must_change_password=False,
                                  password_hash=password_hash())
    return "far_bank"


def file_ids(batch_db, batch_id: int) -> dict[str, int]:
    with batch_db.session() as s:
        return {f.bank_name: f.id for f in ledger.open_bank_files(s, batch_id)}


def upload(client, get_csrf, batch_id: int, data: bytes, name: str = "回盘.csv", **headers):
    token = get_csrf(client, f"/batches/{batch_id}")
    return client.post(f"/batches/{batch_id}/bank/import", data={"csrf_token": token},
                       files={"file": (name, data, "application/octet-stream")}, headers=headers,
                       follow_redirects=False)


def test_the_bank_downloads_its_file_uploads_the_result_and_the_page_shows_the_balance(
        at_bank, user_client, get_csrf, batch_db, unchanged, outsider_bank):
    b, code = at_bank["batch"], at_bank["code"]
    ids = file_ids(batch_db, b)
    bank = user_client("bank")

    # the batch's JSON twin lists the bank's actions and the balance
    data = bank.get(f"/batches/{b}.json").json()
    assert data["balance"] == {"allocated": "700.00", "paid": "0.00", "returned": "0.00", "pending": "700.00",
                               "failed": "0.00", "holds": True, "correction_due_on": None,
                               "counts": {"pending": 5, "paid": 0, "failed": 0, "reissued": 0, "returned": 0}}
    assert [(f["bank"], f["line_count"], f["total"], f["pending"]) for f in data["bank_files"]] == [
        (BANK_B, 2, "299.50", 2), (BANK_A, 3, "400.50", 3)]

    # the download: no-store, an attachment, every number a text cell
    answer = bank.get(f"/batches/{b}/bank/export", params={"file": ids[BANK_A], "format": "xlsx"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-disposition"].startswith("attachment; filename*=UTF-8''")
    assert answer.headers["content-type"] == files.XLSX
    sheet = load_workbook(io.BytesIO(answer.content)).active
    id_cell, card_cell = sheet["C12"], sheet["D12"]
    assert (id_cell.value, card_cell.value) == (make_id(1), make_card(1))
    assert id_cell.data_type == card_cell.data_type == "s"
    csv_answer = bank.get(f"/batches/{b}/bank/export", params={"file": ids[BANK_B], "format": "csv"})
    assert csv_answer.headers["cache-control"] == "no-store" and csv_answer.content.startswith(b"\xef\xbb\xbf")
    assert f",{make_card(4)}," in csv_answer.content.decode("utf-8-sig")

    # wrong role or scope: 403, nothing changes (not even an audit entry)
    clerk, far, civil_op, finance = (user_client(u) for u in ("clerk", outsider_bank, "civil_op", "finance"))
    result = files.with_results(answer.content, {files.line_ref(code, 2): (False, "卡号不存在")})
    with unchanged():
        for client in (clerk, far, civil_op):
            refused = client.get(f"/batches/{b}/bank/export", params={"file": ids[BANK_A], "format": "csv"})
            assert refused.status_code == 403, refused.text
            assert make_card(1) not in refused.text
        assert far.get(f"/batches/{b}/bank/export.json", params={"file": ids[BANK_A]}).status_code in (403, 404)
        assert upload(finance, get_csrf, b, result).status_code == 403
        assert upload(clerk, get_csrf, b, result).status_code == 403
        json_refusal = upload(finance, get_csrf, b, result, accept="application/json")
        assert json_refusal.status_code == 403 and json_refusal.json()["error"]["code"] == "forbidden"
        # a bad option is refused too
        assert bank.get(f"/batches/{b}/bank/export", params={"file": "999", "format": "csv"},
                        headers={"accept": "application/json"}).json()["error"]["field"] == "file"

    # a file with a changed amount: refused with the row named, nothing changed
    tampered = load_workbook(io.BytesIO(result))
    tampered.active["E12"].value = "121.50"
    buffer = io.BytesIO()
    tampered.save(buffer)
    with unchanged():
        refused = upload(bank, get_csrf, b, buffer.getvalue(), "回盘.xlsx", accept="application/json")
    assert refused.status_code == 400
    assert refused.json()["error"] == {"code": "amount_mismatch", "row": 12, "message": refused.json()["error"]["message"]}
    assert "121.50" in refused.json()["error"]["message"]
    with unchanged():
        page = upload(bank, get_csrf, b, buffer.getvalue(), "回盘.xlsx")
        assert page.status_code == 303
        assert "结果文件未导入" in bank.get(f"/batches/{b}").text

    # the real result file: imported, flash, balance updated
    done = upload(bank, get_csrf, b, result, "回盘.xlsx")
    assert done.status_code == 303 and done.headers["location"] == f"/batches/{b}"
    assert "成功 2 笔，失败 1 笔" in bank.get(f"/batches/{b}").text
    again = upload(bank, get_csrf, b, result, "回盘.xlsx", accept="application/json")
    assert again.status_code == 200 and again.json()["changed"] is False
    data = user_client("civil_op").get(f"/batches/{b}.json").json()
    assert (data["balance"]["paid"], data["balance"]["failed"], data["balance"]["holds"]) == ("270.50", "130.00", True)
    html = user_client("civil_op").get(f"/batches/{b}").text
    assert 'id="balance"' in html and "发放失败待处理 130.00 元" in html


def test_failed_lines_are_corrected_only_inside_the_scope(at_bank, user_client, get_csrf, batch_db, config,
                                                          unchanged):
    b, code = at_bank["batch"], at_bank["code"]
    ids = file_ids(batch_db, b)
    bank = user_client("bank")
    for name, failures in ((BANK_A, {files.line_ref(code, 2): (False, "账户未激活")}), (BANK_B, {})):
        exported = bank.get(f"/batches/{b}/bank/export", params={"file": ids[name], "format": "csv"}).content
        assert upload(bank, get_csrf, b, files.with_results(exported, failures)).status_code == 303
    form = {"line": "2", "note": "本人已到银行激活社保卡金融功能"}
    others = {username: user_client(username) for username in ("clerk2", "finance", "bank", "civil_rev")}
    clerk = user_client("clerk")
    with unchanged():
        for username, client in others.items():
            token = get_csrf(client, "/batches")
            answer = client.post(f"/batches/{b}/results/correct", data={**form, "csrf_token": token},
                                 follow_redirects=False)
            assert answer.status_code == 403, username
        token = get_csrf(clerk, f"/batches/{b}")
        missing = clerk.post(f"/batches/{b}/results/correct", data={"line": "2", "csrf_token": token},
                             headers={"accept": "application/json"})
        assert missing.status_code == 400 and missing.json()["error"]["field"] == "note"
        assert clerk.post(f"/batches/{b}/results/reissue", data={"csrf_token": token},
                          follow_redirects=False).status_code == 403
    answer = clerk.post(f"/batches/{b}/results/correct", data={**form, "csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303
    civil_op = user_client("civil_op")
    token = get_csrf(civil_op, f"/batches/{b}")
    issued = civil_op.post(f"/batches/{b}/results/reissue", data={"csrf_token": token},
                           headers={"accept": "application/json"})
    assert issued.status_code == 200 and issued.json()["lines"] == 1
    with batch_db.session() as s:
        states = dict(s.execute(select(PaymentLine.line_no, PaymentLine.state).where(PaymentLine.batch_id == b)).all())
    assert states == {1: "paid", 2: "reissued", 3: "paid", 4: "paid", 5: "paid", 6: "pending"}
    assert user_client("civil_op").get(f"/batches/{b}.json").json()["balance"]["holds"] is True
