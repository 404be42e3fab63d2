"""Sub-commands of the public side: `yikatong kiosk …`."""

from __future__ import annotations

import argparse

from portal import kiosk_commands


def register(sub: argparse._SubParsersAction) -> None:
    kiosk_commands.register_cli(sub)  # yikatong kiosk …
