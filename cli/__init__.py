"""`yikatong` — one command line for every operator task.

Each feature package contributes its sub-commands through a `register(subparsers)` function
in its own `cli.py` module; this module only assembles them and turns expected failures
into a clear message and exit code 2 (never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from core.config import Config, ConfigError


class CommandError(Exception):
    """An expected failure of a command: printed as is, exit code 2."""


def _registrars() -> list[Callable[[argparse._SubParsersAction], None]]:
    from admin import cli as admin_cli
    from bot import cli as bot_cli
    from cli import serve
    from indexer import cli as indexer_cli
    from portal import cli as portal_cli

    return [serve.register, portal_cli.register, admin_cli.register, indexer_cli.register, bot_cli.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yikatong",
        description="惠民惠农财政补贴资金“一卡通”公开查询服务 — operator command line.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _registrars():
        register(sub)
    return parser


def load_config(require_secrets: bool = True) -> Config:
    return Config.from_env(require_secrets=require_secrets)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        result = handler(args)
    except (ConfigError, CommandError) as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("已中断。", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
