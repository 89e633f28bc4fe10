"""How far the show notes' times are off: an offset estimated from the chapter titles.

Show notes are often written against an edit of the audio without the intro or an ad, so every
time is off by the same amount. Each candidate offset is scored by how many chapter titles'
words are heard just after the shifted chapter times (common words count less); the best one is
refined to the quarter second at which the shifted times sit best on sentence boundaries, and
it is called strong only when several chapters agree and no other offset comes close.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .models import Chapter, Word

# A shift this small is no shift: show-notes times are whole seconds.
MIN_OFFSET = 1.0
# A chapter whose title scores this much at an offset supports that offset.
SUPPORTED = 0.4
# Calibrated on `make eval`'s episodes transcribed by tiny.en with true offsets 0 and +-30 s (and
# the looped long episode at +-12 and 45 s): no offset at 0, the right one found at +-30 s.
PLATEAU = 0.5  # candidates this close to the best score are refined by sentence starts
MARGIN_OVER_ZERO = 0.75  # the best offset's score must beat no offset's by this much
CLEAR_OF_ELSEWHERE = 1.75  # ... and the best score more than 15 s away by this factor
ON_SENTENCES = 0.9  # share of chapter times that must then fall within 1 s of a sentence start


@dataclass(frozen=True)
class Boundaries:
    """The gaps before each sentence: heading j sits in [lo[j], hi[j]] (end of the previous
    sentence, start of sentence j)."""

    lo: tuple[float, ...]
    hi: tuple[float, ...]

    @classmethod
    def of(cls, words: Sequence[Word], starts: Sequence[int]) -> "Boundaries":
        lo = tuple(words[s - 1].end if s > 0 else float("-inf") for s in starts)
        return cls(lo, tuple(words[s].start for s in starts))

    def distance(self, j: int, t: float) -> float:
        if self.lo[j] <= t <= self.hi[j]:
            return 0.0
        return min(abs(t - self.lo[j]), abs(t - self.hi[j]))

    def nearest(self, t: float, first: int = 0) -> tuple[int, float]:
        """The boundary index >= first nearest to t, and its distance (ties: the earlier one)."""
        k = max(first, bisect.bisect_left(self.hi, t))
        candidates = [j for j in (k - 1, k, k + 1) if first <= j < len(self.hi)]
        if not candidates:
            return first, float("inf")
        return min(((j, self.distance(j, t)) for j in candidates), key=lambda jd: (jd[1], jd[0]))


_STOPWORDS = set(
    """a an and are as at be but by do does for from has have how i in into is it its of on or our
    so that the their them they this to was we what when where which who why will with you your
    about after all also can get got just like more not one some than then there these those up
    us use using vs via part episode""".split()
)


def _norm(token: str) -> str:
    w = re.sub(r"[^a-z0-9]", "", token.lower().replace("'s", "").replace("’s", ""))
    if len(w) > 4 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]  # plural: "services" meets "service"
    return w


def norm_title(title: str) -> str:
    return " ".join(_norm(t) for t in title.split())


def _title_words(title: str) -> set[str]:
    return {w for w in (_norm(t) for t in re.split(r"[\s/\-–—:,]+", title)) if len(w) >= 3 and w not in _STOPWORDS}


# Title words support a chapter start when heard from a second before it to a few seconds
# after (its first sentence), less so up to 15 s later: (ramp from, plateau from, to, ramp to).
_KERNEL = (-3.0, -0.5, 3.0, 15.0)
_KERNEL_WIDTH = (_KERNEL[2] - _KERNEL[1]) + (_KERNEL[1] - _KERNEL[0]) / 2 + (_KERNEL[3] - _KERNEL[2]) / 2


def _kernel(lag: float) -> float:
    """How well a title word heard `lag` seconds after a chapter's start supports that start."""
    r0, p0, p1, r1 = _KERNEL
    if p0 <= lag <= p1:
        return 1.0
    if r0 < lag < p0:
        return (lag - r0) / (p0 - r0)
    if p1 < lag < r1:
        return (r1 - lag) / (r1 - p1)
    return 0.0


@dataclass(frozen=True)
class _Titled:
    """A chapter whose title has words that are heard somewhere, and rarely enough to count."""

    chapter: Chapter
    words: tuple[str, ...]  # normalised title words heard in the audio
    n_content: int  # all its content words, heard or not


@dataclass(frozen=True)
class _Heard:
    """When each normalised word is heard, and the chance of meeting it in a random window."""

    times: dict[str, list[float]]
    chance: dict[str, float]

    @classmethod
    def of(cls, words: Sequence[Word], duration: float) -> _Heard:
        times: dict[str, list[float]] = {}
        for w in words:
            key = _norm(w.text)
            if key:
                times.setdefault(key, []).append(w.start)
        # A title word heard by chance near a shifted time is no evidence: each word's score is
        # what it adds over the chance of meeting it in a random window of the kernel's width.
        span_s = duration or (words[-1].end if words else 1.0)
        chance = {w: 1.0 - math.exp(-len(ts) * _KERNEL_WIDTH / max(span_s, 1.0)) for w, ts in times.items()}
        return cls(times, chance)

    def titled(self, chapters: Sequence[Chapter]) -> list[_Titled]:
        out = []
        for c in chapters:
            content = _title_words(c.title)
            ws = [w for w in content if w in self.times and self.chance[w] < 0.5]
            if ws:
                out.append(_Titled(c, tuple(ws), len(content)))
        return out

    def support(self, t: _Titled, anchor: float) -> float:
        """How well the title's words heard after `anchor` support a chapter start there."""
        got = 0.0
        for w in t.words:
            times = self.times[w]
            i = bisect.bisect_left(times, anchor + _KERNEL[0])
            best = 0.0
            while i < len(times) and times[i] < anchor + _KERNEL[3]:
                best = max(best, _kernel(times[i] - anchor))
                i += 1
            got += max(0.0, best - self.chance[w])
        return got / t.n_content


