"""Sidecar files that podcast apps read through `<podcast:transcript>` and `<podcast:chapters>`.

Formats follow the Podcasting 2.0 namespace's transcript notes: WebVTT with `<v Speaker>` and
lines of at most 65 characters, SRT with at most 2 lines of 32 characters and `Name:` where the
speaker changes, the JSON transcript (`version` 1.0.0, segments of `speaker`, `startTime`,
`endTime`, `body`; speaker only when known) and JSON chapters (`version` 1.2.0).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Iterator, Sequence

from .files import write_atomic
from .models import Alignment, Chapter, Word
from .sanitize import clean, clean_line
from .timecode import format_timestamp

SENTENCE_END = (".", "?", "!", "…", '."', '?"', '!"')
FORMATS = ("vtt", "srt", "podcast-json", "chapters-json")


@dataclass(frozen=True)
class Options:
    output_format: tuple[str, ...] = FORMATS  # which sidecar files to write
    max_line_width: int = 0  # caption characters per line; 0: each format's own (VTT 65, SRT 32)
    max_line_count: int = 2  # caption lines per cue

    def __post_init__(self) -> None:
        unknown = [f for f in self.output_format if f not in FORMATS]
        if unknown:
            raise ValueError(f"output_format {', '.join(unknown)} unknown (known: {', '.join(FORMATS)})")
        if self.max_line_width < 0 or self.max_line_count < 1:
            raise ValueError("max_line_width must not be negative and max_line_count at least 1")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    speaker: str | None
    lines: tuple[str, ...]
    speaker_changed: bool  # the first cue of a new speaker's turn


def cues(alignment: Alignment, max_chars: int, max_lines: int = 2, label_speakers: bool = False,
         max_gap: float = 1.0) -> list[Cue]:
    """Caption cues from the paragraphs' words: at most `max_lines` lines of `max_chars`.

    A cue ends where its paragraph ends, before a silence longer than `max_gap`, and after a
    sentence once it holds at least a line's worth. With `label_speakers`, the first line of
    a new speaker's first cue starts with `Name: ` and that counts towards its length. A word
    longer than a line gets a line of its own.
    """
    out: list[Cue] = []
    previous_speaker: str | None = None
    for section in alignment.sections:
        for para in section.paragraphs:
            # a newline in a name or a word would end the cue early and start a forged one
            words = [replace(w, text=clean(w.text)) for w in para.words if clean(w.text).strip()]
            speaker = clean_line(para.speaker or "") or None
            changed = speaker != previous_speaker
            previous_speaker = speaker
            opening = f"{speaker}: " if (label_speakers and changed and speaker) else ""
            for group, lines in _fill(words, max_chars, max_lines, max_gap, opening):
                out.append(Cue(group[0].start, group[-1].end, speaker, lines, changed))
                changed, opening = False, ""
    # Cue times must move forward and every cue must last; overlaps of a millisecond are allowed.
    fixed = []
    for i, c in enumerate(out):
        end = c.end
        if i + 1 < len(out):
            end = min(end, out[i + 1].start)
        end = max(end, c.start + 0.001)
        fixed.append(Cue(c.start, end, c.speaker, c.lines, c.speaker_changed))
    return fixed


def _fill(words: Sequence[Word], max_chars: int, max_lines: int, max_gap: float,
          opening: str) -> Iterator[tuple[list[Word], tuple[str, ...]]]:
    group: list[Word] = []
    lines: list[str] = [opening.rstrip()] if opening else []
    for i, w in enumerate(words):
        text = w.text.strip()
        if not lines:
            lines = [text]
        elif len(lines[-1]) + 1 + len(text) <= max_chars:
            lines[-1] += " " + text
        elif len(lines) < max_lines:
            lines.append(text)
        else:
            yield group, tuple(lines)
            group, lines = [], [text]
        group.append(w)
        nxt = words[i + 1] if i + 1 < len(words) else None
        full_enough = sum(len(line) for line in lines) >= max_chars
        if nxt is not None and (nxt.start - w.end > max_gap or (text.endswith(SENTENCE_END) and full_enough)):
            yield group, tuple(lines)
            group, lines = [], []
    if group:
        yield group, tuple(lines)


def _clock(seconds: float, sep: str) -> str:
    return format_timestamp(seconds, decimal_marker=sep)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Writer:
    filename: ClassVar[str]
    max_chars = 65

    def render(self, alignment: Alignment, chapters: Sequence[Chapter], title: str | None = None,
               options: Options = Options()) -> str:
        raise NotImplementedError

    def _cues(self, alignment: Alignment, options: Options, label_speakers: bool = False) -> list[Cue]:
        return cues(alignment, options.max_line_width or self.max_chars, options.max_line_count,
                    label_speakers=label_speakers)


class VttWriter(Writer):
    filename = "transcript.vtt"
    max_chars = 65

    def render(self, alignment: Alignment, chapters: Sequence[Chapter], title: str | None = None,
               options: Options = Options()) -> str:
        blocks = ["WEBVTT"]
        for c in self._cues(alignment, options):
            text = "\n".join(_vtt_escape(line) for line in c.lines)
            if c.speaker:
                # The voice span is not displayed, so it does not count towards the line length.
                text = f"<v {_vtt_escape(c.speaker)}>{text}"
            blocks.append(f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{text}")
        return "\n\n".join(blocks) + "\n"


class SrtWriter(Writer):
    filename = "transcript.srt"
    max_chars = 32

    def render(self, alignment: Alignment, chapters: Sequence[Chapter], title: str | None = None,
               options: Options = Options()) -> str:
        blocks = []
        for n, c in enumerate(self._cues(alignment, options, label_speakers=True), 1):
            # an arrow in the text would make a reader take the line for a cue's timing line
            lines = (re.sub(r"-{2,}>", "->", line) for line in c.lines)
            blocks.append(f"{n}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n" + "\n".join(lines))
        return "\n\n".join(blocks) + "\n" if blocks else ""


class PodcastJsonWriter(Writer):
    """Segments of caption size: fine enough for players to follow along, small enough to ship."""

    filename = "transcript.json"
    max_chars = 65

    def render(self, alignment: Alignment, chapters: Sequence[Chapter], title: str | None = None,
               options: Options = Options()) -> str:
        segments = []
        for c in self._cues(alignment, options):
            seg: dict[str, object] = {}
            if c.speaker:
                seg["speaker"] = c.speaker
            seg.update(startTime=round(c.start, 3), endTime=round(c.end, 3), body=" ".join(c.lines))
            segments.append(seg)
        return json.dumps({"version": "1.0.0", "segments": segments}, indent=2, ensure_ascii=False) + "\n"


class ChaptersJsonWriter(Writer):
    """Show-notes chapters moved by the offset alignment applied; those past the audio's end left out."""

    filename = "chapters.json"

    def render(self, alignment: Alignment, chapters: Sequence[Chapter], title: str | None = None,
               options: Options = Options()) -> str:
        seen = set()
        entries = []
        for c in sorted(chapters, key=lambda c: c.start):
            start = round(max(0.0, c.start + alignment.offset), 3)
            if alignment.duration and start > alignment.duration:
                continue
            chapter_title = clean_line(c.title)
            if (start, chapter_title) in seen:
                continue
            seen.add((start, chapter_title))
            entries.append({"startTime": start, "title": chapter_title})
        doc: dict[str, object] = {"version": "1.2.0"}
        if title and clean_line(title):
            doc["title"] = clean_line(title)
        doc["chapters"] = entries
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


WRITERS: dict[str, Writer] = {
    "vtt": VttWriter(),
    "srt": SrtWriter(),
    "podcast-json": PodcastJsonWriter(),
    "chapters-json": ChaptersJsonWriter(),
}


def write_sidecars(alignment: Alignment, chapters: Sequence[Chapter], out_dir: Path,
                   title: str | None = None, options: Options = Options()) -> list[Path]:
    paths = []
    for name in options.output_format:
        writer = WRITERS[name]
        path = Path(out_dir) / writer.filename
        write_atomic(path, writer.render(alignment, chapters, title, options))
        paths.append(path)
    return paths
