"""`yikatong` — one command line for every operator task.

Each feature package contributes its sub-commands through a `register(subparsers)` function
in its own `cli.py` module; this module only assembles them and turns expected failures
(:class:`core.errors.CommandError`, :class:`core.config.ConfigError`) into a clear message and
exit code 2 (never a traceback). The apps themselves are assembled in :mod:`cli.apps`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from admin import cli as admin_cli
from bot import cli as bot_cli
from cli import serve
from core.config import ConfigError, load_config
from core.errors import CommandError
from demo import cli as demo_cli
from indexer import cli as indexer_cli
from portal import cli as portal_cli

__all__ = ["CommandError", "build_parser", "load_config", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yikatong",
        description="惠民惠农财政补贴资金“一卡通”公开查询服务 — operator command line.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve.register(sub)
    portal_cli.register(sub)
    demo_cli.register(sub)
    serve.register_admin_serve(admin_cli.register(sub))
    indexer_cli.register(sub)
    bot_cli.register(sub)
    return parser


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
