from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from stdnum.cn import ric

from core.validation import (
    IdInfo,
    IssueCode,
    ValidationError,
    check_amount,
    check_card_number,
    check_id_number,
    check_name,
    check_phone,
    id_check_digit,
    is_known_id_region,
    luhn_check_digit,
    normalize_card_number,
    normalize_id_number,
    normalize_name,
    normalize_phone,
    parse_amount,
    parse_card_number,
    parse_id_number,
    parse_name,
    parse_phone,
)

TODAY = date(2025, 6, 1)


def make_id(prefix: str, birth: str, seq: str = "123") -> str:
    first17 = prefix + birth + seq
    return first17 + id_check_digit(first17)


def codes(issues: list) -> list[str]:
    return [i.code for i in issues]


# --- ID numbers -------------------------------------------------------------------------------


def test_gb11643_published_example() -> None:
    assert check_id_number("11010519491231002X", TODAY) == []
    info = parse_id_number("11010519491231002X", TODAY)
    assert info == IdInfo("11010519491231002X", "110105", date(1949, 12, 31), "female")
    assert info.age_on(date(2024, 12, 30)) == 74
    assert info.age_on(date(2024, 12, 31)) == 75


def test_check_digit_matches_stdnum() -> None:
    for first17 in ("11010519491231002", "41042319500101123", "50024119970701000", "36042619910101007"):
        assert id_check_digit(first17) == ric.calc_check_digit(first17 + "0")
    assert id_check_digit("11010519491231002") == "X"
    with pytest.raises(ValueError):
        id_check_digit("1234")


def test_legacy_15_digit_number_upgraded() -> None:
    assert normalize_id_number("110105491231002") == "11010519491231002X"
    assert check_id_number("110105491231002", TODAY) == []
    assert parse_id_number("110105491231002").birth_date == date(1949, 12, 31)


def test_full_width_lower_case_x_and_spaces() -> None:
    raw = "１１０１０５ １９４９１２３１ ００２ｘ"
    assert normalize_id_number(raw) == "11010519491231002X"
    assert normalize_id_number(" 11010519491231002x\u3000") == "11010519491231002X"
    assert check_id_number(raw, TODAY) == []


def test_bad_check_digit() -> None:
    issues = check_id_number("110105194912310021", TODAY)
    assert codes(issues) == ["ID_CHECKSUM"]
    assert issues[0].message == "身份证号码校验位不正确，请核对最后一位"


def test_feb_30_is_not_a_birth_date() -> None:
    assert codes(check_id_number(make_id("410423", "19500230"), TODAY)) == ["ID_BIRTHDATE"]


def test_future_and_too_early_birth_dates() -> None:
    assert codes(check_id_number(make_id("410423", "20250602"), TODAY)) == ["ID_BIRTHDATE"]
    assert check_id_number(make_id("410423", "20250601"), TODAY) == []
    assert codes(check_id_number(make_id("410423", "18891231"), TODAY)) == ["ID_BIRTHDATE"]


def test_unknown_region() -> None:
    assert codes(check_id_number(make_id("999999", "19491231"), TODAY)) == ["ID_REGION"]
    assert not is_known_id_region("999999")
    assert not is_known_id_region("419999")


@pytest.mark.parametrize(
    ("prefix", "birth"),
    [
        ("512330", "19500101"),  # 秀山 under Sichuan, 1983–1996
        ("513522", "19600101"),  # 秀山 under 黔江地区; born before the code existed, issued later
        ("412631", "19400101"),  # 鲁山县 before 1983
        ("410423", "19400101"),  # 鲁山县 now
        ("500241", "19980101"),  # 秀山 now
        ("410400", "19450101"),  # prefecture-level code on an old card
        ("410000", "19450101"),  # province-level code
    ],
)
def test_current_and_historical_regions_accepted(prefix: str, birth: str) -> None:
    assert check_id_number(make_id(prefix, birth), TODAY) == []


def test_id_format_problems() -> None:
    assert codes(check_id_number("", TODAY)) == ["ID_REQUIRED"]
    assert codes(check_id_number(None, TODAY)) == ["ID_REQUIRED"]
    assert codes(check_id_number("1101051949123100", TODAY)) == ["ID_FORMAT"]
    assert codes(check_id_number("11010519491231002Y", TODAY)) == ["ID_FORMAT"]
    assert codes(check_id_number("1101051949123100X2", TODAY)) == ["ID_FORMAT"]


def test_spreadsheet_number_cell_is_explained() -> None:
    for raw in (4.10423195001011e17, "4.10423195001011E+17"):
        issues = check_id_number(raw, TODAY)
        assert codes(issues) == ["ID_FORMAT"]
        assert "文本" in issues[0].message


def test_parse_raises_with_all_issues() -> None:
    with pytest.raises(ValidationError) as exc:
        parse_id_number(make_id("999999", "19500230")[:-1] + "0", TODAY)
    assert set(exc.value.codes) <= {"ID_CHECKSUM", "ID_REGION", "ID_BIRTHDATE"}
    assert {"ID_REGION", "ID_BIRTHDATE"} <= set(exc.value.codes)


def test_sex_from_17th_digit() -> None:
    assert parse_id_number(make_id("410423", "19500101", "121")).sex == "male"
    assert parse_id_number(make_id("410423", "19500101", "122")).sex == "female"


def test_messages_never_repeat_the_input() -> None:
    number = make_id("999999", "19500230")
    for issue in check_id_number(number, TODAY):
        assert number[:6] not in issue.message


# --- card numbers -----------------------------------------------------------------------------


