"""How far the show notes' times are off: an offset estimated from the chapter titles.

Show notes are often written against an edit of the audio without the intro or an ad, so every
time is off by the same amount. Each candidate offset is scored by how soon after each shifted
chapter time its title's words are first heard (a word heard again within 20 s is the topic
running on, and common words count less); the best one is refined to the middle of the quarter
seconds that score best, then moved (2 s at most) to where the shifted times fall on the pauses
before sentences. It is called strong only when several chapters agree, no other offset comes
close, and the shifted times do fall on those pauses.
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
# A chapter agrees with an offset when a word of its title scores this much there (heard within
# about five seconds of the shifted time, and rare enough).
HEARD_AT_START = 0.6
# Calibrated on `make eval`'s episodes transcribed by tiny.en as a run does, with true offsets 0
# and every 3 s from -60 to +60 (tests/test_offset_calibration.py checks 0 and +-30 s): no offset
# at 0, never a wrong one. On the same transcripts with the chapter titles shuffled, or their
# times drawn at random, every offset is wrong: 2.1% of those are still called strong, nearly
# all on the 2-3 minute episodes with three titled chapters (the rule before: 1.2%, and 28
# wrong offsets applied on the true shifts).
MARGIN_OVER_ZERO = 0.75  # the best offset's score must beat no offset's by this much
CLEAR_OF_ELSEWHERE = 1.75  # ... and the best score more than 15 s away by this factor
CLEAR_WITH_TWO = 2.5  # ... or by this one when only two chapters agree
ON_SENTENCES = 0.9  # share of chapter times that must then fall on a pause before a sentence
ON_SENTENCE_S = 0.25  # ... give or take this many seconds
REFINE_TOLERANCE = 0.4  # near the best summed title score: a fraction of one chapter's
SNAP_S = 2.0  # seconds the title words' estimate may move to put the chapters on sentences


@dataclass(frozen=True)
class Boundaries:
    """The gaps before each sentence: heading j sits in [lo[j], hi[j]] (end of the previous
    sentence, start of sentence j)."""

    lo: tuple[float, ...]
    hi: tuple[float, ...]

    @classmethod
    def of(cls, words: Sequence[Word], starts: Sequence[int]) -> Boundaries:
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


def _stem(token: str) -> str:
    """A title's "Sampling" is heard as "sample", its "Tracing" as "trace": one key for both."""
    w = _norm(token)
    for suffix in ("ing", "ed", "e"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            return w[: -len(suffix)]
    return w


def norm_title(title: str) -> str:
    return " ".join(_norm(t) for t in title.split())


def _title_words(title: str) -> set[str]:
    return {_stem(w) for w in (_norm(t) for t in re.split(r"[\s/\-–—:,]+", title)) if len(w) >= 3 and w not in _STOPWORDS}


# Title words support a chapter start when heard in its first sentence or two (from half a
# second to four seconds after the start, measured on `make eval`'s episodes: 0.6-3.7 s, and
# show-notes times are whole seconds), less so a few sentences later, not at all past 15 s:
# (lag, weight) corners of a piecewise-linear kernel.
_KERNEL = ((-1.5, 0.0), (0.5, 1.0), (4.0, 1.0), (7.0, 0.5), (15.0, 0.0))
_KERNEL_WIDTH = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(_KERNEL, _KERNEL[1:]))
_ALREADY_HEARD = 20.0  # seconds after a mention in which the same word is the topic running on
_REFINE_S = 3  # whole seconds around the best one in which quarter seconds are tried
_EDGE = 0.15  # seconds: how far Whisper's sentence edges may sit from the true start


def _kernel(lag: float) -> float:
    """How well a title word heard `lag` seconds after a chapter's start supports that start."""
    for (x0, y0), (x1, y1) in zip(_KERNEL, _KERNEL[1:]):
        if x0 <= lag <= x1:
            return y0 + (y1 - y0) * (lag - x0) / (x1 - x0)
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

    times: dict[str, list[float]]  # fresh mentions only: not heard in the ALREADY_HEARD s before
    chance: dict[str, float]

    @classmethod
    def of(cls, words: Sequence[Word], duration: float) -> _Heard:
        times: dict[str, list[float]] = {}
        for w in words:
            key = _stem(w.text)
            if key:
                times.setdefault(key, []).append(w.start)
        # A title word heard by chance near a shifted time is no evidence: each word's score is
        # what it adds over the chance of meeting it in a random window of the kernel's width.
        span_s = duration or (words[-1].end if words else 1.0)
        chance = {w: 1.0 - math.exp(-len(ts) * _KERNEL_WIDTH / max(span_s, 1.0)) for w, ts in times.items()}
        # A chapter brings its topic up: a title word heard again soon after is the talk running
        # on, no evidence of a start there.
        fresh = {w: [t for i, t in enumerate(ts) if i == 0 or t - ts[i - 1] > _ALREADY_HEARD]
                 for w, ts in times.items()}
        return cls(fresh, chance)

    def titled(self, chapters: Sequence[Chapter]) -> list[_Titled]:
        out = []
        for c in chapters:
            content = _title_words(c.title)
            ws = [w for w in content if w in self.times and self.chance[w] < 0.5]
            if ws:
                out.append(_Titled(c, tuple(ws), len(content)))
        return out

    def word_scores(self, t: _Titled, anchor: float) -> list[float]:
        """How well each of the title's words heard after `anchor` supports a chapter start there."""
        out = []
        for w in t.words:
            times = self.times[w]
            i = bisect.bisect_left(times, anchor + _KERNEL[0][0])
            first = _kernel(times[i] - anchor) if i < len(times) else 0.0
            out.append(max(0.0, first - self.chance[w]))
        return out

    def support(self, t: _Titled, anchor: float) -> float:
        """How well the title supports a chapter start at `anchor` (every content word heard
        right after it: 1)."""
        return sum(self.word_scores(t, anchor)) / t.n_content

    def agreeing(self, titled: Sequence[_Titled], d: float) -> int:
        """How many chapters have a title word heard in their first sentences at offset `d`."""
        return sum(1 for t in titled if max(self.word_scores(t, t.chapter.start + d)) >= HEARD_AT_START)


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


