"""STUB: being written (issue 4). Whisper engines and the transcript cache."""
from __future__ import annotations
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    engine: str = "faster-whisper"
    model: str = "tiny.en"  # the bundled model; any faster-whisper name or a local path
    device: str = "auto"
    compute_type: str = "auto"
    threads: int = 0  # 0: one per core
    beam_size: int = 5
    batch_size: int = 0  # 0: sequential decoding; >0: faster-whisper's batched pipeline
    vad: bool = True
    language: str = "en"
    vocabulary: bool = True
    glossary: str | None = None
