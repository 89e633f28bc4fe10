"""A reviewer's changes to a transcript in its episode file: a paragraph's text, a speaker's
name, a heading's place. Each is a function from the transcript body to a new body that
changes only what it must; `save()` puts the new body into the file through the same
compare-and-swap write as the pipeline's own, so nothing else in the file moves and a file
changed on disk meanwhile is never overwritten.

Paragraphs and headings are numbered as the review page numbers them (`p<n>`, the n-th
`h2.chapter`): blocks separated by blank lines; a paragraph without words is not counted.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from . import episodes, render, retime, writeback
from .episodes import content
from .errors import EpisodeError, WritebackError
from .models import Episode

_SPLIT = re.compile(r"(\n[ \t]*(?:\n[ \t]*)*\n)")
_PREFIX = re.compile(r"^\[\d+:\d\d:\d\d\][ \t]*(?:\*\*(?P<name>.+?):\*\*[ \t]*)?")


def version(data: bytes) -> str:
    """What the page saw: a save carries it, and fails if the file no longer has it."""
    return hashlib.sha256(data).hexdigest()


class _Body:
    """The body as alternating chunks and the blank-line runs between them, kept as written."""

    def __init__(self, body: str) -> None:
        parts = _SPLIT.split(body)
        self.chunks = parts[0::2]
        self.gaps = parts[1::2]
        self.kinds: list[str | None] = []
        for chunk in self.chunks:
            found = retime.blocks(chunk)
            self.kinds.append(found[0].kind if len(found) == 1 and (found[0].kind == "heading" or found[0].text)
                              else None)

    def index(self, kind: str, n: int) -> int:
        where = [i for i, k in enumerate(self.kinds) if k == kind]
        if not 0 <= n < len(where):
            raise EpisodeError(f"there is no {kind} {n} in the transcript (it has {len(where)})")
        return where[n]

    def text(self) -> str:
        out = [self.chunks[0]]
        for gap, chunk in zip(self.gaps, self.chunks[1:]):
            out += [gap, chunk]
        return "".join(out)


def set_paragraph(body: str, n: int, text: str) -> str:
    """Paragraph `n` with new words; its timecode and speaker label stay as they were."""
    b = _Body(body)
    i = b.index("paragraph", n)
    words = " ".join(text.split())
    if not words:
        raise EpisodeError(f"paragraph {n}: empty text; delete words, not whole paragraphs")
    joined = " ".join(line.strip() for line in b.chunks[i].split("\n") if line.strip())
    m = _PREFIX.match(joined)
    # after a timecode nothing is at a line start; alone, line-start markup must be escaped too
    b.chunks[i] = m.group(0) + render._escape_inline(words) if m else render.escape(words)
    return b.text()


def speakers(body: str, known: tuple[str, ...] = ()) -> list[str]:
    """The speakers' full names, in order of first appearance."""
    return [s for s in dict.fromkeys(retime.resolve_speakers(retime.blocks(body), known)) if s]


def rename_speaker(body: str, old: str, new: str, known: tuple[str, ...] = ()) -> str:
    """Every turn of `old` becomes `new`: the full name first, then the short one, as `render` writes."""
    new = " ".join(new.split())
    if not new or "\n" in new:
        raise EpisodeError("a speaker's new name cannot be empty")
    b = _Body(body)
    para_chunks = [i for i, k in enumerate(b.kinds) if k == "paragraph"]
    found = [retime.blocks(b.chunks[i])[0] for i in para_chunks]
    resolved = retime.resolve_speakers(found, known)
    if old not in resolved:
        raise EpisodeError(f"no speaker {old!r} in the transcript (speakers: {', '.join(speakers(body, known))})")
    renamed = [new if s == old else s for s in resolved]
    short = render.display_names(renamed)
    introduced: set[str] = set()
    for i, block, who in zip(para_chunks, found, renamed):
        if block.label is None or who is None:
            continue
        label = short[who] if who in introduced else who
        introduced.add(who)
        if label == block.label:
            continue
        joined = " ".join(line.strip() for line in b.chunks[i].split("\n") if line.strip())
        m = _PREFIX.match(joined)
        if m and m.group("name") is not None:
            b.chunks[i] = joined[: m.start("name")] + render.escape(label) + joined[m.end("name"):]
    return b.text()


