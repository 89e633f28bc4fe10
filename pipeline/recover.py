"""Speech the first pass left without words, decoded again.

Whisper sometimes skips a stretch: a batched chunk that ends early, a window the prompt
derailed, a long pause inside a sentence. After decoding, the silero VAD says where speech is;
every stretch of it with no word under it (MIN_GAP or longer) is decoded again on its own:
first without the prompt, then sampling at a higher temperature with beam 1, then in pieces of
at most PIECE seconds. A stretch that still gives no confident words is taken as silence (the
VAD hears breath and music as speech now and then).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .models import Segment, Transcript, Word

log = logging.getLogger(__name__)

RATE = 16000
MIN_GAP = 1.2  # seconds of speech without a word that count as a dropped stretch
WORD_PAD = 0.3  # a word's edges are loose: this much around it counts as covered
WINDOW_PAD = 0.25  # context added around a stretch when decoding it again
PIECE = 8.0  # the last attempt decodes long stretches in pieces this long
_SPOKEN = re.compile(r"\w")  # noise decodes as " ." now and then: punctuation is no word
MIN_PROBABILITY = 0.45  # mean word probability below which a recovered text is not trusted
# (name, beam size or None for the configured one, temperatures, in pieces) per attempt; the
# first that gives confident words wins. None uses the prompt: it is what derails a window most.
ATTEMPTS: tuple[tuple[str, int | None, tuple[float, ...], bool], ...] = (
    ("no prompt", None, (0.0, 0.2, 0.4, 0.6), False),
    ("temperature", 1, (0.4, 0.6, 0.8), False),
    ("pieces", None, (0.0, 0.2, 0.4), True),
)


@dataclass(frozen=True)
class Stretch:
    start: float
    end: float
    words: int  # recovered; 0 means decoded again and found silent
    attempt: str  # how: "no prompt", "temperature", "pieces", or "silent"

    def describe(self) -> str:
        what = f"{self.words} words ({self.attempt})" if self.words else "no words: taken as silence"
        return f"{_clock(self.start)}-{_clock(self.end)}: {what}"


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def uncovered(words: Sequence[Word], speech: Sequence[tuple[float, float]],
              min_gap: float = MIN_GAP) -> list[tuple[float, float]]:
    """Stretches of `speech` at least `min_gap` long that no word (padded) overlaps."""
    covered = sorted((w.start - WORD_PAD, w.end + WORD_PAD) for w in words)
    out = []
    for a, b in speech:
        cursor = a
        for ws, we in covered:
            if we <= cursor or ws >= b:
                continue
            if ws - cursor >= min_gap:
                out.append((cursor, ws))
            cursor = max(cursor, we)
        if b - cursor >= min_gap:
            out.append((cursor, b))
    return out


def fill_gaps(engine, samples: np.ndarray, transcript: Transcript, beam_size: int,
              speech: Sequence[tuple[float, float]]) -> tuple[Transcript, list[Stretch]]:
    """`transcript` with words for the `speech` (VAD spans, seconds) it had none for, and what
    was tried where. `engine` decodes the stretches again (`Engine.decode_window`)."""
    duration = len(samples) / RATE
    gaps = uncovered(transcript.words, speech)
    if not gaps:
        return transcript, []
    stretches: list[Stretch] = []
    added: list[Segment] = []
    for a, b in gaps:
        words, how = _decode_again(engine, samples, a, b, beam_size, duration)
        stretches.append(Stretch(round(a, 2), round(b, 2), len(words), how))
        if words:
            prob = sum(w.probability for w in words) / len(words)
            added.append(Segment(words[0].start, words[-1].end, "".join(w.text for w in words),
                                 round(math.log(max(prob, 1e-6)), 4), 0.0, tuple(words)))
    for s in stretches:
        log.info("dropped stretch %s", s.describe())
    if not added:
        return transcript, stretches
    segments = sorted([*transcript.segments, *added], key=lambda s: s.start)
    return replace(transcript, segments=tuple(segments)), stretches


def _decode_again(engine, samples: np.ndarray, a: float, b: float, beam_size: int,
                  duration: float) -> tuple[list[Word], str]:
    for name, beam, temperature, pieces in ATTEMPTS:
        spans = _pieces(a, b) if pieces else [(a, b)]
        words: list[Word] = []
        for pa, pb in spans:
            lo, hi = max(0.0, pa - WINDOW_PAD), min(duration, pb + WINDOW_PAD)
            found = engine.decode_window(samples[int(lo * RATE): int(hi * RATE)], None, beam or beam_size,
                                         temperature)
            # Only words inside the stretch: the padding belongs to words already there.
            words += [replace(w, start=round(w.start + lo, 3), end=round(w.end + lo, 3)) for w in found
                      if pa <= lo + (w.start + w.end) / 2 <= pb and _SPOKEN.search(w.text)]
        if words and sum(w.probability for w in words) / len(words) >= MIN_PROBABILITY:
            return words, name
    return [], "silent"


def _pieces(a: float, b: float) -> list[tuple[float, float]]:
    n = max(1, math.ceil((b - a) / PIECE))
    step = (b - a) / n
    return [(a + i * step, a + (i + 1) * step) for i in range(n)]
