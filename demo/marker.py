"""What the last demo build left in the data folder: `<data dir>/demo.json`.

The build writes it last (lines, seed, generator version, the batch database without its
password), so a build that was interrupted leaves none; `yikatong demo --if-changed` and the
demo accounts read it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["MARKER_FILE", "read_marker"]

MARKER_FILE = "demo.json"


def read_marker(data_dir: Path) -> dict[str, Any] | None:
    """What the last build wrote to `<data dir>/demo.json` (lines, seed, version, database)."""
    try:
        data = json.loads((Path(data_dir) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
