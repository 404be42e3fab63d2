"""Errors shared by every package's command line."""

from __future__ import annotations


class CommandError(Exception):
    """An expected failure of a command: printed as is, exit code 2."""
