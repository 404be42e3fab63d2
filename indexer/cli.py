"""Sub-commands of this package for the `yikatong` command line."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's sub-commands."""
