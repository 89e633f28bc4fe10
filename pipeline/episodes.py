"""STUB: being written (issue 2/6). Reading episode files."""
from __future__ import annotations
from dataclasses import dataclass

PLACEHOLDERS = (
    "Transcript for this episode is coming soon.",
    "The transcript for this episode is coming soon.",
)


@dataclass(frozen=True)
class Options:
    placeholders: tuple[str, ...] = PLACEHOLDERS
