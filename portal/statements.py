"""Statement (明白条): one person's payments of one year, printable (A4 HTML) and as a PDF.

Reached after a successful personal lookup, never with the ID number in the URL: the link
carries a short-lived token (:func:`make_statement_token`) holding the person key, the name as
the person typed it and (bot links) the year — encrypted and authenticated (AES-256-GCM with a
random 96-bit nonce, key derived from ``YIKATONG_SESSION_SECRET``), so neither the name nor the
key can be read from a URL or a log. The query page and ``/api/query`` make ONE token per
answer, for every year, and put the year in the path: ``/statement/{token}/{year}`` (one per
year was a tenth of a personal query). The bot sends year tokens: ``/statement/{token}``.
AES-GCM (one call) replaced Fernet (AES-CBC, then HMAC, in several Python steps): ≈ 6 µs instead
of ≈ 27 µs per token. Tokens live 15 minutes, so links handed out just before an upgrade from a
Fernet version say "expired or invalid" and the person asks again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from decimal import Decimal

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from core import pdf as pdf_fonts
from core.timeutil import format_datetime_zh, now
from core.web import NO_STORE, path_for, route
from portal.errors import PublicError
from portal.lookup import PersonPayments, YearPayments, lookup_by_person_key
from portal.services import STATIC_DIR, services

__all__ = [
    "STATEMENT_TTL",
    "StatementToken",
    "StatementTokenError",
    "amount_in_words",
    "find_cjk_font",
    "make_statement_token",
    "read_statement_token",
    "render_pdf",
    "routes",
]

STATEMENT_TTL = 15 * 60


@dataclass(frozen=True)
class StatementToken:
    person_key: str
    year: int | None  # None: a token for every year of the person (the year is in the path)
    name: str
    expires_at: int


class StatementTokenError(Exception):
    """The token is forged, damaged (``expired`` False) or too old (``expired`` True)."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


NONCE_BYTES = 12


@lru_cache(maxsize=8)
def _cipher(secret: str) -> AESGCM:
    return AESGCM(hashlib.sha256(("yikatong statement aes-gcm\x1f" + secret).encode()).digest())


def make_statement_token(secret: str, person_key: str, year: int | None, name: str, *,
                         ttl: int = STATEMENT_TTL) -> str:
    """A URL-safe token valid for ``ttl`` seconds: for ``/statement/{token}`` (one ``year``), or
    with ``year=None`` for ``/statement/{token}/{year}`` (every year of the person)."""
    payload: dict[str, object] = {"k": person_key, "n": name or "", "e": int(time.time()) + int(ttl)}
    if year is not None:
        payload["y"] = int(year)
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + _cipher(secret).encrypt(nonce, orjson.dumps(payload), None)
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def read_statement_token(secret: str, token: str, *, now: float | None = None) -> StatementToken:
    """Decrypt and check a token; raises :class:`StatementTokenError`."""
    if not token or len(token) > 1000:
        raise StatementTokenError(expired=False)
    padded = token + "=" * (-len(token) % 4)
    try:
        sealed = base64.urlsafe_b64decode(padded)
        raw = _cipher(secret).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], None)
        payload = orjson.loads(raw)
        year = payload.get("y")
        parsed = StatementToken(str(payload["k"]), None if year is None else int(year), str(payload["n"]),
                                int(payload["e"]))
    except (InvalidTag, binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        raise StatementTokenError(expired=False) from None
    if parsed.expires_at < (time.time() if now is None else now):
        raise StatementTokenError(expired=True)
    return parsed


# --- the statement itself ---------------------------------------------------------------------

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_UNITS = ["", "拾", "佰", "仟"]
_SECTIONS = ["", "万", "亿", "万亿"]


def _section_words(n: int) -> str:
    """0 < n < 10000 in upper-case digits with 仟佰拾 and inner zeros."""
    out, zero = "", False
    for pos in (3, 2, 1, 0):
        digit = n // 10 ** pos % 10
        if digit == 0:
            zero = zero or bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += _DIGITS[digit] + _UNITS[pos]
    return out


def amount_in_words(amount: Decimal) -> str:
    """Chinese upper-case amount as on financial documents: 1534.50 → 壹仟伍佰叁拾肆元伍角整."""
    amount = Decimal(amount).quantize(Decimal("0.01"))
    if amount < 0:
        return "负" + amount_in_words(-amount)
    cents = int(amount * 100)
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    sections: list[int] = []
    while yuan:
        sections.insert(0, yuan % 10000)
        yuan //= 10000
    out, need_zero = "", False
    for index, section in enumerate(sections):
        unit = _SECTIONS[len(sections) - 1 - index]
        if section == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or section < 1000):
            out += "零"
        out += _section_words(section) + unit
        need_zero = False
    if out:
        out += "元"
    if not jiao and not fen:
        return (out or "零元") + "整"
    if jiao:
        out += _DIGITS[jiao] + "角"
    elif out:
        out += "零"
    return out + (_DIGITS[fen] + "分" if fen else "整")


