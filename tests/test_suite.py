"""The run's rules (tests/suite.py), on a small suite run by a real pytest in a subprocess: under CI
every skip fails the run except "no Meilisearch server configured", and the run record says what
ran and skipped, also when xdist workers run the tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SAMPLE = '''
import pytest

def test_plain():
    pass

@pytest.mark.browser
def test_in_a_browser():
    pytest.skip("Chromium/chromedriver not installed")

@pytest.mark.parametrize("backend", ["embedded", "meilisearch"])
def test_contract(backend):
    if backend == "meilisearch":
        pytest.skip("no Meilisearch server configured (set MEILI_URL)")

def test_uses_redis(redis_url):
    assert redis_url == "redis://example.invalid/0"
'''

CONFTEST = '''
import pytest

pytest_plugins = ("tests.suite",)

@pytest.fixture
def redis_url(request):
    request.applymarker(pytest.mark.redis)
    return "redis://example.invalid/0"
'''

INI = """[pytest]
markers =
    browser: browser
    redis: redis
"""


def run_sample(tmp_path: Path, *, ci: str | None, deselect_browser: bool = False,
               xdist: bool = False) -> tuple[int, str, dict]:
    (tmp_path / "test_sample.py").write_text(SAMPLE, "utf-8")
    (tmp_path / "conftest.py").write_text(CONFTEST, "utf-8")
    (tmp_path / "pytest.ini").write_text(INI, "utf-8")
    record = tmp_path / "record.json"
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "PYTEST_ADDOPTS", "YIKATONG_TEST_DATABASE_URL") and not k.startswith("PYTEST_XDIST")}
    env.update({"PYTHONPATH": str(ROOT), "YIKATONG_TEST_RECORD": str(record)})
    if ci is not None:
        env["CI"] = ci
    args = [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"),
            "--rootdir", str(tmp_path), str(tmp_path)]
    args += ["-n", "2"] if xdist else ["-p", "no:xdist"]
    if deselect_browser:
        args += ["-m", "not browser"]
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr, json.loads(record.read_text("utf-8"))


def test_outside_ci_a_skip_is_reported_not_failed(tmp_path):
    status, output, record = run_sample(tmp_path, ci=None)
    assert status == 0, output
    skipped = [line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("SKIPPED [1] test_sample.py:")]
    assert sorted(skipped) == ["Chromium/chromedriver not installed",  # -ra: every reason is printed
                               "no Meilisearch server configured (set MEILI_URL)"]
    assert record["counts"] == {"passed": 3, "skipped": 2}
    assert record["disallowed_skips"] == [] and record["database"] == "sqlite"
    assert record["services"] == {
        "browser": {"counts": {"skipped": 1}, "skip_reasons": ["Chromium/chromedriver not installed"]},
        "redis": {"counts": {"passed": 1}, "skip_reasons": []}}


@pytest.mark.parametrize("xdist", [False, True], ids=["one-process", "xdist"])
def test_under_ci_any_skip_but_the_meilisearch_server_fails_the_run(tmp_path, xdist):
    status, output, record = run_sample(tmp_path, ci="true", xdist=xdist)
    assert status == 1, output
    assert "skips are failures under CI" in output
    assert "SKIPPED test_sample.py::test_in_a_browser: Chromium/chromedriver not installed" in output
    assert "SKIPPED test_sample.py::test_contract[meilisearch]" not in output.split("skips are failures")[1] \
        .split("short test summary")[0]
    assert [s["nodeid"] for s in record["disallowed_skips"]] == ["test_sample.py::test_in_a_browser"]
    assert record["exitstatus"] == 1 and record["counts"] == {"passed": 3, "skipped": 2}


def test_under_ci_the_meilisearch_server_skip_alone_passes(tmp_path):
    status, output, record = run_sample(tmp_path, ci="true", deselect_browser=True)
    assert status == 0, output
    assert record["exitstatus"] == 0 and record["disallowed_skips"] == []
    assert record["skips"] == [{"nodeid": "test_sample.py::test_contract[meilisearch]",
                                "reason": "no Meilisearch server configured (set MEILI_URL)"}]
    assert record["services"]["browser"] == {"counts": {}, "skip_reasons": []}
