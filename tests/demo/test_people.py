"""The one source of the sample people: the file the demo build writes, read through demo/people.py."""

from __future__ import annotations

import json
from pathlib import Path

from demo.people import load_demo_people


def test_demo_people_loader_tolerates_a_missing_or_broken_file(tmp_path: Path) -> None:
    assert load_demo_people(tmp_path) == []
    (tmp_path / "demo_people.json").write_text("{broken", encoding="utf-8")
    assert load_demo_people(tmp_path) == []
    (tmp_path / "demo_people.json").write_text(json.dumps([{"name": "x"}, 3]), encoding="utf-8")
    assert load_demo_people(tmp_path) == []
