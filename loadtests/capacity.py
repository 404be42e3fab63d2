"""`make bench`: the capacity of the public side at payment-day load, beside the ceiling, in one run.

    .venv/bin/python loadtests/capacity.py [--lines 1000000] [--duration 15] [--connections 50]
                                          [--data-dir DIR] [--workers 1,2] [--redis-url URL]
                                          [--no-write]

1. data: ``yikatong demo --lines N`` and ``yikatong index rebuild`` in a temporary data folder
   (or reuse ``--data-dir`` when it already holds an index);
2. servers: ``yikatong serve --workers W`` (the production path: one SO_REUSEPORT TCP_NODELAY socket per worker) and a
   bare Starlette hello-world (``loadtests/hello.py``) served the same way, for each W;
3. load: ``wrk`` (Debian package ``wrk``), ``--connections`` keep-alive connections in a closed
   loop with no think time, 2 client threads on the same machine, ``--duration`` seconds per
   target: hello-world; disclosure search (a mix of 1-, 2- and 3+-character terms with and
   without filters, repeating as real traffic does); a cold mix where no query repeats; one
   county with facets; near-static pages; the personal query ``POST /api/query`` for people
   drawn at random from the published ones, from many client addresses (``X-Forwarded-For``, as
   the reverse proxy passes it), with the rate limiter on (limits lifted so it refuses nothing;
   with Redis too when ``--redis-url``/``REDIS_URL`` is set), and once more for the demo's few
   sample people only (the heaviest answers);
4. memory: resident size of each worker after the runs;
5. freshness: under the search load, a batch of the demo is published inside with the product's
   own services (the bank's answer imported, then the department's "publish" step, as
   ``demo/build.py`` replays them) while ``yikatong index sync --follow`` runs; the time until
   ``/disclosures.json`` shows it is measured.

Prints one Markdown table (req/s, p50, p95, p99, errors, ratio to the hello-world of the same
worker count) and writes it to ``docs/benchmarks.md`` between the ``capacity`` markers (and to
``artifacts/capacity.md``). Nothing outside the temporary folder is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin import fieldcrypt
from admin.access.roles import Actor, actor_of
from admin.actions import WorkflowError
from admin.bank import files as bank_files
from admin.bank import ledger
from admin.bank import service as bank_service
from admin.batches import workflow
from admin.models import Batch, CardAccount, Operator, PaymentLine, Person, Project
from core.config import Config
from core.db import Database
from core.timeutil import today

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- capacity:start -->", "<!-- capacity:end -->"

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
TWO = ["王庄", "庄村", "李家", "张湾", "高龄", "耕地", "补贴", "低保", "街道", "生态", "养老", "社区"]
LONG = ["高龄津贴", "耕地地力保护", "鲁山县", "城乡居民基础养老金", "残疾人", "种粮农民"]

# The targets of issue 17 (2 workers): req/s at least, p95 at most (ms); None = not set.
TARGETS = {
    "disclosure search, mix": (2000, 30.0),
    "disclosure search, cold (no repeats)": (500, 100.0),
    "one county with facets": (1000, 60.0),
    "near-static pages": ("50%", None),
    "personal query": (3000, 20.0),
    "personal query (Redis limiter)": (3000, 20.0),
}


@dataclass
class Run:
    target: str
    workers: int
    requests: int
    seconds: float
    p50: float
    p95: float
    p99: float
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# --- plumbing ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server on port {port} did not come up")


def need_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk 未安装，正在安装 Debian 软件包 wrk …", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("make bench 需要 wrk（Debian 软件包 wrk）：sudo apt-get install -y wrk")


class Server:
    """``yikatong serve`` (or the hello-world through the same serving code) in its own process group."""

    def __init__(self, workers: int, env: dict[str, str], hello: bool = False) -> None:
        self.port = free_port()
        if hello:
            code = ("import sys; sys.path.insert(0, %r); from cli.serve import serve_public; "
                    "serve_public('127.0.0.1', %d, workers=%d, app='loadtests.hello:create_app')"
                    % (str(ROOT), self.port, workers))
            args = [sys.executable, "-c", code]
        else:
            args = [str(BIN / "yikatong"), "serve", "--port", str(self.port), "--workers", str(workers)]
        self.proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_http(self.port, "/" if hello else "/healthz")
        except BaseException:
            os.killpg(self.proc.pid, signal.SIGKILL)  # never leave a server behind
            self.proc.wait()
            raise

    def worker_rss_mb(self) -> list[float]:
        out = []
        for pid in _children(self.proc.pid):
            try:
                if b"spawn_main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    continue  # multiprocessing's resource tracker, not a worker
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"VmRSS:\s+(\d+) kB", status)
            if match:
                out.append(int(match.group(1)) / 1024)
        return out

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


# --- wrk scripts ---------------------------------------------------------------------------------

LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("YK %d %d %d %.3f %.3f %.3f\n", summary.requests, summary.duration,
    e.status + e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def script_round_robin(requests: list[tuple[str, str, str | None]], *, clients: int = 0) -> str:
    """Each thread walks the list from its own offset: (method, path, JSON body or None).
    ``clients``: each request comes from one of that many client addresses in turn, as the
    reverse proxy reports them (``X-Forwarded-For``, trusted from 127.0.0.1: docs/deploy.md)."""
    rows = ",\n".join("{%s, %s, %s}" % (lua_string(m), lua_string(p), lua_string(b) if b else "nil")
                      for m, p, b in requests)
    return f"""
