"""Sub-commands of the WeChat bot: ``yikatong wechat menu [--push]`` and ``yikatong wechat notify``."""

from __future__ import annotations

import argparse
import json
import sys

from core.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's sub-commands."""
    wechat = sub.add_parser("wechat", help="WeChat official account (公众号): menu and notices")
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


def _menu(args: argparse.Namespace) -> int:
    from bot.menu import menu

    config = Config.from_env(require_secrets=False)
    data = menu(config.public_base_url)
    print(json.dumps(data, ensure_ascii=False, indent=2))
    if not args.push:
        return 0
    if not (config.wechat_appid and config.wechat_secret):
        print("错误：推送菜单需要设置 WECHAT_APPID 和 WECHAT_SECRET。", file=sys.stderr)
        return 2
    from bot.sender import SendError, WechatSender, token_storage

    sender = WechatSender(config.wechat_appid, config.wechat_secret, session=token_storage(config))
    try:
        sender.push_menu(data)
    except SendError as exc:
        print(f"错误：菜单推送失败（{exc}）。", file=sys.stderr)
        return 2
    print("菜单已推送，微信客户端约5分钟内生效。", file=sys.stderr)
    return 0


def _notify(args: argparse.Namespace) -> int:
    from core import migrate
    from core.db import Database
    from indexer.search.base import make_engine

    from bot.notices import notify
    from bot.sender import make_sender

    config = Config.from_env()
    migrate.upgrade(config.public_database_url, "public")
    db = Database(config.public_database_url)
    try:
        search = make_engine(data_dir=config.data_dir, meili_url=config.meili_url,
                             meili_key=config.meili_api_key, prefix=config.search_index_prefix)
        report = notify(db, search, make_sender(config), template_id=args.template_id or config.wechat_template_id or "",
                        base_url=config.public_base_url)
    finally:
        db.dispose()
    print(report.summary())
    return 0 if not report.failed else 1
