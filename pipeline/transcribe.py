"""The transcription stage: the engine chosen in `engines`, and the transcript cache.

`transcribe()` decodes the audio once (audio.prepare), runs the chosen engine with the
prompt it is given (the episode's vocabulary, see `vocabulary`), and saves the Transcript as JSON keyed by everything that
changes the result, so a rerun costs nothing and a changed model or option transcribes again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from . import audio
from .engines import Options, Progress, get_engine
from .errors import AudioError
from .files import write_atomic
from .models import Transcript, transcript_from_dict, transcript_to_dict

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # bump when engine output changes for the same inputs
# Options that do not change the transcript (the prompt itself is in the key instead): how the
# work is spread over cores and over episodes transcribed at once, and the engine's time budget.
_NOT_IN_KEY = {"threads", "concurrency", "engine_budget_min", "engine_budget_factor"}


def cache_key(audio_sha256: str, options: Options, prompt: str | None) -> str:
    fields = {k: v for k, v in dataclasses.asdict(options).items() if k not in _NOT_IN_KEY}
    blob = json.dumps({"v": CACHE_VERSION, "audio": audio_sha256, "options": fields, "prompt": prompt},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def cache_path(cache_dir: Path, audio_sha256: str, options: Options, prompt: str | None) -> Path:
    return Path(cache_dir) / "transcripts" / f"{audio_sha256[:16]}-{cache_key(audio_sha256, options, prompt)}.json"


def transcribe(
    source: Path | str | audio.Prepared,
    options: Options,
    cache_dir: Path | str,
    prompt: str | None = None,
    audio_sha256: str | None = None,
    progress: Progress | None = None,
) -> Transcript:
    """The Transcript of `source`, from the cache when these inputs were seen before.

    `source` is an audio file, or the wav `audio.prepare` already made of it (a run prepares it
    once for every stage). Raises AudioError when the audio is unusable or holds no speech
    (never an empty success).
    """
    cache_dir = Path(cache_dir)
    prompt = prompt or None
    prepared = source if isinstance(source, audio.Prepared) else None
    audio_path = prepared.source if prepared else Path(source)  # type: ignore[arg-type]
    if prepared is None and not audio_path.is_file():
        raise AudioError(f"{audio_path}: no such file")
    sha = prepared.sha256 if prepared else (audio_sha256 or audio.sha256_of(audio_path))
    cached = cache_path(cache_dir, sha, options, prompt)
    if cached.exists():
        log.info("transcript of %s from cache %s", audio_path, cached)
        return transcript_from_dict(json.loads(cached.read_text(encoding="utf-8")))

    prepared = prepared or audio.prepare(audio_path, cache_dir, sha256=sha)
    engine = get_engine(options)
    started = time.monotonic()
    with _Reporter(audio_path, prepared.duration, progress) as report:
        result = engine.transcribe(prepared.path, prepared.duration, prompt, report)
    if not result.words:
        raise AudioError(f"{audio_path}: no speech found in {prepared.duration:.1f} s of audio")
    # How it was made, less how the work was spread: the same record whether one episode or four
    # ran at once.
    made = {k: v for k, v in dataclasses.asdict(options).items() if k not in _NOT_IN_KEY}
    used: dict[str, Any] = {**made, "device": engine.device, "compute_type": engine.compute_type,
                            "prompt": prompt, "language": result.language,
                            "recovered": result.options.get("recovered", [])}
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