local reqs = {{
{rows}
}}
local clients = {clients}
local counter = 0
setup = function(thread) counter = counter + 1; thread:set("tid", counter) end
local i = nil
local n = 0
request = function()
  if i == nil then i = ((tid or 1) * 7919) % #reqs end
  i = i % #reqs + 1
  local r = reqs[i]
  local headers = {{}}
  if r[3] then headers["Content-Type"] = "application/json" end
  if clients > 0 then
    n = n + 1
    local c = ((tid or 1) * 104729 + n) % clients
    headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.floor(c / 65536) % 256,
                                               math.floor(c / 256) % 256, c % 256)
  end
  return wrk.format(r[1], r[2], headers, r[3])
end
""" + LUA_DONE


def script_cold(terms: list[str], regions: list[str]) -> str:
    """The n-th request is the n-th combination of term × region × year × kind × sort; thread t
    takes n = t, t + T, …: no URL repeats within a run (well over a million combinations)."""
    return f"""
local terms = {{{", ".join(lua_string(urlencode({"q": t})) for t in terms)}}}
local regions = {{{", ".join(lua_string(r) for r in regions)}}}
local years = {{"", "&year=2024", "&year=2025", "&year=2023", "&year=2022"}}
local kinds = {{"", "&kind=result", "&kind=publicity"}}
local sorts = {{"", "&sort=amount", "&sort=date_asc", "&sort=amount_asc"}}
local counter = 0
setup = function(thread) counter = counter + 1; thread:set("tid", counter) end
local n = nil
request = function()
  if n == nil then n = tid - 1 end
  local k = n
  n = n + 2
  local t = terms[k % #terms + 1]; k = math.floor(k / #terms)
  local r = regions[k % #regions + 1]; k = math.floor(k / #regions)
  local y = years[k % #years + 1]; k = math.floor(k / #years)
  local kd = kinds[k % #kinds + 1]; k = math.floor(k / #kinds)
  local s = sorts[k % #sorts + 1]
  return wrk.format("GET", "/disclosures.json?" .. t .. "&region=" .. r .. y .. kd .. s)
end
""" + LUA_DONE


def run_wrk(wrk: str, port: int, script: str, seconds: int, connections: int, tmp: Path) -> tuple[int, float, float, float, float, int]:
    path = tmp / f"wrk-{time.monotonic_ns()}.lua"
    path.write_text(script, encoding="utf-8")
    out = subprocess.run([wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(path),
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"^YK (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk gave no summary:\n{out}")
    requests, micros, errors = int(match[1]), int(match[2]), int(match[3])
    return requests, micros / 1e6, float(match[4]), float(match[5]), float(match[6]), errors


# --- workloads ---------------------------------------------------------------------------------


def workloads(port: int, people: list[dict[str, str]], showcase: list[dict[str, str]]) -> dict[str, str]:
    """The wrk script of each target, from what the served index holds: ``people`` are asked
    for by the personal query, ``showcase`` (the demo's sample people) by its second row."""
    base = f"http://127.0.0.1:{port}"
    top = httpx.get(base + "/disclosures.json", params={"per_page": 1}, timeout=60).json()
    counties = [d["code"] for d in top["drilldown"]]
    townships: list[str] = []
    for county in counties:
        answer = httpx.get(base + "/disclosures.json", params={"region": county, "per_page": 1}, timeout=60).json()
        townships += [d["code"] for d in answer["drilldown"]]
    projects = [p["code"] for p in top["projects"]][:20]
    policies = [h["id"] for h in httpx.get(base + "/policies.json", params={"per_page": 10}, timeout=60).json()["hits"]]
    rng = random.Random(17)
    mix: list[tuple[str, str, str | None]] = []
    for _ in range(160):  # ~40% 1 char, 40% 2 chars, 20% 3+ / two terms; half with a filter
        roll = rng.random()
        q = (rng.choice(SURNAMES) if roll < 0.4 else rng.choice(TWO) if roll < 0.8
             else rng.choice(LONG) if roll < 0.9 else rng.choice(SURNAMES) + " " + rng.choice(TWO))
        params = {"q": q}
        if rng.random() < 0.5:
            choice = rng.random()
            if choice < 0.4:
                params["region"] = rng.choice(counties + townships)
            elif choice < 0.7:
                params["year"] = str(rng.choice([2023, 2024, 2025]))
            else:
                params["project"] = rng.choice(projects)
        mix.append(("GET", "/disclosures.json?" + urlencode(params) if rng.random() < 0.5
                    else "/disclosures?" + urlencode(params), None))
    county = counties[0]
    static = [("GET", p, None) for p in ["/", "/policies", "/policies.json", "/statistics", "/statistics.json",
                                         *[f"/policies/{i}" for i in policies[:5]]]]
    def asks(who: list[dict[str, str]]) -> list[tuple[str, str, str | None]]:
        return [("POST", "/api/query", json.dumps({"id_number": p["id_number"], "name": p["name"],
                                                   "card_digits": p["card_last4"]}, ensure_ascii=False))
                for p in who]
    cold_terms = list(SURNAMES) + TWO + LONG + [a + b for a in SURNAMES[:8] for b in "家庄营村"]
    return {
        "disclosure search, mix": script_round_robin(mix),
        "disclosure search, cold (no repeats)": script_cold(cold_terms, counties + townships),
        "one county with facets": script_round_robin([("GET", f"/disclosures.json?region={county}", None),
                                                      ("GET", f"/disclosures?region={county}", None)]),
        "near-static pages": script_round_robin(static),
        "personal query": script_round_robin(asks(people), clients=PERSONAL_CLIENTS),
        "personal query, the demo's sample people": script_round_robin(asks(showcase), clients=PERSONAL_CLIENTS),
    }


# --- freshness -----------------------------------------------------------------------------------


def _as_someone(session: Session, role: str, step: Callable[[Actor], Any]) -> Any:
    """Take ``step`` as the first operator of ``role`` the workflow lets take it (role and scope
    are the workflow's own checks: a refusal changes nothing)."""
    refusals = []
    for operator in session.scalars(select(Operator).where(Operator.role == role).order_by(Operator.id)):
        try:
            return step(actor_of(session, operator))
        except WorkflowError as error:
            refusals.append(error.message)
    raise RuntimeError(f"no {role} may take this step: {refusals[:3]}")


def _candidate(session: Session) -> Any:
    """The demo batch :func:`publish_one_batch` carries on: (id, project code, year, state) or None."""
    return session.execute(
        select(Batch.id, Project.code, Batch.year, Batch.state).join(Project, Project.id == Batch.project_id)
        .where(Batch.state.in_(["bank", "paid"]))
        .order_by((Batch.state == "paid").desc(), Batch.id.desc()).limit(1)).first()


PERSONAL_SAMPLE = 600
PERSONAL_CLIENTS = 5000


def sample_people(env: dict[str, str], n: int = PERSONAL_SAMPLE) -> list[dict[str, str]]:
    """``n`` people drawn at random from those with lines in published batches, as they would
    type themselves in (ID number, name, the last 4 digits of the card of one of their lines):
    read from the batch database with the field key, as only an operator's tool may."""
    config = Config.from_env(env)
    db = Database(config.batch_database_url)
    fields = fieldcrypt.cipher(config.field_key)
    try:
        with db.session() as session:
            rows = session.execute(
                select(Person.id_number_enc, Person.name, CardAccount.card_last4)
                .join(PaymentLine, PaymentLine.person_id == Person.id)
                .join(CardAccount, CardAccount.id == PaymentLine.card_account_id)
                .join(Batch, Batch.id == PaymentLine.batch_id)
                .where(Batch.state == "published", PaymentLine.state == "paid")
                .order_by(func.random()).limit(n * 3)).all()
    finally:
        db.dispose()
    people: dict[str, dict[str, str]] = {}
    for id_enc, name, last4 in rows:
        number = fields.decrypt(id_enc)
        people.setdefault(number, {"id_number": number, "name": name, "card_last4": last4})
    return list(people.values())[:n]


def next_batch(env: dict[str, str]) -> tuple[str, str] | None:
    """The project code and year of the batch :func:`publish_one_batch` would publish next."""
    db = Database(Config.from_env(env).batch_database_url)
    try:
        with db.session() as session:
            row = _candidate(session)
    finally:
        db.dispose()
    return None if row is None else (row[1], str(row[2]))


def publish_one_batch(env: dict[str, str], started: Callable[[], None] = lambda: None) -> tuple[str, str] | None:
    """Carry one demo batch through the workflow's last steps with the product's own services, as
    ``demo/build.py`` does: a batch at the bank gets the bank's answer (every line paid: the bank
    operator exports the bank file and imports it back, ``admin.bank.service``), then the
    department publishes the results (``admin.batches.workflow`` "publish"), calling ``started``
    just before that last step: freshness counts from the publication, not from the bank's answer.
    Each step commits its state, audit entry and outbox entry in one transaction, as an admin
    request does. Returns the project code and year to look for, or None when the demo left no
    batch at the bank or paid."""
    config = Config.from_env(env)
    db = Database(config.batch_database_url)
    day = today()
    try:
        with db.session() as session:
            row = _candidate(session)
        if row is None:
            return None
        batch_id, project, year, state = row
        if state == "bank":
            with db.session() as session:
                def bank_round(bank: Actor) -> None:
                    for info in ledger.open_bank_files(session, batch_id):
                        exported = bank_service.export_file(session, config, bank, batch_id, file_id=info.id,
                                                            fmt="csv", today=day)
                        answer = bank_files.with_results(exported.data, {}, exported.filename)  # all paid
                        bank_service.import_results(session, config, bank, answer, "回盘.csv", day,
                                                    batch_id=batch_id)

                _as_someone(session, "bank_operator", bank_round)
        started()
        with db.session() as session:
            _as_someone(session, "department_operator", lambda op: workflow.perform(
                session, op, batch_id, "publish", {"comment": "发放结果已核对，予以公开。"}, day))
    finally:
        db.dispose()
    return project, str(year)


def freshness(wrk: str, server: Server, script: str, env: dict[str, str], seconds: int, connections: int,
              tmp: Path) -> str:
    follower = subprocess.Popen([str(BIN / "yikatong"), "index", "sync", "--follow"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    path = tmp / "fresh.lua"
    path.write_text(script, encoding="utf-8")
    load = subprocess.Popen([wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(path),
                             f"http://127.0.0.1:{server.port}"], stdout=subprocess.DEVNULL)
    try:
        time.sleep(max(2.0, seconds / 3))
        client = httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=10)
        target = next_batch(env)
        if target is None:
            return "no batch left short of publication in the demo data: freshness not measured"
        project, year = target
        url = "/disclosures.json?" + urlencode({"project": project, "year": year, "kind": "result", "per_page": 1})
        before = client.get(url).json()["total"]  # before publishing: the follower may be quicker than a first look
        clock = {"started": time.monotonic()}
        publish_one_batch(env, lambda: clock.update(started=time.monotonic()))
        started = clock["started"]
        while True:
            total = client.get(url).json()["total"]
            elapsed = time.monotonic() - started
            if total != before or elapsed > 30:
                break
            time.sleep(0.02)
        seen = "visible" if total != before else "NOT visible"
        return (f"a batch published inside (project {project}, {year}) was {seen} on the portal after "
                f"**{elapsed:.2f} s**, under the search load, with `yikatong index sync --follow` (documents every 0.5 s, statistics in their own thread)")
    finally:
        load.wait()
        follower.send_signal(signal.SIGINT)
        try:
            follower.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(follower.pid, signal.SIGKILL)


# --- the run -------------------------------------------------------------------------------------


def prepare_data(args: argparse.Namespace, env: dict[str, str]) -> tuple[str, list[str]]:
    notes = []
    data_dir = Path(env["YIKATONG_DATA_DIR"])
    if not (data_dir / "search" / "registry.json").exists():
        started = time.perf_counter()
        subprocess.run([str(BIN / "yikatong"), "demo", "--lines", str(args.lines), "--seed", "20260101"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        demo_s = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run([str(BIN / "yikatong"), "index", "rebuild", "--quiet"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        notes.append(f"demo build {demo_s:.0f} s, index rebuild {time.perf_counter() - started:.0f} s")
    status = json.loads(subprocess.run([str(BIN / "yikatong"), "index", "status", "--json"], env=env,
                                       check=True, capture_output=True, text=True).stdout)
    counts = status.get("indexes") or status.get("documents") or {}
    size = ", ".join(f"{k} {v.get('documents', v) if isinstance(v, dict) else v:,}" for k, v in counts.items())
    return size, notes


def table(runs: list[Run], ceilings: dict[int, float]) -> list[str]:
    out = ["| target | workers | req/s | p50 | p95 | p99 | errors | ratio to ceiling | target (2 workers) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in runs:
        ceiling = ceilings.get(r.workers) or 0
        ratio = f"{r.rate / ceiling:.0%}" if ceiling and not r.target.startswith("hello") else "—"
        goal = TARGETS.get(r.target)
        verdict = "—"
        if goal and r.workers == 2:
            rate_goal, p95_goal = goal
            if rate_goal == "50%":
                ok = ceiling and r.rate >= 0.5 * ceiling
                verdict = f"≥ 50% of ceiling: {'met' if ok else 'not met'}"
            else:
                ok = r.rate >= rate_goal and (p95_goal is None or r.p95 <= p95_goal)
                verdict = f"≥ {rate_goal:,} req/s, p95 ≤ {p95_goal:g} ms: {'met' if ok else 'not met'}"
        out.append(f"| {r.target} | {r.workers} | {r.rate:,.0f} | {r.p50:.1f} ms | {r.p95:.1f} ms | {r.p99:.1f} ms | "
                   f"{r.errors} | {ratio} | {verdict} |")
    return out


def write_doc(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    block = f"{START}\n{text}\n{END}"
    if START in doc and END in doc:
        doc = doc[:doc.index(START)] + block + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(doc, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=15, help="seconds per target")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, e.g. 1,2")
    parser.add_argument("--data-dir", type=Path, help="reuse this data folder (built there when empty)")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or None,
                        help="also measure the personal query with the Redis rate limiter")
    parser.add_argument("--only", action="append", help="run only targets whose name starts with this")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    wrk = need_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="yikatong-capacity-"))
    data_dir = args.data_dir or tmp / "data"
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("DATABASE_URL") and k not in ("MEILI_URL", "REDIS_URL", "SEARCH_INDEX_PREFIX")}
    env.update({"YIKATONG_DEMO": "1", "YIKATONG_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT),
                "LOG_LEVEL": "WARNING",
                # the limiter runs on every query but refuses none: one client address sends them all
                "RATE_LIMIT_QUERY_PER_CLIENT": "1000000000/60", "RATE_LIMIT_KIOSK_PER_DEVICE": "1000000000/60"})
    sys.path.insert(0, str(ROOT))
    load_start = os.getloadavg()[0]
    runs: list[Run] = []
    ceilings: dict[int, float] = {}
    notes: list[str] = []
    memory: list[str] = []
    fresh = ""
    try:
        size, notes = prepare_data(args, env)
        people = json.loads(subprocess.run([str(BIN / "yikatong"), "demo", "people", "--json"], env=env,
                                           check=True, capture_output=True, text=True).stdout)
        # served as production serves: not in demo mode (no banner, no sample people on the home
        # page), with the secrets the demo generated (the same person keys)
        secrets_file = json.loads((data_dir / "secrets.json").read_text(encoding="utf-8"))
        env = {**env, **secrets_file, "YIKATONG_DEMO": "0"}
        showcase, people = people, sample_people(env)
        for workers in [int(w) for w in args.workers.split(",")]:
            hello = Server(workers, env, hello=True)
            try:
                script = script_round_robin([("GET", "/", None)])
                run_wrk(wrk, hello.port, script, 1, args.connections, tmp)
                result = run_wrk(wrk, hello.port, script, args.duration, args.connections, tmp)
                runs.append(Run("hello-world (ceiling)", workers, *result))
                ceilings[workers] = runs[-1].rate
            finally:
                hello.stop()
            server = Server(workers, env)
            try:
                scripts = workloads(server.port, people, showcase)
                for name, script in scripts.items():
                    if args.only and not any(name.startswith(o) for o in args.only):
                        continue
                    run_wrk(wrk, server.port, script, 1, args.connections, tmp)  # warm-up second
                    result = run_wrk(wrk, server.port, script, args.duration, args.connections, tmp)
                    runs.append(Run(name, workers, *result))
                    print(table(runs[-1:], ceilings)[-1], file=sys.stderr)
                rss = server.worker_rss_mb()
                memory.append(f"{workers} worker(s): RSS per worker " + ", ".join(f"{m:.0f} MB" for m in rss))
                if workers == max(int(w) for w in args.workers.split(",")) and not args.only:
                    fresh = freshness(wrk, server, scripts["disclosure search, mix"], env,
                                      max(args.duration, 6), args.connections, tmp)
            finally:
                server.stop()
            if args.redis_url and workers == 2:
                # (not SEARCH_INDEX_PREFIX: it names the search indexes too, which would then be
                # missing; the limiter's keys expire with their window)
                redis_env = {**env, "REDIS_URL": args.redis_url}
                server = Server(workers, redis_env)
                try:
                    script = workloads(server.port, people, showcase)["personal query"]
                    run_wrk(wrk, server.port, script, 1, args.connections, tmp)
                    result = run_wrk(wrk, server.port, script, args.duration, args.connections, tmp)
                    runs.append(Run("personal query (Redis limiter)", workers, *result))
                finally:
                    server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the wrk scripts (and the data, unless --data-dir)
    lines = [
        f"### Capacity run {time.strftime('%Y-%m-%d %H:%M')} (`make bench`)",
        "",
        f"Machine: {platform.node()}, {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}; load average at the start {load_start:.1f}. "
        f"Data: `yikatong demo --lines {args.lines:,}` indexed ({size}). "
        f"Load: wrk, {args.connections} keep-alive connections, 2 client threads on the same machine, "
        f"closed loop without think time, {args.duration} s per target after a 1 s warm-up. "
        "Servers: `yikatong serve --workers N` outside demo mode (one SO_REUSEPORT TCP_NODELAY socket per worker, access log off); the "
        "hello-world is served by the same code. Ratio = req/s ÷ hello-world req/s at the same workers.",
        "",
        *table(runs, ceilings),
        "",
        *(f"- Memory: {m}." for m in memory),
        *([f"- Freshness: {fresh}."] if fresh else []),
        *(f"- {n}." for n in notes),
        f"- Personal query: {len(people)} people drawn at random from those with paid lines in published "
        f"batches (the batch database read with the field key), asking from {PERSONAL_CLIENTS:,} client "
        f"addresses in turn (`X-Forwarded-For` from the proxy); the second row asks for the demo's "
        f"{len(showcase)} sample people only (the heaviest answers: many years and projects each). "
        "The limits are lifted for the run but the limiter runs on each query; in-process limiter unless "
        "the Redis row says otherwise.",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "capacity.md").write_text(text + "\n", encoding="utf-8")
    if not args.no_write:
        write_doc(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
