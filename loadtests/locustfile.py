"""Load test of the public portal: a citizen's visit.

``CitizenUser``: home page, disclosure searches with random 1–3-character queries (surnames,
village and project fragments) and facet filters, policy browsing and details, and now and then a
personal query POST (``/api/query``; 200, 404 and 429 all count as handled — the rate limiter is
meant to refuse most of them). ``HelloUser`` hits ``loadtests/hello.py`` for comparison.

    # portal over an index with 100k disclosure lines (see docs/benchmarks.md for the set-up)
    .venv/bin/locust -f loadtests/locustfile.py CitizenUser --headless -u 50 -r 50 -t 20s -H http://127.0.0.1:8000

People for the personal query: ``LOCUST_PEOPLE`` = path of a JSON list of
``{"id_number", "name", "card_digits"}`` (e.g. ``yikatong demo people --json``); without it, made-up
person is sent (王秀英 of the test seed: found when the server uses the seed's hmac key).
"""

from __future__ import annotations

import json
import os
import random

from locust import HttpUser, between, task

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
FRAGMENTS = ["王庄", "庄村", "李家", "张湾", "高龄", "耕地", "补贴", "低保", "鲁山", "街道", "生态", "残疾人", "王庄村", "刘营村"]
YEARS = ["2023", "2024"]
KINDS = ["publicity", "result"]
SORTS = ["date", "amount", "date_asc"]
POLICY_QUERIES = ["耕地", "高龄", "低保", "残疾", "豫财农", "补贴"]


def _people() -> list[dict[str, str]]:
    path = os.environ.get("LOCUST_PEOPLE")
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            rows = json.load(fh)
        return [{"id_number": r["id_number"], "name": r["name"],
                 "card_digits": r.get("card_digits") or r.get("card_number", "")[-4:]} for r in rows]
    return [{"id_number": "410423195603120219", "name": "王秀英", "card_digits": "0012"}]


PEOPLE = _people()


def random_query() -> str:
    roll = random.random()
    if roll < 0.4:
        return random.choice(SURNAMES)
    if roll < 0.9:
        return random.choice(FRAGMENTS)
    return random.choice(SURNAMES) + " " + random.choice(FRAGMENTS)


class CitizenUser(HttpUser):
    wait_time = between(0.5, 2.0)

    @task(2)
    def home(self) -> None:
        self.client.get("/", name="/")

    @task(6)
    def search(self) -> None:
        query = random_query()
        params: dict[str, str] = {"q": query}
        with self.client.get("/disclosures.json", params=params, name="/disclosures.json?q", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"status {r.status_code}")
                return
            data = r.json()
        drill = data.get("drilldown") or []
        if drill and random.random() < 0.7:
            params["region"] = random.choice(drill)["code"]
        if random.random() < 0.5:
            params["year"] = random.choice(YEARS)
        if random.random() < 0.3:
            params["kind"] = random.choice(KINDS)
        params["sort"] = random.choice(SORTS)
        self.client.get("/disclosures", params=params, name="/disclosures?q&filters")
        if data.get("pages", 0) > 1 and random.random() < 0.3:
            # page 2 of the unfiltered search: the one known to have more than one page
            self.client.get("/disclosures", params={"q": query, "page": "2"}, name="/disclosures?page=2")

    @task(2)
    def policies(self) -> None:
        self.client.get("/policies", params={"q": random.choice(POLICY_QUERIES)} if random.random() < 0.5 else None,
                        name="/policies")
        with self.client.get("/policies.json", name="/policies.json", catch_response=True) as r:
            hits = r.json().get("hits", []) if r.status_code == 200 else []
        if hits:
            self.client.get(f"/policies/{random.choice(hits)['id']}", name="/policies/{id}")

    @task(1)
    def personal_query(self) -> None:
        person = random.choice(PEOPLE)
        with self.client.post("/api/query", json=person, name="/api/query", catch_response=True) as r:
            if r.status_code in (200, 404, 429):
                r.success()
            else:
                r.failure(f"status {r.status_code}")


class HelloUser(HttpUser):
    wait_time = between(0.5, 2.0)

    @task
    def hello(self) -> None:
        self.client.get("/", name="hello")
