"""`yikatong index …`: rebuild (policies, disclosures, payments, statistics), sync (outbox + complaints),
status, inbound, prune."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, NoReturn

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import inspect

from core.config import load_config
from core.db import Database
from core.errors import CommandError
from indexer import inbound
from indexer.documents import DocumentBuilder
from indexer.rebuild import RebuildError, rebuild, stray_builds
from indexer.sync import StatisticsReport, StatisticsThread, all_lags, catch_up, prune, statistics_objects, sync
from search import engine_for
from search.base import SearchError, SearchUnavailable
from search.schemas import SPECS


# ``index sync --follow``: how often the documents consumer looks at the outbox. A look is one
# indexed query for rows past its cursor; half a second keeps a publication's wait for the next
# round well inside the portal's 5 s freshness bound (the statistics thread keeps 1 s).
FOLLOW_INTERVAL = 0.5


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's sub-commands."""
    index = sub.add_parser("index", help="search indexes: rebuild, sync, status")
    commands = index.add_subparsers(dest="index_command", metavar="ACTION")
    index.set_defaults(handler=lambda _args: index.print_help() or 0)

    rebuild = commands.add_parser("rebuild", help="build fresh indexes from the batch database and swap them in")
    rebuild.add_argument("--only", choices=sorted(SPECS), action="append",
                         help="rebuild only this index (repeatable)")
    rebuild.add_argument("--consumer", default="default", help="outbox consumer of this search server")
    rebuild.add_argument("--quiet", action="store_true", help="no progress bars")
    rebuild.set_defaults(handler=_rebuild)

    sync = commands.add_parser("sync", help="apply outbox changes to the indexes; pull complaints in, answers out")
    sync.add_argument("--follow", action="store_true", help="keep syncing (the documents every half second) until Ctrl-C")
    sync.add_argument("--consumer", default="default", help="outbox consumer name (one per search server)")
    sync.add_argument("--limit", type=int, default=None, help="at most this many outbox rows")
    sync.add_argument("--no-inbound", action="store_true", help="skip complaints (another consumer handles them)")
    sync.set_defaults(handler=_sync)

    status = commands.add_parser("status", help="documents per index, last sync and lag per consumer")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)

    inbound = commands.add_parser("inbound", help="pull complaints in from the public store, push answers out")
    inbound.set_defaults(handler=_inbound)

    prune = commands.add_parser("prune", help="delete outbox rows every consumer has passed")
    prune.add_argument("--days", type=int, default=30, help="keep rows younger than this (default 30)")
    prune.set_defaults(handler=_prune)


# --- plumbing -----------------------------------------------------------------------------------

class _Context:
    def __init__(self) -> None:
        self.config = load_config()
        self.batch_db = Database(self.config.batch_database_url)
        _require_tables(self.batch_db, "outbox", "批次数据库尚未初始化（请先运行 yikatong demo 或 yikatong admin 初始化）")
        try:
            self.builder = DocumentBuilder.from_config(self.config)
        except ValueError as exc:
            _fail(str(exc))
        self._public_db: Any = None

    @property
    def public_db(self) -> Any:
        if self._public_db is None:
            self._public_db = Database(self.config.public_database_url)
            _require_tables(self._public_db, "complaints", "公开库尚未初始化（请先运行 yikatong serve 或 make run）")
        return self._public_db

    def engine(self) -> Any:
        try:
            return engine_for(self.config)
        except SearchUnavailable as exc:
            _fail(f"搜索服务不可用：{exc}")


def _fail(message: str) -> NoReturn:
    raise CommandError(message)


def _require_tables(db: Any, table: str, message: str) -> None:
    try:
        present = inspect(db.engine).has_table(table)
    except Exception as exc:  # noqa: BLE001 - any connection failure becomes one clear message
        _fail(f"无法连接数据库 {db!r}：{exc.__class__.__name__}")
    if not present:
        _fail(message)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} 秒"
    if seconds < 7200:
        return f"{seconds / 60:.0f} 分钟"
    return f"{seconds / 3600:.1f} 小时"


# --- commands -----------------------------------------------------------------------------------

def _rebuild(args: argparse.Namespace) -> int:
    ctx = _Context()
    engine = ctx.engine()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=args.quiet, transient=False) as bars:
        tasks: dict[str, Any] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bars.add_task(f"重建 {name}", total=total)
            bars.update(tasks[name], completed=done, total=total)

        try:
            report = rebuild(ctx.batch_db, engine, ctx.builder, only=args.only, consumer=args.consumer,
                             progress=progress)
        except RebuildError as exc:
            _fail(str(exc))
        except SearchError as exc:
            _fail(f"搜索服务出错，线上索引未改动：{exc}")
    for name, count in report.counts.items():
        print(f"{name}: {count} 条文档，{report.seconds[name]:.1f} 秒（{report.rate(name):.0f} 条/秒）")
    if report.cursor is not None:
        print(f"消费者 {args.consumer} 的游标设为 {report.cursor}（重建开始时的最新变更），请接着运行 yikatong index sync")
    return 0


