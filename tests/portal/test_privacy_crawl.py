"""Crawl the seeded public site from `/` (pages, JSON twins, CSV) and find no personal data:
no full ID number, card number or phone number, and no full name of a seeded person."""

from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from indexer.masking import scan_for_personal_data

ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?![\dXx])")
CARD = re.compile(r"(?<!\d)\d{16,19}(?!\d)")
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
MAX_PAGES = 400


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "form" and (attrs.get("method") or "get").lower() == "get" and attrs.get("action"):
            self.links.append(attrs["action"])


def findings(text: str) -> list[str]:
    """What the indexer's own detector finds, and what three plain patterns find on their own."""
    found = [m.group() for pattern in (ID_NUMBER, CARD, PHONE) for m in pattern.finditer(text)]
    return found + list(scan_for_personal_data(text))


def crawl(client, start: list[str]) -> dict[str, str]:
    seen: dict[str, str] = {}
    queue = deque(start)
    while queue and len(seen) < MAX_PAGES:
        url = queue.popleft()
        if url in seen:
            continue
        response = client.get(url)
        body = response.text
        seen[url] = body
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        parser = Links()
        parser.feed(body)
        for href in parser.links:
            target = urljoin("http://testserver" + url, href)
            parts = urlsplit(target)
            if parts.netloc != "testserver" or parts.path.startswith(("/static/", "/large-text")):
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if path not in seen:
                queue.append(path)
            if not parts.query and parts.path in ("/policies", "/disclosures", "/statistics"):
                queue.append(parts.path + ".json")
    return seen


def test_public_site_holds_no_personal_data(client, seeded):
    # No full name of anyone seeded (the people with payments, and the unmasked names behind every row).
    pages = crawl(client, ["/", "/disclosures?q=王", "/disclosures.json?q=王庄村", "/disclosures.csv?q=王",
                           "/statistics.json", "/status.json", "/healthz", "/openapi.json", "/policies.json"])
    assert len(pages) > 40, "the crawl should reach most of the site"
    assert any(path.startswith("/disclosures?") and "region=" in path for path in pages)
    assert any(path.startswith("/policies/") for path in pages)
    people_names = set(seeded.full_names)
    ids = {p.id_number for p in seeded.people} | {p.card_number for p in seeded.people}
    for path, body in pages.items():
        assert not findings(body), (path, findings(body)[:3])
        for secret in people_names | ids:
            assert secret not in body, (path, secret)
        for person in seeded.people:
            assert person.person_key not in body, path


def test_detector_is_not_blind():
    sample = "身份证 410423195603120217 卡号 6217000000000000015 电话 13812345678"
    assert len(findings(sample)) >= 3
    # the indexer's detector on its own sees all three, and the grouped forms the plain patterns miss
    assert [hit.split(":")[0] for hit in scan_for_personal_data(sample)] == ["id_number", "card_number", "phone"]
    assert len(scan_for_personal_data("卡号 6217 0000 0000 0000 015 电话 138-1234-5678")) == 2
