"""Statement (明白条): signed links, the printable page and the PDF."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from decimal import Decimal

import pytest

from core import personkey
from core.config import Config
from portal.statements import (
    StatementTokenError,
    amount_in_words,
    find_cjk_font,
    make_statement_token,
    read_statement_token,
)
from tests.portal.test_lookup import HMAC_KEY, WANG_CARD, WANG_ID, WANG_NAME, sample_docs
from tests.portal.conftest import index_payments

SECRET = "test-session-secret-not-for-production"


@pytest.fixture
def config(make_config) -> Config:
    return make_config(RATE_LIMIT_QUERY_PER_CLIENT="1000/60")


@pytest.fixture
def wang_client(client, search_engine):
    index_payments(search_engine, sample_docs())
    return client


def statement_url(client, year: int = 2024) -> str:
    data = client.post("/api/query", json={"id_number": WANG_ID, "name": WANG_NAME,
                                           "card_digits": WANG_CARD[-4:]}).json()
    return next(y["statement_url"] for y in data["years"] if y["year"] == year)


def test_token_round_trip_and_nothing_readable_in_it():
    pk = personkey.person_key(HMAC_KEY, WANG_ID)
    token = make_statement_token(SECRET, pk, 2024, WANG_NAME)
    parsed = read_statement_token(SECRET, token)
    assert (parsed.person_key, parsed.year, parsed.name) == (pk, 2024, WANG_NAME)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    # neither the key nor the name can be read from the URL (encrypted, not just signed)
    import base64
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert pk.encode() not in raw and WANG_NAME.encode() not in raw and b"2024" not in raw


def test_token_expiry_tampering_and_wrong_secret():
    token = make_statement_token(SECRET, "ab" * 32, 2024, WANG_NAME, ttl=60)
    with pytest.raises(StatementTokenError) as caught:
        read_statement_token(SECRET, token, now=time.time() + 61)
    assert caught.value.expired
    tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    for bad in (tampered, "x" + token, "", "a" * 2000):
        with pytest.raises(StatementTokenError) as caught:
            read_statement_token(SECRET, bad)
        assert not caught.value.expired
    with pytest.raises(StatementTokenError):
        read_statement_token("another-secret", token)


@pytest.mark.parametrize("amount,words", [
    ("1534.50", "壹仟伍佰叁拾肆元伍角整"),
    ("1534.05", "壹仟伍佰叁拾肆元零伍分"),
    ("100010.00", "壹拾万零壹拾元整"),
    ("100000001.00", "壹亿零壹元整"),
    ("0.05", "伍分"),
    ("0", "零元整"),
])
def test_amount_in_words(amount, words):
    assert amount_in_words(Decimal(amount)) == words


def test_statement_page_lists_each_paid_line_and_the_total(wang_client):
    url = statement_url(wang_client)
    assert WANG_ID not in url and WANG_NAME not in url
    page = wang_client.get(url)
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"] and "etag" not in page.headers
    html = page.text
    assert "2024年惠民惠农财政补贴资金发放明白条" in html
    assert WANG_NAME in html  # the name as typed, shown only after the lookup
    assert "耕地地力保护补贴" in html and "高龄津贴" in html
    assert "1,234.50" in html and "300.00" in html and "1,534.50" in html
    assert "壹仟伍佰叁拾肆元伍角整" in html
    assert "鲁山县民政局" in html and "2024Q1" in html and "2024年3月5日" in html
    assert "另有2笔" in html  # the pending and the failed line are not in the total
    assert "1180.20" not in html and "1,180.20" not in html  # only the statement's year
    assert html.index("2024年3月5日") < html.index("2024年6月18日")  # oldest first
    assert 'css/statement.css' in html


def test_statement_page_expired_or_tampered_is_a_chinese_4xx(wang_client, config):
    pk = personkey.person_key(HMAC_KEY, WANG_ID)
    expired = make_statement_token(config.session_secret, pk, 2024, WANG_NAME, ttl=-1)
    page = wang_client.get(f"/statement/{expired}")
    assert page.status_code == 410 and "已过期" in page.text and WANG_NAME not in page.text
    good = statement_url(wang_client)
    page = wang_client.get(good[:-4] + "abcd")
    assert page.status_code == 404 and "链接无效" in page.text
    pdf = wang_client.get(f"/statement/{expired}.pdf")
    assert pdf.status_code == 410 and "已过期" in pdf.text


def test_statement_for_a_year_without_paid_lines_is_404(wang_client, config):
    pk = personkey.person_key(HMAC_KEY, WANG_ID)
    token = make_statement_token(config.session_secret, pk, 2019, WANG_NAME)
    page = wang_client.get(f"/statement/{token}")
    assert page.status_code == 404 and "2019年" in page.text


def test_one_statement_token_per_answer_the_year_in_the_path(wang_client, config):
    data = wang_client.post("/api/query", json={"id_number": WANG_ID, "name": WANG_NAME,
                                                "card_digits": WANG_CARD[-4:]}).json()
    urls = {y["year"]: y["statement_url"] for y in data["years"]}
    assert set(urls) == {2024, 2023}
    tokens = {url.rsplit("/", 2)[1] for url in urls.values()}
    assert len(tokens) == 1  # one token (one encryption) for every year of the answer
    assert all(url.endswith(f"/{year}") for year, url in urls.items())
    token = tokens.pop()
    parsed = read_statement_token(config.session_secret, token)
    assert parsed.year is None and parsed.name == WANG_NAME
    page = wang_client.get(urls[2023])
    assert page.status_code == 200 and "2023年惠民惠农财政补贴资金发放明白条" in page.text
    assert "1,180.20" in page.text and "1,234.50" not in page.text  # its own year only
    assert f'{urls[2023]}.pdf' in page.text  # the PDF link keeps the year
    for bad in ("2019", "abcd", "20245", "２０２４"):
        answer = wang_client.get(f"/statement/{token}/{bad}")
        assert answer.status_code == 404, bad
        assert WANG_NAME not in answer.text
    # a year token (the bot's) opens its own year only, with or without the year in the path
    pk = personkey.person_key(HMAC_KEY, WANG_ID)
    year_token = make_statement_token(config.session_secret, pk, 2024, WANG_NAME)
    assert wang_client.get(f"/statement/{year_token}/2024").status_code == 200
    assert wang_client.get(f"/statement/{year_token}/2023").status_code == 404
    # and a token for every year needs a year: the bare link is invalid
    bare = wang_client.get(f"/statement/{token}")
    assert bare.status_code == 404 and "链接无效" in bare.text


needs_font = pytest.mark.skipif(find_cjk_font() is None, reason="no CJK font (fonts-wqy-microhei)")


@needs_font
def test_statement_pdf_holds_the_amounts(wang_client, tmp_path):
    url = statement_url(wang_client)
    answer = wang_client.get(url + ".pdf")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert "no-store" in answer.headers["cache-control"]
    data = answer.content
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 1
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) not installed: structure checked only")
    path = tmp_path / "statement.pdf"
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "明白条" in text and WANG_NAME in text
    assert "1,234.50" in text and "300.00" in text and "1,534.50" in text
    assert "壹仟伍佰叁拾肆元伍角整" in text
    assert "耕地地力保护补贴" in text and "鲁山县农业农村局" in text
