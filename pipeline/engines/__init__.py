"""Whisper engines behind one interface (`base.Engine`), chosen by name in `ENGINES`.

For timing an engine on its own (as `make bench` does):

    engine = engines.get_engine(engines.Options(engine="openai-whisper"))  # loads once
    prepared = audio.prepare(path, cache_dir)
    transcript = engine.transcribe(prepared.path, prepared.duration, prompt=None)

Each module imports its heavy library (ctranslate2, faster_whisper, torch, whisper) only when an
engine is constructed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..models import Transcript
from .base import Engine, Progress
from .faster_whisper_engine import FasterWhisperEngine
from .openai_whisper_engine import OpenAIWhisperEngine
from .options import Options

__all__ = ["ENGINES", "Engine", "Options", "Progress", "get_engine"]

log = logging.getLogger(__name__)

ENGINES: dict[str, type[Engine]] = {
    FasterWhisperEngine.name: FasterWhisperEngine,
    OpenAIWhisperEngine.name: OpenAIWhisperEngine,
}
# Options that change how a model is loaded, not only how one audio file is decoded.
LOAD_FIELDS = ("engine", "model", "device", "compute_type", "threads", "concurrency", "batch_size", "language", "hotwords",
               "engine_budget_min", "engine_budget_factor")

_LOADED: dict[tuple[object, ...], Engine] = {}
_LOADING = threading.Lock()


def get_engine(options: Options, cache_dir: Path | None = None) -> Engine:
    """The engine for these options, loaded once per process (a batch loads the model once)."""
    if options.engine not in ENGINES:
        raise ConfigError(f"engine {options.engine!r} (known: {', '.join(ENGINES)})")
    key = tuple(getattr(options, f) for f in LOAD_FIELDS)
    with _LOADING:  # --workers: the first episodes arrive together, the model loads once
        engine = _LOADED.get(key)
        if engine is None:
            started = time.monotonic()
            cls = ENGINES[options.engine]
            if cls.isolated and options.concurrency > 1:
                engine = Pool(cls, options, cache_dir)
            elif cls.isolated:
                from ..watchdog import Watched

                engine = Watched(cls, options, cache_dir)
            else:
                engine = cls(options, cache_dir)
            log.info("loaded %s %s on %s/%s in %.1f s", options.engine, engine.model_label,
                     engine.device, engine.compute_type, time.monotonic() - started)
            _LOADED[key] = engine
    return engine


class Pool:
    """`concurrency` watched engines, one per episode transcribed at once (--workers).

    A watched engine is one child process answering one request at a time, so episodes in
    parallel each borrow one of their own; the pool starts them as they are first needed, each
    with the threads `--workers` gave it.
    """

    def __init__(self, cls: type[Engine], options: Options, cache_dir: Path | None) -> None:
        from ..watchdog import Watched

        self.make = lambda: Watched(cls, replace(options, concurrency=1), cache_dir)
        self.size = options.concurrency
        self.free: queue.Queue[Any] = queue.Queue()
        self.started = [self.make()]
        self.free.put(self.started[0])
        self.lock = threading.Lock()
        first = self.started[0]
        self.name, self.device, self.compute_type = first.name, first.device, first.compute_type
        self.model_label = first.model_label

    def transcribe(self, wav_path: Path, duration: float, prompt: str | None,
                   progress: Progress | None = None) -> Transcript:
        engine = self._borrow()
        try:
            result: Transcript = engine.transcribe(wav_path, duration, prompt, progress)
            return result
        finally:
            self.free.put(engine)

    def _borrow(self) -> Any:
        try:
            return self.free.get_nowait()
        except queue.Empty:
            pass
        with self.lock:
            if len(self.started) < self.size:
                self.started.append(self.make())
                return self.started[-1]
        return self.free.get()
