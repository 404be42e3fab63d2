"""Server-drawn charts (no JavaScript, nothing from a CDN): the pure geometry of a horizontal bar
chart, shared by the public statistics and the internal supervision reports. One template,
``core/templates/_bar_chart.html`` (both apps load ``core/templates`` after their own), draws the bars as one-rect SVGs stretched to their share of the largest value, with the same
numbers in the text table that follows the chart."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

__all__ = ["bar_chart", "percent_text"]


def _default_text(value: str) -> Callable[[Decimal], str]:
    return (lambda v: f"{v:,.2f}") if value == "amount" else (lambda v: f"{int(v):,}")


def percent_text(v: Decimal) -> str:
    """A share (0–1) as the bar's text: ``0.875`` → ``87.5%``."""
    return f"{v * 100:.1f}%"


def bar_chart(rows: Sequence[dict[str, Any]], value: str, title: str, width: int = 560, *, label: str = "name",
              text: Callable[[Decimal], str] | None = None) -> dict[str, Any]:
    """Geometry for a horizontal SVG bar chart: ``{title, width, height, label_w, bars: [{label, y,
    width, text}]}``. ``value`` is the key of each row drawn, ``label`` the key of its label;
    ``text`` formats a value (default: yuan with two decimals for ``amount``, else a whole number).
    A missing value (``None``: withheld, or nothing to measure) gets no bar and the text “—”."""
    fmt = text or _default_text(value)
    values = [None if r.get(value) is None else Decimal(str(r[value])) for r in rows]
    top = max((v for v in values if v is not None), default=Decimal(0)) or Decimal(1)
    label_w, bar_w, row_h = 150, width - 150 - 110, 28
    bars = []
    for i, (row, v) in enumerate(zip(rows, values)):
        if v is None:
            shown, w = "—", 0
        else:
            shown = fmt(v)
            w = max(1, int(bar_w * v / top)) if v else 0
        bars.append({"label": row[label], "y": 8 + i * row_h, "width": w, "text": shown})
    return {"title": title, "width": width, "height": 16 + len(rows) * row_h, "label_w": label_w, "bars": bars}
