"""Benchmark the embedded search engine on synthetic masked disclosure records.

    python loadtests/bench_search.py --docs 1000000 --data-dir /tmp/x
    python loadtests/bench_search.py --docs 300000 --data-dir /tmp/y --candidate fts5

Builds ``--docs`` synthetic ``disclosures`` documents (masked names like 张*丰, real-looking
county/township/village names, ~30 subsidy projects), prints the build rate, then runs each query
class (1-char, 2-char, 3+-char, two-term, filtered, filter-only) with all six disclosure facets and
prints p50/p95/max latency and the mean hit count.  Every answer is checked against a brute-force
substring scan on a sample of queries (``--check``).

``--candidate fts5`` measures the alternative that was considered for the embedded engine: SQLite
FTS5 over the same unigram/bigram word streams, facets by GROUP BY over the hit set.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.base import SearchQuery  # noqa: E402
from search.embedded import EmbeddedEngine  # noqa: E402
from search.schemas import DISCLOSURES  # noqa: E402
from search.tokenize import index_tokens, normalize, query_phrases  # noqa: E402

SURNAMES = ("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
            "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史")
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰凤梅红云福贵生山海金银春秋花荣德"
VILLAGE_HEAD = "王李张马杨刘后前东西南北大小新老上下高黄白石清河"
VILLAGE_MID = "庄家营岭河沟坪湾坡寨店集楼园桥屯堡峪"
COUNTIES = ["鲁山县", "叶县", "宝丰县", "郏县", "秀山土家族苗族自治县", "酉阳县", "盐津县",
            "镇雄县", "宁南县", "会东县"]
TOWNSHIP_HEAD = "城关张店赵村瓦屋观音寺马楼团城四棵树库区背孜熊背"
PROJECTS = [
    "耕地地力保护补贴", "高龄津贴", "困难残疾人生活补贴", "重度残疾人护理补贴", "生态公益林补偿",
    "农机购置补贴", "城乡居民基本养老保险", "特困人员救助供养金", "农村最低生活保障金",
    "计划生育奖励扶助金", "退耕还林补助", "草原生态保护补助奖励", "稻谷目标价格补贴",
    "农村危房改造补助", "临时救助金", "孤儿基本生活费", "事实无人抚养儿童生活补贴",
    "优抚对象抚恤补助", "义务兵家庭优待金", "森林生态效益补偿", "种粮农民一次性补贴",
    "玉米大豆生产者补贴", "渔业油价补贴", "退役士兵自主就业补助", "独生子女父母奖励",
    "残疾人家庭无障碍改造补贴", "农村特困供养金", "脱贫人口小额信贷贴息", "雨露计划补助",
    "地质灾害避险搬迁补助",
]
FACETS = ["kind", "year", "project_name", "county", "township", "village"]


def make_geography(rng: random.Random) -> list[tuple[str, str, str, str, list[str]]]:
    """(county, township, village, project bias, region codes) for ~10 x 12 x 20 villages."""
    places = []
    for ci, county in enumerate(COUNTIES):
        ccode = f"41{ci:02d}{ci + 21:02d}"
        for ti in range(12):
            a, b = rng.sample(TOWNSHIP_HEAD, 2)
            township = a + b + rng.choice("镇乡")
            tcode = f"{ccode}{ti + 100:03d}"
            for vi in range(20):
                village = rng.choice(VILLAGE_HEAD) + rng.choice(VILLAGE_MID) + "村"
                vcode = f"{tcode}{vi + 200:03d}"
                places.append((county, township, village, ccode,
                               [ccode[:2], ccode[:4], ccode, tcode, vcode]))
    return places


def make_docs(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    places = make_geography(rng)
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(SURNAMES))]
    surnames = rng.choices(SURNAMES, weights, k=4096)
    for i in range(n):
        county, township, village, _ccode, codes = places[rng.randrange(len(places))]
        pi = rng.randrange(len(PROJECTS))
        cents = rng.randrange(5_000, 500_000)
        year = 2020 + rng.randrange(6)
        surname = surnames[i % 4096] if rng.random() < 0.9 else rng.choice(SURNAMES)
        name = surname + "*" + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
        yield {
            "id": f"d{i:08d}",
            "kind": "result" if rng.random() < 0.8 else "publicity",
            "name_masked": name,
            "region_codes": codes,
            "county": county,
            "township": township,
            "village": village,
            "project_code": f"P{pi:03d}",
            "project_name": PROJECTS[pi],
            "policy_name": PROJECTS[pi] + "政策",
            "department": "民政局" if pi % 3 == 0 else "农业农村局" if pi % 3 == 1 else "财政局",
            "year": year,
            "period": f"{year}年第{rng.randrange(1, 5)}季度",
            "amount": f"{cents // 100}.{cents % 100:02d}",
            "amount_cents": cents,
            "date": f"{year}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "batch_code": f"B{year}{pi:03d}{rng.randrange(100):03d}",
            "status": "已发放",
        }


def query_classes(rng: random.Random, n: int) -> dict[str, list[SearchQuery]]:
    places = make_geography(random.Random(7))
    vil = [p[2] for p in places]
    counties = sorted({p[3] for p in places})
    per = []
    for _ in range(n):
        per.append(rng.choice(vil))
    return {
        "1-char": [SearchQuery(q=rng.choice(SURNAMES[:40] + "庄河镇"), facets=FACETS)
                   for _ in range(n)],
        "2-char": [SearchQuery(q=rng.choice([v[1:] for v in vil] + [p[-2:] for p in PROJECTS]),
                               facets=FACETS) for _ in range(n)],
        "3+-char": [SearchQuery(q=rng.choice(vil + PROJECTS + COUNTIES), facets=FACETS)
                    for _ in range(n)],
        "two-term": [SearchQuery(q=f"{rng.choice(COUNTIES)} {rng.choice(PROJECTS)[:4]}",
                                 facets=FACETS) for _ in range(n)],
        "term+filter": [SearchQuery(q=rng.choice(SURNAMES[:20]),
                                    filters={"region_codes": rng.choice(counties),
                                             "year": rng.choice([2022, 2023, 2024])},
                                    facets=FACETS, sort=[("date", "desc")]) for _ in range(n)],
        "filter-only": [SearchQuery(filters={"project_code": f"P{rng.randrange(30):03d}"},
                                    facets=FACETS, page=rng.randrange(1, 50)) for _ in range(n)],
    }


def brute_force(docs: list[dict[str, Any]], query: SearchQuery) -> set[str]:
    terms = normalize(query.q).split()
    out = set()
    for d in docs:
        fields = [normalize(str(d[f])) for f in DISCLOSURES.searchable]
        if not all(any(t in f for f in fields) for t in terms):
            continue
        ok = True
        for name, value in query.filters.items():
            have = d[name] if isinstance(d[name], list) else [d[name]]
            if str(value) not in [str(h) for h in have]:
                ok = False
        if ok:
            out.add(d["id"])
    return out


# -- candidate: SQLite FTS5 over the same word streams -------------------------------------------

class Fts5Candidate:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path / "fts5.db")
        self.db.executescript(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
            "CREATE TABLE docs(rowid INTEGER PRIMARY KEY, id TEXT UNIQUE, kind, year, "
            " project_name, project_code, county, township, village, region_codes, date, src);"
            "CREATE VIRTUAL TABLE fts USING fts5(bi, uni, content='', tokenize='ascii',"
            " detail=full);")

    def load(self, docs: Iterator[dict[str, Any]]) -> int:
        n = 0
        rows, frows = [], []
        for d in docs:
            n += 1
            t = index_tokens(d[f] for f in DISCLOSURES.searchable)
            rows.append((n, d["id"], d["kind"], d["year"], d["project_name"], d["project_code"],
                         d["county"], d["township"], d["village"],
                         " " + " ".join(d["region_codes"]) + " ", d["date"], repr(d)))
            frows.append((n, t.bigrams, t.unigrams))
            if len(rows) >= 10_000:
                self._flush(rows, frows)
        self._flush(rows, frows)
        self.db.commit()
        return n

    def _flush(self, rows: list[tuple], frows: list[tuple]) -> None:
        self.db.executemany("INSERT INTO docs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        self.db.executemany("INSERT INTO fts(rowid, bi, uni) VALUES (?,?,?)", frows)
        rows.clear()
        frows.clear()

    def search(self, query: SearchQuery) -> int:
        where, args = [], []
        phrases = query_phrases(query.q)
        if phrases:
            match = " AND ".join(
                ("uni:" if len(p) == 1 and len(p[0]) == 6 else "bi:") + '"' + " ".join(p) + '"'
                for p in phrases)
            where.append("rowid IN (SELECT rowid FROM fts WHERE fts MATCH ?)")
            args.append(match)
        for name, value in query.filters.items():
            if name == "region_codes":
                where.append("region_codes LIKE ?")
                args.append(f"% {value} %")
            else:
                where.append(f"{name} = ?")
                args.append(value)
        sql_where = (" WHERE " + " AND ".join(where)) if where else ""
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS hits(r INTEGER PRIMARY KEY)")
        self.db.execute("DELETE FROM hits")
        self.db.execute(f"INSERT INTO hits SELECT rowid FROM docs{sql_where}", args)
        total = self.db.execute("SELECT count(*) FROM hits").fetchone()[0]
        self.db.execute("SELECT src FROM docs JOIN hits ON r = docs.rowid ORDER BY id "
                        "LIMIT ? OFFSET ?", (query.per_page, (query.page - 1) * query.per_page)
                        ).fetchall()
        for f in query.facets:
            self.db.execute(f"SELECT {f}, count(*) FROM docs JOIN hits ON r = docs.rowid "
                            f"GROUP BY {f}").fetchall()
        return total


# -- driver ---------------------------------------------------------------------------------------

def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t) * 1000, out


def report(name: str, times: list[float], totals: list[int]) -> None:
    times = sorted(times)
    p50 = statistics.median(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(f"  {name:<12} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {times[-1]:7.1f} ms"
          f"  mean hits {statistics.mean(totals):10.0f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=100, help="queries per class")
    ap.add_argument("--candidate", choices=["tantivy", "fts5"], default="tantivy")
    ap.add_argument("--check", type=int, default=0,
                    help="compare this many queries per class with a brute-force scan")
    ap.add_argument("--keep", action="store_true", help="reuse an index already in --data-dir")
    args = ap.parse_args(argv)

    if args.data_dir.exists() and not args.keep:
        shutil.rmtree(args.data_dir)
    args.data_dir.mkdir(parents=True, exist_ok=True)

    if args.candidate == "tantivy":
        engine = EmbeddedEngine(args.data_dir)
        engine.ensure_index(DISCLOSURES)
        if not (args.keep and engine.count("disclosures")):
            ms, n = timed(lambda: engine.replace_documents("disclosures", make_docs(args.docs)))
            print(f"built {n} docs in {ms / 1000:.1f} s: {n / (ms / 1000):,.0f} docs/s")

        def run(q: SearchQuery) -> int:
            return engine.search("disclosures", q).total
    else:
        fts = Fts5Candidate(args.data_dir)
        ms, n = timed(lambda: fts.load(make_docs(args.docs)))
        print(f"built {n} docs in {ms / 1000:.1f} s: {n / (ms / 1000):,.0f} docs/s")
        run = fts.search

    classes = query_classes(random.Random(11), args.queries)
    for q in classes["1-char"][:3]:
        run(q)  # warm up caches
    print(f"{args.candidate}, {args.docs} docs, {args.queries} queries per class, facets {FACETS}")
    for name, queries in classes.items():
        times, totals = [], []
        for q in queries:
            ms, total = timed(lambda q=q: run(q))
            times.append(ms)
            totals.append(total)
        report(name, times, totals)

    if args.check:
        docs = list(make_docs(args.docs))
        bad = 0
        for name, queries in classes.items():
            for q in queries[: args.check]:
                expected = brute_force(docs, q)
                got = run(q)
                if got != len(expected):
                    bad += 1
                    print(f"  MISMATCH {name} {q.q!r} {q.filters}: {got} != {len(expected)}")
        print(f"checked {args.check} queries per class against brute force: {bad} mismatches")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
