"""STUB: being written (issue 7). The HTML review page."""
from __future__ import annotations
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    long_gap: float = 8.0  # seconds without words, inside speech, that a reviewer should check
