"""Word times for a transcript as it now reads, hand edits included.

The episode file is the truth for the text: a reviewer fixes words, renames speakers, moves
headings. The recorded words (`words.tsv`) are the truth for time. `retime()` reads the
transcript body back (headings, `[HH:MM:SS] **Name:** text` paragraphs) and aligns its tokens
to the recorded words with difflib, so that

- an unchanged word keeps its time and probability;
- a fixed word takes the time of the word(s) it replaced (several fixed words share that span
  evenly), with probability 1: a person wrote it;
- an inserted word shares its neighbours' time (the gap between them, or the word before);
- a deleted word is gone.

The result is an `Alignment` like the one `align` makes, so every sidecar writer and the
review page work on edited text unchanged.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .models import Alignment, Chapter, Paragraph, Section, Transcript, Word

_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)[ \t]*#*[ \t]*$")
_PARAGRAPH = re.compile(
    r"^\[(\d+):(\d\d):(\d\d)\][ \t]*(?:\*\*(?P<name>.+?):\*\*[ \t]*)?(?P<text>.*)$", re.S)
_REVIEW_MARK = re.compile(r"[ \t]*\(_needs review_ \d+:\d\d\)")
_WRAPPER = re.compile(r"^\s*</?div\b[^>]*>\s*$", re.I)


@dataclass(frozen=True)
class Block:
    """One block of the transcript body: a heading or a paragraph, as text without markup."""

    kind: str  # "heading" or "paragraph"
    text: str  # the heading's title, or the paragraph's words
    label: str | None = None  # the paragraph's `**Name:**` label as written (maybe a short name)
    timecode: float | None = None


@dataclass(frozen=True)
class Edited:
    alignment: Alignment
    chapters: tuple[Chapter, ...]  # the headings where they now are, for chapters.json


def unescape(text: str) -> str:
    """The reverse of `render.escape`: what a reader sees."""
    return html.unescape(re.sub(r"\\(.)", r"\1", text))


def blocks(body: str) -> list[Block]:
    """Headings and paragraphs of a transcript body, in order; other lines count as paragraphs."""
    out: list[Block] = []
    for chunk in re.split(r"\n[ \t]*\n", body.replace("\r\n", "\n").strip("\n")):
        lines = [line for line in chunk.split("\n") if line.strip() and not _WRAPPER.match(line)]
        if not lines:
            continue
        first = _HEADING.match(lines[0])
        if first and len(lines) == 1:
            out.append(Block("heading", unescape(first.group(1))))
            continue
        text = " ".join(line.strip() for line in lines)
        m = _PARAGRAPH.match(text)
        label = timecode = None
        if m:
            timecode = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
            label = unescape(m.group("name")) if m.group("name") else None
            text = m.group("text")
        text = unescape(_REVIEW_MARK.sub("", text))
        out.append(Block("paragraph", " ".join(text.split()), label, timecode))
    return out


def resolve_speakers(found: Sequence[Block], known: Sequence[str] = ()) -> list[str | None]:
    """Each paragraph's speaker by full name: a label, or the speaker before it continuing.

    After a person's first turn the site writes the first name only; a short label is the full
    name seen earlier (or in `[extra] speakers`) that it is the first word of.
    """
    seen: list[str] = []
    out: list[str | None] = []
    current: str | None = None
    for b in found:
        if b.kind != "paragraph":
            continue
        if b.label is not None:
            label = b.label
            # A name on the page outranks the front matter's: a reviewer renamed "Jeremy Jung" to
            # "Jeremy Q Jung" on the page, and the list still says the old one.
            matches = _longer(label, seen) or _longer(label, known)
            if label not in seen and label not in known and len(matches) == 1:
                current = matches[0]
            else:
                current = label
                seen.append(label)
        out.append(current)
    return out


def _longer(short: str, names: Sequence[str]) -> list[str]:
    return [n for n in dict.fromkeys(names) if n != short and n.split()[0] == short]


def _norm(token: str) -> str:
    return re.sub(r"[^\w']+", "", token.lower()) or token


def _spread(n: int, start: float, end: float) -> list[tuple[float, float]]:
    step = (end - start) / n if n else 0.0
    return [(round(start + k * step, 3), round(start + (k + 1) * step, 3)) for k in range(n)]


def _pair(a: Sequence[str], b: Sequence[str]) -> list[int | None]:
    """For each of `a`, the most alike of `b` in order (or None): the words a reviewer fixed
    among those they added or removed. A pair costs 1 - similarity, at most 0.5, so that a
    word is never left out while one is there to pair it with; a skip costs 0.6; ties go to the
    earlier pair."""
    if len(a) == len(b):
        return list(range(len(b)))
    if len(a) * len(b) > 4000:  # a rewritten passage: no word is the same word any more
        return [None] * len(a)
    skip = 0.6
    inf = float("inf")
    cost = [[inf] * (len(b) + 1) for _ in range(len(a) + 1)]
    step: list[list[tuple[int, int]]] = [[(0, 0)] * (len(b) + 1) for _ in range(len(a) + 1)]
    cost[0][0] = 0.0
    for i in range(len(a) + 1):
        for j in range(len(b) + 1):
            here = cost[i][j]
            if here == inf:
                continue
            moves = []
            if i < len(a) and j < len(b):
                similarity = difflib.SequenceMatcher(None, a[i], b[j]).ratio()
                moves.append((i + 1, j + 1, min(0.5, 1.0 - similarity) + 1e-6 * i))
            if i < len(a):
                moves.append((i + 1, j, skip))
            if j < len(b):
                moves.append((i, j + 1, skip))
            for ni, nj, c in moves:
                if here + c < cost[ni][nj]:
                    cost[ni][nj] = here + c
                    step[ni][nj] = (i, j)
    out: list[int | None] = [None] * len(a)
    i, j = len(a), len(b)
    while i or j:
        pi, pj = step[i][j]
        if pi == i - 1 and pj == j - 1:
            out[pi] = pj
        i, j = pi, pj
    return out


def retime_tokens(tokens: Sequence[str], recorded: Sequence[Word]) -> list[Word]:
    """A `Word` per token, timed from the recorded words (see the module's rules)."""
    recorded = [w for w in recorded if w.text.strip()]
    a = [_norm(t) for t in tokens]
    b = [_norm(w.text.strip()) for w in recorded]
    match: list[int | None] = [None] * len(tokens)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("equal", "replace"):
            for k, j in enumerate(_pair(a[i1:i2], b[j1:j2])):
                match[i1 + k] = None if j is None else j1 + j
    out: list[Word] = []
    i = 0
    while i < len(tokens):
        j = match[i]
        if j is not None:
            w = recorded[j]
            same = a[i] == b[j]
            out.append(Word(w.start, w.end, " " + tokens[i], w.probability if same else 1.0, w.speaker))
            i += 1
            continue
        run_end = i
        while run_end < len(tokens) and match[run_end] is None:
            run_end += 1
        before = out[-1] if out else None
        nxt = match[run_end] if run_end < len(tokens) else None
        after = recorded[nxt] if nxt is not None else None
        # inserted words: the gap between their neighbours, or the time of the word before
        lo = before.end if before else (after.start if after else 0.0)
        hi = after.start if after else lo
        if hi - lo < 0.05:
            neighbour = before or after
            lo, hi = (neighbour.start, neighbour.end) if neighbour else (lo, hi)
        for k, (s, e) in zip(range(i, run_end), _spread(run_end - i, lo, hi)):
            out.append(Word(s, e, " " + tokens[k], 1.0))
        i = run_end
    return out


def retime(body: str, transcript: Transcript, chapters: Sequence[Chapter], offset: float = 0.0,
           known_speakers: Sequence[str] = (), machine: Alignment | None = None) -> Edited:
    """The transcript body as an `Alignment` on the recorded words' times.

    `machine` is where `align` put the headings. A heading still there keeps its show-notes
    times in `chapters` (each of them, when align merged several into one heading); a heading a
    reviewer moved, or wrote, starts where its first paragraph now does.
    """
    found = blocks(body)
    speakers = iter(resolve_speakers(found, known_speakers))
    paragraphs = [b for b in found if b.kind == "paragraph"]
    tokens = [t for b in paragraphs for t in b.text.split()]
    timed = iter(retime_tokens(tokens, transcript.words))
    by_title: dict[str, list[Chapter]] = {}
    for c in chapters:
        by_title.setdefault(" ".join(c.title.split()), []).append(c)

    def take(title: str) -> list[Chapter]:
        if by_title.get(title):
            return [by_title[title].pop(0)]
        parts = title.split(" / ")
        if len(parts) > 1 and all(by_title.get(p) for p in parts):
            return [by_title[p].pop(0) for p in parts]
        return []

    sections: list[tuple[list[Chapter], list[Paragraph]]] = [([], [])]
    titles: list[str] = []
    for b in found:
        if b.kind == "heading":
            sections.append((take(b.text), []))
            titles.append(b.text)
            continue
        speaker = next(speakers)
        words = tuple(Word(w.start, w.end, w.text, w.probability, speaker)
                      for w in (next(timed) for _ in b.text.split()))
        if words:
            sections[-1][1].append(Paragraph(words[0].start, words[-1].end, words, speaker))

    duration = transcript.duration or (transcript.words[-1].end if transcript.words else 0.0)
    starts: list[float | None] = [ps[0].start if ps else None for _, ps in sections]
    # A heading with nothing under it sits where the next paragraph starts.
    for k in range(len(starts) - 2, -1, -1):
        if starts[k] is None:
            starts[k] = starts[k + 1]
    machine_at = {s.chapter.title: (s.paragraphs[0].start if s.paragraphs else None)
                  for s in (machine.sections if machine else ()) if s.chapter is not None}
    out_sections: list[Section] = []
    placed: list[Chapter] = []
    for k, ((matched, ps), title) in enumerate(zip(sections[1:], titles), 1):
        at = starts[k]
        if not matched and at is None:
            at = duration
        unmoved = title in machine_at and (
            machine_at[title] == at or (None not in (machine_at[title], at)
                                        and abs(machine_at[title] - at) < 0.05))  # type: ignore[operator]
        if matched and (unmoved or at is None):
            placed += matched
        else:
            placed.append(Chapter(round(at - offset, 3), title, matched[0].line if matched else 0))  # type: ignore[operator]
        chapter = matched[0] if len(matched) == 1 else Chapter(
            matched[0].start if matched else round(at - offset, 3), title, matched[0].line if matched else 0)  # type: ignore[operator]
        out_sections.append(Section(chapter, tuple(ps)))
    if sections[0][1] or not out_sections:
        out_sections.insert(0, Section(None, tuple(sections[0][1])))
    # Show-notes chapters the reviewer took out of the text still mark the audio for apps.
    placed += [c for left in by_title.values() for c in left]
    alignment = Alignment(tuple(out_sections), offset, (), duration)
    return Edited(alignment, tuple(sorted(placed, key=lambda c: c.start)))
