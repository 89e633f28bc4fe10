"""An engine that never returns on long audio, as openai-whisper did on a zero-length clip.

It runs isolated (in the watchdog's child process) like the real engines; on audio of at most
`SHORT` seconds it answers at once with one word, so a batch can show that the next episode
still goes through.
"""

from __future__ import annotations

import time
from pathlib import Path

from pipeline.engines.base import Engine, Progress
from pipeline.models import Segment, Transcript, Word

SHORT = 5.0


class StuckEngine(Engine):
    name = "stuck"
    isolated = True

    def __init__(self, options, cache_dir: Path | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(options, cache_dir)

    def transcribe(self, wav_path: Path, duration: float, prompt: str | None,
                   progress: Progress | None = None) -> Transcript:
        if duration > SHORT:
            while True:  # as a C loop would: no exception, no return
                time.sleep(3600)
        word = Word(0.2, 0.8, " Hello.", 0.9)
        return Transcript((Segment(0.2, 0.8, " Hello.", -0.1, 0.0, (word,)),), "en", duration, self.name, "none")
