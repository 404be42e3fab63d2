"""The kinds of case a citizen can file (投诉举报), shared by the public form and the internal queue."""

from __future__ import annotations

__all__ = ["COMPLAINT_KINDS"]

COMPLAINT_KINDS: dict[str, str] = {
    "complaint": "投诉",
    "tipoff": "举报",
    "enquiry": "咨询",
    "disclosure_request": "信息公开申请",
    "petition": "信访",
}