def set_speaker(body: str, n: int, name: str, known: tuple[str, ...] = ()) -> str:
    """Paragraph `n` given to `name`, and the labels around it as `render` writes them: a
    speaker's full name at their first turn, the short one after, none on a continuation."""
    name = " ".join(name.split())
    if not name:
        raise EpisodeError("a speaker's name cannot be empty")
    b = _Body(body)
    b.index("paragraph", n)
    para_chunks = [i for i, k in enumerate(b.kinds) if k == "paragraph"]
    found = [retime.blocks(b.chunks[i])[0] for i in para_chunks]
    labels = [block.label for block in found]
    who = retime.resolve_speakers(found, known)
    # "Kim" for a Kim Porter already on the page means her
    same = [full for full in dict.fromkeys([*known, *filter(None, who)]) if full.split()[0] == name and full != name]
    who[n] = same[0] if len(same) == 1 else name
    short = render.display_names(who)
    # A heading resets continuation, as in `render`: readers jump to it.
    opens = [j == 0 or "heading" in b.kinds[para_chunks[j - 1] + 1 : para_chunks[j]] for j in range(len(who))]
    for j in (n, n + 1):
        person = who[j] if j < len(who) else None
        if person is not None:
            continuing = not opens[j] and who[j - 1] == person
            labels[j] = None if continuing else short[person] if person in who[:j] else person
    # A short label whose full name was on paragraph n (or one that now reads as someone else)
    # takes the full name.
    for _ in range(len(who)):
        read = retime.resolve_speakers([retime.Block("paragraph", "", label) for label in labels], known)
        wrong = [j for j, (got, want) in enumerate(zip(read, who)) if got != want]
        if not wrong or labels[wrong[0]] == who[wrong[0]]:
            break
        labels[wrong[0]] = who[wrong[0]]
    for j, i in enumerate(para_chunks):
        if labels[j] == found[j].label:
            continue
        joined = " ".join(line.strip() for line in b.chunks[i].split("\n") if line.strip())
        m = _PREFIX.match(joined)
        if m is None:
            raise EpisodeError(f"paragraph {j} has no [hh:mm:ss] timecode to put a speaker after")
        stamp = joined[: joined.index("]") + 1]
        after = b.chunks[i][len(b.chunks[i].rstrip()):]  # the body's last newline, if this is the end
        label = labels[j]
        b.chunks[i] = f"{stamp} " + (f"**{render.escape(label)}:** " if label else "") + joined[m.end():] + after
    return b.text()


def move_heading(body: str, k: int, before_paragraph: int) -> str:
    """Heading `k` moved to just before paragraph `before_paragraph`."""
    b = _Body(body)
    h = b.index("heading", k)
    target = b.index("paragraph", before_paragraph)
    if target in (h + 1,):
        return body
    heading = b.chunks.pop(h)
    b.kinds.pop(h)
    # the blank line after it goes with it (before it, for the last chunk)
    if h < len(b.gaps):
        b.gaps.pop(h)
    elif b.gaps:
        b.gaps.pop(h - 1)
    if target > h:
        target -= 1
    b.chunks.insert(target, heading)
    b.kinds.insert(target, "heading")
    b.gaps.insert(target, "\n\n")
    return b.text()


# --- the file -----------------------------------------------------------------------------------


def _region(path: Path, lay: episodes.Layout, wrapper: tuple[str, str], ours: bool = True) -> tuple[int, int]:
    """First and last line of the transcript body in the file, wrapper lines excluded; `ours`:
    only a transcript the pipeline wrote (edited or not), never a person's own."""
    if lay.body is not None:
        return lay.body
    if lay.heading is None or (ours and lay.provenance is None):
        raise WritebackError(f"{path}: no transcript of the pipeline's to edit here")
    lines = [content(x) for x in lay.lines]
    first, last = lay.heading + 1, len(lines) - 1
    if wrapper[0].strip():
        opens = [i for i in range(first, len(lines)) if lines[i].strip() == wrapper[0].strip()]
        closes = [i for i in range(first, len(lines)) if lines[i].strip() == wrapper[1].strip()]
        if opens and closes and closes[-1] > opens[0]:
            first, last = opens[0] + 1, closes[-1] - 1
    while first <= last and not lines[first].strip():
        first += 1
    while last >= first and not lines[last].strip():
        last -= 1
    if first > last:
        raise WritebackError(f"{path}: the transcript section is empty")
    return first, last


def body_of(episode: Episode) -> str | None:
    """The transcript as the file has it now, hand edits included; None while it is pending."""
    placeholders = getattr(episode, "placeholders", episodes.PLACEHOLDERS)
    wrapper = getattr(episode, "wrapper", episodes.WRAPPER)
    lay, _ = episodes.layout(episode.path, episode.text, placeholders, wrapper)
    if episodes.state_of(lay) in ("pending", "no-transcript-section"):
        return None
    try:
        first, last = _region(episode.path, lay, wrapper, ours=False)
    except WritebackError:
        return None
    return "\n".join(content(x) for x in lay.lines[first : last + 1])


def current_body(path: Path, text: str, options: episodes.Options = episodes.Options()) -> str:
    lay, _ = episodes.layout(path, text, options.placeholders, options.wrapper)
    first, last = _region(path, lay, options.wrapper)
    return "\n".join(content(x) for x in lay.lines[first : last + 1])


def save(path: Path, seen: str, new_body: str, options: episodes.Options = episodes.Options()) -> bytes:
    """Write `new_body` in place of the transcript body, if the file still has version `seen`.

    Returns the file's new bytes. Raises `ConcurrentEditError` when it changed meanwhile.
    """
    from .errors import ConcurrentEditError

    data = Path(path).read_bytes()
    if version(data) != seen:
        raise ConcurrentEditError(f"{path}: changed on disk since the page was loaded; reload to see it")
    text = data.decode("utf-8")
    lay, _ = episodes.layout(path, text, options.placeholders, options.wrapper)
    first, last = _region(path, lay, options.wrapper)
    cr = "\r" if lay.newline == "\r\n" else ""
    ending = "\r" if lay.lines[last].endswith("\r") else ""
    body = [line + cr for line in episodes.canonical(new_body).split("\n")]
    body[-1] = body[-1][: len(body[-1]) - len(cr)] + ending
    out = "\n".join(list(lay.lines[:first]) + body + list(lay.lines[last + 1 :])).encode("utf-8")
    if out != data:
        writeback._replace_atomically(Path(path), data, out)
    return out
