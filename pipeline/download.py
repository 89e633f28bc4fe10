"""STUB: being written (issue 3). Fetching episode audio."""
from __future__ import annotations
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    max_redirects: int = 10
    max_bytes: int = 2_000_000_000
