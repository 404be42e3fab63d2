"""Large roster files are imported in the background with a progress page (no JS needed);
abandoned staged imports are cleaned up after 7 days."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import func, select

from admin.batches import imports
from admin.models import AuditEntry, PaymentLine


@pytest.fixture
def background(monkeypatch):
    monkeypatch.setattr(imports, "BACKGROUND_IMPORT_BYTES", 0)
    return imports


def upload(c, get_csrf, batch_id, data):
    token = get_csrf(c, f"/batches/{batch_id}")
    return c.post(f"/batches/{batch_id}/import", data={"csrf_token": token},
                  files={"file": ("花名册.csv", data, "text/csv")}, follow_redirects=False)


def finish(views, url):
    thread = views.running_imports.get(url.rsplit("/", 1)[-1])
    if thread is not None:
        thread.join()


def test_background_import_all_good_then_redirects_to_the_batch(user_client, seeded, get_csrf, roster, batch_db,
                                                                background):
    c = user_client("clerk")
    r = upload(c, get_csrf, seeded["batch"], roster.csv([roster.row(i) for i in range(1, 41)]))
    job_url = r.headers["location"]
    assert "/import-jobs/" in job_url
    finish(background, job_url)
    done = c.get(job_url, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/batches/{seeded['batch']}"
    assert "已导入 40 行" in c.get(done.headers["location"]).text
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 40
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "roster.import")).scalar_one().after["lines"] == 40
    assert c.get(job_url).status_code == 404  # the status is gone once shown


def test_background_import_with_a_bad_line_is_staged_and_writes_nothing(user_client, seeded, get_csrf, roster,
                                                                        batch_db, background):
    c = user_client("clerk")
    rows = [roster.row(i) for i in range(1, 30)] + [roster.row(30, amount="999")]
    job_url = upload(c, get_csrf, seeded["batch"], roster.csv(rows)).headers["location"]
    finish(background, job_url)
    r = c.get(job_url, follow_redirects=False)
    assert "/imports/" in r.headers["location"]
    assert "1 行有问题" in c.get(r.headers["location"]).text
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 0


def test_background_import_of_a_broken_file_explains(user_client, seeded, get_csrf, background):
    c = user_client("clerk")
    job_url = upload(c, get_csrf, seeded["batch"], b"\x00\x01garbage" * 100).headers["location"]
    finish(background, job_url)
    r = c.get(job_url)
    assert "文件无法导入" in r.text


def test_progress_page_refreshes_itself_and_is_the_uploaders_only(user_client, seeded, config, get_csrf):
    clerk = user_client("clerk")
    clerk_id = seeded["users"]["clerk"]
    imports.job_write(config, "job-1", {"batch_id": seeded["batch"], "operator_id": clerk_id, "filename": "a.csv",
                                        "state": "running", "phase": "writing", "done": 5000, "total": 20000,
                                        "started": time.time()})
    page = clerk.get(f"/batches/{seeded['batch']}/import-jobs/job-1")
    assert page.status_code == 200
    assert '<meta http-equiv="refresh" content="2">' in page.text
    assert "已写入 5000 行" in page.text and 'value="25"' in page.text
    for username in ("clerk2", "civil_op", "agri_op"):
        assert user_client(username).get(f"/batches/{seeded['batch']}/import-jobs/job-1").status_code == 404
    assert user_client("auditor").get(f"/batches/{seeded['batch']}/import-jobs/job-1").status_code == 403
    assert clerk.get(f"/batches/{seeded['batch2']}/import-jobs/job-1").status_code == 404
    assert clerk.get(f"/batches/{seeded['batch']}/import-jobs/..%2Fx").status_code == 404


def test_outsiders_cannot_start_an_import(user_client, seeded, get_csrf, roster, batch_db, background):
    for username in ("agri_op", "auditor", "bank"):
        c = user_client(username)
        r = upload(c, get_csrf, seeded["batch"], roster.csv([roster.row(1)]))
        assert r.status_code in (403, 404)
    assert not background.running_imports
    with batch_db.session() as s:
        assert s.execute(select(func.count(PaymentLine.id))).scalar_one() == 0


def test_cleanup_removes_staged_imports_older_than_7_days(config, roster, capsys, monkeypatch, batch_db):
    from cli import main
    from tests.conftest import TEST_SECRETS

    old = imports.stage(config, 1, 1, "old.csv", [])
    fresh = imports.stage(config, 1, 1, "fresh.csv", [])
    imports.job_write(config, "oldjob", {"state": "running"})
    eight_days_ago = time.time() - 8 * 86400
    os.utime(config.data_dir / "staged-imports" / f"{old}.bin", (eight_days_ago, eight_days_ago))
    os.utime(config.data_dir / "import-jobs" / "oldjob.json", (eight_days_ago, eight_days_ago))
    for name, value in {**TEST_SECRETS, "BATCH_DATABASE_URL": config.batch_database_url,
                        "YIKATONG_DATA_DIR": str(config.data_dir)}.items():
        monkeypatch.setenv(name, value)
    assert main(["admin", "cleanup"]) == 0
    assert "2 个" in capsys.readouterr().out
    assert imports.load_staged(config, old, 1, 1) is None
    assert imports.load_staged(config, fresh, 1, 1) is not None
    assert imports.job_read(config, "oldjob") is None
