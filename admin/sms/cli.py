"""`yikatong sms send [--follow]` (send the queued arrival SMS through the configured gateway) and
`yikatong sms sandbox [--batch CODE] [--json]` (what the sandbox gateway received)."""

from __future__ import annotations

import argparse
import json
import time

from admin.batches.service import get_by_code
from admin.sms.gateways import make_gateway
from admin.sms.messages import sandbox_messages, send_pending
from core import migrate
from core.config import load_config
from core.db import Database
from core.errors import CommandError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    sms = sub.add_parser("sms", help="到账短信：发送、查看沙箱")
    actions = sms.add_subparsers(dest="sms_command", metavar="ACTION")
    send = actions.add_parser("send", help="通过配置的短信网关发送排队的到账短信（失败的稍后重试）")
    send.add_argument("--follow", action="store_true", help="每 5 秒发送一次，直到 Ctrl-C")
    send.set_defaults(handler=_send)
    sandbox = actions.add_parser("sandbox", help="列出沙箱网关收到的短信（手机号已遮盖）")
    sandbox.add_argument("--batch", help="只看这个批次（批次编号）")
    sandbox.add_argument("--json", action="store_true")
    sandbox.set_defaults(handler=_sandbox)
    sms.set_defaults(handler=lambda args: (sms.print_help(), 0)[1])


def _send(args: argparse.Namespace) -> int:
    config = load_config()
    migrate.upgrade(config.batch_database_url, "batch")
    db = Database(config.batch_database_url)
    gateway = make_gateway(config, db)
    try:
        while True:
            report = send_pending(db, gateway, config.field_key)
            if not args.follow or report.sent or report.retrying or report.failed:
                print(f"到账短信（{gateway.name}）：{report.summary()}")
            if not args.follow:
                return 0
            time.sleep(5.0)
    finally:
        db.dispose()


def _sandbox(args: argparse.Namespace) -> int:
    config = load_config()
    migrate.upgrade(config.batch_database_url, "batch")
    db = Database(config.batch_database_url)
    try:
        with db.session() as session:
            batch_id = None
            if args.batch:
                batch = get_by_code(session, args.batch)
                if batch is None:
                    raise CommandError(f"找不到批次 {args.batch}")
                batch_id = batch.id
            rows = sandbox_messages(session, batch_id)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return 0
    for row in rows:
        print(f"{row['received_at']:%Y-%m-%d %H:%M} {row['phone_masked']} {row['text']}")
    print(f"共 {len(rows)} 条。")
    return 0
