"""Command-line tasks of the internal side: `yikatong admin …`, `yikatong roster …`, `yikatong persons …`,
and the bank files and arrival SMS (`yikatong bank …`, `yikatong sms …`, admin/bank/cli.py, admin/sms/cli.py).

`register` returns the `yikatong admin` actions, so that the command line can add `admin serve`
(cli/serve.py: it assembles the app, which admin/ does not do itself). Expected failures raise
`core.errors.CommandError` (printed, exit code 2), never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from admin.access import operators
from admin.bank import cli as bank_cli
from admin.batches.imports import cleanup_staged
from admin.batches.rosters import LineResult, RosterFileError, check_file
from admin.batches.service import BatchError, get_by_code, import_roster
from admin.people import persons
from admin.sms import cli as sms_cli
from admin.supervision import signals
from core import migrate
from core.config import Config, load_config
from core.db import Database
from core.errors import CommandError


def register(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """`yikatong admin …`, `roster …`, `persons …`, `bank …`, `sms …`; returns the actions of `yikatong admin`."""
    admin = sub.add_parser("admin", help="内部管理端：启动服务、创建用户")
    admin_sub = admin.add_subparsers(dest="admin_command", metavar="ACTION")
    create = admin_sub.add_parser("create-user", help="创建操作员账号（首个系统管理员）")
    create.add_argument("--username", required=True)
    create.add_argument("--name", required=True, help="真实姓名")
    create.add_argument("--role", required=True, help="角色代码，如 system_admin、township_clerk")
    create.add_argument("--region", required=True, help="所属区划代码")
    create.add_argument("--password", help="初始密码（不填则提示输入）；首次登录须修改")
    create.add_argument("--phone", default="")
    create.add_argument("--unit", default="")
    create.add_argument("--department", help="主管部门代码（部门角色必填）")
    create.set_defaults(handler=_create_user)
    cleanup = admin_sub.add_parser("cleanup", help="清理放弃超过7天的暂存导入文件（启动服务时也会自动清理）")
    cleanup.add_argument("--days", type=int, default=7, help="暂存超过多少天即清理（默认7）")
    cleanup.set_defaults(handler=_admin_cleanup)
    sig = admin_sub.add_parser("signals", help="重新计算异常信号（服务运行时后台会自动计算）")
    sig.set_defaults(handler=_signals_refresh)
    admin.set_defaults(handler=lambda args: (admin.print_help(), 0)[1])

    roster = sub.add_parser("roster", help="花名册文件：检查、导入")
    roster_sub = roster.add_subparsers(dest="roster_command", metavar="ACTION")
    check = roster_sub.add_parser("check", help="逐行检查花名册文件（CSV 或 .xlsx），不写数据库")
    check.add_argument("file")
    check.add_argument("--json", action="store_true", help="以 JSON 输出结果")
    check.set_defaults(handler=_roster_check)
    imp = roster_sub.add_parser("import", help="把花名册文件导入批次（全部通过才导入）")
    imp.add_argument("file")
    imp.add_argument("--batch", required=True, help="批次编号")
    imp.add_argument("--actor", default="cli", help="记入审计日志的操作人")
    imp.set_defaults(handler=_roster_import)
    roster.set_defaults(handler=lambda args: (roster.print_help(), 0)[1])

    persons_parser = sub.add_parser("persons", help="人员信息库与社保卡账户")
    persons_sub = persons_parser.add_subparsers(dest="persons_command", metavar="ACTION")
    pimp = persons_sub.add_parser("import", help="导入社保卡系统导出的人员与卡号（CSV 或 .xlsx）")
    pimp.add_argument("file")
    pimp.add_argument("--actor", default="cli")
    pimp.set_defaults(handler=_persons_import)
    persons_parser.set_defaults(handler=lambda args: (persons_parser.print_help(), 0)[1])
    bank_cli.register(sub)
    sms_cli.register(sub)
    return admin_sub


def _read_file(path: str) -> bytes:
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"找不到文件：{path}")
    try:
        return file.read_bytes()
    except OSError as exc:
        raise CommandError(f"无法读取文件：{path}（{exc.strerror}）") from None


def _roster_check(args: argparse.Namespace) -> int:
    data = _read_file(args.file)
    try:
        results = check_file(data, args.file)
    except RosterFileError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": {"code": exc.code, "message": exc.message}},
                             ensure_ascii=False, indent=2))
        else:
            print(f"错误：{exc.message}", file=sys.stderr)
        return 2
    failed = [r for r in results if not r.ok]
    if args.json:
        body = {"ok": not failed, "lines": len(results), "failed": len(failed),
                "results": [r.as_dict() for r in results]}
        print(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        _print_results(results)
    return 1 if failed else 0


def _print_results(results: list[LineResult]) -> None:
    console = Console()
    table = Table(title="花名册检查结果", show_lines=False)
    for column in ("行号", "姓名", "身份证后4位", "金额", "村"):
        table.add_column(column, no_wrap=True)
    table.add_column("结果", overflow="fold", ratio=1)  # the reason is what the clerk needs: never cut it
    for r in results:
        d = r.as_dict()
        verdict = "[green]通过[/green]" if r.ok else "[red]" + "；".join(i["message"] for i in d["issues"]) + "[/red]"
        table.add_row(str(d["line"]), d["name"], d["id_last4"], d["amount"], d["village"], verdict)
    if len(results) <= 2000:
        console.print(table)
    else:  # a huge table is useless on a terminal: show the failing lines only
        failing = [r for r in results if not r.ok]
        for r in failing[:2000]:
            console.print(f"第{r.line_no}行：" + "；".join(i.message for i in r.issues))
    failed = sum(1 for r in results if not r.ok)
    console.print(f"共 {len(results)} 行，通过 {len(results) - failed} 行，有问题 {failed} 行。")


def _admin_cleanup(args: argparse.Namespace) -> int:
    if args.days < 1:
        raise CommandError("--days 至少为1")
    removed = cleanup_staged(load_config(), args.days)
    print(f"已清理放弃超过{args.days}天的暂存导入 {removed} 个。")
    return 0


def _signals_refresh(args: argparse.Namespace) -> int:
    with _batch_database() as (config, db):
        with db.session() as session:
            report = signals.refresh(session, config)
    found = "，".join(f"{signals.KINDS[k]} {n}" for k, n in report.found.items())
    print(f"异常信号已重新计算：{found}；新增 {report.created}，消除 {report.cleared}。")
    return 0


@contextmanager
def _batch_database() -> Iterator[tuple[Config, Database]]:
    """The configured batch database, migrated to head, disposed afterwards."""
    config = load_config()
    migrate.upgrade(config.batch_database_url, "batch")
    db = Database(config.batch_database_url)
    try:
        yield config, db
    finally:
        db.dispose()


def _create_user(args: argparse.Namespace) -> int:
    password = args.password
    if not password:
        password = getpass.getpass("初始密码：")
        if password != getpass.getpass("再输入一次："):
            raise CommandError("两次输入的密码不一致")
    with _batch_database() as (config, db):
        try:
            with db.session() as session:
                operator = operators.create_operator(
                    session, config, actor="cli", username=args.username, name=args.name, role=args.role,
                    region_code=args.region, password=password, phone=args.phone, unit=args.unit,
                    department_code=args.department,
                )
                print(f"已创建操作员 {operator.username}（{operator.name}，角色 {args.role}），首次登录须修改密码。")
        except operators.OperatorError as exc:
            raise CommandError(str(exc)) from None
    return 0


def _roster_import(args: argparse.Namespace) -> int:
    data = _read_file(args.file)
    with _batch_database() as (config, db):
        try:
            with Progress() as progress:
                task = progress.add_task("导入花名册", total=None)

                def report(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                with db.session() as session:
                    batch = get_by_code(session, args.batch)
                    if batch is None:
                        raise CommandError(f"找不到批次 {args.batch}")
                    outcome = import_roster(session, config, batch, data, args.file,
                                            actor=args.actor, scope_region=None, progress=report)
        except RosterFileError as exc:
            print(f"错误：{exc.message}", file=sys.stderr)
            return 2
        except BatchError as exc:
            raise CommandError(str(exc)) from None
    if not outcome.ok:
        _print_results(outcome.results)
        print("有问题的行未修正前，整个文件都不会导入。", file=sys.stderr)
        return 1
    print(f"已导入 {outcome.imported} 行到批次 {args.batch}。")
    return 0


def _persons_import(args: argparse.Namespace) -> int:
    data = _read_file(args.file)
    with _batch_database() as (config, db):
        try:
            with db.session() as session:
                outcome = persons.import_registry(session, config, data, args.file, actor=args.actor)
        except RosterFileError as exc:
            print(f"错误：{exc.message}", file=sys.stderr)
            return 2
        except persons.PersonsError as exc:
            raise CommandError(str(exc)) from None
    if outcome.errors:
        for line_no, message in outcome.errors[:200]:
            print(f"第{line_no}行：{message}", file=sys.stderr)
        print("有问题的行未修正前，整个文件都不会导入。", file=sys.stderr)
        return 1
    print(f"已导入人员 {outcome.persons_created} 人（更新 {outcome.persons_updated} 人），新登记社保卡 {outcome.cards_created} 张。")
    return 0
