"""Demo data on the command line: `yikatong demo --lines N --seed S [--if-changed]`, `yikatong demo
people [--json]`, `yikatong demo accounts [--json]`, `yikatong demo complaints [--json]` and
`yikatong demo roster-file PATH [--bad N]`.

Demo mode only (DESIGN.md "Demo mode"). The build itself is in demo/build.py; the fixed sample
people in demo/samples.py (read back through demo/people.py); the demo operator accounts and the
clerk's sample roster in demo/accounts.py; the tables behind the data in demo/data.py. See
docs/demo.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from core.config import Config, load_config
from core.errors import CommandError
from demo.accounts import BAD_KINDS, demo_accounts, roster_file
from demo.complaints import demo_complaints
from demo.build import DEFAULT_LINES, DEFAULT_SEED, DemoError, build, build_if_changed
from demo.people import demo_people

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="build demo data into the batch database (demo mode only)",
                            description="生成演示数据（会清空批次数据库；仅限演示模式 YIKATONG_DEMO=1）。")
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES,
                        help=f"payment lines in total (default {DEFAULT_LINES})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--if-changed", action="store_true",
                        help="skip when the same lines/seed/version is already built into this database")
    parser.set_defaults(handler=_build_command)
    demo_sub = parser.add_subparsers(dest="demo_command", metavar="{people,accounts,complaints,roster-file}")
    people = demo_sub.add_parser("people", help="the sample people of demo mode",
                                 description="演示模式的示例人员（身份证号、姓名、卡号及可查看的情形）。")
    people.add_argument("--json", action="store_true", help="print JSON")
    people.set_defaults(handler=_people_command)
    accounts = demo_sub.add_parser("accounts", help="the demo operator accounts of the admin app",
                                   description="演示模式的内部管理端账号（每种角色一个，共用一个演示密码）。")
    accounts.add_argument("--json", action="store_true", help="print JSON")
    accounts.set_defaults(handler=_accounts_command)
    complaints = demo_sub.add_parser("complaints", help="the demo's complaints and their tracking codes",
                                     description="演示数据中的投诉举报件及其查询码（可在公开门户“投诉举报”页查询办理进度）。")
    complaints.add_argument("--json", action="store_true", help="print JSON")
    complaints.set_defaults(handler=_complaints_command)
    roster = demo_sub.add_parser("roster-file", help="a sample roster (.xlsx) for demo_clerk's draft batch",
                                 description="为演示账号 demo_clerk 的草稿批次生成示例花名册（含几行故意填错的数据）。")
    roster.add_argument("path", help="where to write the .xlsx file")
    roster.add_argument("--bad", type=int, default=4, help="deliberately bad lines (default 4: one of each kind)")
    roster.set_defaults(handler=_roster_command)


def _build_command(args: argparse.Namespace) -> int:
    config = load_config()
    run = build_if_changed if args.if_changed else build
    try:
        report = run(config, args.lines, args.seed, progress=sys.stderr.isatty())
    except DemoError as exc:
        raise CommandError(str(exc)) from None
    if report.skipped:
        print(f"演示数据已是最新（{args.lines} 条发放明细，种子 {args.seed}），跳过生成。")
        return 0
    size = f"，数据库 {report.database_bytes / 1e6:.1f} MB" if report.database_bytes else ""
    print(f"已生成演示数据：{report.lines} 条发放明细、{report.persons} 名补贴对象、{report.batches} 个批次、"
          f"{report.policies} 条政策清单，用时 {report.seconds:.1f} 秒（{report.lines_per_second:,.0f} 条/秒）{size}。")
    print("示例人员：yikatong demo people")
    return 0


def _listing(args: argparse.Namespace, what: str, load: Callable[[Config], list[dict[str, Any]]],
             missing: str) -> tuple[Config, list[dict[str, Any]]] | None:
    """What a listing command shows: refused outside demo mode (``what`` names it) or before the
    data is built (``missing``); printed as JSON with ``--json`` (then None), else handed back
    for the table."""
    config = load_config()
    if not config.demo:
        raise CommandError(f"{what}只在演示模式下提供（设置 YIKATONG_DEMO=1）")
    items = load(config)
    if not items:
        raise CommandError(missing)
    if args.json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return None
    return config, items


def _people_command(args: argparse.Namespace) -> int:
    listed = _listing(args, "示例人员", demo_people, "尚未生成演示数据，请先运行 yikatong demo")
    if listed is None:
        return 0
    config, people = listed
    table = Table(title="演示人员（仅演示模式）", show_lines=True)
    for column in ("身份证号", "姓名", "社保卡号"):
        table.add_column(column, no_wrap=True)
    table.add_column("地区", overflow="fold")
    table.add_column("可查看的情形", overflow="fold", ratio=1)
    for p in people:
        table.add_row(p["id_number"], p["name"], p["card_number"], p["region"], p["shows"])
    console = Console()
    console.print(table)
    accounts = demo_accounts(config)
    if accounts:
        console.print(_accounts_table(accounts))
    return 0


ACCOUNTS_TITLE = "演示账号（内部管理端 http://127.0.0.1:8001）"


def _accounts_table(accounts: list[dict[str, str]]) -> Table:
    table = Table(title=ACCOUNTS_TITLE, show_lines=True)
    for column in ("用户名", "姓名", "角色"):
        table.add_column(column, no_wrap=True)
    table.add_column("管辖范围", overflow="fold", ratio=1)
    table.add_column("密码", no_wrap=True)
    for a in accounts:
        table.add_row(a["username"], a["name"], a["role_label"], a["scope"], a["password"])
    return table


def _accounts_command(args: argparse.Namespace) -> int:
    listed = _listing(args, "演示账号", demo_accounts, "尚未生成演示数据（或数据版本过旧），请先运行 yikatong demo")
    if listed is not None:
        Console().print(_accounts_table(listed[1]))
    return 0


def _complaints_command(args: argparse.Namespace) -> int:
    listed = _listing(args, "演示投诉举报件", demo_complaints, "尚未生成演示数据（或数据版本过旧），请先运行 yikatong demo")
    if listed is None:
        return 0
    cases = listed[1]
    table = Table(title="演示投诉举报件（公开门户 http://127.0.0.1:8000/complaints 输入查询码）", show_lines=False)
    # the code and the day are never cut (a visitor types the code in); the rest folds in a narrow terminal
    table.add_column("查询码", no_wrap=True, min_width=max((len(c["tracking_code"]) for c in cases), default=6))
    table.add_column("类型", overflow="fold")
    table.add_column("状态", no_wrap=True)
    table.add_column("提交日", no_wrap=True, min_width=10)
    table.add_column("办理单位", overflow="fold")
    table.add_column("标题", overflow="fold", ratio=1)
    for c in cases:
        table.add_row(c["tracking_code"], c["kind_label"] + ("（保密）" if c["confidential"] else ""),
                      c["status_label"], c["filed_on"], c["holder"], c["subject"])
    Console().print(table)
    return 0


def _roster_command(args: argparse.Namespace) -> int:
    config = load_config()
    if args.bad < 0:
        raise CommandError("--bad 不能为负数")
    try:
        sample = roster_file(config, args.bad)
    except LookupError as exc:
        raise CommandError(str(exc)) from None
    Path(args.path).write_bytes(sample.data)
    labels = dict(BAD_KINDS)
    print(f"已写入 {args.path}：批次 {sample.batch_code}（{sample.batch_title}），{sample.valid} 行正确，"
          f"{len(sample.bad)} 行故意填错（用 demo_clerk 登录后导入）：")
    for line_no, code in sorted(sample.bad.items()):
        print(f"  第{line_no}行：{labels[code]}（{code}）")
    return 0
