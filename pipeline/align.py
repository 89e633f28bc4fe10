"""Alignment: the transcript laid out as sentences, paragraphs and chapter sections.

Sentences come from Whisper's word timestamps (split after `.`, `?`, `!`, and wherever the
speaker changes). Paragraphs are runs of sentences broken at long pauses, speaker changes and a
maximum length. Every show-notes chapter becomes a section heading at the sentence boundary
nearest its time, after a global offset estimated from the chapter titles has been applied.

Paragraphs are contiguous spans of the word list, so every word lands in exactly one paragraph,
in order, whatever the rules below decide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from .models import Alignment, Chapter, Paragraph, Section, Transcript, Word
from .offset import Boundaries, estimate_offset, norm_title
from .timecode import format_timestamp


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
    bounds = Boundaries.of(words, starts)

    estimate, strong, evidence = estimate_offset(words, bounds, chapters, duration, options.offset_range)
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
    return format_timestamp(seconds, hours="auto", pad_hours=False)


def _place_chapters(
    bounds: Boundaries,
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
            if norm_title(same.title) == norm_title(c.title):
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
