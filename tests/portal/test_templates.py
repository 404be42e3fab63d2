"""Every public page (in-process client): lang="zh-CN", exactly one <h1>, a skip link to #main,
a label for every form control, and form errors that name their field."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

FORM_CONTROLS = {"input", "select", "textarea"}
UNLABELLED_INPUT_TYPES = {"hidden", "submit", "button", "reset", "image"}


class Page(HTMLParser):
    """The facts the checks need, gathered in one pass."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.html_attrs: dict[str, str | None] = {}
        self.h1 = 0
        self.ids: set[str] = set()
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.links: list[dict[str, str | None]] = []
        self._label_depth = 0
        self._wrapped: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "html":
            self.html_attrs = a
        elif tag == "h1":
            self.h1 += 1
        elif tag == "a":
            self.links.append(a)
        elif tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag in FORM_CONTROLS:
            if tag == "input" and (a.get("type") or "text") in UNLABELLED_INPUT_TYPES:
                return
            control = {**a, "_tag": tag, "_wrapped": "1" if self._label_depth else None}
            self.controls.append(control)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._label_depth:
            self._label_depth -= 1

    def unlabelled(self) -> list[str]:
        bad = []
        for c in self.controls:
            if c["_wrapped"] or c.get("aria-label") or c.get("aria-labelledby"):
                continue
            if c.get("id") and c["id"] in self.label_for:
                continue
            bad.append(f"<{c['_tag']} name={c.get('name')!r} id={c.get('id')!r}>")
        return bad


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def csrf_of(client, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match
    return match.group(1)


def _query_result(client, seeded):
    person = seeded.people[1]
    return client.post("/query", data={"csrf_token": csrf_of(client, "/query"), "id_number": person.id_number,
                                       "name": person.name, "card_digits": person.card_last4})


def _query_errors(client, seeded):
    return client.post("/query", data={"csrf_token": csrf_of(client, "/query"), "id_number": "123",
                                       "name": "", "card_digits": "x"})


def _complaint_status(client, seeded):
    filed = client.post("/complaints", data={
        "csrf_token": csrf_of(client, "/complaints/new"), "kind": "complaint", "subject": "2024年耕地地力保护补贴未到账",
        "text": "王庄村有几户的补贴一直没有到账，请核实。", "real_name": "0", "contact": ""}, follow_redirects=False)
    assert filed.status_code == 303, filed.text
    return client.get(filed.headers["location"])


def _complaint_errors(client, seeded):
    return client.post("/complaints", data={"csrf_token": csrf_of(client, "/complaints/new"), "kind": "",
                                            "subject": "", "text": "", "real_name": "1", "contact": ""})


def _large(client, seeded):
    client.cookies.set("yk_large", "1")
    try:
        return client.get("/disclosures", params={"q": "王"})
    finally:
        client.cookies.delete("yk_large")


PAGES = {
    "home": "/",
    "policies": "/policies",
    "policies-empty": "/policies?q=没有这种政策",
    "policy-detail": "/policies/p1",
    "disclosures": "/disclosures?q=王",
    "disclosures-empty": "/disclosures?q=没有这个人",
    "query": "/query",
    "query-result": _query_result,
    "query-errors": _query_errors,
    "statistics": "/statistics",
    "complaints": "/complaints",
    "complaints-bad-code": "/complaints?code=TS0000",
    "complaint-new": "/complaints/new",
    "complaint-errors": _complaint_errors,
    "complaint-status": _complaint_status,
    "opendata": "/opendata",
    "error-404": "/no-such-page",
    "large-text": _large,
}


@pytest.fixture(params=list(PAGES))
def page(request, client, seeded, public_db):
    target = PAGES[request.param]
    response = target(client, seeded) if callable(target) else client.get(target)
    assert "text/html" in response.headers["content-type"]
    return request.param, response


def test_language_is_simplified_chinese(page):
    name, response = page
    assert parse(response.text).html_attrs.get("lang") == "zh-CN", name


def test_exactly_one_h1(page):
    name, response = page
    assert parse(response.text).h1 == 1, name


def test_skip_link_is_first_and_reaches_main(page):
    name, response = page
    parsed = parse(response.text)
    assert parsed.links, name
    first = parsed.links[0]
    assert first.get("href") == "#main" and "skip-link" in (first.get("class") or ""), name
    assert "main" in parsed.ids, name


def test_every_form_control_has_a_label(page):
    name, response = page
    parsed = parse(response.text)
    assert not parsed.unlabelled(), f"{name}: {parsed.unlabelled()}"
    for control in parsed.controls:  # aria-describedby points at something that exists
        for ref in (control.get("aria-describedby") or "").split():
            assert ref in parsed.ids, f"{name}: aria-describedby={ref!r} has no target"


def test_form_errors_are_announced_and_linked(client, seeded, public_db):
    for make in (_query_errors, _complaint_errors):
        html = make(client, seeded).text
        parsed = parse(html)
        assert 'role="alert"' in html
        invalid = re.findall(r'id="(f-[\w-]+)"[^>]*aria-invalid="true"', html)
        assert invalid
        for target in re.findall(r'<a href="#(f-[\w-]+)"', html):
            assert target in parsed.ids


def test_pages_without_results_say_what_to_do_next(client, seeded):
    empty = client.get("/disclosures", params={"q": "没有这个人"}).text
    assert "清除全部条件" in empty and 'href="/query"' in empty
    assert "查看全部政策" in client.get("/policies", params={"q": "没有这种政策"}).text
    error = client.get("/no-such-page").text
    assert 'href="/"' in error and "返回首页" in error
