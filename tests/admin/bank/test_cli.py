"""`yikatong bank export|import`: the bank's automated side, with exit codes 0/1/2 like `roster check`."""

from __future__ import annotations

import json
import stat
from datetime import date

from alembic import command
from sqlalchemy import select

from admin.bank import files
from admin.models import AuditEntry, Batch
from cli import main
from core.migrate import alembic_config
from tests.admin.bank.conftest import BANK_A, BANK_B, act, phone
from tests.conftest import TEST_SECRETS


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_then_import_from_the_command_line(at_bank, batch_db, config, capsys, monkeypatch, tmp_path):
    command.stamp(alembic_config(config.batch_database_url, "batch"), "head")  # the fixture made the schema
    for name, value in {**TEST_SECRETS, "BATCH_DATABASE_URL": config.batch_database_url,
                        "YIKATONG_DATA_DIR": str(config.data_dir)}.items():
        monkeypatch.setenv(name, value)
    b, code = at_bank["batch"], at_bank["code"]

    # no account to act as, an account without the role, an unknown bank: exit 2, nothing written
    out_a = tmp_path / "a.xlsx"
    assert run(capsys, "bank", "export", code, "--bank", BANK_A, "--out", str(out_a))[0] == 2
    status, _, err = run(capsys, "bank", "export", code, "--bank", BANK_A, "--out", str(out_a), "--actor", "clerk")
    assert status == 2 and "不能" in err and not out_a.exists()
    status, _, err = run(capsys, "bank", "export", code, "--bank", "不存在银行", "--out", str(out_a), "--actor", "bank")
    assert status == 2 and "不存在银行" in err

    monkeypatch.setenv("BANK_CLI_ACTOR", "bank")
    status, out, _ = run(capsys, "bank", "export", code, "--bank", BANK_A, "--out", str(out_a))
    assert status == 0 and "3 笔" in out
    assert stat.S_IMODE(out_a.stat().st_mode) == 0o600
    out_b = tmp_path / "b.csv"
    assert run(capsys, "bank", "export", code, "--bank", BANK_B, "--out", str(out_b))[0] == 0
    assert out_b.read_bytes().startswith(b"\xef\xbb\xbf")

    # a result file with a changed amount: exit 1, the row named, nothing imported
    result_b = files.with_results(out_b.read_bytes(), {files.line_ref(code, 5): (False, "账户未激活")})
    bad = tmp_path / "bad.csv"
    bad.write_bytes(result_b.decode("utf-8-sig").replace(",99.50,", ",99.00,").encode("utf-8-sig"))
    status, _, err = run(capsys, "bank", "import", str(bad))
    assert status == 1 and "第13行" in err and "99.00" in err
    # not a bank file at all: exit 2
    junk = tmp_path / "junk.csv"
    junk.write_bytes("a,b\r\n1,2\r\n".encode())
    assert run(capsys, "bank", "import", str(junk))[0] == 2

    good_a, good_b = tmp_path / "ra.xlsx", tmp_path / "rb.csv"
    good_a.write_bytes(files.with_results(out_a.read_bytes(), {}))
    good_b.write_bytes(result_b)
    status, out, _ = run(capsys, "bank", "import", str(good_a))
    assert status == 0 and "成功 3 笔，失败 0 笔" in out
    status, out, _ = run(capsys, "bank", "import", str(good_b), "--json")
    body = json.loads(out)
    assert status == 0 and body["ok"] and body["changed"] and (body["paid"], body["failed"]) == (1, 1)
    assert body["result"]["state"] == "paid"
    # the same file again: nothing changes, exit 0
    status, out, _ = run(capsys, "bank", "import", str(good_b))
    assert status == 0 and "未作任何修改" in out
    with batch_db.session() as s:
        assert s.get(Batch, b).state == "paid"
        imports = s.scalars(select(AuditEntry).where(AuditEntry.action == "workflow.bank_import")).all()
        assert len(imports) == 2 and all(e.actor == "bank" for e in imports)

    # published: the arrival SMS go out through the sandbox, and the sandbox lists them (phones masked)
    act(batch_db, "civil_op", b, "publish", date(2025, 10, 13))
    status, out, _ = run(capsys, "sms", "send")
    assert status == 0 and "已发送 4 条" in out
    status, out, _ = run(capsys, "sms", "sandbox", "--batch", code, "--json")
    messages = json.loads(out)
    assert status == 0 and len(messages) == 4
    assert all("发放部门：鲁山县民政局" in m["text"] for m in messages)
    assert phone(1) not in out and phone(1)[-4:] in out