def _print_sync(report: Any) -> None:
    changed = {k: v for k, v in report.upserted.items() if v} | {
        f"{k}(删除)": v for k, v in report.deleted.items() if v}
    lag = report.lag
    detail = "，".join(f"{k} {v}" for k, v in changed.items()) or "无文档变化"
    print(f"[{report.consumer}] 处理变更 {report.entries} 条：{detail}；游标 {report.cursor}，"
          f"落后 {lag.behind if lag else 0} 条，最早未处理 {_age(lag.oldest_unprocessed_age if lag else None)}")
    if report.waiting_on_gap:
        print("  有尚未提交的变更（编号空缺），稍后再同步。")
    if report.cursor_moved_elsewhere:
        print("  游标已被其他进程（如重建）移动，本轮停止；下次同步会重新应用。")


def _print_statistics(report: StatisticsReport) -> None:
    if report.refreshes:
        print(f"[{report.consumer}] 统计已重新计算 {report.refreshes} 次（{report.seconds:.1f} 秒），"
              f"{report.documents} 条文档；游标 {report.cursor}")
    if report.cursor_moved_elsewhere:
        print(f"[{report.consumer}] 统计游标已被其他进程（如重建）移动，本轮停止；下次同步会重新判断。")


def _print_statistics_error(exc: Exception) -> None:
    detail = f"搜索服务出错：{exc}" if isinstance(exc, SearchError) else exc.__class__.__name__
    print(f"统计本轮失败（{detail}），游标未前进，下一轮重试", file=sys.stderr)


def _sync(args: argparse.Namespace) -> int:
    """One-shot: documents then statistics (:func:`catch_up`). ``--follow``: the documents every
    half second on this thread, the statistics consumer in a thread of its own (a recompute takes
    seconds at a million lines and must not hold a publication's documents back)."""
    ctx = _Context()
    engine = ctx.engine()

    inbound_off = args.no_inbound

    def once() -> None:
        nonlocal inbound_off
        try:
            if args.follow:
                report = sync(ctx.batch_db, engine, ctx.builder, consumer=args.consumer, limit=args.limit)
            else:
                both = catch_up(ctx.batch_db, engine, ctx.builder, consumer=args.consumer, limit=args.limit)
                report = both.documents
        except SearchError as exc:
            _fail(f"搜索服务出错，游标未前进，可重试：{exc}")
        if not args.follow or report.entries or report.waiting_on_gap:
            _print_sync(report)
        if not args.follow:
            _print_statistics(both.statistics)
        if not inbound_off:
            try:
                public_db = ctx.public_db
            except CommandError as exc:
                print(f"投诉举报：跳过（{exc}）")
                inbound_off = True
                return
            result = inbound.run(public_db, ctx.batch_db, ctx.config.field_key)
            if not args.follow or result.pulled or result.pushed:
                print(f"投诉举报：转入 {result.pulled} 件，回传处理结果 {result.pushed} 件")

    if not args.follow:
        once()
        return 0
    statistics = StatisticsThread(lambda: statistics_objects(ctx.config),
                                  consumer=args.consumer, on_report=_print_statistics,
                                  on_error=_print_statistics_error).start()
    try:
        once()
        while True:
            time.sleep(FOLLOW_INTERVAL)
            once()
    finally:  # Ctrl-C (KeyboardInterrupt) or a failed round: the statistics round under way ends first
        statistics.stop()


def _status(args: argparse.Namespace) -> int:
    ctx = _Context()
    engine = ctx.engine()
    counts: dict[str, int | None] = {}
    try:
        present = set(engine.list_indexes())
        for name in SPECS:
            counts[name] = engine.count(name) if name in present else None
        strays = stray_builds(engine)
    except SearchError as exc:
        _fail(f"搜索服务不可用：{exc}")
    lags = all_lags(ctx.batch_db)
    if args.json:
        print(json.dumps({
            "indexes": counts,
            "stray_builds": strays,
            "consumers": [{"consumer": lag.consumer, "cursor": lag.cursor, "newest": lag.newest_id,
                           "behind": lag.behind, "oldest_unprocessed_seconds": lag.oldest_unprocessed_age,
                           "last_sync": lag.updated_at.isoformat() if lag.updated_at else None} for lag in lags],
        }, ensure_ascii=False, indent=2))
        return 0
    for name, count in counts.items():
        print(f"{name:12s} {'（不存在，请运行 yikatong index rebuild）' if count is None else f'{count} 条文档'}")
    if strays:
        print("未完成的重建留下的临时索引（下次重建会清除）：" + "、".join(strays))
    if not lags:
        print("还没有消费者同步过（先运行 yikatong index rebuild 或 sync）")
    for lag in lags:
        when = lag.updated_at.strftime("%Y-%m-%d %H:%M:%S") if lag.updated_at else "—"
        print(f"消费者 {lag.consumer}: 游标 {lag.cursor} / 最新 {lag.newest_id}，落后 {lag.behind} 条，"
              f"最早未处理 {_age(lag.oldest_unprocessed_age)}，上次同步 {when}")
    return 0


def _inbound(_args: argparse.Namespace) -> int:
    ctx = _Context()
    result = inbound.run(ctx.public_db, ctx.batch_db, ctx.config.field_key)
    print(f"投诉举报：转入 {result.pulled} 件（已在内网 {result.already_inside} 件），回传处理结果 {result.pushed} 件")
    return 0


def _prune(args: argparse.Namespace) -> int:
    if args.days < 0:
        _fail("--days 不能为负数")
    ctx = _Context()
    print(f"已删除 {prune(ctx.batch_db, args.days)} 条所有消费者都已处理过的变更记录")
    return 0

