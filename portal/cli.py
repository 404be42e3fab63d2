"""Sub-commands of the public side — `yikatong kiosk …`: register, list, disable, enable and
re-key village kiosks.

The secret is printed once, by `add` and `rekey`, and never again (`list` shows only a
fingerprint of it). See docs/kiosk.md for what the terminal does with it.
"""

from __future__ import annotations

import argparse
import json
from typing import Callable

from core import migrate
from core.config import Config, load_config
from core.db import Database
from core.errors import CommandError
from core.timeutil import format_datetime_zh
from portal import kiosk_devices
from portal.kiosk_devices import DeviceInfo, KioskDeviceError


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's sub-commands."""
    kiosk = sub.add_parser("kiosk", help="village self-service kiosks (自助查询终端)")
    commands = kiosk.add_subparsers(dest="kiosk_command", metavar="ACTION")
    kiosk.set_defaults(handler=lambda args: (kiosk.print_help(), 0)[1])

    add = commands.add_parser("add", help="register a kiosk; prints its id and secret once")
    add.add_argument("--name", required=True, help="终端名称, e.g. 王庄村便民服务中心1号机")
    add.add_argument("--location", required=True, help="安放地点")
    add.add_argument("--region", required=True, help="9-digit township or 12-digit village code")
    add.add_argument("--contact", default="", help="负责人及电话 (operators only, never public)")
    add.set_defaults(handler=_command(_add))

    listing = commands.add_parser("list", help="kiosks with last seen time and query counts")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_command(_list))

    for action, text in (("disable", "stop a kiosk at once"), ("enable", "allow a disabled kiosk again"),
                         ("rekey", "issue a new secret (the old one stops working); prints it once")):
        parser = commands.add_parser(action, help=text)
        parser.add_argument("device_id", metavar="ID")
        parser.set_defaults(handler=_command({"disable": _disable, "enable": _enable, "rekey": _rekey}[action]))


def _command(fn: Callable[[Database, Config, argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        config = load_config()
        migrate.upgrade(config.public_database_url, "public")
        db = Database(config.public_database_url)
        try:
            return fn(db, config, args)
        except KioskDeviceError as exc:
            raise CommandError(str(exc)) from None
        finally:
            db.dispose()

    return handler


def _when(value) -> str:
    return format_datetime_zh(value) if value else "从未"


def _print_credential(info: DeviceInfo, secret: str, config: Config) -> None:
    print(f"终端编号 (device id): {info.device_id}")
    print(f"终端密钥 (secret):    {secret}")
    print("密钥只显示这一次：请立即写入终端配置，不要拍照、不要发到聊天群。遗失请用 `yikatong kiosk rekey` 换发。")
    print(f"触屏页面启动方式见 docs/kiosk.md（{config.public_base_url}/kiosk/start）。")


def _add(db: Database, config: Config, args: argparse.Namespace) -> int:
    info, secret = kiosk_devices.register_device(db, name=args.name, location=args.location,
                                                 region_code=args.region, contact=args.contact)
    print(f"已登记终端：{info.name}（{info.location}，{info.region_name or info.region_code}）")
    _print_credential(info, secret, config)
    return 0


def _list(db: Database, config: Config, args: argparse.Namespace) -> int:
    devices = kiosk_devices.list_devices(db)
    if args.json:
        print(json.dumps([{
            "device_id": d.device_id, "name": d.name, "location": d.location,
            "region_code": d.region_code, "contact": d.contact, "enabled": d.enabled,
            "created_at": d.created_at.isoformat(),
            "last_seen_at": d.last_seen_at.isoformat() if d.last_seen_at else None,
            "query_count": d.query_count, "key_fingerprint": d.key_fingerprint,
        } for d in devices], ensure_ascii=False, indent=2))
        return 0
    if not devices:
        print("还没有登记任何终端。用 `yikatong kiosk add --name … --location … --region …` 登记。")
        return 0
    print("编号\t状态\t名称\t地点\t区划\t最近在线\t查询次数\t密钥指纹")
    for d in devices:
        print("\t".join((d.device_id, "启用" if d.enabled else "停用", d.name, d.location, d.region_code,
                         _when(d.last_seen_at), str(d.query_count), d.key_fingerprint)))
    return 0


def _disable(db: Database, config: Config, args: argparse.Namespace) -> int:
    info = kiosk_devices.disable_device(db, args.device_id)
    print(f"已停用终端 {info.device_id}（{info.name}）。它的查询请求和触屏页面会立即被拒绝。")
    return 0


def _enable(db: Database, config: Config, args: argparse.Namespace) -> int:
    info = kiosk_devices.enable_device(db, args.device_id)
    print(f"已启用终端 {info.device_id}（{info.name}）。")
    return 0


def _rekey(db: Database, config: Config, args: argparse.Namespace) -> int:
    info, secret = kiosk_devices.rekey_device(db, args.device_id)
    print(f"已为终端 {info.device_id}（{info.name}）换发密钥，旧密钥立即失效。")
    _print_credential(info, secret, config)
    return 0
