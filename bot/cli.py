"""Sub-commands of the WeChat bot: ``yikatong wechat menu [--push]``, ``yikatong wechat notify``
and ``yikatong wechat say`` (plays WeChat's servers against a running ``/wechat/``, see
:mod:`bot.simulator`)."""

from __future__ import annotations

import argparse
import json
import sys

from bot.menu import menu as custom_menu
from bot.notices import notify
from bot.sender import SendError, WechatSender, make_sender, token_storage
from bot.simulator import DEFAULT_OPENID, Simulator, SimulatorError
from core import migrate
from core.config import load_config
from core.db import Database
from search import engine_for


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's sub-commands."""
    wechat = sub.add_parser("wechat", help="WeChat official account (公众号): menu, notices, try the bot")
    commands = wechat.add_subparsers(dest="wechat_command", metavar="ACTION")
    wechat.set_defaults(handler=lambda args: (wechat.print_help(), 0)[1])

    menu = commands.add_parser("menu", help="print the custom menu JSON; --push sends it to WeChat")
    menu.add_argument("--push", action="store_true",
                      help="create the menu through the WeChat API (needs WECHAT_APPID and WECHAT_SECRET)")
    menu.set_defaults(handler=_menu)

    notify = commands.add_parser("notify", help="queue and send notices for newly paid lines of bound people")
    notify.add_argument("--template-id", default="",
                        help="template message id (模板ID); without it a customer-service text is sent")
    notify.set_defaults(handler=_notify)

    say = commands.add_parser(
        "say", help="send a signed message to the running /wechat/ as WeChat would, print the reply",
        description="模拟微信服务器：向正在运行的服务的 /wechat/ 发送一条签名（加密模式下加密）的消息，"
                    "校验并解密被动回复后打印出来。例：yikatong wechat say 绑定")
    say.add_argument("text", nargs="?", default=None, metavar="TEXT", help="the text message, e.g. 帮助, 绑定, 查询")
    say.add_argument("--openid", default=None,
                     help="the follower (default demo-openid, the same every time, so a binding sticks)")
    say.add_argument("--event", choices=("subscribe", "unsubscribe", "CLICK"), default=None,
                     help="send an event instead of a text (CLICK needs --key, e.g. LATEST)")
    say.add_argument("--key", default="", help="menu key of a CLICK event: LATEST, STATEMENT, FAILURES, POLICY, BIND, HELP…")
    say.add_argument("--url", default=None, help="base URL of the running service (default PUBLIC_BASE_URL)")
    say.set_defaults(handler=_say)


def _menu(args: argparse.Namespace) -> int:
    config = load_config(require_secrets=False)
    data = custom_menu(config.public_base_url)
    print(json.dumps(data, ensure_ascii=False, indent=2))
    if not args.push:
        return 0
    if not (config.wechat_appid and config.wechat_secret):
        print("错误：推送菜单需要设置 WECHAT_APPID 和 WECHAT_SECRET。", file=sys.stderr)
        return 2
    sender = WechatSender(config.wechat_appid, config.wechat_secret, session=token_storage(config))
    try:
        sender.push_menu(data)
    except SendError as exc:
        print(f"错误：菜单推送失败（{exc}）。", file=sys.stderr)
        return 2
    print("菜单已推送，微信客户端约5分钟内生效。", file=sys.stderr)
    return 0


def _notify(args: argparse.Namespace) -> int:
    config = load_config()
    migrate.upgrade(config.public_database_url, "public")
    db = Database(config.public_database_url)
    try:
        search = engine_for(config)
        report = notify(db, search, make_sender(config), template_id=args.template_id or config.wechat_template_id or "",
                        base_url=config.public_base_url)
    finally:
        db.dispose()
    print(report.summary())
    return 0 if not report.failed else 1


def _say(args: argparse.Namespace) -> int:
    if args.event and args.text:
        print("错误：TEXT 与 --event 只能二选一。", file=sys.stderr)
        return 2
    if not args.event and not (args.text or "").strip():
        print("错误：请给出要发送的文字，例如 yikatong wechat say 帮助（或 --event subscribe）。", file=sys.stderr)
        return 2
    if args.event == "CLICK" and not args.key:
        print("错误：--event CLICK 需要 --key（菜单键，如 LATEST）。", file=sys.stderr)
        return 2
    openid = args.openid or DEFAULT_OPENID
    config = load_config(require_secrets=False)
    try:
        simulator = Simulator.from_config(config, args.url)
        reply = simulator.say(openid, text=args.text, event=args.event, key=args.key)
    except SimulatorError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    if not reply.text:
        print("（服务端答复 success：此刻没有回复；较慢的答复会随后以客服消息发送。）")
        return 0
    print(reply.text)
    for link in dict.fromkeys(reply.links):
        print(f"\n链接（在浏览器中打开）：{link}")
    return 0
