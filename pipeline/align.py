"""Alignment: the transcript laid out as sentences, paragraphs and chapter sections.

Sentences come from Whisper's word timestamps (split after `.`, `?`, `!`, and wherever the
speaker changes). Paragraphs are runs of sentences broken at long pauses, speaker changes and a
maximum length. Every show-notes chapter becomes a section heading at the sentence boundary
nearest its time, after a global offset estimated from the chapter titles has been applied.

Paragraphs are contiguous spans of the word list, so every word lands in exactly one paragraph,
in order, whatever the rules below decide.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from typing import Sequence

from .models import Alignment, Chapter, Paragraph, Section, Transcript, Word


@dataclass(frozen=True)
class Options:
    heading_level: int = 2
    paragraph_pause: float = 1.5  # a silence this long between sentences starts a paragraph
    max_paragraph_words: int = 120
    min_paragraph_words: int = 4  # smaller paragraphs merge into a same-speaker neighbour
    chapter_tolerance: float = 15.0  # how far a heading may sit from its time without a warning
    detect_offset: bool = True
    offset_range: float = 120.0  # largest show-notes shift searched, seconds either way
    review_threshold: float = 0.5  # a word with a lower probability is low-confidence
    mark_low_confidence: bool = False  # render `(_needs review_ MM:SS)` after such words

    def __post_init__(self) -> None:
        if not 1 <= self.heading_level <= 6:
            raise ValueError(f"heading_level must be 1..6, not {self.heading_level}")
        if self.min_paragraph_words < 1:
            raise ValueError("min_paragraph_words must be at least 1")
        # Splitting an overlong paragraph must leave two parts of at least the minimum.
        if self.max_paragraph_words < 2 * self.min_paragraph_words:
            raise ValueError("max_paragraph_words must be at least twice min_paragraph_words")
        if self.paragraph_pause <= 0 or self.chapter_tolerance < 0 or self.offset_range < 0:
            raise ValueError("paragraph_pause must be positive, chapter_tolerance and offset_range not negative")


def align(transcript: Transcript, chapters: Sequence[Chapter], options: Options = Options()) -> Alignment:
    words = transcript.words
    duration = transcript.duration or (words[-1].end if words else 0.0)
    warnings: list[str] = []
    starts = sentence_starts(words)
    bounds = _Boundaries.of(words, starts)

    estimate, strong, evidence = estimate_offset(words, bounds, chapters, duration, options)
    offset = estimate if (strong and options.detect_offset) else 0.0
    # Only strong evidence is worth a reviewer's attention: a weak guess (two titles heard a few
    # seconds off) came up on nearly every correctly timed episode and taught people to ignore it.
    if estimate and strong:
        done = "applied" if offset else ("not applied: detection is off" if strong else "not applied")
        warnings.append(
            f"show-notes times look {abs(estimate):g} s {'early' if estimate > 0 else 'late'} against the "
            f"audio ({evidence}); offset {estimate:+g} s {done}"
        )

    placed = _place_chapters(bounds, chapters, offset, duration, options, warnings)
    if not words:
        if chapters:
            warnings.append("no speech in the transcript: chapter headings only")
        return Alignment(tuple(Section(c, ()) for _, c in placed), offset, estimate, tuple(warnings), duration)
    sections = []
    cuts = [(0, None)] + placed
    for k, (s_idx, chapter) in enumerate(cuts):
        lo = starts[s_idx] if s_idx < len(starts) else len(words)
        hi = starts[cuts[k + 1][0]] if k + 1 < len(cuts) else len(words)
        if chapter is None and hi <= lo:
            continue  # nothing before the first heading
        sections.append(Section(chapter, tuple(_paragraphs(words, starts, lo, hi, options))))
    return Alignment(tuple(sections), offset, estimate, tuple(warnings), duration)


# --- sentences -------------------------------------------------------------------------------

# Never the end of a sentence: titles before a name, and Latin abbreviations mid-sentence.
_NEVER_FINAL = {"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "vs.", "e.g.", "i.e.", "cf.", "approx.", "ca."}
# Sometimes the end of a sentence: only when the next word starts with a capital.
_MAYBE_FINAL = {"etc.", "inc.", "ltd.", "al.", "jr.", "sr."}
_INITIALISM = re.compile(r"^(?:[a-z]\.){2,}$", re.I)  # U.S., A.I.
_CLOSERS = "\"')]}”’»"


def _ends_sentence(word: Word, nxt: Word | None) -> bool:
    token = word.text.strip().rstrip(_CLOSERS)
    if not token or token[-1] not in ".?!…":
        return False
    if nxt is None:
        return True
    if nxt.text[:1] and not nxt.text[:1].isspace():
        return False  # the next token continues this word ("2." + "0")
    following = nxt.text.strip().lstrip(_CLOSERS + "(\"'“‘")
    capital_next = following[:1].isupper() or following[:1].isdigit()
    lower = token.lower()
    if token[-1] in "?!":
        return True
    if lower in _NEVER_FINAL:
        return False
    if lower in _MAYBE_FINAL or _INITIALISM.match(token) or token.endswith(("..", "…")):
        return capital_next
    return True


def sentence_starts(words: Sequence[Word]) -> list[int]:
    """Indices of the first word of each sentence; a speaker change also starts one."""
    if not words:
        return []
    starts = [0]
    for i in range(1, len(words)):
        prev = words[i - 1]
        if _ends_sentence(prev, words[i]) or prev.speaker != words[i].speaker:
            starts.append(i)
    return starts


# --- paragraphs ------------------------------------------------------------------------------


def _count(words: Sequence[Word], lo: int, hi: int) -> int:
    return sum(1 for w in words[lo:hi] if w.text.strip())


def _paragraphs(words: Sequence[Word], starts: Sequence[int], lo: int, hi: int, options: Options) -> list[Paragraph]:
    if hi <= lo:
        return []
    sents = [s for s in starts if lo <= s < hi]
    if not sents or sents[0] != lo:
        sents.insert(0, lo)
    ends = set(sents)  # a span may be cut before any of these indices at a sentence end

    # Greedy pass: sentences join the current paragraph unless the speaker changes, a long
    # pause falls between them, or the paragraph would grow past the maximum.
    spans: list[list[int]] = []
    for k, s in enumerate(sents):
        e = sents[k + 1] if k + 1 < len(sents) else hi
        if spans:
            p0, p1 = spans[-1]
            pause = words[s].start - words[s - 1].end
            if (
                words[s].speaker == words[p0].speaker
                and pause < options.paragraph_pause
                and _count(words, p0, e) <= options.max_paragraph_words
            ):
                spans[-1][1] = e
                continue
        spans.append([s, e])

    spans = [piece for a, b in spans for piece in _split_long(words, ends, a, b, options)]
    spans = _merge_small(words, ends, spans, options)
    return [
        Paragraph(words[a].start, words[b - 1].end, tuple(words[a:b]), words[a].speaker) for a, b in spans
    ]


def _break_score(words: Sequence[Word], ends: set[int], p: int) -> float:
    """How good a paragraph break before word p is: sentence ends, then commas, then pauses."""
    prev = words[p - 1].text.strip()
    score = 10.0 if p in ends else 0.0
    if prev.endswith((",", ";", ":", "—", "-")):
        score += 1.0
    return score + min(words[p].start - words[p - 1].end, 3.0)


def _best_break(words: Sequence[Word], ends: set[int], a: int, b: int, options: Options) -> int | None:
    """A cut in span [a, b) leaving a first part of min..max words and a rest of at least min."""
    lo_n, hi_n = options.min_paragraph_words, options.max_paragraph_words
    total = _count(words, a, b)
    best, best_score = None, -1.0
    n = 0
    for p in range(a + 1, b):
        n += 1 if words[p - 1].text.strip() else 0
        if n < lo_n:
            continue
        if n > hi_n or total - n < lo_n:
            break
        # Among equally good places, the one nearer the middle: two readable halves.
        score = _break_score(words, ends, p) - abs(n - total / 2) / total
        if score > best_score:
            best, best_score = p, score
    return best


def _split_long(words: Sequence[Word], ends: set[int], a: int, b: int, options: Options) -> list[list[int]]:
    pieces = []
    while _count(words, a, b) > options.max_paragraph_words:
        p = _best_break(words, ends, a, b, options)
        if p is None:
            break
        pieces.append([a, p])
        a = p
    pieces.append([a, b])
    return pieces


def _merge_small(words: Sequence[Word], ends: set[int], spans: list[list[int]], options: Options) -> list[list[int]]:
    """Fold paragraphs under the minimum into a neighbour by the same speaker.

    When the joined paragraph would pass the maximum, it is cut again at the best place that
    leaves both parts at least the minimum, so the small one borrows sentences instead.
    """
    i = 0
    while i < len(spans):
        a, b = spans[i]
        if _count(words, a, b) >= options.min_paragraph_words:
            i += 1
            continue
        speaker = words[a].speaker
        neighbour = None
        if i > 0 and words[spans[i - 1][0]].speaker == speaker:
            neighbour = i - 1
        elif i + 1 < len(spans) and words[spans[i + 1][0]].speaker == speaker:
            neighbour = i + 1
        if neighbour is None:
            i += 1  # a short turn by another speaker ("Yeah.") stands on its own
            continue
        first = min(i, neighbour)
        ja, jb = spans[first][0], spans[first + 1][1]
        joined = _split_long(words, ends, ja, jb, options)
        spans[first: first + 2] = joined
        i = first if len(joined) == 1 else first + len(joined)
    return spans


# --- chapters --------------------------------------------------------------------------------


def clock(seconds: float) -> str:
    """`M:SS` or `H:MM:SS`, as show notes write times."""
    s = max(0, int(seconds))
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


@dataclass(frozen=True)
class _Boundaries:
    """The gaps before each sentence: heading j sits in [lo[j], hi[j]] (end of the previous
    sentence, start of sentence j)."""

    lo: tuple[float, ...]
    hi: tuple[float, ...]

    @classmethod
    def of(cls, words: Sequence[Word], starts: Sequence[int]) -> "_Boundaries":
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


def _place_chapters(
    bounds: _Boundaries,
    chapters: Sequence[Chapter],
    offset: float,
    duration: float,
    options: Options,
    warnings: list[str],
) -> list[tuple[int, Chapter]]:
    """(sentence index, chapter) for each heading, in order; what could not be placed is warned about."""
    latest = float("-inf")
    for c in chapters:
        if c.start < latest:
            warnings.append(
                f"chapter {c.title!r} (line {c.line}) at {clock(c.start)} is out of order in the show "
                f"notes (after {clock(latest)}); placed by its time"
            )
        latest = max(latest, c.start)

    kept: list[Chapter] = []
    for c in sorted(chapters, key=lambda c: c.start):
        t = c.start + offset
        if duration and t > duration:
            warnings.append(
                f"chapter {c.title!r} (line {c.line}) at {clock(t)} is after the end of the audio "
                f"({clock(duration)}); dropped"
            )
            continue
        if kept and abs(kept[-1].start - c.start) < 1.0:
            same = kept[-1]
            if _norm_title(same.title) == _norm_title(c.title):
                warnings.append(f"chapter {c.title!r} (line {c.line}) duplicates line {same.line}; dropped")
            else:
                warnings.append(
                    f"chapter {c.title!r} (line {c.line}) has the same time as {same.title!r}; merged into one heading"
                )
                kept[-1] = Chapter(same.start, f"{same.title} / {c.title}", same.line)
            continue
        kept.append(c)

    if not bounds.hi:
        return [(0, c) for c in kept]

    placed: list[tuple[int, Chapter]] = []
    for c in kept:
        t = c.start + offset
        first = placed[-1][0] + 1 if placed else 0
        if first >= len(bounds.hi):
            prev = placed[-1][1]
            warnings.append(
                f"chapter {c.title!r} (line {c.line}) at {clock(t)} has no sentence left after {prev.title!r}; "
                "merged into its heading"
            )
            placed[-1] = (placed[-1][0], Chapter(prev.start, f"{prev.title} / {c.title}", prev.line))
            continue
        j, d = bounds.nearest(t, first)
        if d > options.chapter_tolerance:
            unconstrained, d0 = bounds.nearest(t)
            if placed and unconstrained < first and d0 <= options.chapter_tolerance:
                prev = placed[-1][1]
                warnings.append(
                    f"chapter {c.title!r} (line {c.line}) at {clock(t)} falls on the same sentence as "
                    f"{prev.title!r}; merged into its heading"
                )
                placed[-1] = (placed[-1][0], Chapter(prev.start, f"{prev.title} / {c.title}", prev.line))
                continue
            warnings.append(
                f"chapter {c.title!r} (line {c.line}) at {clock(t)}: no sentence boundary within "
                f"{options.chapter_tolerance:g} s; placed at the nearest one, {d:.0f} s away "
                f"({clock(bounds.hi[j])})"
            )
        placed.append((j, c))
    return placed


# --- offset ----------------------------------------------------------------------------------

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


def _norm_title(title: str) -> str:
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


# Calibrated on `make eval`'s episodes transcribed by tiny.en with true offsets 0, +-30 s (and on
# the looped long episode, +-12, 45 s): no offset at 0, the right one found at +-30 s.
PLATEAU = 0.5  # candidates this close to the best score are refined by sentence starts
MARGIN_OVER_ZERO = 0.75  # the best offset's score must beat no offset's by this much
CLEAR_OF_ELSEWHERE = 1.75  # ... and the best score more than 15 s away by this factor
ON_SENTENCES = 0.9  # share of chapter times that must then fall within 1 s of a sentence start


def estimate_offset(
    words: Sequence[Word],
    bounds: _Boundaries,
    chapters: Sequence[Chapter],
    duration: float,
    options: Options,
) -> tuple[float, bool, str]:
    """(offset to add to show-notes times, whether the evidence is strong, a line of evidence).

    Each candidate offset is scored by how many chapter titles' words are heard just after the
    shifted chapter times; common words count less. The best candidate is then refined to the
    half second at which the shifted times sit best on sentence boundaries, which is where show
    notes put them.
    """
    heard: dict[str, list[float]] = {}
    for w in words:
        key = _norm(w.text)
        if key:
            heard.setdefault(key, []).append(w.start)
    # A title word heard by chance near a shifted time is no evidence: each word's score is
    # what it adds over the chance of meeting it in a random window of the kernel's width.
    span_s = duration or (words[-1].end if words else 1.0)
    chance = {w: 1.0 - math.exp(-len(times) * _KERNEL_WIDTH / max(span_s, 1.0)) for w, times in heard.items()}
    titled = []
    for c in chapters:
        content = _title_words(c.title)
        ws = [w for w in content if w in heard and chance[w] < 0.5]
        if ws:
            titled.append((c, ws, len(content)))
    if len(titled) < 2 or options.offset_range <= 0:
        return 0.0, False, "too few chapter titles are spoken to estimate an offset"

    def per_chapter(d: float) -> list[float]:
        scores = []
        for c, ws, n_content in titled:
            anchor = c.start + d
            if anchor < -5.0 or (duration and anchor > duration):
                scores.append(0.0)
                continue
            got = 0.0
            for w in ws:
                times = heard[w]
                i = bisect.bisect_left(times, anchor + _KERNEL[0])
                best = 0.0
                while i < len(times) and times[i] < anchor + _KERNEL[3]:
                    best = max(best, _kernel(times[i] - anchor))
                    i += 1
                got += max(0.0, best - chance[w])
            scores.append(got / n_content)
        return scores

    span = int(options.offset_range)
    table = {d: per_chapter(float(d)) for d in range(-span, span + 1)}
    total = {d: sum(s) for d, s in table.items()}
    best = max(total, key=lambda d: (round(total[d], 6), -abs(d)))
    support = sum(1 for s in table[best] if s >= 0.4)
    at_zero = sum(1 for s in table[0] if s >= 0.4)
    if total[best] <= 0:
        return 0.0, False, "no chapter title is heard near its time at any offset"

    if best == 0:
        return 0.0, False, f"{at_zero} of {len(chapters)} chapter titles heard near their times"
    # Refine inside the plateau of near-best candidates: show-notes times are written down as the
    # whole second a sentence starts in, so at the right offset every chapter (titled or not)
    # sits about half a second before a sentence start.
    plateau = [d for d in total if total[d] >= total[best] - PLATEAU and abs(d - best) <= 8]

    def distances(d: float) -> list[float]:
        out = []
        for c in chapters:
            t = c.start + d + 0.5
            if t < 0 or (duration and t > duration):
                continue
            k = bisect.bisect_left(bounds.hi, t)
            out.append(min([3.0] + [abs(bounds.hi[j] - t) for j in (k - 1, k) if 0 <= j < len(bounds.hi)]))
        return out

    def misfit(d: float) -> float:
        return sum(distances(d))

    steps = [q / 4 for q in range(4 * min(plateau) - 2, 4 * max(plateau) + 3)]
    refined = min(steps, key=lambda d: (round(misfit(d), 6), abs(d - best))) if bounds.hi else float(best)
    if abs(refined) < 1.0:
        return 0.0, False, f"{at_zero} of {len(chapters)} chapter titles heard near their times"

    # Several chapters must agree, and with 241 offsets tried a couple can agree by chance: the
    # best offset must also stand well clear of the best one elsewhere.
    elsewhere = max((v for d, v in total.items() if abs(d - best) > 15), default=0.0)
    # At the right offset most chapter times fall on a sentence start; near it, by chance, fewer.
    near = distances(refined)
    on_sentences = sum(1 for x in near if x <= 1.0)
    strong = (
        abs(refined) >= 1.0
        and on_sentences >= ON_SENTENCES * len(near)
        and support >= max(2, math.ceil(len(titled) / 3))
        and support >= at_zero + 2
        and total[best] >= total[0] + MARGIN_OVER_ZERO
        and total[best] >= CLEAR_OF_ELSEWHERE * elsewhere
    )
    evidence = (
        f"{support} of {len(chapters)} chapter titles heard near their shifted times, "
        f"{at_zero} without a shift"
    )
    return refined, strong, evidence
