"""STUB: being written (issue 9). Who is speaking."""
from __future__ import annotations
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    diarize: bool = True
    num_speakers: int | None = None
    speaker_names: tuple[str, ...] = ()
