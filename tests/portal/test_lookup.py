"""The personal lookup (portal/lookup.py) shared by the query pages, the kiosk and the bot."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

from core import personkey
from core.validation import id_check_digit, normalize_name
from portal.errors import PublicError
from portal.lookup import STAND_IN, group_by_year, lookup_by_person_key, lookup_person
from search.base import SearchEngine
from search.embedded import EmbeddedEngine
from search.schemas import PAYMENTS
from tests.conftest import TEST_SECRETS
from tests.portal.conftest import index_payments

HMAC_KEY = TEST_SECRETS["YIKATONG_HMAC_KEY"].encode()


def make_id(body17: str) -> str:
    return body17 + id_check_digit(body17)


# Two people with published lines, and one that exists nowhere.
WANG_ID = make_id("41042319520307123")  # 鲁山县, born 1952
WANG_NAME = "王秀英"
WANG_CARD = "6217991234567890128"
LI_ID = make_id("41042319800101456")
LI_NAME = "李建国"
LI_CARD = "6217995555444433331"
NOBODY_ID = make_id("41042319900909789")


def payment_doc(id_number: str, name: str, card: str, line: int, *, project: str = "耕地地力保护补贴",
                amount: str = "1234.50", date: str = "2024-06-18", year: int = 2024, state: str = "paid",
                stage: str = "已发放到卡", failure_reason: str = "", advice: str = "",
                department: str = "鲁山县农业农村局", period: str = "2024") -> dict[str, Any]:
    pk = personkey.person_key(HMAC_KEY, id_number)
    return {
        "id": str(line), "person_key": pk,
        "name_digest": personkey.name_digest(HMAC_KEY, pk, normalize_name(name)),
        "card_last4": card[-4:], "card_digest": personkey.card_digest(HMAC_KEY, pk, card),
        "project_code": "GDLB", "project_name": project, "department": department, "year": year,
        "period": period, "amount": amount, "amount_cents": int(Decimal(amount) * 100), "date": date,
        "state": state, "stage": stage, "failure_code": "", "failure_reason": failure_reason,
        "advice": advice, "region_codes": ["41", "4104", "410423"], "village": "王庄村",
        "batch_code": "B2024-1",
    }


def sample_docs() -> list[dict[str, Any]]:
    return [
        payment_doc(WANG_ID, WANG_NAME, WANG_CARD, 1, amount="1234.50", date="2024-06-18"),
        payment_doc(WANG_ID, WANG_NAME, WANG_CARD, 2, project="高龄津贴", amount="300.00",
                    date="2024-03-05", department="鲁山县民政局", period="2024Q1"),
        payment_doc(WANG_ID, WANG_NAME, WANG_CARD, 3, project="高龄津贴", amount="300.00",
                    date="2024-09-10", state="failed", stage="发放失败",
                    failure_reason="社保卡已挂失", advice="请到社保卡合作银行补办社保卡后告知村委会",
                    department="鲁山县民政局", period="2024Q3"),
        payment_doc(WANG_ID, WANG_NAME, WANG_CARD, 4, project="高龄津贴", amount="300.00", date="",
                    state="pending", stage="公示中", department="鲁山县民政局", period="2024Q4"),
        payment_doc(WANG_ID, WANG_NAME, WANG_CARD, 5, amount="1180.20", date="2023-06-20", year=2023,
                    period="2023"),
        payment_doc(LI_ID, LI_NAME, LI_CARD, 6, amount="88.00", date="2024-05-01"),
    ]


@pytest.fixture
def payments_engine(search_engine: SearchEngine) -> SearchEngine:
    """The shared portal engine with this module's people added to the payments index."""
    index_payments(search_engine, sample_docs())
    return search_engine



def test_lookup_groups_lines_by_year_with_totals(payments_engine):
    person = lookup_person(payments_engine, HMAC_KEY, id_number=WANG_ID, name=WANG_NAME,
                           card_digits=WANG_CARD[-4:])
    assert person is not None
    assert person.name == WANG_NAME
    assert [y.year for y in person.years] == [2024, 2023]
    y2024 = person.years[0]
    assert [i.amount for i in y2024.paid] == [Decimal("1234.50"), Decimal("300.00")]  # newest first
    assert y2024.total_paid == Decimal("1534.50")
    assert [(i.failure_reason, i.advice) for i in y2024.failed] == [
        ("社保卡已挂失", "请到社保卡合作银行补办社保卡后告知村委会")]
    assert [i.stage for i in y2024.pending] == ["公示中"]
    assert person.years[1].total_paid == Decimal("1180.20")
    # another person's line never leaks in
    assert all(i.amount != Decimal("88.00") for y in person.years for i in y.paid)


def test_lookup_accepts_spaced_lowercase_id_and_padded_name(payments_engine):
    spaced = " ".join([WANG_ID[:6], WANG_ID[6:14], WANG_ID[14:]]).lower()
    person = lookup_person(payments_engine, HMAC_KEY, id_number=spaced, name=" 王 秀英 ",
                           card_digits=WANG_CARD[-4:])
    assert person is not None and person.years[0].total_paid == Decimal("1534.50")


def test_full_card_number_from_a_kiosk_reader(payments_engine):
    assert lookup_person(payments_engine, HMAC_KEY, id_number=WANG_ID, name=WANG_NAME,
                         card_number=WANG_CARD) is not None
    assert lookup_person(payments_engine, HMAC_KEY, id_number=WANG_ID, name=WANG_NAME,
                         card_number=LI_CARD) is None


