"""Fixtures for the search port: one engine fixture per backend and a generated corpus.

The embedded engine always runs.  Meilisearch runs when ``MEILI_URL`` (and ``MEILI_API_KEY``)
point at a server; every test index gets a random prefix and is deleted afterwards.
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from search.base import IndexSpec, SearchEngine
from search.embedded import EmbeddedEngine
from search.schemas import DISCLOSURES
from search.tokenize import field_text, normalize

MEILI_URL = os.environ.get("MEILI_URL", "")
MEILI_KEY = os.environ.get("MEILI_API_KEY") or None

BACKENDS = [
    "embedded",
    pytest.param("meilisearch", marks=pytest.mark.skipif(
        not MEILI_URL, reason="Meilisearch contract run needs MEILI_URL (and MEILI_API_KEY) "
                              "pointing at a server, e.g. MEILI_URL=http://127.0.0.1:7700")),
]


def _make_engine(kind: str, tmp_path_factory: pytest.TempPathFactory) -> SearchEngine:
    prefix = f"t{secrets.token_hex(4)}_"
    if kind == "embedded":
        return EmbeddedEngine(tmp_path_factory.mktemp("search"), prefix=prefix)
    from search.meili import MeiliEngine

    return MeiliEngine(MEILI_URL, MEILI_KEY, prefix=prefix, task_poll_ms=20)


def _cleanup(engine: SearchEngine) -> None:
    for name in engine.list_indexes():
        engine.delete_index(name)


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SearchEngine, list[dict]]]:
    """A read-only engine holding the ``disclosures`` corpus (built once per module)."""
    engine = _make_engine(request.param, tmp_path_factory)
    docs = make_disclosures()
    engine.ensure_index(DISCLOSURES)
    engine.replace_documents("disclosures", docs, batch_size=150)
    yield engine, docs
    _cleanup(engine)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchEngine]:
    """A fresh, empty engine for tests that write."""
    engine = _make_engine(request.param, tmp_path_factory)
    yield engine
    _cleanup(engine)


# -- the corpus ------------------------------------------------------------------------------------

SURNAMES = "王李张刘陈杨赵黄周吴欧"
GIVEN = "丰芳伟明华庄村"
VILLAGES = ["王庄村", "李庄村", "后王村", "张家岭村", "东庄", "河湾村", "庄村", "王 庄"]
TOWNSHIPS = ["城关镇", "村口镇", "张店乡", "瓦屋镇"]
COUNTIES = [("鲁山县", "410423"), ("叶县", "410422"), ("秀山县", "500241")]
PROJECTS = ["高龄津贴", "耕地地力保护补贴", "困难残疾人生活补贴", "生态公益林补偿",
            "农村最低生活保障金", "ＡＢ补贴（２０２３）"]


def make_disclosures(n: int = 360, seed: int = 20240501) -> list[dict[str, Any]]:
    """A few hundred masked disclosure records with overlapping names (deterministic)."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        county, ccode = COUNTIES[i % len(COUNTIES)]
        ti = rng.randrange(len(TOWNSHIPS))
        vi = rng.randrange(len(VILLAGES))
        tcode = f"{ccode}{ti + 100:03d}"
        pi = rng.randrange(len(PROJECTS))
        cents = rng.randrange(1000, 200_000)
        year = 2021 + rng.randrange(4)
        name = rng.choice(SURNAMES) + "*" + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
        docs.append({
            "id": f"d{i:05d}",
            "kind": "result" if rng.random() < 0.7 else "publicity",
            "name_masked": name,
            "region_codes": [ccode[:2], ccode[:4], ccode, tcode, f"{tcode}{vi + 200:03d}"],
            "county": county,
            "township": TOWNSHIPS[ti],
            "village": VILLAGES[vi],
            "project_code": f"P{pi:02d}",
            "project_name": PROJECTS[pi],
            "policy_name": PROJECTS[pi] + "政策",
            "department": ["民政局", "农业农村局"][pi % 2],
            "year": year,
            "period": f"{year}年第{rng.randrange(1, 5)}季度",
            "amount": f"{cents // 100}.{cents % 100:02d}",
            "amount_cents": cents,
            "date": f"{year}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "batch_code": f"B{year}{pi:02d}",
            "status": "已发放",
        })
    return docs


def brute_force(docs: list[dict[str, Any]], spec: IndexSpec, q: str = "",
                filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The contract, spelled out: every term ``in`` one field; filters equal (any-of)."""
    terms = normalize(q).split()
    out = []
    for doc in docs:
        fields = [normalize(t) for f in spec.searchable for t in field_text(doc.get(f))]
        if not all(any(term in field for field in fields) for term in terms):
            continue
        ok = True
        for name, wanted in (filters or {}).items():
            wanted = wanted if isinstance(wanted, list) else [wanted]
            have = doc.get(name)
            have = have if isinstance(have, list) else [have]
            if not {str(w) for w in wanted} & {str(h) for h in have}:
                ok = False
                break
        if ok:
            out.append(doc)
    return out
