"""Sub-commands of the internal side for the `yikatong` command line."""

from __future__ import annotations

import argparse

from admin import commands, demo


def register(sub: argparse._SubParsersAction) -> None:
    demo.register_cli(sub)       # yikatong demo …
    commands.register_cli(sub)   # yikatong admin …, yikatong roster …
