"""Domain validation: ID numbers, card numbers, names, amounts, phone numbers.

Every ``check_*`` function returns a list of :class:`ValidationIssue` (empty = valid). An issue has
a stable English ``code`` for programs and a plain Simplified-Chinese ``message`` for the clerk who
has to fix the line. Messages never repeat the input value, so they are safe to log.

``parse_*`` functions return the normalised value or raise :class:`ValidationError`.

ID numbers follow GB 11643-1999 (18 characters, ISO 7064 MOD 11-2 check digit). The region prefix
is accepted if it is a current NBS code (:mod:`core.regions`) or any code, current or historical,
in python-stdnum's ``cn/loc`` data: an ID number keeps for life the code of the place where it was
first issued, and that date is not the birth date, so no period check is made (stdnum's own
``get_birth_place`` compares the code's validity with the *birth* year, which would turn away e.g.
a Xiushan resident born in 1960 holding a 513522 number issued in 1990).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from operator import mul
from typing import Literal

from stdnum import luhn, numdb

from core import regions
from core.workdays import today as _today_shanghai

__all__ = [
    "AMOUNT_MAX",
    "IdInfo",
    "IssueCode",
    "ValidationError",
    "ValidationIssue",
    "check_amount",
    "check_card_number",
    "check_id_number",
    "check_name",
    "check_phone",
    "id_check_digit",
    "is_known_id_region",
    "luhn_check_digit",
    "normalize_card_number",
    "normalize_id_number",
    "normalize_name",
    "normalize_phone",
    "parse_amount",
    "parse_card_number",
    "parse_id_number",
    "parse_name",
    "parse_phone",
]


class IssueCode(StrEnum):
    ID_REQUIRED = "ID_REQUIRED"
    ID_FORMAT = "ID_FORMAT"
    ID_CHECKSUM = "ID_CHECKSUM"
    ID_REGION = "ID_REGION"
    ID_BIRTHDATE = "ID_BIRTHDATE"
    CARD_REQUIRED = "CARD_REQUIRED"
    CARD_FORMAT = "CARD_FORMAT"
    CARD_LUHN = "CARD_LUHN"
    NAME_REQUIRED = "NAME_REQUIRED"
    NAME_LENGTH = "NAME_LENGTH"
    NAME_FORMAT = "NAME_FORMAT"
    AMOUNT_REQUIRED = "AMOUNT_REQUIRED"
    AMOUNT_FORMAT = "AMOUNT_FORMAT"
    AMOUNT_DECIMALS = "AMOUNT_DECIMALS"
    AMOUNT_NOT_POSITIVE = "AMOUNT_NOT_POSITIVE"
    AMOUNT_TOO_LARGE = "AMOUNT_TOO_LARGE"
    PHONE_REQUIRED = "PHONE_REQUIRED"
    PHONE_FORMAT = "PHONE_FORMAT"


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    code: str
    message: str


class ValidationError(ValueError):
    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = list(issues)
        super().__init__("；".join(i.message for i in self.issues))

    @property
    def codes(self) -> list[str]:
        return [i.code for i in self.issues]


def _issue(code: IssueCode, message: str) -> ValidationIssue:
    return ValidationIssue(str(code), message)


# --- shared text clean-up ---------------------------------------------------------------------

# Full-width ASCII (U+FF01–U+FF5E) → ASCII; ideographic space → space.
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE][+]?\d+$")
_EXCEL_HINT = "被表格软件当作数字保存，后几位已丢失，请把该列设置为“文本”格式后重新录入"


def _to_text(raw: object) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, float):
        # A spreadsheet number cell: exact integers (< 10**15, e.g. a 15-digit legacy ID) come back
        # as digits; anything else in exponent form, which ID/card checks reject (_EXCEL_HINT).
        return str(int(raw)) if raw.is_integer() and abs(raw) < 1e15 else repr(raw)
    return str(raw).translate(_FULLWIDTH)


def _strip(text: str, extra: str = "") -> str:
    text = "".join(text.split())  # str.split() splits on exactly the characters str.isspace() knows
    return text.translate({ord(ch): None for ch in extra}) if extra else text


# --- ID numbers (GB 11643-1999) ---------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_DIGIT_ZERO = ord("0") * sum(_ID_WEIGHTS)
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
_EARLIEST_BIRTH = date(1890, 1, 1)


def id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits of an ID number."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need exactly 17 digits")
    # on the ASCII codes ("0" is 48): a third of the time of int() per character, and it runs
    # on every personal query
    total = sum(map(mul, first17.encode(), _ID_WEIGHTS)) - _ID_DIGIT_ZERO
    return _ID_CHECK[total % 11]


def normalize_id_number(raw: str | int | None) -> str:
    """Strip spaces, full-width → ASCII, ``x`` → ``X``; upgrade a 15-digit legacy number to 18.

    Best effort: anything that is not recognisably an ID number is returned cleaned but unchanged.
    """
    text = _strip(_to_text(raw)).upper()
    if len(text) == 15 and text.isascii() and text.isdigit():
        first17 = text[:6] + "19" + text[6:]
        text = first17 + id_check_digit(first17)
    return text


@cache
def _stdnum_has_county(prefix: str) -> bool:
    info = numdb.get("cn/loc").info(prefix)
    return any("county" in props for _part, props in info)


def is_known_id_region(prefix: str) -> bool:
    """Six-digit region prefix of an ID number: a current NBS code or a historical code."""
    if len(prefix) != 6 or not prefix.isascii() or not prefix.isdigit():
        return False
    return regions.is_known_county_prefix(prefix) or _stdnum_has_county(prefix)


def _birth_date(number: str) -> date | None:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def check_id_number(raw: str | int | None, today: date | None = None) -> list[ValidationIssue]:
    """Check a resident ID number (18 digits, or a 15-digit legacy one)."""
    text = _to_text(raw).strip()
    if not text:
        return [_issue(IssueCode.ID_REQUIRED, "请填写身份证号码")]
    if _SCIENTIFIC.match(text):
        return [_issue(IssueCode.ID_FORMAT, "身份证号码" + _EXCEL_HINT)]
    number = normalize_id_number(text)
    if len(number) != 18:
        return [_issue(IssueCode.ID_FORMAT, "身份证号码应为18位（老证件为15位），请核对位数")]
    if not _ID_SHAPE.match(number):
        return [_issue(IssueCode.ID_FORMAT, "身份证号码只能由数字组成，最后一位可以是字母X")]

    issues: list[ValidationIssue] = []
    if number[17] != id_check_digit(number[:17]):
        issues.append(_issue(IssueCode.ID_CHECKSUM, "身份证号码校验位不正确，请核对最后一位"))
    if not is_known_id_region(number[:6]):
        issues.append(
            _issue(IssueCode.ID_REGION, "身份证号码前6位不是有效的地区代码，请核对前6位")
        )
    birth = _birth_date(number)
    if birth is None:
        issues.append(
            _issue(IssueCode.ID_BIRTHDATE, "身份证号码中的出生日期不存在，请核对第7至14位")
        )
    elif birth > (today or _today_shanghai()):
        issues.append(
            _issue(IssueCode.ID_BIRTHDATE, "身份证号码中的出生日期晚于今天，请核对第7至14位")
        )
    elif birth < _EARLIEST_BIRTH:
        issues.append(
            _issue(IssueCode.ID_BIRTHDATE, "身份证号码中的出生日期早于1890年，请核对第7至14位")
        )
    return issues


@dataclass(frozen=True, slots=True)
class IdInfo:
    number: str
    region_code: str
    birth_date: date
    sex: Literal["male", "female"]

    def age_on(self, d: date) -> int:
        """Age in whole years on ``d`` (someone born on 29 February turns a year older on 1 March)."""
        had_birthday = (d.month, d.day) >= (self.birth_date.month, self.birth_date.day)
        return d.year - self.birth_date.year - (0 if had_birthday else 1)


def parse_id_number(raw: str | int | None, today: date | None = None) -> IdInfo:
    """Normalised number and what it encodes; raises :class:`ValidationError` if invalid."""
    issues = check_id_number(raw, today)
    if issues:
        raise ValidationError(issues)
    number = normalize_id_number(_to_text(raw))
    birth = _birth_date(number)
    assert birth is not None
    return IdInfo(
        number=number,
        region_code=number[:6],
        birth_date=birth,
        sex="male" if int(number[16]) % 2 else "female",
    )


# --- card numbers (social security card bank account) -----------------------------------------


def luhn_check_digit(partial: str) -> str:
    """Luhn check digit to append to ``partial`` (digits only)."""
    if not partial or not partial.isascii() or not partial.isdigit():
        raise ValueError("need digits")
    return luhn.calc_check_digit(partial)


def normalize_card_number(raw: str | int | None) -> str:
    """Remove spaces and dashes, full-width → ASCII."""
    return _strip(_to_text(raw), "-")


def check_card_number(raw: str | int | None) -> list[ValidationIssue]:
    """16–19 digits with a valid Luhn check digit."""
    text = _to_text(raw).strip()
    if not text:
        return [_issue(IssueCode.CARD_REQUIRED, "请填写社会保障卡银行账号")]
    if _SCIENTIFIC.match(text):
        return [_issue(IssueCode.CARD_FORMAT, "银行账号" + _EXCEL_HINT)]
    number = normalize_card_number(text)
    if not number.isascii() or not number.isdigit():
        return [_issue(IssueCode.CARD_FORMAT, "银行账号只能由数字组成，请核对")]
    if not 16 <= len(number) <= 19:
        return [_issue(IssueCode.CARD_FORMAT, "银行账号应为16至19位数字，请核对位数")]
    if not luhn.is_valid(number):
        return [_issue(IssueCode.CARD_LUHN, "银行账号有误（校验不通过），请对照卡面逐位核对")]
    return []


def parse_card_number(raw: str | int | None) -> str:
    issues = check_card_number(raw)
    if issues:
        raise ValidationError(issues)
    return normalize_card_number(raw)


# --- names ------------------------------------------------------------------------------------

MIDDLE_DOT = "\u00b7"  # ·
# Look-alikes of the middle dot typed for minority names (阿依古丽·买买提), all mapped to U+00B7.
_DOT_VARIANTS = "\u30fb\u2022\uff65\u2027\u2219\u22c5\u0387\u2e31\ua78f\u16eb\uff0e."
_DOT_TABLE = {ord(c): MIDDLE_DOT for c in _DOT_VARIANTS}

_CJK_RANGES = (
    (0x3007, 0x3007),  # 〇
    (0x3400, 0x4DBF),  # Ext A
    (0x4E00, 0x9FFF),  # URO
    (0xF900, 0xFAFF),  # compatibility ideographs
    (0x20000, 0x2A6DF),  # Ext B
    (0x2A700, 0x2EE5F),  # Ext C–F, I
    (0x2F800, 0x2FA1F),  # compatibility supplement
    (0x30000, 0x323AF),  # Ext G, H
)
NAME_MIN, NAME_MAX = 2, 20


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def normalize_name(raw: str | None) -> str:
    """Remove all whitespace (rosters pad 2-character names: 王　明) and unify middle dots."""
    return "".join((raw or "").split()).translate(_DOT_TABLE)


def check_name(raw: str | None) -> list[ValidationIssue]:
    """2–20 Chinese characters (rare CJK extensions included), ``·`` between name parts."""
    name = normalize_name(raw)
    if not name:
        return [_issue(IssueCode.NAME_REQUIRED, "请填写姓名")]
    if not all(_is_cjk(ch) or ch == MIDDLE_DOT for ch in name):
        return [
            _issue(
                IssueCode.NAME_FORMAT,
                "姓名只能填写汉字，少数民族姓名可用间隔点“·”分隔，不能含数字、字母或其他符号",
            )
        ]
    if name.startswith(MIDDLE_DOT) or name.endswith(MIDDLE_DOT) or MIDDLE_DOT * 2 in name:
        return [
            _issue(
                IssueCode.NAME_FORMAT, "姓名中的间隔点“·”只能用在两段姓名之间，不能在开头、结尾或连用"
            )
        ]
    if not NAME_MIN <= len(name) <= NAME_MAX:
        return [
            _issue(IssueCode.NAME_LENGTH, f"姓名应为{NAME_MIN}至{NAME_MAX}个字，请核对是否填写完整")
        ]
    return []


def parse_name(raw: str | None) -> str:
    issues = check_name(raw)
    if issues:
        raise ValidationError(issues)
    return normalize_name(raw)


# --- amounts ----------------------------------------------------------------------------------

AMOUNT_MAX = Decimal("1000000")
_CENT = Decimal("0.01")
_AMOUNT_SHAPE = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")


def check_amount(
    raw: str | int | float | Decimal | None, maximum: Decimal = AMOUNT_MAX
) -> tuple[Decimal | None, list[ValidationIssue]]:
    """Parse an amount in yuan: ``(Decimal with 2 places, [])`` or ``(None, issues)``.

    Accepts ``1234.5``, ``1,234.50``, full-width digits, a leading ¥/￥ and a trailing 元.
    Must be positive, at most 2 decimal places (``12.500`` is fine) and not above ``maximum``.
    Floats (spreadsheet number cells) are read through their shortest decimal form, never
    computed with.
    """
    if isinstance(raw, bool):
        raw = str(raw)
    if isinstance(raw, Decimal):
        text = format(raw, "f")
    elif isinstance(raw, float):
        text = repr(raw)
    else:
        text = _strip(_to_text(raw))
    text = text.replace("\u2212", "-").removesuffix("元").lstrip("¥\uffe5")
    if not text:
        return None, [_issue(IssueCode.AMOUNT_REQUIRED, "请填写金额")]
    if not _AMOUNT_SHAPE.match(text):
        return None, [_issue(IssueCode.AMOUNT_FORMAT, "金额格式不正确，请填写数字，如 1234.50")]
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern already excludes this
        return None, [_issue(IssueCode.AMOUNT_FORMAT, "金额格式不正确，请填写数字，如 1234.50")]
    issues: list[ValidationIssue] = []
    if value <= 0:
        issues.append(_issue(IssueCode.AMOUNT_NOT_POSITIVE, "金额必须大于0"))
    if value != value.quantize(_CENT):
        issues.append(_issue(IssueCode.AMOUNT_DECIMALS, "金额最多保留两位小数（精确到分）"))
    if value > maximum:
        issues.append(
            _issue(IssueCode.AMOUNT_TOO_LARGE, f"金额超过单笔上限{maximum:,}元，请核对是否多填了位数")
        )
    if issues:
        return None, issues
    return value.quantize(_CENT), []


def parse_amount(raw: str | int | float | Decimal | None, maximum: Decimal = AMOUNT_MAX) -> Decimal:
    value, issues = check_amount(raw, maximum)
    if value is None:
        raise ValidationError(issues)
    return value


# --- phone numbers ----------------------------------------------------------------------------

_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalize_phone(raw: str | int | None) -> str:
    """Digits only; a leading +86 / 0086 / 86 country code is dropped."""
    text = _strip(_to_text(raw), "-()")
    for prefix in ("+86", "0086", "86"):
        if text.startswith(prefix) and len(text) == len(prefix) + 11:
            return text[len(prefix) :]
    return text


def check_phone(raw: str | int | None, required: bool = False) -> list[ValidationIssue]:
    """Mainland mobile number, 11 digits starting 13–19. Empty is fine unless ``required``."""
    phone = normalize_phone(raw)
    if not phone:
        return [_issue(IssueCode.PHONE_REQUIRED, "请填写手机号码")] if required else []
    if not _MOBILE.match(phone):
        return [_issue(IssueCode.PHONE_FORMAT, "手机号码应为以1开头的11位数字，请核对")]
    return []


def parse_phone(raw: str | int | None, required: bool = False) -> str:
    """Normalised mobile number ('' when empty and not required)."""
    issues = check_phone(raw, required)
    if issues:
        raise ValidationError(issues)
    return normalize_phone(raw)
