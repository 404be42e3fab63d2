"""Load test of the WeChat endpoint: signed text messages from many followers, as WeChat sends them.

Three steps (see docs/wechat.md for the figures measured):

    # 1. an embedded index with N payments lines + the policies, and K bound followers
    .venv/bin/python loadtests/locust_wechat.py prepare --data-dir /tmp/wxload --lines 100000 --bound 2000
    # 2. the public app over it (uvicorn, one worker)
    .venv/bin/python loadtests/locust_wechat.py serve --data-dir /tmp/wxload --port 8099
    # 3. the load
    WXLOAD_DIR=/tmp/wxload .venv/bin/locust -f loadtests/locust_wechat.py --headless \
        -u 50 -r 10 -t 30s --host http://127.0.0.1:8099

Each simulated follower sends, with a fresh signature, timestamp, nonce and MsgId each time:
查询 (a bound person's latest lines, 50 %), 明白条 (20 %), 政策 + a keyword (20 %) and 帮助 (10 %).
A reply that is not a WeChat XML text reply counts as a failure.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOKEN = os.environ.get("WECHAT_TOKEN", "loadtest-token")
SECRETS = {
    "YIKATONG_HMAC_KEY": "loadtest-hmac-key-0001",
    "YIKATONG_SESSION_SECRET": "loadtest-session-secret-0001",
    "YIKATONG_FIELD_KEY": "x3Qv5c8yQ2kCwq3Wz1wJb3p0aGVxYjJ6b3lqbGx4eGs=",
    "WECHAT_TOKEN": TOKEN,
    "WECHAT_APPID": "wx0123456789abcdef",
}
PROJECTS = [("GDDL", "耕地地力保护补贴", "农业农村局"), ("GLJT", "高龄津贴", "民政局"),
            ("CJRBT", "困难残疾人生活补贴", "残联"), ("STBC", "生态公益林补偿", "林业局"),
            ("DBBZ", "城乡低保补助", "民政局")]
KEYWORDS = ["耕地", "高龄", "残疾", "公益林", "低保", "补贴"]


def _env(data_dir: str) -> dict[str, str]:
    return {**SECRETS, "YIKATONG_DATA_DIR": data_dir, "REDIS_URL": os.environ.get("REDIS_URL", "")}


def prepare(data_dir: str, lines: int, bound: int, seed: int = 1) -> None:
    from core import migrate, personkey
    from core.config import Config
    from core.db import Database
    from search import make_engine
    from search.schemas import SPECS
    from bot.bindings import bind

    config = Config.from_env(_env(data_dir))
    rng = random.Random(seed)
    engine = make_engine(config.data_dir)
    for spec in SPECS.values():
        engine.ensure_index(spec)
    engine.replace_documents("policies", [
        {"id": f"p{i}", "code": code, "name": name, "short_name": name[:4], "department": dept, "level": "县",
         "year": 2024, "scope": "全县", "beneficiaries": "符合条件的群众", "standard": "按标准发放",
         "document_title": f"关于{name}的通知", "document_number": f"鲁财〔2024〕{i}号", "status": "执行中"}
        for i, (code, name, dept) in enumerate(PROJECTS)
    ])
    people = max(1, lines // 5)
    keys = [personkey.person_key(config.hmac_key, f"person-{n}") for n in range(people)]
    started = time.perf_counter()

    def docs():
        for n in range(lines):
            key = keys[n % people]
            code, name, dept = PROJECTS[rng.randrange(len(PROJECTS))]
            year = rng.choice((2023, 2024, 2025))
            state = rng.choices(("paid", "pending", "failed"), (90, 6, 4))[0]
            amount = rng.choice(("120.50", "100.00", "80.00", "256.30"))
            yield {"id": f"L{n:08d}", "person_key": key, "name_digest": "", "card_last4": "0000",
                   "card_digest": "", "project_code": code, "project_name": name, "department": dept,
                   "year": year, "period": f"{year}年", "amount": amount,
                   "amount_cents": int(amount.replace(".", "")),
                   "date": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", "state": state,
                   "stage": "approval" if state == "pending" else "",
                   "failure_code": "card_frozen" if state == "failed" else "",
                   "failure_reason": "社保卡账户已冻结，银行无法入账" if state == "failed" else "",
                   "advice": "", "region_codes": ["41", "4104", "410423"], "village": "王庄村",
                   "batch_code": f"B{year}{code}"}

    from indexer.documents import person_documents

    lines_made = list(docs())
    count = engine.replace_documents("payments", lines_made)
    lines_made.sort(key=lambda d: d["person_key"])  # the persons documents: one per person, as the indexer writes
    persons = engine.replace_documents("persons", person_documents(lines_made))
    print(f"payments: {count} lines for {persons} people in {time.perf_counter() - started:.1f} s")
    migrate.upgrade(config.public_database_url, "public")
    db = Database(config.public_database_url)
    openids = []
    for n in range(bound):
        openid = "oLoad" + hashlib.sha256(f"{seed}-{n}".encode()).hexdigest()[:23]
        bind(db, openid, keys[n % people])
        openids.append(openid)
    db.dispose()
    (Path(data_dir) / "openids.json").write_text(json.dumps(openids))
    print(f"bound followers: {bound} (openids in {data_dir}/openids.json)")


def serve(data_dir: str, port: int) -> None:
    import uvicorn

    from cli.apps import public_app
    from core.config import Config
    from search import make_engine

    config = Config.from_env(_env(data_dir))
    app = public_app(config, search=make_engine(config.data_dir))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--lines", type=int, default=100_000)
    p.add_argument("--bound", type=int, default=2000)
    s = sub.add_parser("serve")
    s.add_argument("--data-dir", required=True)
    s.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    if args.cmd == "prepare":
        prepare(args.data_dir, args.lines, args.bound)
    else:
        serve(args.data_dir, args.port)
else:  # imported by locust
    from locust import HttpUser, between, task
    from wechatpy.utils import WeChatSigner

    _ids = itertools.count(int(time.time() * 1000) * 1000)
    _dir = os.environ.get("WXLOAD_DIR", "")
    OPENIDS: list[str] = json.loads((Path(_dir) / "openids.json").read_text()) if _dir else []

    class WechatFollower(HttpUser):
        # WXLOAD_WAIT=0 for saturation (each user sends as fast as answers come back)
        wait_time = between(0, 2 * float(os.environ.get("WXLOAD_WAIT", "1")))

        def on_start(self) -> None:
            self.openid = random.choice(OPENIDS) if OPENIDS else "oLoad" + secrets.token_hex(11)

        def send(self, content: str, name: str) -> None:
            ts, nonce = str(int(time.time())), secrets.token_hex(5)
            signer = WeChatSigner()
            signer.add_data(TOKEN, ts, nonce)
            xml = (f"<xml><ToUserName><![CDATA[gh_load]]></ToUserName>"
                   f"<FromUserName><![CDATA[{self.openid}]]></FromUserName><CreateTime>{ts}</CreateTime>"
                   f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
                   f"<MsgId>{next(_ids)}</MsgId></xml>")
            with self.client.post("/wechat/", params={"signature": signer.signature, "timestamp": ts,
                                                      "nonce": nonce},
                                  data=xml.encode(), headers={"Content-Type": "text/xml"},
                                  name=name, catch_response=True) as response:
                if response.status_code != 200 or "<MsgType><![CDATA[text]]></MsgType>" not in response.text:
                    response.failure(f"unexpected reply {response.status_code}")

        @task(5)
        def latest(self) -> None:
            self.send("查询", "查询")

        @task(2)
        def statement(self) -> None:
            self.send("明白条", "明白条")

        @task(2)
        def policy(self) -> None:
            self.send("政策 " + random.choice(KEYWORDS), "政策")

        @task(1)
        def help(self) -> None:
            self.send("帮助", "帮助")