@dataclass(frozen=True)
class Statement:
    name: str
    year: int
    payments: YearPayments
    printed_at: str

    @property
    def lines(self) -> list:
        """Paid lines, oldest first (as a statement reads)."""
        return sorted(self.payments.paid, key=lambda i: (str(i.date or ""), i.id))

    @property
    def total(self) -> Decimal:
        return self.payments.total_paid

    @property
    def total_in_words(self) -> str:
        return amount_in_words(self.total)


INVALID_LINK = "明白条链接无效，请重新查询后再打开。"


def _path_year(request: Request) -> int | None:
    """The year of ``/statement/{token}/{year}``; None on the year-token routes. A year that is not
    a number is an invalid link (404)."""
    raw = request.path_params.get("year")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) == 4):
        raise PublicError(404, "statement_not_found", INVALID_LINK, headers=NO_STORE)
    return int(raw)


def _statement(request: Request, token: str, path_year: int | None) -> Statement:
    svc = services(request)
    try:
        parsed = read_statement_token(svc.config.session_secret, token)
    except StatementTokenError as exc:
        if exc.expired:
            raise PublicError(410, "statement_expired",
                              "明白条链接已过期（查询后15分钟内有效），请重新查询后再打开。",
                              headers=NO_STORE) from None
        raise PublicError(404, "statement_not_found", INVALID_LINK, headers=NO_STORE) from None
    # a year token opens its own year only; a person token needs the year in the path
    wanted = parsed.year if parsed.year is not None else path_year
    if wanted is None or (path_year is not None and path_year != wanted):
        raise PublicError(404, "statement_not_found", INVALID_LINK, headers=NO_STORE)
    person: PersonPayments | None = lookup_by_person_key(svc.search, parsed.person_key)
    year = person.year(wanted) if person else None
    if year is None or not year.paid:
        raise PublicError(404, "statement_not_found", f"未查询到{wanted}年已发放的补贴记录。",
                          headers=NO_STORE)
    return Statement(parsed.name, wanted, year, format_datetime_zh(now()))


async def statement_page(request: Request) -> Response:
    token = request.path_params["token"]
    path_year = _path_year(request)
    statement = await run_in_threadpool(_statement, request, token, path_year)
    pdf_url = (path_for(request, "statement_pdf", token=token) if path_year is None
               else path_for(request, "statement_year_pdf", token=token, year=str(path_year)))
    return request.app.state.templates.TemplateResponse(
        request, "statement.html", {"statement": statement, "pdf_url": pdf_url}, headers=NO_STORE,
    )


FONT_CANDIDATES: tuple[tuple[str, int], ...] = (
    # A font shipped with the portal comes first, then the machine's (core.pdf.SYSTEM_FONTS).
    (str(STATIC_DIR / "fonts" / "statement.ttf"), 0),
)


