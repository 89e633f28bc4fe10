"""STUB: being written (issue 7). The HTML review page."""
from __future__ import annotations
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    review_threshold: float = 0.5
    mark_low_confidence: bool = False
