"""The backend contract: every SearchEngine answers like a brute-force substring scan."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from search.base import (
    IndexNotFound,
    IndexSpec,
    InvalidQuery,
    SearchEngine,
    SearchError,
    SearchQuery,
)
from search.schemas import DISCLOSURES, PAYMENTS, PERSONS, POLICIES
from tests.search.conftest import (
    COUNTIES,
    PROJECTS,
    SURNAMES,
    TOWNSHIPS,
    VILLAGES,
    brute_force,
    make_disclosures,
)

FACETS = DISCLOSURES.facetable


def _ids(hits: list[dict]) -> set[str]:
    return {h["id"] for h in hits}


def _all_pages(engine: SearchEngine, query: SearchQuery) -> list[dict]:
    hits: list[dict] = []
    page = 1
    while True:
        query.page = page
        result = engine.search("disclosures", query)
        hits.extend(result.hits)
        if page >= result.pages:
            return hits
        page += 1


def _queries() -> list[str]:
    qs = list(SURNAMES) + VILLAGES + TOWNSHIPS + [c for c, _ in COUNTIES] + PROJECTS
    qs += ["庄村", "王庄", "庄", "村", "*", "津贴", "补贴", "高龄", "2023", "ab", "ＡＢ", "（2023）",
           "鲁山县 高龄津贴", "王 庄村", "李 城关镇 民政", "东庄 村口", "庄村镇", "庄村口",
           "不存在", "王*丰", "欧*", "政策", "县", "农村最低生活保障金政策", "Ab补贴(2023)"]
    rng = random.Random(5)
    docs = make_disclosures()
    for _ in range(60):  # random substrings of random fields, sometimes two of them
        terms = []
        for _ in range(rng.choice([1, 1, 2])):
            doc = rng.choice(docs)
            text = str(doc[rng.choice(DISCLOSURES.searchable)]).replace(" ", "")
            start = rng.randrange(len(text))
            terms.append(text[start:start + rng.randint(1, 4)])
        qs.append(" ".join(terms))
    return qs


@pytest.mark.parametrize("q", _queries())
def test_hit_set_equals_brute_force(loaded, q: str) -> None:
    engine, docs = loaded
    expected = brute_force(docs, DISCLOSURES, q)
    result = engine.search("disclosures", SearchQuery(q=q, per_page=100))
    assert result.total == len(expected)
    if result.total <= 100:
        assert _ids(result.hits) == _ids(expected)
    assert _ids(result.hits) <= _ids(expected)


FILTERS = [
    {"kind": "publicity"},
    {"year": 2023},
    {"year": "2022"},
    {"year": [2021, 2024]},
    {"region_codes": "410423"},
    {"region_codes": "41"},
    {"region_codes": ["410422101", "500241"]},
    {"region_codes": "410423100"},
    {"township": "张店乡", "kind": "result"},
    {"project_code": "P01", "year": 2022},
    {"village": "王 庄"},
    {"department": "民政局"},
    {"region_codes": "999999"},
]


def _assert_facets_equal_brute_force(facets: dict[str, dict[str, int]],
                                     expected: list[dict]) -> None:
    for name in FACETS:
        counts = Counter(str(d[name]) for d in expected)
        assert facets[name] == dict(counts), name
        assert list(facets[name].values()) == sorted(counts.values(), reverse=True)


@pytest.mark.parametrize("filters", FILTERS, ids=[str(f) for f in FILTERS])
@pytest.mark.parametrize("q", ["", "王", "庄村", "补贴 城关"])
def test_filters_and_facets_equal_brute_force(loaded, q: str, filters: dict) -> None:
    engine, docs = loaded
    expected = brute_force(docs, DISCLOSURES, q, filters)
    result = engine.search("disclosures",
                           SearchQuery(q=q, filters=filters, facets=FACETS, per_page=100))
    assert result.total == len(expected)
    assert _ids(result.hits) == _ids(expected[:100]) or result.total > 100
    _assert_facets_equal_brute_force(result.facets, expected)


def _longer_terms() -> list[str]:
    """Terms of 3+ characters: whole field values, pieces of them, and strings made of the end
    of one field and the start of another -- these hold every bigram of a record that does not
    hold the term, the case where a cheaper pre-count over the bigram words differs."""
    qs = ["王庄村", "张家岭", "城关镇", "鲁山县", "高龄津贴", "地力保护", "农村最低生活保障金政策",
          "ab补贴(2023)", "庄村口", "庄村镇", "村口镇", "王庄村口", "县高龄", "鲁山县 高龄津贴",
          "后王村 李", "张店乡 补贴 民政", "王 庄村口镇", "河湾村城关", "庄村瓦屋"]
    rng = random.Random(18)
    docs = make_disclosures()
    while len(qs) < 40:
        doc = rng.choice(docs)
        a, b = rng.sample(DISCLOSURES.searchable, 2)
        left, right = str(doc[a]).replace(" ", ""), str(doc[b]).replace(" ", "")
        term = left[-rng.randint(1, 3):] + right[:rng.randint(1, 3)]
        if len(term) >= 3:
            qs.append(term)
    return qs


@pytest.mark.parametrize("filters", [{}, {"year": 2023}, {"region_codes": "410423"}],
                         ids=["all", "year", "county"])
@pytest.mark.parametrize("q", _longer_terms())
def test_facets_for_longer_terms_equal_brute_force(loaded, q: str, filters: dict) -> None:
    engine, docs = loaded
    expected = brute_force(docs, DISCLOSURES, q, filters)
    result = engine.search("disclosures",
                           SearchQuery(q=q, filters=filters, facets=FACETS, per_page=100))
    assert result.total == len(expected)
    assert _ids(result.hits) <= _ids(expected) and len(result.hits) == min(100, len(expected))
    _assert_facets_equal_brute_force(result.facets, expected)


SPLIT = IndexSpec("split", "id", searchable=["a", "b", "c", "d"], filterable=["tag"],
                  facetable=["tag"])


def test_long_terms_split_over_fields_do_not_match(engine: SearchEngine) -> None:
    """Decided (DESIGN.md): a term matches only as a substring of one field, however long.

    Each ``split*`` record holds every bigram of the query term, arranged so that Meilisearch's
    phrase check passes (every window of three bigram words stands close together somewhere;
    ``test_search_meili_adapter`` shows Meilisearch matching them); none holds the term itself.
    """
    engine.ensure_index(SPLIT)
    docs = [
        {"id": "split5", "a": "甲乙丙丁", "b": "乙丙丁戊", "tag": "split"},
        {"id": "split5-space", "a": "甲乙丙丁 乙丙丁戊", "tag": "split"},
        {"id": "split4-gap", "a": "子丑", "b": "寅卯", "c": "子丑寅", "d": "丑寅卯", "tag": "split"},
        {"id": "split4-repeat", "a": "天地玄", "b": "天地地", "c": "地地玄", "tag": "split"},
        {"id": "split8", "a": "一二三四五六", "b": "三四五六七八", "tag": "split"},
        {"id": "whole5", "a": "前甲乙丙丁戊后", "tag": "whole"},
        {"id": "whole4", "b": "子丑寅卯", "tag": "whole"},
        {"id": "whole4-repeat", "c": "天地地玄", "tag": "whole"},
        {"id": "whole8", "d": "一二三四五六七八", "tag": "whole"},
    ]
    engine.replace_documents("split", docs)
    for q, wanted in [("甲乙丙丁戊", {"whole5"}), ("子丑寅卯", {"whole4"}),
                      ("天地地玄", {"whole4-repeat"}), ("一二三四五六七八", {"whole8"}),
                      ("乙丙丁 甲乙丙丁戊", {"whole5"}), ("甲乙丙丁", {"split5", "split5-space",
                                                                 "whole5"})]:
        assert {d["id"] for d in brute_force(docs, SPLIT, q)} == wanted, q
        result = engine.search("split", SearchQuery(q=q, facets=["tag"]))
        assert _ids(result.hits) == wanted, q
        assert result.total == len(wanted), q
        assert result.facets == {"tag": dict(Counter(d["tag"] for d in docs
                                                     if d["id"] in wanted))}, q


@pytest.mark.parametrize("q", ["", "王", "庄", "补贴"])
def test_pages_cover_the_hit_set_exactly_once(loaded, q: str) -> None:
    engine, docs = loaded
    expected = brute_force(docs, DISCLOSURES, q)
    hits = _all_pages(engine, SearchQuery(q=q, per_page=7))
    assert len(hits) == len(expected)
    assert _ids(hits) == _ids(expected)
    again = _all_pages(engine, SearchQuery(q=q, per_page=7))
    assert [h["id"] for h in again] == [h["id"] for h in hits], "paging is not stable"


@pytest.mark.parametrize("field,direction", [("date", "desc"), ("date", "asc"),
                                             ("amount_cents", "asc"),
                                             ("amount_cents", "desc")])
@pytest.mark.parametrize("q", ["", "李", "村 补贴"])
def test_sort_orders_the_whole_hit_set(loaded, q: str, field: str, direction: str) -> None:
    engine, docs = loaded
    expected = brute_force(docs, DISCLOSURES, q)
    hits = _all_pages(engine, SearchQuery(q=q, sort=[(field, direction)], per_page=50))
    assert _ids(hits) == _ids(expected) and len(hits) == len(expected)
    values = [h[field] for h in hits]
    assert values == sorted(values, reverse=direction == "desc")


def test_hits_are_the_stored_documents(loaded) -> None:
    engine, docs = loaded
    by_id = {d["id"]: d for d in docs}
    result = engine.search("disclosures", SearchQuery(q="王庄村", per_page=100))
    assert result.hits and all(h == by_id[h["id"]] for h in result.hits)
    assert result.page == 1 and result.per_page == 100 and result.took_ms >= 0
    assert engine.get("disclosures", "d00007") == by_id["d00007"]
    assert engine.get("disclosures", "nope") is None
    assert engine.count("disclosures") == len(docs)


@pytest.mark.parametrize("query", [
    SearchQuery(q="王" * 101),
    SearchQuery(q=" ".join("王李张刘陈杨赵黄周吴欧")),
    SearchQuery(page=501, per_page=20),
    SearchQuery(page=0),
    SearchQuery(per_page=0),
    SearchQuery(filters={"name_masked": "王*"}),
    SearchQuery(facets=["amount"]),
    SearchQuery(sort=[("village", "asc")]),
    SearchQuery(sort=[("date", "sideways")]),
    SearchQuery(sort=[("date", "asc"), ("amount_cents", "asc")]),
], ids=["long", "terms", "deep", "page0", "per_page0", "filter", "facet", "sort", "direction",
        "two-sorts"])
def test_invalid_queries_are_refused(loaded, query: SearchQuery) -> None:
    engine, _ = loaded
    with pytest.raises(InvalidQuery):
        engine.search("disclosures", query)


def test_limits_are_inclusive(loaded) -> None:
    engine, _ = loaded
    engine.search("disclosures", SearchQuery(q="王" * 100))
    engine.search("disclosures", SearchQuery(q=" ".join("王李张刘陈杨赵黄周吴")))
    assert engine.search("disclosures", SearchQuery(page=500, per_page=20)).hits == []


def test_missing_index(engine: SearchEngine) -> None:
    with pytest.raises(IndexNotFound):
        engine.search("nothing_here", SearchQuery(q="王"))
    with pytest.raises(IndexNotFound):
        engine.count("nothing_here")
    with pytest.raises(IndexNotFound):
        engine.swap("nothing_here", "nor_here")
    with pytest.raises(IndexNotFound):
        engine.replace_documents("nothing_here", make_disclosures(1))
    with pytest.raises(IndexNotFound):
        engine.delete_documents("nothing_here", ["d00000"])
    assert engine.delete_index("nothing_here") is False
    assert engine.list_indexes() == []


def test_upsert_delete_get_count(engine: SearchEngine) -> None:
    engine.ensure_index(DISCLOSURES)
    engine.ensure_index(DISCLOSURES)  # idempotent
    docs = make_disclosures(40)
    assert engine.replace_documents("disclosures", docs, batch_size=15) == 40
    assert engine.count("disclosures") == 40
    changed = dict(docs[3], name_masked="诸葛*亮", village="卧龙岗村")
    engine.replace_documents("disclosures", [changed])
    assert engine.count("disclosures") == 40
    assert engine.get("disclosures", docs[3]["id"]) == changed
    assert _ids(engine.search("disclosures", SearchQuery(q="卧龙")).hits) == {docs[3]["id"]}
    assert engine.search("disclosures", SearchQuery(q=docs[3]["name_masked"])).total == len(
        brute_force(docs[:3] + docs[4:], DISCLOSURES, docs[3]["name_masked"]))
    engine.delete_documents("disclosures", [docs[3]["id"], docs[4]["id"], "unknown"])
    assert engine.count("disclosures") == 38
    assert engine.get("disclosures", docs[3]["id"]) is None
    assert engine.search("disclosures", SearchQuery(q="卧龙")).total == 0
    # the same id twice in one call: the last one wins
    engine.replace_documents("disclosures", [dict(docs[5], village="甲村"),
                                             dict(docs[5], village="乙村")])
    assert engine.get("disclosures", docs[5]["id"])["village"] == "乙村"
    assert engine.search("disclosures", SearchQuery(q="甲村")).total == 0


def test_write_documents_deletes_and_upserts_in_one_change(engine: SearchEngine) -> None:
    """A batch's publicity-list documents replaced by its result documents: afterwards only the
    new ones are found, an upsert of an existing id replaces it, and a missing id is no error."""
    engine.ensure_index(DISCLOSURES)
    docs = make_disclosures(10)
    engine.replace_documents("disclosures", docs)
    before = engine.generation.current()
    results = [dict(d, id=d["id"] + "r", village="结果村") for d in docs[:4]]
    engine.write_documents("disclosures", results + [dict(docs[9], village="改村")],
                           [d["id"] for d in docs[:4]] + ["unknown"])
    assert engine.generation.current() != before
    assert engine.count("disclosures") == 10
    assert _ids(engine.search("disclosures", SearchQuery(q="结果村")).hits) == {d["id"] for d in results}
    assert all(engine.get("disclosures", d["id"]) is None for d in docs[:4])
    assert engine.get("disclosures", docs[9]["id"])["village"] == "改村"
    with pytest.raises(SearchError):
        engine.write_documents("disclosures", [{"village": "无主键"}], [docs[5]["id"]])
    assert engine.get("disclosures", docs[5]["id"]) == docs[5]  # refused whole: nothing deleted


def test_rebuild_by_swap(engine: SearchEngine) -> None:
    engine.ensure_index(DISCLOSURES)
    engine.replace_documents("disclosures", make_disclosures(30))
    fresh = DISCLOSURES.renamed("disclosures_next")
    engine.ensure_index(fresh)
    new_docs = [dict(d, name_masked="新*") for d in make_disclosures(12, seed=9)]
    engine.replace_documents("disclosures_next", new_docs)
    assert engine.search("disclosures", SearchQuery(q="新")).total == 0
    engine.swap("disclosures", "disclosures_next")
    assert engine.count("disclosures") == 12
    assert engine.search("disclosures", SearchQuery(q="新", facets=["kind"])).total == 12
    assert engine.count("disclosures_next") == 30
    assert sorted(engine.list_indexes()) == ["disclosures", "disclosures_next"]
    assert engine.delete_index("disclosures_next") is True
    assert engine.list_indexes() == ["disclosures"]
    assert engine.stats()["indexes"]["disclosures"]["documents"] == 12


def test_policies_and_payments(engine: SearchEngine) -> None:
    engine.ensure_index(POLICIES)
    engine.ensure_index(PAYMENTS)
    policies = [
        {"id": "p1", "code": "HN-01", "name": "高龄津贴", "short_name": "高龄", "department": "民政局",
         "level": "省", "year": 2024, "scope": "八十周岁以上老年人", "beneficiaries": "老年人",
         "standard": "每人每月50元", "document_title": "关于发放高龄津贴的通知",
         "document_number": "豫民〔2024〕12号", "status": "有效", "delivery": "到人",
         "history": [{"date": "2024-01-01", "change": "新增"}]},
        {"id": "p2", "code": "HN-02", "name": "耕地地力保护补贴", "short_name": "地力补贴",
         "department": "农业农村局", "level": "县", "year": 2023, "scope": "承包耕地",
         "beneficiaries": "农户", "standard": "每亩100元", "document_title": "耕地补贴办法",
         "document_number": "鲁农〔2023〕3号", "status": "有效", "delivery": "到户", "history": []},
    ]
    engine.replace_documents("policies", policies)
    result = engine.search("policies", SearchQuery(q="〔2024〕", facets=["level", "year"]))
    assert _ids(result.hits) == {"p1"} and result.facets == {"level": {"省": 1},
                                                             "year": {"2024": 1}}
    assert _ids(engine.search("policies", SearchQuery(q="每亩")).hits) == {"p2"}
    assert engine.search("policies", SearchQuery(q="新增")).total == 0  # history: not searchable
    assert engine.get("policies", "p1")["history"] == policies[0]["history"]

    payments = [{"id": f"x{i}", "person_key": "ab" * 16 if i < 3 else "cd" * 16,
                 "year": 2024, "state": ["paid", "failed"][i % 2], "date": f"2024-0{i + 1}-01",
                 "project_name": "高龄津贴", "failure_reason": "账户已销户"} for i in range(5)]
    engine.replace_documents("payments", payments)
    mine = engine.search("payments", SearchQuery(filters={"person_key": "ab" * 16},
                                                 sort=[("date", "desc")]))
    assert [h["id"] for h in mine.hits] == ["x2", "x1", "x0"]
    with pytest.raises(InvalidQuery):
        engine.search("payments", SearchQuery(q="高龄"))


def test_persons_documents_are_read_by_key(engine: SearchEngine) -> None:
    """A ``persons`` document (the personal lookup's one keyed read): nested factors and long
    JSON text come back exactly; replaced whole; an unknown key is None; no text search."""
    engine.ensure_index(PERSONS)
    lines = [{"id": str(i), "project_name": "高龄津贴", "amount": "300.00", "date": f"2024-0{1 + i % 9}-01",
              "state": "paid", "stage": "已发放到卡", "advice": "", "published": True} for i in range(60)]
    doc = {"id": "ab" * 16, "person_key": "ab" * 16, "factors": [["d1", "0128", "c1"], ["d1", "5521", "c2"]],
           "paid_years": [2024, 2023], "answer": json.dumps([{"year": 2024, "paid": lines}], ensure_ascii=False),
           "lines": json.dumps(lines, ensure_ascii=False)}
    other = {**doc, "id": "cd" * 16, "person_key": "cd" * 16, "factors": [["d9", "9999", "c9"]]}
    engine.replace_documents("persons", [doc, other])
    assert engine.get("persons", "ab" * 16) == doc
    assert engine.get("persons", "ef" * 16) is None
    changed = {**doc, "paid_years": [2024], "lines": "[]"}
    engine.replace_documents("persons", [changed])
    assert engine.get("persons", "ab" * 16) == changed and engine.count("persons") == 2
    engine.delete_documents("persons", ["cd" * 16])
    assert engine.get("persons", "cd" * 16) is None
    with pytest.raises(InvalidQuery):
        engine.search("persons", SearchQuery(q="高龄"))


def test_changed_spec_keeps_documents(engine: SearchEngine) -> None:
    spec = IndexSpec("things", "id", searchable=["title"], filterable=["tag"])
    engine.ensure_index(spec)
    engine.replace_documents("things", [{"id": "a", "title": "王庄村", "tag": "x"},
                                        {"id": "b", "title": "李村", "tag": "y"}])
    wider = IndexSpec("things", "id", searchable=["title"], filterable=["tag"],
                      facetable=["tag"])
    engine.ensure_index(wider)
    result = engine.search("things", SearchQuery(q="村", facets=["tag"]))
    assert result.total == 2 and result.facets == {"tag": {"x": 1, "y": 1}}
