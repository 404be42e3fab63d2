"""`yikatong roster check` and friends, run through the real command line entry point."""

from __future__ import annotations

import json
import os

from cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_roster_check_all_good_exits_0(tmp_path, capsys, roster):
    path = tmp_path / "ok.csv"
    path.write_bytes(roster.csv([roster.row(i) for i in range(3)]))
    code, out, _ = run(capsys, "roster", "check", str(path))
    assert code == 0
    assert "通过 3 行" in out


def test_roster_check_bad_lines_exit_1_and_name_the_line(tmp_path, capsys, roster):
    bad = roster.row(2, amount="-5")
    path = tmp_path / "mixed.xlsx"
    path.write_bytes(roster.xlsx([roster.row(1), bad]))
    code, out, _ = run(capsys, "roster", "check", str(path))
    assert code == 1
    assert "金额必须大于0" in out
    assert "有问题 1 行" in out


def test_roster_check_json(tmp_path, capsys, roster):
    bad = roster.row(2)
    bad[0] = ""
    path = tmp_path / "mixed.csv"
    path.write_bytes(roster.csv([roster.row(1), bad], encoding="gbk"))
    code, out, _ = run(capsys, "roster", "check", str(path), "--json")
    assert code == 1
    body = json.loads(out)
    assert body["ok"] is False and body["lines"] == 2 and body["failed"] == 1
    line = body["results"][1]
    assert line["line"] == 3
    assert line["issues"] == [{"code": "NAME_REQUIRED", "message": "请填写姓名"}]
    # No full ID or card number in the output.
    assert roster.make_id(1) not in out and roster.make_card(1) not in out


def test_roster_check_garbage_and_empty_files_exit_2_without_traceback(tmp_path, capsys):
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(os.urandom(1024 * 1024))
    code, out, err = run(capsys, "roster", "check", str(garbage))
    assert code == 2
    assert "Traceback" not in err + out and "不是表格" in err

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    code, out, err = run(capsys, "roster", "check", str(empty), "--json")
    assert code == 2
    assert json.loads(out)["error"]["code"] == "empty_file"

    code, out, err = run(capsys, "roster", "check", str(tmp_path / "missing.csv"))
    assert code == 2 and "找不到文件" in err


def test_roster_check_wrong_columns_exit_2(tmp_path, capsys, roster):
    path = tmp_path / "cols.csv"
    path.write_bytes(roster.csv([["王明", "1"]], header=["姓名", "金额"]))
    code, _, err = run(capsys, "roster", "check", str(path))
    assert code == 2
    assert "身份证号" in err and "社保卡号" in err and "村" in err


def test_roster_import_all_or_nothing_and_create_user(tmp_path, capsys, roster, seeded, batch_db, config, monkeypatch):
    from sqlalchemy import func, select

    from admin.models import Operator, PaymentLine
    from alembic import command

    from core.migrate import alembic_config
    from tests.conftest import TEST_SECRETS

    command.stamp(alembic_config(config.batch_database_url, "batch"), "head")  # the fixture made the schema

    for name, value in {**TEST_SECRETS, "BATCH_DATABASE_URL": config.batch_database_url,
                        "YIKATONG_DATA_DIR": str(config.data_dir)}.items():
        monkeypatch.setenv(name, value)
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(roster.csv([roster.row(1), roster.row(2, amount="1000")]))
    code, out, err = run(capsys, "roster", "import", str(mixed), "--batch", seeded["batch_code"])
    assert code == 1 and "第3行" not in err  # reasons are in the table on stdout
    assert "标准上限" in out
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 0
    good = tmp_path / "good.csv"
    good.write_bytes(roster.csv([roster.row(1), roster.row(2)]))
    code, out, _ = run(capsys, "roster", "import", str(good), "--batch", seeded["batch_code"])
    assert code == 0 and "已导入 2 行" in out
    code, _, err = run(capsys, "roster", "import", str(good), "--batch", "NOPE")
    assert code == 2 and "找不到批次" in err

    code, out, _ = run(capsys, "admin", "create-user", "--username", "root", "--name", "张三", "--role",
                       "system_admin", "--region", "41", "--password", "Strong#Pass99")
    assert code == 0
    code, _, err = run(capsys, "admin", "create-user", "--username", "root", "--name", "张三", "--role",
                       "system_admin", "--region", "41", "--password", "Strong#Pass99")
    assert code == 2 and "已被使用" in err
    with batch_db.session() as s:
        assert s.execute(select(Operator).where(Operator.username == "root")).scalar_one().must_change_password