def make_card(partial: str) -> str:
    return partial + luhn_check_digit(partial)


@pytest.mark.parametrize("length", [16, 17, 18, 19])
def test_generated_luhn_cards_valid(length: int) -> None:
    card = make_card("6217" + "1234567890123456"[: length - 5])
    assert len(card) == length
    assert check_card_number(card) == []
    assert parse_card_number(f"{card[:4]} {card[4:8]}-{card[8:]}") == card


def test_card_luhn_failure() -> None:
    card = make_card("621700123456789012")
    wrong = card[:-1] + str((int(card[-1]) + 1) % 10)
    assert codes(check_card_number(wrong)) == ["CARD_LUHN"]


def test_card_length_and_format() -> None:
    assert codes(check_card_number(make_card("62170012345678"))) == ["CARD_FORMAT"]  # 15
    assert codes(check_card_number(make_card("6217001234567890123"))) == ["CARD_FORMAT"]  # 20
    assert codes(check_card_number("6217abcd12345678")) == ["CARD_FORMAT"]
    assert codes(check_card_number("")) == ["CARD_REQUIRED"]
    assert codes(check_card_number(6.217001234567890e18)) == ["CARD_FORMAT"]


def test_card_full_width() -> None:
    card = make_card("621700123456789012")
    wide = "".join(chr(ord(c) + 0xFEE0) for c in card)
    assert normalize_card_number(wide) == card
    assert check_card_number(wide) == []


def test_luhn_check_digit_known_value() -> None:
    assert luhn_check_digit("7992739871") == "3"
    with pytest.raises(ValueError):
        luhn_check_digit("12a")


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["阿依古丽·买买提", "欧阳娜娜", "王明", "𠀋一", "李〇"])
def test_names_accepted(name: str) -> None:
    assert check_name(name) == []


@pytest.mark.parametrize("dot", ["・", "•", "･", "·", "．"])
def test_middle_dot_variants_normalised(dot: str) -> None:
    assert normalize_name(f"阿依古丽{dot}买买提") == "阿依古丽·买买提"
    assert parse_name(f"阿依古丽{dot}买买提") == "阿依古丽·买买提"


def test_padded_names_normalised() -> None:
    assert parse_name(" 王\u3000明 ") == "王明"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("王", IssueCode.NAME_LENGTH),
        ("王" * 21, IssueCode.NAME_LENGTH),
        ("", IssueCode.NAME_REQUIRED),
        (None, IssueCode.NAME_REQUIRED),
        ("王小2", IssueCode.NAME_FORMAT),
        ("王小２", IssueCode.NAME_FORMAT),
        ("Wang Ming", IssueCode.NAME_FORMAT),
        ("王明?", IssueCode.NAME_FORMAT),
        ("###", IssueCode.NAME_FORMAT),
        ("·王明", IssueCode.NAME_FORMAT),
        ("王明·", IssueCode.NAME_FORMAT),
        ("阿依古丽··买买提", IssueCode.NAME_FORMAT),
    ],
)
def test_names_rejected(name: str | None, code: str) -> None:
    assert codes(check_name(name)) == [code]


# --- amounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,234.50", "1234.50"),
        ("１２３４．５", "1234.50"),
        ("１，２３４", "1234.00"),
        ("¥80", "80.00"),
        ("80元", "80.00"),
        ("12.500", "12.50"),
        ("0.01", "0.01"),
        ("1000000", "1000000.00"),
        (150, "150.00"),
        (Decimal("99.9"), "99.90"),
        (12.5, "12.50"),
    ],
)
def test_amounts_accepted(raw: object, expected: str) -> None:
    value, issues = check_amount(raw)  # type: ignore[arg-type]
    assert issues == []
    assert isinstance(value, Decimal) and str(value) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "AMOUNT_REQUIRED"),
        ("abc", "AMOUNT_FORMAT"),
        ("12,34", "AMOUNT_FORMAT"),
        ("1e3", "AMOUNT_FORMAT"),
        ("NaN", "AMOUNT_FORMAT"),
        (Decimal("NaN"), "AMOUNT_FORMAT"),
        ("0", "AMOUNT_NOT_POSITIVE"),
        ("-5", "AMOUNT_NOT_POSITIVE"),
        ("1.234", "AMOUNT_DECIMALS"),
        ("1000000.01", "AMOUNT_TOO_LARGE"),
    ],
)
def test_amounts_rejected(raw: object, code: str) -> None:
    value, issues = check_amount(raw)  # type: ignore[arg-type]
    assert value is None
    assert codes(issues) == [code]


def test_amount_maximum_and_parse() -> None:
    assert parse_amount("600", maximum=Decimal("600")) == Decimal("600.00")
    with pytest.raises(ValidationError) as exc:
        parse_amount("600.01", maximum=Decimal("600"))
    assert exc.value.codes == ["AMOUNT_TOO_LARGE"]


# --- phones -----------------------------------------------------------------------------------


def test_phones() -> None:
    assert check_phone("13812345678") == []
    assert check_phone("138-1234-5678") == []
    assert parse_phone("+86 138 1234 5678") == "13812345678"
    assert normalize_phone("１３８１２３４５６７８") == "13812345678"
    assert check_phone("") == []
    assert codes(check_phone("", required=True)) == ["PHONE_REQUIRED"]
    assert codes(check_phone("12812345678")) == ["PHONE_FORMAT"]
    assert codes(check_phone("1381234567")) == ["PHONE_FORMAT"]
    assert codes(check_phone("0375-5012345")) == ["PHONE_FORMAT"]
    assert parse_phone(None) == ""
