"""`yikatong index …` end to end, on the test databases and the embedded engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from admin import outbox
from admin.models import Batch, OutboxCursor
from cli import main
from tests.conftest import TEST_SECRETS
from tests.indexer.builders import build_mix


@pytest.fixture
def env(monkeypatch, config, batch_db_url, public_db_url):
    values = {
        "YIKATONG_DATA_DIR": str(config.data_dir),
        "BATCH_DATABASE_URL": batch_db_url,
        "PUBLIC_DATABASE_URL": public_db_url,
        "SEARCH_INDEX_PREFIX": config.search_index_prefix,
        **TEST_SECRETS,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MEILI_URL", raising=False)
    monkeypatch.chdir(config.data_dir.parent)
    return values


def test_rebuild_sync_status(env, batch_db, public_db, config, capsys) -> None:
    build_mix(batch_db, config, people=10)
    assert main(["index", "status"]) == 0
    assert "不存在" in capsys.readouterr().out
    assert main(["index", "rebuild", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "disclosures:" in out and "条/秒" in out
    assert main(["index", "sync"]) == 0
    out = capsys.readouterr().out
    assert "处理变更 0 条" in out and "投诉举报" in out
    assert main(["index", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["indexes"]["policies"] == 3
    consumers = {c["consumer"]: c for c in status["consumers"]}
    assert consumers["default"]["behind"] == 0 and consumers["default:statistics"]["behind"] == 0
    # a publication: one `index sync` writes the documents, then recomputes the statistics
    with batch_db.session() as s:
        batch = s.scalars(select(Batch).where(Batch.state == "paid")).first()
        batch.state = "published"
        outbox.emit(s, "batch", batch.id)
    assert main(["index", "sync"]) == 0
    out = capsys.readouterr().out
    assert "处理变更 1 条" in out and "[default:statistics] 统计已重新计算 1 次" in out
    assert main(["index", "status"]) == 0
    out = capsys.readouterr().out
    assert "消费者 default: 游标" in out and "消费者 default:statistics: 游标" in out
    assert main(["index", "rebuild", "--quiet", "--only", "policies"]) == 0
    assert main(["index", "prune", "--days", "0"]) == 0


def test_clear_errors(env, monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("BATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert main(["index", "sync"]) == 2
    assert "批次数据库尚未初始化" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["index", "rebuild", "--only", "people"])


def test_sync_follow_runs_the_statistics_consumer_beside_and_stops_on_ctrl_c(env, batch_db, public_db, config) -> None:
    build_mix(batch_db, config, people=10)
    command = [sys.executable, "-c", "import sys; from cli import main; sys.exit(main(sys.argv[1:]))",
               "index", "sync", "--follow", "--no-inbound"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            seen = "".join(lines)
            if ("统计已重新计算" in seen and "处理变更" in seen) or not line:  # two threads: either first
                break
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    seen = "".join(lines)
    assert "[default] 处理变更" in seen and "[default:statistics] 统计已重新计算 1 次" in seen
    assert process.returncode == 130 and "已中断" in err
    with batch_db.session() as s:
        assert s.get(OutboxCursor, "default:statistics").last_id == s.get(OutboxCursor, "default").last_id > 0
