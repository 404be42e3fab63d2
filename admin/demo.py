"""Demo data: `yikatong demo --lines N --seed S [--if-changed]` and `yikatong demo people [--json]`.

Demo mode only (DESIGN.md "Demo mode"). The build itself is in admin/demo_build.py (imported
only when a build runs, so every other `yikatong` command starts fast); the fixed sample people
in admin/demo_samples.py; the tables behind the data in admin/demo_data.py. See docs/demo.md.

- `build(config, lines, seed)` rebuilds the batch database with N payment lines;
  `build_if_changed(...)` skips when `<data dir>/demo.json` says the same data is built.
- `demo_people(config)` lists the sample people (from the seed in the marker, without opening
  the batch database); the public side reads the same list with core.demo_people.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import Config

if TYPE_CHECKING:
    from admin.demo_build import BuildReport

__all__ = ["DEFAULT_LINES", "DEFAULT_SEED", "MARKER_FILE", "DemoError", "build", "build_if_changed",
           "demo_people", "read_marker", "register_cli"]

MARKER_FILE = "demo.json"
DEFAULT_LINES = 20000
DEFAULT_SEED = 20260101


class DemoError(Exception):
    """The demo build cannot run (message in Chinese)."""


def read_marker(data_dir: Path) -> dict[str, Any] | None:
    """What the last build wrote to `<data dir>/demo.json` (lines, seed, version, database)."""
    try:
        data = json.loads((Path(data_dir) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def build(config: Config, lines: int, seed: int, *, progress: bool = False) -> BuildReport:
    from admin import demo_build

    return demo_build.build(config, lines, seed, progress=progress)


def build_if_changed(config: Config, lines: int, seed: int, *, progress: bool = False) -> BuildReport:
    from admin import demo_build

    return demo_build.build_if_changed(config, lines, seed, progress=progress)


def demo_people(config: Config) -> list[dict[str, str]]:
    """The sample people of the built demo data (empty outside demo mode or before a build).

    Keys: key, id_number, name, card_number, card_last4, region, shows (Chinese)."""
    if not config.demo:
        return []
    marker = read_marker(config.data_dir)
    if marker is None or not isinstance(marker.get("seed"), int):
        return []
    from admin.demo_samples import public_view, sample_people

    return public_view(sample_people(marker["seed"]))


# --- command line -----------------------------------------------------------------------------


def register_cli(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="build demo data into the batch database (demo mode only)",
                            description="生成演示数据（会清空批次数据库；仅限演示模式 YIKATONG_DEMO=1）。")
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES,
                        help=f"payment lines in total (default {DEFAULT_LINES})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--if-changed", action="store_true",
                        help="skip when the same lines/seed/version is already built into this database")
    parser.set_defaults(handler=_build_command)
    demo_sub = parser.add_subparsers(dest="demo_command", metavar="{people}")
    people = demo_sub.add_parser("people", help="the sample people of demo mode",
                                 description="演示模式的示例人员（身份证号、姓名、卡号及可查看的情形）。")
    people.add_argument("--json", action="store_true", help="print JSON")
    people.set_defaults(handler=_people_command)


def _command_error(message: str) -> Exception:
    from cli import CommandError

    return CommandError(message)


def _build_command(args: argparse.Namespace) -> int:
    from cli import load_config

    config = load_config()
    run = build_if_changed if args.if_changed else build
    try:
        report = run(config, args.lines, args.seed, progress=sys.stderr.isatty())
    except DemoError as exc:
        raise _command_error(str(exc)) from None
    if report.skipped:
        print(f"演示数据已是最新（{args.lines} 条发放明细，种子 {args.seed}），跳过生成。")
        return 0
    size = f"，数据库 {report.database_bytes / 1e6:.1f} MB" if report.database_bytes else ""
    print(f"已生成演示数据：{report.lines} 条发放明细、{report.persons} 名补贴对象、{report.batches} 个批次、"
          f"{report.policies} 条政策清单，用时 {report.seconds:.1f} 秒（{report.lines_per_second:,.0f} 条/秒）{size}。")
    print("示例人员：yikatong demo people")
    return 0


def _people_command(args: argparse.Namespace) -> int:
    from cli import load_config

    config = load_config()
    if not config.demo:
        raise _command_error("示例人员只在演示模式下提供（设置 YIKATONG_DEMO=1）")
    people = demo_people(config)
    if not people:
        raise _command_error("尚未生成演示数据，请先运行 yikatong demo")
    if args.json:
        print(json.dumps(people, ensure_ascii=False, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="演示人员（仅演示模式）", show_lines=True)
    for column in ("身份证号", "姓名", "社保卡号"):
        table.add_column(column, no_wrap=True)
    table.add_column("地区", overflow="fold")
    table.add_column("可查看的情形", overflow="fold", ratio=1)
    for p in people:
        table.add_row(p["id_number"], p["name"], p["card_number"], p["region"], p["shows"])
    Console().print(table)
    return 0
