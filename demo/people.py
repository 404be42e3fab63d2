"""The sample people of demo mode: one source, the file the demo build writes.

`yikatong demo` computes the sample people once (demo/samples.py, from the seed) and writes them
to `<data dir>/demo_people.json`; everyone else reads that file here: `yikatong demo people`,
and the portal's home page and kiosk start screen (through the provider the app assembler
passes in), without opening the batch database (the public side never does). Each entry:
``key``, ``id_number``, ``name``, ``card_number``, ``card_last4``, ``region``, ``shows`` (what
the person's records show, in Chinese). A missing or unreadable file means "no demo people".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from core.config import Config

__all__ = ["DEMO_PEOPLE_FILE", "demo_people", "load_demo_people", "write_demo_people"]

DEMO_PEOPLE_FILE = "demo_people.json"
_KEYS = ("id_number", "name", "card_number", "card_last4", "shows")


def demo_people(config: Config) -> list[dict[str, str]]:
    """The sample people of the built demo data (empty outside demo mode or before a build)."""
    return load_demo_people(config.data_dir) if config.demo else []


def load_demo_people(data_dir: Path | str) -> list[dict[str, str]]:
    """The sample people written by the last demo build, or ``[]``."""
    try:
        data: Any = json.loads((Path(data_dir) / DEMO_PEOPLE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, list):
        return []
    people = []
    for entry in data:
        if isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in _KEYS):
            people.append({str(k): str(v) for k, v in entry.items()})
    return people


def write_demo_people(data_dir: Path | str, people: list[dict[str, str]]) -> Path:
    """Write the file atomically (a reader never sees half of it)."""
    path = Path(data_dir) / DEMO_PEOPLE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(people, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path
