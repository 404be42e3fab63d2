"""The actions contract shared by every workflow page (batch, complaint, signal, spot check).

A page where people act lists, for the signed-in operator, only the actions they may take now;
its JSON twin lists the same ``actions``::

    actions: [{name, label, method, url, fields: [{name, label, type, required, options}]}]

The page renders its buttons from that list (``admin/templates/_actions.html``). A refused action
raises :class:`WorkflowError` before anything is written: a stable ``code``, a Chinese
``message``, the HTTP ``status`` a view answers with, and for bad form input the ``field``.
:func:`validate` turns a submitted form into typed values by the action's :class:`Field` list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["FIELD_TYPES", "Action", "Field", "WorkflowError", "validate"]

# HTTP status per error code; every other code is a 400 (bad input).
_STATUS: dict[str, int] = {
    "not_found": 404, "unknown_action": 404,
    "forbidden": 403, "separation_of_duties": 403, "line_out_of_scope": 403,
    "wrong_state": 409, "empty_batch": 409, "failing_lines": 409, "review_pending": 409, "already_done": 409,
    "publicity_not_over": 409, "finance_pending": 409, "no_card_account": 409,
    "no_bank_file": 409, "no_failed_lines": 409, "no_corrections": 409,
}


class WorkflowError(Exception):
    """A refused action: a stable ``code``, a Chinese ``message``, the HTTP ``status`` for a view,
    and for bad form input the ``field`` concerned. Nothing was changed."""

    def __init__(self, code: str, message: str, *, field: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status if status is not None else _STATUS.get(code, 400)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


FIELD_TYPES = ("text", "textarea", "date", "select", "number", "file", "hidden")


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str = "text"
    required: bool = False
    options: tuple[tuple[str, str], ...] = ()  # (value, label)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "label": self.label, "type": self.type, "required": self.required}
        if self.type == "select":
            out["options"] = [{"value": value, "label": label} for value, label in self.options]
        return out


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    url: str
    fields: tuple[Field, ...] = ()
    method: str = "POST"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "method": self.method, "url": self.url,
                "fields": [f.as_dict() for f in self.fields]}


# --- form values -------------------------------------------------------------------------------

MAX_LEN = {"text": 200, "file": 200, "textarea": 2000, "hidden": 200}


def parse_date(text: str, f: Field) -> date:
    match = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", text)
    try:
        if match is None:
            raise ValueError
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise WorkflowError("bad_date", f"「{f.label}」不是有效日期，请按 2025-01-31 的格式填写。", field=f.name) from None


def parse_number(text: str, f: Field) -> Decimal:
    try:
        value = Decimal(text.replace(",", "").replace("，", ""))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or abs(value) >= Decimal("1e12"):
        raise WorkflowError("bad_number", f"「{f.label}」应为数字。", field=f.name)
    return value


def validate(fields: Sequence[Field], form: Mapping[str, Any]) -> dict[str, Any]:
    """Typed values of ``form`` for ``fields`` (``None`` for an empty optional field), or
    :class:`WorkflowError` naming the first bad field."""
    values: dict[str, Any] = {}
    for f in fields:
        raw = form.get(f.name, "")
        text = ("" if raw is None else str(raw)).strip()
        if not text:
            if f.required:
                raise WorkflowError("missing_field", f"请填写「{f.label}」。", field=f.name)
            values[f.name] = None
            continue
        if f.type == "date":
            values[f.name] = parse_date(text, f)
        elif f.type == "number":
            values[f.name] = parse_number(text, f)
        elif f.type == "select":
            if text not in {value for value, _ in f.options}:
                raise WorkflowError("bad_option", f"「{f.label}」的选项无效。", field=f.name)
            values[f.name] = text
        else:
            if len(text) > MAX_LEN.get(f.type, 200):
                raise WorkflowError("too_long", f"「{f.label}」最多 {MAX_LEN.get(f.type, 200)} 个字。", field=f.name)
            values[f.name] = text
    return values
