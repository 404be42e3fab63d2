"""Fixtures for the search port: one engine fixture per backend and a generated corpus.

Backends: the embedded engine and the Meilisearch adapter against the Meilisearch stand-in
(:mod:`tests.search.meili_standin`) always run; the adapter against a real Meilisearch
runs too when ``MEILI_URL`` (and ``MEILI_API_KEY``) point at a server.  Every test index gets a
random prefix and is deleted afterwards.  The stand-in is one server per test process (each
xdist worker starts its own on a free port).
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import meilisearch
import pytest

from search.base import IndexSpec, SearchEngine
from search.embedded import EmbeddedEngine
from search.meili import MeiliEngine
from search.schemas import DISCLOSURES
from search.tokenize import field_text, normalize
from tests.search.meili_standin import MeiliStandIn

MEILI_URL = os.environ.get("MEILI_URL", "")
MEILI_KEY = os.environ.get("MEILI_API_KEY") or None
STANDIN_KEY = "standin-master-key"

BACKENDS = [
    "embedded",
    "meili-standin",
    pytest.param("meilisearch", marks=pytest.mark.skipif(
        not MEILI_URL, reason="no Meilisearch server configured: set MEILI_URL (and "
                              "MEILI_API_KEY) to run the contract suite against a real server "
                              "too, e.g. MEILI_URL=http://127.0.0.1:7700")),
]


@pytest.fixture(scope="session")
def meili_standin() -> Iterator[MeiliStandIn]:
    """The Meilisearch stand-in of this test process."""
    with MeiliStandIn(master_key=STANDIN_KEY) as server:
        yield server


@dataclass
class Server:
    """A Meilisearch to talk to: the stand-in, or the real server of ``MEILI_URL``."""

    url: str
    key: str | None

    def engine(self, prefix: str) -> MeiliEngine:
        return MeiliEngine(self.url, self.key, prefix=prefix, task_poll_ms=5)

    def client(self) -> meilisearch.Client:
        return meilisearch.Client(self.url, self.key)


SERVERS = [b for b in BACKENDS if getattr(b, "values", (b,))[0] != "embedded"]


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest) -> Server:
    """Each Meilisearch: the stand-in always, the real server when configured."""
    if request.param == "meili-standin":
        return Server(request.getfixturevalue("meili_standin").url, STANDIN_KEY)
    return Server(MEILI_URL, MEILI_KEY)


EngineOpener = Callable[[], SearchEngine]


def _opener(kind: str, request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> EngineOpener:
    """Opens a new engine over one backend and index prefix, as another process would."""
    prefix = f"t{secrets.token_hex(4)}_"
    if kind == "embedded":
        root = tmp_path_factory.mktemp("search")
        return lambda: EmbeddedEngine(root, prefix=prefix)
    if kind == "meili-standin":
        url, key, poll = request.getfixturevalue("meili_standin").url, STANDIN_KEY, 2
    else:
        url, key, poll = MEILI_URL, MEILI_KEY, 20
    return lambda: MeiliEngine(url, key, prefix=prefix, task_poll_ms=poll)


def _cleanup(engine: SearchEngine) -> None:
    for name in engine.list_indexes():
        engine.delete_index(name)


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SearchEngine, list[dict]]]:
    """A read-only engine holding the ``disclosures`` corpus (built once per module).

    The indexer's engine builds the index; the engine handed to the tests is a second one that
    never called ``ensure_index`` and learns the index from the backend, as the portal does.
    """
    open_engine = _opener(request.param, request, tmp_path_factory)
    writer = open_engine()
    docs = make_disclosures()
    writer.ensure_index(DISCLOSURES)
    writer.replace_documents("disclosures", docs, batch_size=150)
    yield open_engine(), docs
    _cleanup(writer)


@pytest.fixture(params=BACKENDS)
def engine_opener(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineOpener]:
    """Opens engines over one fresh, empty backend (for tests that write)."""
    open_engine = _opener(request.param, request, tmp_path_factory)
    yield open_engine
    _cleanup(open_engine())


@pytest.fixture
def engine(engine_opener: EngineOpener) -> SearchEngine:
    """A fresh, empty engine for tests that write."""
    return engine_opener()


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
