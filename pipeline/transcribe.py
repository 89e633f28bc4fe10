"""Whisper engines behind one interface, and the transcript cache.

`transcribe()` decodes the audio once (audio.prepare), runs the chosen engine with the
episode's vocabulary as prompt, and saves the Transcript as JSON keyed by everything that
changes the result, so a rerun costs nothing and a changed model or option transcribes again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import audio
from .engines.base import Engine, Progress
from .engines.faster_whisper_engine import FasterWhisperEngine
from .engines.openai_whisper_engine import OpenAIWhisperEngine
from .errors import AudioError, ConfigError
from .files import write_atomic
from .models import Transcript, transcript_from_dict, transcript_to_dict

log = logging.getLogger(__name__)

ENGINES: dict[str, type[Engine]] = {
    FasterWhisperEngine.name: FasterWhisperEngine,
    OpenAIWhisperEngine.name: OpenAIWhisperEngine,
}
CACHE_VERSION = 1  # bump when engine output changes for the same inputs
# Options that change how a model is loaded, not only how one audio file is decoded.
_LOAD_FIELDS = ("engine", "model", "device", "compute_type", "threads", "concurrency", "batch_size")
# Options that do not change the transcript: the prompt itself is in the key instead, and the
# glossary is applied after the cache (vocabulary.apply_glossary).
_SPREAD = {"threads", "concurrency"}  # how the work is spread over cores and episodes
_NOT_IN_KEY = _SPREAD | {"vocabulary", "glossary"}


@dataclass(frozen=True)
class Options:
    engine: str = "faster-whisper"
    model: str = "tiny.en"  # the bundled model; any faster-whisper name or a local path
    device: str = "auto"
    compute_type: str = "auto"
    threads: int = 0  # 0: one per core
    concurrency: int = 1  # episodes transcribed at once by one loaded model (--workers)
    beam_size: int = 5
    # faster-whisper's batched pipeline decodes VAD-cut chunks with the vocabulary prompt before
    # every chunk; sequential decoding (0) loses it after the first 30 s. On a 10-minute
    # episode: WER 6.1% batched against 11.7-14.5% sequential, and no slower on 2 cores.
    batch_size: int = 4  # on 2 cores, 4 was a little faster than 8 or 16 (medians of 3)
    vad: bool = True
    language: str = "en"
    vocabulary: bool = True
    glossary: str | None = None
    # Whisper's fallback and hallucination thresholds (its own defaults).
    compression_ratio_threshold: float = 2.4
    log_prob_threshold: float = -1.0
    no_speech_threshold: float = 0.6
    # Off: each window sees the vocabulary prompt instead of the previous text, which keeps the
    # names in force for the whole episode and stops a hallucination from feeding the next one.
    condition_on_previous_text: bool = False


_LOADED: dict[tuple, Engine] = {}
_LOADING = threading.Lock()


def get_engine(options: Options) -> Engine:
    """The engine for these options, loaded once per process (a batch loads the model once)."""
    if options.engine not in ENGINES:
        raise ConfigError(f"engine {options.engine!r} (known: {', '.join(ENGINES)})")
    key = tuple(getattr(options, f) for f in _LOAD_FIELDS)
    with _LOADING:  # --workers: the first episodes arrive together, the model loads once
        return _LOADED.get(key) or _load(key, options)


def _load(key: tuple, options: Options) -> Engine:
    started = time.monotonic()
    engine = ENGINES[options.engine](options)
    log.info("loaded %s %s on %s/%s in %.1f s", options.engine, engine.model_label,
             engine.device, engine.compute_type, time.monotonic() - started)
    _LOADED[key] = engine
    return engine


def cache_key(audio_sha256: str, options: Options, prompt: str | None) -> str:
    fields = {k: v for k, v in dataclasses.asdict(options).items() if k not in _NOT_IN_KEY}
    blob = json.dumps({"v": CACHE_VERSION, "audio": audio_sha256, "options": fields, "prompt": prompt},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def cache_path(cache_dir: Path, audio_sha256: str, options: Options, prompt: str | None) -> Path:
    return Path(cache_dir) / "transcripts" / f"{audio_sha256[:16]}-{cache_key(audio_sha256, options, prompt)}.json"


def transcribe(
    audio_path: Path | str,
    options: Options,
    cache_dir: Path | str,
    prompt: str | None = None,
    audio_sha256: str | None = None,
    progress: Progress | None = None,
) -> Transcript:
    """The Transcript of `audio_path`, from the cache when these inputs were seen before.

    Raises AudioError when the audio is unusable or holds no speech (never an empty success).
    """
    audio_path, cache_dir = Path(audio_path), Path(cache_dir)
    prompt = (prompt or None) if options.vocabulary else None
    if not audio_path.is_file():
        raise AudioError(f"{audio_path}: no such file")
    sha = audio_sha256 or audio.sha256_of(audio_path)
    cached = cache_path(cache_dir, sha, options, prompt)
    if cached.exists():
        log.info("transcript of %s from cache %s", audio_path, cached)
        return transcript_from_dict(json.loads(cached.read_text(encoding="utf-8")))

    prepared = audio.prepare(audio_path, cache_dir, sha256=sha)
    engine = get_engine(options)
    started = time.monotonic()
    with _Reporter(audio_path, prepared.duration, progress) as report:
        result = engine.transcribe(prepared.path, prepared.duration, prompt, report)
    if not result.words:
        raise AudioError(f"{audio_path}: no speech found in {prepared.duration:.1f} s of audio")
    # How it was made, minus how the work was spread: the same inputs give the same record
    # whether one episode or four ran at once.
    used: dict[str, Any] = {**{k: v for k, v in dataclasses.asdict(options).items() if k not in _SPREAD},
                            "device": engine.device, "compute_type": engine.compute_type, "prompt": prompt}
    result = dataclasses.replace(result, options=used, audio_sha256=sha)
    elapsed = time.monotonic() - started
    log.info("transcribed %s (%.1f s) with %s in %.1f s (%.2fx real time)", audio_path,
             prepared.duration, engine.name, elapsed, elapsed / max(prepared.duration, 1e-9))
    write_atomic(cached, json.dumps(transcript_to_dict(result), ensure_ascii=False))
    return result


class _Reporter:
    """Progress by audio position: a tqdm bar with ETA on a terminal, log lines otherwise."""

    def __init__(self, audio_path: Path, duration: float, callback: Progress | None) -> None:
        self.audio_path, self.duration, self.callback = audio_path, duration, callback
        self.bar = None
        self.next_log = 0.0
        self.logged_end = False
        self.started = time.monotonic()

    def __enter__(self) -> _Reporter:
        if self.callback is None and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=round(self.duration, 1), unit="s", desc=self.audio_path.name,
                            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]")
        return self

    def __call__(self, seconds: float) -> None:
        seconds = min(max(seconds, 0.0), self.duration)
        if self.callback is not None:
            self.callback(seconds)
        elif self.bar is not None:
            self.bar.update(round(seconds, 1) - self.bar.n)
        elif seconds >= self.next_log or (seconds >= self.duration and not self.logged_end):
            done = seconds / max(self.duration, 1e-9)
            spent = time.monotonic() - self.started
            eta = spent / done - spent if done > 0 else float("nan")
            log.info("%s: %3.0f%% (%.0f/%.0f s audio, ETA %.0f s)", self.audio_path.name, done * 100,
                     seconds, self.duration, eta)
            self.next_log = seconds + self.duration / 10
            self.logged_end = seconds >= self.duration

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
