"""STUB: being written (issue 6). Writing the transcript into the episode file."""
from __future__ import annotations
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    wrapper_open: str = '<div class="transcript">'
    wrapper_close: str = "</div>"
    force: bool = False
    dry_run: bool = False
