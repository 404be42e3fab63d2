from __future__ import annotations

from datetime import date

import pytest

from core.deadlines import (
    DEFAULT_RULES,
    Step,
    complies,
    due_date,
    is_overdue,
    rule_for,
)


def test_defaults_from_the_seeds() -> None:
    expected = {
        "first_verification": (3, "max"),
        "publicity": (3, "min"),
        "approval": (10, "max"),
        "finance_check": (5, "max"),
        "bank_crediting": (2, "max"),
        "return_unpayable": (1, "max"),
        "correction": (3, "max"),
        "results_publication": (5, "max"),
        "complaint_answer": (15, "max"),
        "disclosure_request": (20, "max"),
        "rectification": (15, "max"),
    }
    assert {k: (r.days, r.kind) for k, r in DEFAULT_RULES.items()} == expected
    assert set(DEFAULT_RULES) == {s.value for s in Step}
    for rule in DEFAULT_RULES.values():
        assert rule.source and rule.description_zh
        assert type(rule.step) is str


def test_due_dates_use_working_days() -> None:
    # Unpayable money found on Mon 30 Sep 2024 goes back by the next working day, 8 Oct.
    assert due_date(Step.RETURN_UNPAYABLE, date(2024, 9, 30)) == date(2024, 10, 8)
    # 29 Sep, 30 Sep, 8–11 Oct, Sat 12 Oct (make-up), 14, 15, 16 Oct.
    assert due_date("approval", date(2024, 9, 27)) == date(2024, 10, 16)


def test_publicity_is_a_minimum() -> None:
    start = date(2024, 9, 27)
    assert due_date("publicity", start) == date(2024, 10, 8)  # earliest end
    assert not complies("publicity", start, date(2024, 9, 30))
    assert complies("publicity", start, date(2024, 10, 8))
    assert complies("publicity", start, date(2024, 10, 20))
    assert not is_overdue("publicity", start, date(2025, 1, 1))


def test_max_rules_and_overdue() -> None:
    start = date(2024, 9, 27)
    assert complies("first_verification", start, date(2024, 10, 8))
    assert not complies("first_verification", start, date(2024, 10, 9))
    assert not is_overdue("first_verification", start, date(2024, 10, 8))
    assert is_overdue("first_verification", start, date(2024, 10, 9))


OVERRIDES = [
    {"step": "approval", "days": 8, "region_code": "410000"},
    {"step": "approval", "days": 7, "region_code": "410423", "source": "鲁山县实施方案"},
    {"step": "approval", "days": 5, "project_code": "GLJT"},
    {"step": "approval", "days": 4, "project_code": "GLJT", "region_code": "410423"},
    {"step": "publicity", "days": 5},
]


@pytest.mark.parametrize(
    ("project", "region", "days"),
    [
        (None, None, 10),  # no region: only region-free overrides apply
        (None, "500241", 10),  # other province: default
        (None, "410402", 8),  # province rule
        ("CJBT", "410423", 7),  # county rule
        ("CJBT", "410423204", 7),  # county rule covers its townships
        ("GLJT", "500241", 5),  # project rule anywhere
        ("GLJT", "410402", 5),  # project rule beats a province rule
        ("GLJT", "410423204", 4),  # project + county most specific
    ],
)
def test_override_specificity(project: str | None, region: str | None, days: int) -> None:
    assert rule_for("approval", project, region, OVERRIDES).days == days


def test_override_inherits_kind_and_text() -> None:
    rule = rule_for("publicity", overrides=OVERRIDES)
    assert (rule.days, rule.kind) == (5, "min")
    assert rule.description_zh == DEFAULT_RULES["publicity"].description_zh
    assert rule.source == "本地配置"
    assert rule_for("approval", "X", "410423", OVERRIDES).source == "鲁山县实施方案"
    assert due_date("approval", date(2024, 9, 27), "GLJT", "410423", OVERRIDES) == date(2024, 10, 9)


def test_later_row_wins_among_equals() -> None:
    rows = [{"step": "correction", "days": 2}, {"step": "correction", "days": 4}]
    assert rule_for("correction", overrides=rows).days == 4


def test_new_step_and_bad_rows() -> None:
    rows = [{"step": "village_board", "days": 2, "kind": "min", "source": "本县规定"}]
    assert rule_for("village_board", overrides=rows).kind == "min"
    with pytest.raises(KeyError):
        rule_for("village_board")
    with pytest.raises(ValueError):
        rule_for("village_board", overrides=[{"step": "village_board", "days": 2}])
    with pytest.raises(ValueError):
        rule_for("approval", overrides=[{"step": "approval", "days": -1}])
    with pytest.raises(ValueError):
        rule_for("approval", overrides=[{"step": "approval", "days": "3"}])