def _score_table(
    heard: _Heard, titled: Sequence[_Titled], duration: float, span: int
) -> dict[int, list[float]]:
    """Per candidate offset (whole seconds within +-span), each titled chapter's score."""

    def per_chapter(d: float) -> list[float]:
        scores = []
        for t in titled:
            anchor = t.chapter.start + d
            if anchor < -5.0 or (duration and anchor > duration):
                scores.append(0.0)
            else:
                scores.append(heard.support(t, anchor))
        return scores

    return {d: per_chapter(float(d)) for d in range(-span, span + 1)}


def _refine(best: int, total: dict[int, float], chapters: Sequence[Chapter], bounds: Boundaries,
            duration: float) -> float:
    """The quarter second near `best` at which the shifted chapter times sit best on sentences.

    Refined inside the plateau of near-best candidates: show-notes times are written down as the
    whole second a sentence starts in, so at the right offset every chapter (titled or not) sits
    about half a second before a sentence start.
    """
    if not bounds.hi:
        return float(best)
    plateau = [d for d in total if total[d] >= total[best] - PLATEAU and abs(d - best) <= 8]
    steps = [q / 4 for q in range(4 * min(plateau) - 2, 4 * max(plateau) + 3)]
    return min(steps, key=lambda d: (round(sum(_misfits(chapters, bounds, duration, d)), 6), abs(d - best)))


def _misfits(chapters: Sequence[Chapter], bounds: Boundaries, duration: float, d: float) -> list[float]:
    """How far (at most 3 s) each shifted chapter time inside the audio is from a sentence start."""
    out = []
    for c in chapters:
        t = c.start + d + 0.5
        if t < 0 or (duration and t > duration):
            continue
        k = bisect.bisect_left(bounds.hi, t)
        out.append(min([3.0] + [abs(bounds.hi[j] - t) for j in (k - 1, k) if 0 <= j < len(bounds.hi)]))
    return out


def _is_strong(best: int, table: dict[int, list[float]], total: dict[int, float], n_titled: int,
               misfits: Sequence[float]) -> bool:
    """Several chapters must agree, and with 241 offsets tried a couple can agree by chance: the
    best offset must also stand well clear of the best one elsewhere. At the right offset nearly
    every chapter time then falls on a sentence start; a few seconds off, by chance, fewer."""
    support = sum(1 for s in table[best] if s >= SUPPORTED)
    at_zero = sum(1 for s in table[0] if s >= SUPPORTED)
    elsewhere = max((v for d, v in total.items() if abs(d - best) > 15), default=0.0)
    return (
        support >= max(2, math.ceil(n_titled / 3))
        and support >= at_zero + 2
        and total[best] >= total[0] + MARGIN_OVER_ZERO
        and total[best] >= CLEAR_OF_ELSEWHERE * elsewhere
        and sum(1 for m in misfits if m <= 1.0) >= ON_SENTENCES * len(misfits)
    )


def estimate_offset(
    words: Sequence[Word],
    bounds: Boundaries,
    chapters: Sequence[Chapter],
    duration: float,
    offset_range: float,
) -> tuple[float, bool, str]:
    """(offset to add to show-notes times, whether the evidence is strong, a line of evidence)."""
    heard = _Heard.of(words, duration)
    titled = heard.titled(chapters)
    if len(titled) < 2 or offset_range <= 0:
        return 0.0, False, "too few chapter titles are spoken to estimate an offset"

    table = _score_table(heard, titled, duration, int(offset_range))
    total = {d: sum(s) for d, s in table.items()}
    best = max(total, key=lambda d: (round(total[d], 6), -abs(d)))
    if total[best] <= 0:
        return 0.0, False, "no chapter title is heard near its time at any offset"
    at_zero = sum(1 for s in table[0] if s >= SUPPORTED)
    unshifted = f"{at_zero} of {len(chapters)} chapter titles heard near their times"
    if best == 0:
        return 0.0, False, unshifted
    refined = _refine(best, total, chapters, bounds, duration)
    if abs(refined) < MIN_OFFSET:
        return 0.0, False, unshifted
    support = sum(1 for s in table[best] if s >= SUPPORTED)
    evidence = (
        f"{support} of {len(chapters)} chapter titles heard near their shifted times, "
        f"{at_zero} without a shift"
    )
    misfits = _misfits(chapters, bounds, duration, refined)
    return refined, _is_strong(best, table, total, len(titled), misfits), evidence
