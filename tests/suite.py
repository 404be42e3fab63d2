"""Rules of a whole test run, loaded by ``tests/conftest.py`` (hooks run in the controller only).

* Under CI (env ``CI`` is ``true``/``1``/``yes``), a skip is a failure — except the one skip the
  real-server leg of the search contract suite makes when no Meilisearch server is configured
  (reason starting with :data:`MEILI_SKIP`). Such a run ends with exit status 1 and a section
  naming every offending skip, so a missing browser, font, Redis or tool cannot pass CI unnoticed.
* Every run keeps a record of what it did; with ``YIKATONG_TEST_RECORD=<path>`` it is written there
  as JSON for ``scripts/test`` (``make test``), which prints which legs ran:
  ``{"database", "exitstatus", "counts": {outcome: n}, "skips": [{"nodeid", "reason"}],
  "disallowed_skips": [...], "services": {"browser"|"redis": {"counts": {outcome: n}, "skip_reasons"}}}``.
  A test counts for a service when it carries that marker (``browser`` on the browser tests,
  ``redis`` applied by the ``redis_url`` fixture, even when the fixture then skips).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

MEILI_SKIP = "no Meilisearch server configured"
SERVICES = ("browser", "redis")
RECORD_ENV = "YIKATONG_TEST_RECORD"


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_allowed_under_ci(reason: str) -> bool:
    return reason.startswith(MEILI_SKIP)


def skip_reason(report: Any) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, (tuple, list)) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason.removeprefix("Skipped: ")


class RunRecord:
    """Collects the reports the controller sees (its own, or the xdist workers')."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}
        self.services: dict[str, set[str]] = {}
        self.skips: list[dict[str, str]] = []

    def add(self, report: Any) -> None:
        nodeid = report.nodeid
        keywords = getattr(report, "keywords", {}) or {}
        self.services.setdefault(nodeid, set()).update(s for s in SERVICES if s in keywords)
        if report.skipped and hasattr(report, "wasxfail"):
            self.outcomes[nodeid] = "xfailed"
            return
        if report.skipped:
            self.skips.append({"nodeid": nodeid, "reason": skip_reason(report)})
            self.outcomes.setdefault(nodeid, "skipped")
        elif report.failed:
            self.outcomes[nodeid] = "failed" if getattr(report, "when", "call") == "call" else "error"
        elif getattr(report, "when", None) == "call":
            self.outcomes.setdefault(nodeid, "passed")

    def counts(self, nodeids: Any = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for nodeid, outcome in self.outcomes.items():
            if nodeids is None or nodeid in nodeids:
                counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    def disallowed_skips(self) -> list[dict[str, str]]:
        if not under_ci():
            return []
        return [s for s in self.skips if not skip_allowed_under_ci(s["reason"])]

    def as_json(self, exitstatus: int) -> dict[str, Any]:
        database = "postgresql" if os.environ.get("YIKATONG_TEST_DATABASE_URL") else "sqlite"
        return {
            "database": database,
            "exitstatus": int(exitstatus),
            "counts": self.counts(),
            "skips": self.skips,
            "disallowed_skips": self.disallowed_skips(),
            "services": {service: self.service(service) for service in SERVICES},
        }

    def service(self, name: str) -> dict[str, Any]:
        nodeids = {nodeid for nodeid, services in self.services.items() if name in services}
        return {"counts": self.counts(nodeids),
                "skip_reasons": sorted({s["reason"] for s in self.skips if s["nodeid"] in nodeids})}


class RunRecordPlugin:
    def __init__(self, record: RunRecord) -> None:
        self.record = record

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.record.add(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped or report.failed:
            self.record.add(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.record.disallowed_skips() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        path = os.environ.get(RECORD_ENV)
        if path:
            Path(path).write_text(json.dumps(self.record.as_json(session.exitstatus), ensure_ascii=False),
                                  "utf-8")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        bad = self.record.disallowed_skips()
        if not bad:
            return
        terminalreporter.section("skips are failures under CI", sep="=", red=True, bold=True)
        for skip in bad:
            terminalreporter.line(f"SKIPPED {skip['nodeid']}: {skip['reason']}")
        terminalreporter.line(f"{len(bad)} skip(s) with CI={os.environ.get('CI')}: only "
                              f"\u201c{MEILI_SKIP}\u201d may be skipped. Install what the reason names "
                              "(make test does so as root) or fix the test.")


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        config.pluginmanager.register(RunRecordPlugin(RunRecord()), "yikatong-run-record")
