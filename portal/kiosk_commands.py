"""(placeholder: being built)"""

from __future__ import annotations

import argparse


def register_cli(sub: argparse._SubParsersAction) -> None:
    pass
