"""`make bench-steps`: the step figures of docs/benchmarks.md, measured end to end on this machine.

    .venv/bin/python loadtests/bench.py [--lines 1000000] [--users 50] [--seconds 30]

1. demo build of N payment lines into SQLite (lines/s, database size);
2. `yikatong index rebuild` of that database (documents/s per index);
3. roster file check of 100,000 lines (admin/batches/rosters.py);
4. search latency on the rebuilt `disclosures` index, per query class, with the facets the
   portal asks for (one client, p50/p95);
5. locust: the citizen scenario against `yikatong serve` (1 worker) and the same users against a
   bare Starlette hello-world, in the same run (req/s, p50, p95, failures).

Everything runs in a temporary data folder in demo mode; nothing outside it is touched.
The report is printed as Markdown and written to artifacts/bench.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

from capacity import free_port, wait_http  # noqa: E402 (a sibling script: loadtests/ is on sys.path)


def _run(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def bench_demo_and_index(lines: int, env: dict[str, str], data_dir: Path) -> list[str]:
    out = ["## Demo build and index rebuild", ""]
    yk = str(BIN / "yikatong")
    demo_s = _run([yk, "demo", "--lines", str(lines), "--seed", "20260101"], env)
    size = (data_dir / "batch.sqlite3").stat().st_size / 1e6
    rebuild_s = _run([yk, "index", "rebuild"], env)
    from core.config import Config
    from search import make_engine

    config = Config.from_env(env)
    engine = make_engine(config.data_dir, None, None, config.search_index_prefix)
    counts = {name: engine.count(name) for name in ("policies", "disclosures", "payments", "persons", "statistics")}
    docs = sum(counts.values())
    out += [
        "| step | size | wall time | rate |",
        "| --- | --- | --- | --- |",
        f"| `yikatong demo --lines {lines}` (SQLite) | {lines:,} lines, {size:.0f} MB | {demo_s:.1f} s | {lines / demo_s:,.0f} lines/s |",
        f"| `yikatong index rebuild` (embedded) | {docs:,} documents ({', '.join(f'{k} {v:,}' for k, v in counts.items())}) | {rebuild_s:.1f} s | {docs / rebuild_s:,.0f} docs/s |",
        "",
    ]
    return out


def bench_roster(tmp: Path) -> list[str]:
    from admin.batches.rosters import check_file
    from core.validation import id_check_digit, luhn_check_digit

    from datetime import date, timedelta

    rng = random.Random(7)
    rows = ["姓名,身份证号,社保卡号,手机号,金额,村"]
    for i in range(100_000):
        born = date(1940, 1, 1) + timedelta(days=i // 1000 * 97)  # unique (birth date, sequence)
        first17 = f"410423{born:%Y%m%d}{i % 1000:03d}"
        card = "621700" + f"{rng.randrange(10**12):012d}"
        rows.append(f"王{'秀英建国'[i % 4]}{'明华'[i % 2]},{first17}{id_check_digit(first17)},"
                    f"{card}{luhn_check_digit(card)},,{100 + i % 50}.00,王庄村")
    data = ("\n".join(rows) + "\n").encode("utf-8")
    started = time.perf_counter()
    results = check_file(data, "roster.csv")
    elapsed = time.perf_counter() - started
    bad = sum(1 for r in results if not r.ok)
    return ["## Roster check", "",
            f"100,000-line CSV ({len(data) / 1e6:.1f} MB), every line checked (ID, card, name, phone, amount): "
            f"**{elapsed:.1f} s** ({100_000 / elapsed:,.0f} lines/s, {bad} failing lines).", ""]


QUERY_CLASSES = {
    "1 char (surname)": ["王", "李", "张", "刘", "陈", "杨", "赵", "黄"],
    "2 chars": ["王庄", "庄村", "高龄", "耕地", "低保", "社区", "李家", "养老"],
    "3+ chars": ["高龄津贴", "耕地地力保护", "鲁山县", "城乡居民基础养老金"],
    "two terms": ["鲁山县 高龄", "王 耕地", "秀山 养老金", "李 社区"],
    "filter only": [""],
}


def bench_search(env: dict[str, str], runs: int = 40) -> list[str]:
    from core.config import Config
    from search import make_engine
    from search.base import SearchQuery

    config = Config.from_env(env)
    engine = make_engine(config.data_dir, None, None, config.search_index_prefix)
    total = engine.count("disclosures")
    facets = ["kind", "year", "project_name", "county", "township", "village"]
    rng = random.Random(1)
    out = ["## Search latency (embedded engine, one client)", "",
           f"`disclosures` index of {total:,} documents; every query asks for 6 facets and 20 hits.", "",
           "| query class | p50 | p95 | mean hits |", "| --- | --- | --- | --- |"]
    for name, queries in QUERY_CLASSES.items():
        times, hits = [], []
        for i in range(runs):
            q = rng.choice(queries)
            filters = {"year": rng.choice([2022, 2023, 2024, 2025])} if name == "filter only" else {}
            started = time.perf_counter()
            result = engine.search("disclosures", SearchQuery(q=q, filters=filters, facets=facets,
                                                              page=1 + i % 3, per_page=20))
            times.append((time.perf_counter() - started) * 1000)
            hits.append(result.total)
        out.append(f"| {name} | {pct(times, 50):.1f} ms | {pct(times, 95):.1f} ms | {statistics.mean(hits):,.0f} |")
    out.append("")
    return out


def _locust(user: str, port: int, users: int, seconds: int, tmp: Path, env: dict[str, str]) -> dict[str, str]:
    prefix = tmp / f"locust_{user}"
    subprocess.run(
        [str(BIN / "locust"), "-f", str(ROOT / "loadtests" / "locustfile.py"), user, "--headless",
         "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "-H", f"http://127.0.0.1:{port}",
         "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"],
        env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    with open(f"{prefix}_stats.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    aggregated = next(r for r in rows if r["Name"] == "Aggregated")
    with open(f"{prefix}_failures.csv", encoding="utf-8") as fh:
        failures = [f"{r['Method']} {r['Name']}: {r['Error'][:120]} ×{r['Occurrences']}" for r in csv.DictReader(fh)]
    aggregated["failures_detail"] = "; ".join(failures)
    return aggregated


def bench_locust(env: dict[str, str], users: int, seconds: int, tmp: Path, lines: int) -> list[str]:
    people = tmp / "people.json"
    people.write_text(subprocess.run([str(BIN / "yikatong"), "demo", "people", "--json"], env=env,
                                     check=True, capture_output=True, text=True).stdout, encoding="utf-8")
    env = {**env, "LOCUST_PEOPLE": str(people)}
    portal_port, hello_port = free_port(), free_port()
    servers = [
        subprocess.Popen([str(BIN / "yikatong"), "serve", "--port", str(portal_port)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([str(BIN / "uvicorn"), "loadtests.hello:app", "--port", str(hello_port),
                          "--log-level", "warning"], env=env, cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        wait_http(portal_port, "/healthz", timeout=60)
        wait_http(hello_port, "/", timeout=60)
        portal = _locust("CitizenUser", portal_port, users, seconds, tmp, env)
        hello = _locust("HelloUser", hello_port, users, seconds, tmp, env)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=20)
    out = ["## Citizen load (locust)", "",
           f"{users} users, {seconds} s each, think time 0.5–2 s, one uvicorn worker, locust on the same 2 cores; "
           f"portal over the demo database of {lines:,} lines (embedded search, SQLite public store).", "",
           "| target | requests | req/s | p50 | p95 | failures |", "| --- | --- | --- | --- | --- | --- |"]
    for name, row in (("portal (citizen scenario)", portal), ("bare Starlette hello-world", hello)):
        out.append(f"| {name} | {int(row['Request Count']):,} | {float(row['Requests/s']):.1f} | "
                   f"{row['50%']} ms | {row['95%']} ms | {row['Failure Count']} |")
    for name, row in (("portal", portal), ("hello", hello)):
        if row["failures_detail"]:
            out.append(f"Failures ({name}): {row['failures_detail']}")
    out.append("")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=int(os.environ.get("BENCH_LINES", "1000000")))
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--skip-locust", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="yikatong-bench-"))
    data_dir = tmp / "data"
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("DATABASE_URL") and k not in ("MEILI_URL", "REDIS_URL")}
    env.update({"YIKATONG_DEMO": "1", "YIKATONG_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)})
    report = [f"# Benchmark run {time.strftime('%Y-%m-%d %H:%M')}", "",
              f"Machine: {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}.", ""]
    try:
        report += bench_demo_and_index(args.lines, env, data_dir)
        report += bench_roster(tmp)
        report += bench_search(env)
        if not args.skip_locust:
            report += bench_locust(env, args.users, args.seconds, tmp, args.lines)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(report)
    print(text)
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "bench.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