def find_cjk_font() -> tuple[str, int] | None:
    """A CJK font for the PDF (Debian ``fonts-wqy-microhei`` or ``fonts-droid-fallback``)."""
    return pdf_fonts.find_cjk_font(*FONT_CANDIDATES)


def render_pdf(statement: Statement) -> bytes:
    """The statement as an A4 PDF (fpdf2)."""
    # Lazy on purpose: fpdf2 is a heavy dependency that only a PDF download needs (core/pdf.py).
    from fpdf import FontFace
    from fpdf.enums import XPos, YPos

    font = find_cjk_font()
    if font is None:
        raise PublicError(503, "pdf_unavailable", "PDF暂不可用，请打开明白条页面后使用浏览器的“打印”功能。",
                          headers=NO_STORE)
    pdf, family = pdf_fonts.new_pdf(font, paper="A4", title=f"{statement.year}年惠民惠农财政补贴资金明白条")
    pdf.add_page()
    pdf.set_font(family, size=16)
    nl = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}
    pdf.cell(0, 10, f"{statement.year}年惠民惠农财政补贴资金发放明白条", align="C", **nl)
    pdf.set_font(family, size=11)
    pdf.ln(2)
    pdf.cell(0, 7, f"补贴对象姓名：{statement.name}", **nl)
    pdf.cell(0, 7, f"年度：{statement.year}年", **nl)
    pdf.ln(2)
    widths = (50, 28, 32, 40, 24)
    headers = ("补贴项目", "金额（元）", "发放日期", "主管部门", "发放周期")
    pdf.set_font(family, size=10)
    with pdf.table(col_widths=widths, text_align=("LEFT", "RIGHT", "LEFT", "LEFT", "LEFT"),
                   line_height=7, first_row_as_headings=True,
                   headings_style=FontFace(emphasis=None, fill_color=(235, 235, 235))) as table:
        table.row(headers)
        for item in statement.lines:
            table.row((item.project_name, f"{item.amount:,.2f}", item.date_zh, item.department, item.period))
        table.row(("合计", f"{statement.total:,.2f}", "", "", ""))
    pdf.ln(3)
    pdf.set_font(family, size=11)
    pdf.multi_cell(0, 7, f"合计金额（大写）：{statement.total_in_words}", **nl)
    others = len(statement.payments.pending) + len(statement.payments.failed)
    if others:
        pdf.multi_cell(0, 7, f"另有{others}笔补贴正在办理或发放未成功，未计入上表，详见网上查询结果。", **nl)
    pdf.ln(4)
    pdf.set_font(family, size=9)
    pdf.multi_cell(0, 6, "本明白条根据已公开的补贴发放结果生成。如有疑问，请咨询户籍所在乡镇（街道）"
                   "或补贴主管部门，也可在本网站“投诉举报”栏目反映。", **nl)
    pdf.cell(0, 6, f"打印时间：{statement.printed_at}", **nl)
    return bytes(pdf.output())


async def statement_pdf(request: Request) -> Response:
    token = request.path_params["token"]
    statement = await run_in_threadpool(_statement, request, token, _path_year(request))
    data = await run_in_threadpool(render_pdf, statement)
    filename = f"mingbaitiao-{statement.year}.pdf"
    return Response(data, media_type="application/pdf", headers={
        **NO_STORE, "Content-Disposition": f'inline; filename="{filename}"',
    })


def routes() -> list[BaseRoute]:
    return [
        *route("/statement/{token}.pdf", statement_pdf, name="statement_pdf", methods=["GET"]),
        *route("/statement/{token}/{year}.pdf", statement_pdf, name="statement_year_pdf", methods=["GET"]),
        *route("/statement/{token}/{year}", statement_page, name="statement_year_page", methods=["GET"]),
        *route("/statement/{token}", statement_page, name="statement_page", methods=["GET"]),
    ]
