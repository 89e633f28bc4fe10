"""The transcript body as the site publishes it: headings and timecoded paragraphs.

    ## Chapter title

    [00:02:37] **Jeremy Jung:** First turn, full name.

    [00:02:58] A continuation by the same speaker, without the name.

    [00:03:10] **Armin:** Later turns, first name only.
"""

from __future__ import annotations

import re
from typing import Iterable

from .align import Options
from .models import Alignment, Paragraph, Word
from .sanitize import clean, clean_line
from .timecode import format_timestamp

# Labels a diarizer makes up rather than a person's name: shown whole every time.
_GENERIC = re.compile(r"^(speaker|spk|guest|host|unknown)[\s_-]*\w*$", re.I)


def timecode(seconds: float) -> str:
    return f"[{format_timestamp(seconds)}]"


def _minutes(seconds: float) -> str:
    return format_timestamp(seconds, hours="never")


def escape(text: str) -> str:
    """Text made inert for markdown rendered inside an HTML block, and for Zola/Jekyll templates.

    Characters that markdown would read as markup get a backslash, `<`, `>` and `&` become
    entities (so `Vec<T>` survives), and `{{ }}` / `{% %}` are broken up because both site
    generators expand them even inside content. Apostrophes and ordinary punctuation stay as
    they are.
    """
    text = _escape_inline(clean_line(text))
    # What only means something at the start of a line: a heading, a list item, a thematic break.
    text = re.sub(r"^#", r"\\#", text)
    text = re.sub(r"^([-+])(?=[\s-]|$)", r"\\\1", text)
    text = re.sub(r"^(\d+)([.)])(?=\s|$)", r"\1\\\2", text)
    text = re.sub(r"^=", r"\\=", text)
    return text


def _escape_inline(text: str) -> str:
    text = clean(text).replace("\\", "\\\\")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"([*_`\[\]|~])", r"\\\1", text)
    text = re.sub(r"\{(?=[{%#])", "&#123;", text)
    return re.sub(r"(?<=[}%#])\}", "&#125;", text)


def display_names(speakers: Iterable[str | None]) -> dict[str, str]:
    """The short name used after a person's first turn: the first name, unless two people share it."""
    full = [s for s in dict.fromkeys(speakers) if s]
    firsts: dict[str, list[str]] = {}
    for name in full:
        if not _GENERIC.match(name) and len(name.split()) > 1:
            firsts.setdefault(name.split()[0], []).append(name)
    short = {name: name for name in full}
    for first, names in firsts.items():
        if len(names) == 1:
            short[names[0]] = first
    return short


def _body(words: Iterable[Word], options: Options) -> str:
    """Escaped paragraph text, with a review mark after each run of low-confidence words."""
    out: list[str] = []
    run_start: float | None = None
    for w in words:
        text = w.text.strip()
        if not text:
            continue
        low = options.mark_low_confidence and w.probability < options.review_threshold
        if run_start is not None and not low:
            out[-1] += f" (_needs review_ {_minutes(run_start)})"
            run_start = None
        if low and run_start is None:
            run_start = w.start
        out.append(_escape_inline(text))  # after a timecode: never at a line start
    if run_start is not None and out:
        out[-1] += f" (_needs review_ {_minutes(run_start)})"
    return " ".join(out)


def render_markdown(alignment: Alignment, options: Options = Options()) -> str:
    speakers = [p.speaker for s in alignment.sections for p in s.paragraphs]
    short = display_names(speakers)
    introduced: set[str] = set()
    blocks: list[str] = []
    for section in alignment.sections:
        if section.chapter is not None:
            blocks.append("#" * options.heading_level + " " + escape(section.chapter.title))
        previous: Paragraph | None = None  # a heading resets continuation: readers jump to it
        for p in section.paragraphs:
            body = _body(p.words, options)
            if not body:
                continue
            label = ""
            if p.speaker and not (previous is not None and previous.speaker == p.speaker):
                name = short[p.speaker] if p.speaker in introduced else p.speaker
                introduced.add(p.speaker)
                label = f"**{escape(name)}:** "
            blocks.append(f"{timecode(p.start)} {label}{body}")
            previous = p
    return "\n\n".join(blocks) + "\n" if blocks else ""
