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
import time
from pathlib import Path

from ..errors import ConfigError
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
LOAD_FIELDS = ("engine", "model", "device", "compute_type", "threads", "batch_size", "language", "hotwords",
               "engine_budget_min", "engine_budget_factor")

_LOADED: dict[tuple[object, ...], Engine] = {}


def get_engine(options: Options, cache_dir: Path | None = None) -> Engine:
    """The engine for these options, loaded once per process (a batch loads the model once)."""
    if options.engine not in ENGINES:
        raise ConfigError(f"engine {options.engine!r} (known: {', '.join(ENGINES)})")
    key = tuple(getattr(options, f) for f in LOAD_FIELDS)
    engine = _LOADED.get(key)
    if engine is None:
        started = time.monotonic()
        cls = ENGINES[options.engine]
        if cls.isolated:
            from ..watchdog import Watched

            engine = Watched(cls, options, cache_dir)
        else:
            engine = cls(options, cache_dir)
        log.info("loaded %s %s on %s/%s in %.1f s", options.engine, engine.model_label,
                 engine.device, engine.compute_type, time.monotonic() - started)
        _LOADED[key] = engine
    return engine