def _refine(best: int, heard: _Heard, titled: Sequence[_Titled]) -> float:
    """The middle of the quarter seconds near `best` that score within REFINE_TOLERANCE of the
    best: the kernel's flat top is wider than a second, so the whole-second best is only a
    neighbour, and one title word heard just before its chapter (a word the talk was already
    using) tilts the top by a fraction of one chapter's score."""
    fine = {best + q / 4: sum(heard.support(t, t.chapter.start + best + q / 4) for t in titled)
            for q in range(-4 * _REFINE_S, 4 * _REFINE_S + 1)}
    top = max(fine.values())
    near_top = [d for d, v in fine.items() if v >= top - REFINE_TOLERANCE]
    return (min(near_top) + max(near_top)) / 2


def _snap(d: float, chapters: Sequence[Chapter], bounds: Boundaries, duration: float) -> float:
    """The middle of the run of quarter seconds within SNAP_S of `d` (the one nearest to it)
    at which the shifted chapter times sit best on the pauses before sentences: how soon a title
    word follows its chapter's start varies from show to show; a chapter starting at a sentence
    does not."""
    steps = [d + q / 4 for q in range(-int(4 * SNAP_S), int(4 * SNAP_S) + 1)]
    cost = [round(sum(_misfits(chapters, bounds, duration, x)), 6) for x in steps]
    runs: list[list[float]] = []
    for i, x in enumerate(steps):
        if cost[i] == min(cost):
            if runs and i > 0 and cost[i - 1] == min(cost):
                runs[-1].append(x)
            else:
                runs.append([x])
    nearest = min(runs, key=lambda r: min(abs(x - d) for x in r))
    return (nearest[0] + nearest[-1]) / 2


def _misfits(chapters: Sequence[Chapter], bounds: Boundaries, duration: float, d: float) -> list[float]:
    """How far (at most 3 s) each shifted chapter time inside the audio is from the pause before
    a sentence. A show-notes time is the whole second the chapter starts in, so the start lies
    anywhere in the second after it; Whisper's word edges are good to a few tenths."""
    out = []
    for c in chapters:
        t0 = c.start + d
        if t0 < 0 or (duration and t0 > duration):
            continue
        k = bisect.bisect_left(bounds.hi, t0)
        gaps = [max(0.0, bounds.lo[j] - _EDGE - (t0 + 1.0), t0 - (bounds.hi[j] + _EDGE))
                for j in (k - 1, k, k + 1) if 0 <= j < len(bounds.hi)]
        out.append(min([3.0] + gaps))
    return out


def _is_strong(best: int, agree: int, at_zero: int, n_titled: int, total: dict[int, float],
               misfits: Sequence[float]) -> bool:
    """Several chapters must agree, and with 241 offsets tried a couple can agree by chance: the
    best offset must also stand well clear of the best one elsewhere. At the right offset nearly
    every chapter time then falls on a sentence start; a few seconds off, by chance, fewer."""
    elsewhere = max((v for d, v in total.items() if abs(d - best) > 15), default=0.0)
    return (
        agree >= max(2, math.ceil(n_titled / 3))
        and agree >= at_zero + 2
        and total[best] >= total[0] + MARGIN_OVER_ZERO
        and total[best] >= (CLEAR_OF_ELSEWHERE if agree > 2 else CLEAR_WITH_TWO) * elsewhere
        and sum(1 for m in misfits if m <= ON_SENTENCE_S) >= ON_SENTENCES * len(misfits)
    )


def estimate_offset(
    words: Sequence[Word],
    bounds: Boundaries,
    chapters: Sequence[Chapter],
    duration: float,
    offset_range: float,
) -> tuple[float, bool, str]:
    """(offset to add to show-notes times, whether the evidence is strong, a line of evidence)."""
    # "0:00" is where the episode starts, whatever was added before the show notes' first topic:
    # it says nothing about an offset (and a time shifted below zero was written as 0:00).
    timed = [c for c in chapters if c.start > 0]
    heard = _Heard.of(words, duration)
    titled = heard.titled(timed)
    if len(titled) < 2 or offset_range <= 0:
        return 0.0, False, "too few chapter titles are spoken to estimate an offset"

    table = _score_table(heard, titled, duration, int(offset_range))
    total = {d: sum(s) for d, s in table.items()}
    top = max(round(v, 6) for v in total.values())
    tied = [d for d in sorted(total) if round(total[d], 6) == top]  # a flat top: its middle
    best = tied[len(tied) // 2]
    if total[best] <= 0:
        return 0.0, False, "no chapter title is heard near its time at any offset"
    at_zero = heard.agreeing(titled, 0.0)
    unshifted = f"{at_zero} of {len(chapters)} chapter titles heard near their times"
    if best == 0:
        return 0.0, False, unshifted
    refined = _snap(_refine(best, heard, titled), timed, bounds, duration)
    if abs(refined) < MIN_OFFSET:
        return 0.0, False, unshifted
    agree = heard.agreeing(titled, refined)
    evidence = f"{agree} of {len(chapters)} chapter titles heard near their shifted times, {at_zero} without a shift"
    misfits = _misfits(timed, bounds, duration, refined)
    return refined, _is_strong(best, agree, at_zero, len(titled), total, misfits), evidence
