"""Supervision (监督): signals, spot checks, reports."""
