"""Model-free stand-ins for the fast test tier: a Whisper engine and a diarizer.

Both hear synthesized episodes only, and hear them exactly. `remember(audio_path, truth)` files
the truth that `synth.synthesize` returned under a fingerprint of the decoded samples; the fakes
look up the wav they are handed by the same fingerprint. What they return is therefore derived
from the input (other audio gives other words, or an error), never a canned answer: a stage
that mishandles the words, their times or their speakers shows it in what it writes.

The engine lays each spoken line's words over the line's span in proportion to their length,
the way Whisper's word timestamps fall; the diarizer gives each word the voice whose line holds
the word's middle. conftest.py registers both as "fake": `engine = "fake"`, `diarizer = "fake"`.

Other processes can use them too: conftest sets PIPELINE_FAKES_DIR, where `remember` also files
each truth, and a child process (or a Ray worker's setup hook) calls `fakes.register()` with
tests/ on its path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline import audio
from pipeline.engines.base import Engine, ModelRef, Progress, clean_segments
from pipeline.errors import AudioError
from pipeline.lab import synth
from pipeline.models import Segment, Transcript, Word

NAME = "fake"
ENV = "PIPELINE_FAKES_DIR"  # where `remember` files each truth for other processes
PROBABILITY = 0.9
# mp3 frames pad the end a little; more than this and it is not the audio the truth describes.
DURATION_SLACK_S = 0.2

_heard: dict[str, synth.Truth] = {}


def fingerprint(wav_path: Path) -> str:
    """The decoded samples' hash: the same audio decoded into another cache matches."""
    with wave.open(str(wav_path)) as w:
        return hashlib.sha256(w.readframes(w.getnframes())).hexdigest()


def register() -> None:
    """Make "fake" an engine and a diarizer in this process."""
    from pipeline import engines, speakers

    engines.ENGINES[NAME] = FakeEngine
    speakers.DIARIZERS[NAME] = diarize


def remember(audio_path: Path, truth: synth.Truth) -> None:
    """Let the fakes hear `audio_path` (any format `audio.prepare` reads) as `truth` says."""
    with tempfile.TemporaryDirectory() as tmp:
        key = fingerprint(audio.prepare(audio_path, tmp).path)
    _heard[key] = truth
    if os.environ.get(ENV):
        (Path(os.environ[ENV]) / f"{key}.json").write_text(json.dumps(dataclasses.asdict(truth)))


def truth_of(wav_path: Path) -> synth.Truth:
    key = fingerprint(wav_path)
    if key not in _heard and os.environ.get(ENV):
        filed = Path(os.environ[ENV]) / f"{key}.json"
        if filed.is_file():
            _heard[key] = _truth_from_dict(json.loads(filed.read_text()))
    if key not in _heard:
        raise AudioError(f"{wav_path}: the fake engine never heard this audio (tests/fakes.py: remember)")
    return _heard[key]


def _truth_from_dict(data: dict[str, Any]) -> synth.Truth:
    return synth.Truth(
        lines=tuple(synth.Line(**line) for line in data["lines"]),
        chapters=tuple((title, start) for title, start in data["chapters"]),
        music=tuple((a, b) for a, b in data["music"]),
        silence=tuple((a, b) for a, b in data["silence"]),
        duration=data["duration"], extra=data["extra"])


def words_of(line: synth.Line) -> tuple[Word, ...]:
    """The line's words over its span, each as long as its letters, a short gap after each."""
    tokens = line.text.split()
    unit = (line.end - line.start) / sum(len(t) + 1 for t in tokens)
    words, t = [], line.start
    for token in tokens:
        length = unit * (len(token) + 1)
        words.append(Word(round(t, 3), round(t + 0.85 * length, 3), " " + token, PROBABILITY))
        t += length
    return tuple(words)


class FakeEngine(Engine):
    name = NAME

    def __init__(self, options: Any, cache_dir: Path | None = None) -> None:  # loads nothing
        self.options = options
        self.model_ref = ModelRef(options.model, f"{options.model} (fake)", options.model)
        self.device, self.compute_type = "cpu", "none"

    def transcribe(
        self, wav_path: Path, duration: float, prompt: str | None, progress: Progress | None = None
    ) -> Transcript:
        truth = truth_of(wav_path)
        if abs(truth.duration - duration) > DURATION_SLACK_S:
            raise AudioError(f"{wav_path}: {duration:.2f} s long, the truth says {truth.duration:.2f} s")
        segments = []
        for line in truth.lines:
            words = words_of(line)
            segments.append(Segment(words[0].start, words[-1].end, "".join(w.text for w in words),
                                    -0.1, 0.01, words))
            if progress:
                progress(line.end)
        return Transcript(clean_segments(segments, duration), "en", duration, self.name, self.model_label)


def diarize(words: Sequence[Word], wav_path: Path, count: int | None, options: Any) -> list[int]:
    """Each word's voice, by the truth line around its middle; numbered by first appearance."""
    lines = truth_of(wav_path).lines
    order: list[str] = []
    labels = []
    for word in words:
        middle = (word.start + word.end) / 2
        line = min(lines, key=lambda ln: max(ln.start - middle, middle - ln.end, 0.0))
        if line.speaker not in order:
            order.append(line.speaker)
        labels.append(order.index(line.speaker))
    return labels