@pytest.mark.parametrize("name,digits", [
    ("王秀兰", WANG_CARD[-4:]),      # wrong name
    (WANG_NAME, "0000"),            # wrong card
    (LI_NAME, LI_CARD[-4:]),        # someone else's factor
])
def test_wrong_factor_and_unknown_person_give_the_same_none(payments_engine, name, digits):
    assert lookup_person(payments_engine, HMAC_KEY, id_number=WANG_ID, name=name, card_digits=digits) is None
    assert lookup_person(payments_engine, HMAC_KEY, id_number=NOBODY_ID, name=name, card_digits=digits) is None


def test_malformed_id_is_rejected_before_any_lookup(payments_engine):
    with pytest.raises(PublicError) as caught:
        lookup_person(payments_engine, HMAC_KEY, id_number=WANG_ID[:-1] + ("0" if WANG_ID[-1] != "0" else "1"),
                      name=WANG_NAME, card_digits="0128")
    assert (caught.value.status, caught.value.code) == (400, "invalid_id_number")
    assert "校验位" in caught.value.message


def test_card_digits_must_be_exactly_four_digits(payments_engine):
    for bad in ("128", "890128", "12a4"):
        with pytest.raises(PublicError) as caught:
            lookup_person(payments_engine, HMAC_KEY, id_number=WANG_ID, name=WANG_NAME, card_digits=bad)
        assert caught.value.status == 422


def test_lookup_by_person_key_for_the_bot(payments_engine):
    pk = personkey.person_key(HMAC_KEY, WANG_ID)
    person = lookup_by_person_key(payments_engine, pk)
    assert person is not None and person.name is None and person.failed_count == 1
    assert lookup_by_person_key(payments_engine, personkey.person_key(HMAC_KEY, NOBODY_ID)) is None


def test_many_lines_are_all_read(tmp_path):
    engine = EmbeddedEngine(tmp_path / "many")
    engine.ensure_index(PAYMENTS)
    docs = [payment_doc(WANG_ID, WANG_NAME, WANG_CARD, n, amount="10.00",
                        date=f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}") for n in range(250)]
    index_payments(engine, docs)
    person = lookup_person(engine, HMAC_KEY, id_number=WANG_ID, name=WANG_NAME, card_digits=WANG_CARD[-4:])
    assert person is not None and person.years[0].total_paid == Decimal("2500.00")


def test_missing_payments_index_means_no_record(tmp_path):
    engine = EmbeddedEngine(tmp_path / "empty")
    assert lookup_person(engine, HMAC_KEY, id_number=WANG_ID, name=WANG_NAME, card_digits="0128") is None


def test_the_stand_in_document_is_nobody(payments_engine):
    """An unknown person's lookup reads the stand-in persons document (the same work as a wrong
    factor); it answers to no factor and to no key."""
    assert payments_engine.get("persons", STAND_IN) is not None
    assert lookup_by_person_key(payments_engine, STAND_IN) is None
    for name, digits in ((WANG_NAME, WANG_CARD[-4:]), ("-", "----"), ("", "0000")):
        try:
            found = lookup_person(payments_engine, HMAC_KEY, id_number=NOBODY_ID, name=name or None,
                                  card_digits=digits)
        except PublicError:
            continue
        assert found is None


def test_the_answer_is_what_grouping_the_lines_gives(payments_engine):
    pk = personkey.person_key(HMAC_KEY, WANG_ID)
    person = lookup_person(payments_engine, HMAC_KEY, id_number=WANG_ID, name=WANG_NAME, card_digits=WANG_CARD[-4:])
    assert person is not None
    expected = group_by_year(pk, WANG_NAME, [d for d in sample_docs() if d["person_key"] == pk])
    assert person.to_dict() == expected.to_dict()
    assert [y.to_dict() for y in person.years] == [y.to_dict() for y in expected.years]
    assert person.paid_years == [y.year for y in expected.years if y.paid]


@pytest.mark.parametrize("urls", [{}, {2024: "/statement/t/2024"}, {2024: "/s/t/2024", 2023: "/s/\"q\"/2023"}])
def test_the_answer_json_is_the_answer_with_each_years_statement_link(payments_engine, urls):
    """The query API's body, made from the stored answer text without decoding it, says what
    the decoded answer with the links added says — for every year, with or without a link."""
    index_payments(payments_engine, [*sample_docs(), payment_doc(
        WANG_ID, WANG_NAME, WANG_CARD, 7, project='耕地{"year":1999,}补贴', amount="5.00", date="2022-01-02",
        year=2022, period="2022")])
    person = lookup_person(payments_engine, HMAC_KEY, id_number=WANG_ID, name=WANG_NAME, card_digits=WANG_CARD[-4:])
    expected = person.to_dict()
    for year in expected["years"]:
        year["statement_url"] = urls.get(year["year"])
    assert [y["year"] for y in expected["years"]] == [2024, 2023, 2022]
    assert orjson.loads(person.answer_json(urls)) == expected
    assert orjson.loads(group_by_year(person.person_key, WANG_NAME, []).answer_json(urls)) == {
        "person": {"name": WANG_NAME}, "years": []}
