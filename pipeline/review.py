"""The HTML review page: one self-contained file per episode to listen, read and check.

`write_pages(slugs, settings)` renders `<transcripts_dir>/<slug>/review.html` for transcribed
episodes; `write_page(...)` renders one from objects. The page plays the local audio copy (a
relative link, so the folder can be moved or served as a whole) or else the episode URL;
clicking any timecode, paragraph or word seeks there, and playback highlights the current
paragraph. `find_flags` lists what a reviewer should check, each flag linking to an anchor in
the text: chapter placement, long gaps, suspected hallucinations and low-confidence words.

The page has no external resources (inline CSS and JS from `templates/review.html`), so it
works from `file://`, offline, and inside a CI artifact.
"""

from __future__ import annotations

import bisect
import html
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Sequence
from urllib.parse import quote, urlsplit

from .errors import PipelineError
from .files import write_atomic
from .models import Alignment, Chapter, Episode, Transcript, Word, transcript_from_dict

if TYPE_CHECKING:
    from .config import Settings

PAGE_NAME = "review.html"
# Phrases Whisper is known to invent over silence or music (learnt from subtitle corpora).
KNOWN_HALLUCINATIONS = (
    "thanks for watching", "thank you for watching", "subtitles by", "amara.org",
    "please subscribe", "like and subscribe", "transcribed by", "translated by",
)


@dataclass(frozen=True)
class Options:
    long_gap: float = 8.0  # seconds without words, inside speech, that a reviewer should check
    chapter_drift: float = 10.0  # a heading this far from its (shifted) show-notes time is flagged
    suspect_no_speech: float = 0.6  # a segment Whisper itself thought was probably not speech
    suspect_logprob: float = -1.0  # a segment decoded with this average log-probability or less
    suspect_repeats: int = 3  # a phrase said this many times back to back (a single word: one more)


@dataclass(frozen=True)
class Flag:
    kind: str  # one of KINDS
    start: float
    message: str
    anchor: str  # element id in the page


KINDS = {
    "chapter": "Chapters",
    "hallucination": "Suspected hallucinations",
    "gap": "Long gaps",
    "low": "Low-confidence words",
}


# --- finding what to check ----------------------------------------------------------------------


class _Index:
    """The page's words in order, to turn a time into the anchor of the word spoken then."""

    def __init__(self, alignment: Alignment) -> None:
        self.words = [w for s in alignment.sections for p in s.paragraphs for w in p.words]
        # Indexes of paragraphs' first words: a span of doubtful words never crosses one.
        self.para_starts: set[int] = set()
        n = 0
        for s in alignment.sections:
            for p in s.paragraphs:
                self.para_starts.add(n)
                n += len(p.words)
        self.ends = [w.end for w in self.words]
        self.used: set[int] = set()  # word indexes that need an id in the page

    def anchor_at(self, t: float) -> str:
        if not self.words:
            return "transcript"
        i = min(bisect.bisect_right(self.ends, t + 0.01), len(self.words) - 1)
        self.used.add(i)
        return f"w{i}"

    def anchor_of(self, i: int) -> str:
        self.used.add(i)
        return f"w{i}"


def find_flags(
    episode: Episode, transcript: Transcript, alignment: Alignment, options: Options = Options(),
    threshold: float = 0.5, index: _Index | None = None,
) -> list[Flag]:
    """Everything a reviewer should look at, by kind then time."""
    index = index or _Index(alignment)
    flags = (
        _chapter_flags(episode.chapters, alignment, options, index)
        + _hallucination_flags(transcript, options, index)
        + _gap_flags(index, alignment.duration or transcript.duration, options)
        + _low_confidence_flags(index, threshold)
    )
    order = list(KINDS)
    return sorted(flags, key=lambda f: (order.index(f.kind), f.start))


def _heading_id(k: int) -> str:
    return f"ch{k}"


def _chapter_flags(chapters: Sequence[Chapter], alignment: Alignment, options: Options, index: _Index) -> list[Flag]:
    flags: list[Flag] = []
    heading_at = {s.chapter: s.paragraphs[0].start if s.paragraphs else None
                  for s in alignment.sections if s.chapter is not None}
    ids = {c: _heading_id(k) for k, c in enumerate(chapters)}
    mentioned: set[Chapter] = set()

    def where(c: Chapter) -> tuple[float, str]:
        if c in heading_at:
            at = heading_at[c]
            return (c.start + alignment.offset if at is None else at), ids[c]
        t = c.start + alignment.offset
        return t, index.anchor_at(t)

    for warning in alignment.warnings:
        named = [c for c in chapters if repr(c.title) in warning or f"“{c.title}”" in warning]
        mentioned.update(named)
        if named:
            t, anchor = where(named[0])
        elif chapters:
            t, anchor = where(chapters[0])
        else:
            t, anchor = 0.0, "transcript"
        flags.append(Flag("chapter", t, warning, anchor))
    if alignment.offset and not any("offset" in w for w in alignment.warnings) and chapters:
        t, anchor = where(chapters[0])
        flags.append(Flag("chapter", t, f"show-notes times shifted by {alignment.offset:+.1f} s to match the audio", anchor))
    for c in chapters:
        if c in mentioned:
            continue
        expected = c.start + alignment.offset
        if c not in heading_at:
            t, anchor = where(c)
            flags.append(Flag("chapter", t, f"“{c.title}” (line {c.line}, {clock(c.start)}) was not placed", anchor))
            continue
        actual = heading_at[c]
        if actual is not None and abs(actual - expected) > options.chapter_drift:
            flags.append(Flag(
                "chapter", actual,
                f"“{c.title}” heading is at {clock(actual)}, {actual - expected:+.0f} s from the show notes' "
                f"{clock(c.start)}" + (f" {alignment.offset:+.0f} s offset" if alignment.offset else ""),
                ids[c],
            ))
    return flags


def _norm(text: str) -> str:
    return re.sub(r"[^\w']+", "", text.lower())


def _repeats(tokens: Sequence[str], options: Options) -> list[tuple[int, int, int]]:
    """(first token, phrase length, times) for phrases repeated back to back."""
    found = []
    i = 0
    while i < len(tokens):
        hit = None
        for n in range(1, 9):
            phrase = tokens[i:i + n]
            if len(phrase) < n or not all(phrase):
                break
            times = 1
            while tokens[i + times * n: i + (times + 1) * n] == phrase:
                times += 1
            if times >= options.suspect_repeats + (1 if n == 1 else 0):
                hit = (i, n, times)
                break
        if hit:
            found.append(hit)
            i += hit[1] * hit[2]
        else:
            i += 1
    return found


def _hallucination_flags(transcript: Transcript, options: Options, index: _Index) -> list[Flag]:
    flags: list[Flag] = []
    previous = ""
    for seg in transcript.segments:
        text = seg.text.strip()
        why = []
        if seg.no_speech_prob >= options.suspect_no_speech:
            why.append(f"probably not speech (no_speech_prob {seg.no_speech_prob:.2f})")
        if seg.avg_logprob <= options.suspect_logprob:
            why.append(f"uncertain decoding (avg_logprob {seg.avg_logprob:.2f})")
        lowered = " ".join(_norm(t) for t in text.split())
        if any(phrase in lowered for phrase in KNOWN_HALLUCINATIONS):
            why.append("a phrase Whisper often invents")
        if lowered and lowered == previous and len(lowered.split()) >= 4:
            why.append("the same text as the segment before")
        previous = lowered
        if why:
            flags.append(Flag("hallucination", seg.start, f"{'; '.join(why)}: “{_short(text)}”",
                              index.anchor_at(seg.start)))
    tokens = [_norm(w.text) for w in index.words]
    for i, n, times in _repeats(tokens, options):
        phrase = " ".join(w.text.strip() for w in index.words[i:i + n])
        flags.append(Flag("hallucination", index.words[i].start, f"“{_short(phrase)}” repeated {times}×",
                          index.anchor_of(i)))
    return flags


def _gap_flags(index: _Index, duration: float, options: Options) -> list[Flag]:
    words = index.words
    flags = []
    for i in range(1, len(words)):
        gap = words[i].start - words[i - 1].end
        if gap > options.long_gap:
            flags.append(Flag(
                "gap", words[i - 1].end,
                f"{_secs(gap)} without words ({clock(words[i - 1].end)}–{clock(words[i].start)}): "
                "music, an ad, or missed speech?",
                index.anchor_of(i),
            ))
    # Whisper sometimes stops early or starts late: silence at either end is worth a listen.
    if words and words[0].start > options.long_gap:
        flags.append(Flag("gap", 0.0, f"no words in the first {_secs(words[0].start)}", index.anchor_of(0)))
    if words and duration - words[-1].end > options.long_gap:
        flags.append(Flag("gap", words[-1].end, f"no words in the last {_secs(duration - words[-1].end)} "
                          f"({clock(words[-1].end)}–{clock(duration)})", index.anchor_of(len(words) - 1)))
    return flags


def _low_confidence_flags(index: _Index, threshold: float) -> list[Flag]:
    flags = []
    span: list[int] = []
    for i, w in enumerate(index.words + [None]):  # type: ignore[operator]
        low = w is not None and w.probability < threshold
        if low and not (span and i in index.para_starts):
            span.append(i)
            continue
        if span:
            words = [index.words[j] for j in span]
            text = "".join(x.text for x in words).strip()
            lowest = min(x.probability for x in words)
            flags.append(Flag("low", words[0].start, f"“{_short(text)}” (probability {lowest:.2f})",
                              index.anchor_of(span[0])))
            span = [i] if low else []
    return flags


def _secs(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def clock(seconds: float) -> str:
    """`HH:MM:SS`, the timecode style of the transcripts on podcast sites."""
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


# --- the page -----------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _t(seconds: float) -> str:
    return f"{seconds:.2f}"


def _word_html(i: int, w: Word, threshold: float, ids: set[int]) -> str:
    text = w.text.strip()
    lead = " " if w.text[:1].isspace() else ""
    attrs = [f'class="w{" low" if w.probability < threshold else ""}"', f'data-start="{_t(w.start)}"']
    if i in ids:
        attrs.insert(0, f'id="w{i}"')
    if w.probability < threshold:
        attrs.append(f'title="probability {w.probability:.2f}"')
    return f"{lead}<span {' '.join(attrs)}>{_e(text)}</span>"


def _transcript_html(episode: Episode, alignment: Alignment, threshold: float, ids: set[int]) -> str:
    out: list[str] = []
    chapter_ids = {c: _heading_id(k) for k, c in enumerate(episode.chapters)}
    i = 0  # global word index, as in _Index
    p_no = 0
    for section in alignment.sections:
        c = section.chapter
        if c is not None:
            at = section.paragraphs[0].start if section.paragraphs else c.start + alignment.offset
            hid = chapter_ids.get(c) or f"chx{len(out)}"
            notes = f"show notes {clock(c.start)}"
            out.append(
                f'<h2 id="{hid}" class="chapter">{_e(c.title)} '
                f'<a class="tc" href="#{hid}" data-start="{_t(at)}">[{clock(at)}]</a>'
                f'<span class="notes-time">{_e(notes)}</span></h2>'
            )
        speaker = None
        for p in section.paragraphs:
            words = []
            for w in p.words:
                words.append(_word_html(i, w, threshold, ids))
                i += 1
            label = ""
            if p.speaker and p.speaker != speaker:
                label = f'<b class="speaker">{_e(p.speaker)}:</b> '
            speaker = p.speaker
            pid = f"p{p_no}"
            out.append(
                f'<p id="{pid}" class="para" data-start="{_t(p.start)}" data-end="{_t(p.end)}">'
                f'<a class="tc" href="#{pid}" data-start="{_t(p.start)}">[{clock(p.start)}]</a> '
                f"{label}{''.join(words).strip()}</p>"
            )
            p_no += 1
    if i == 0:
        out.append('<p class="empty">No words were transcribed.</p>')
    return "\n".join(out)


def _flags_html(flags: Sequence[Flag]) -> str:
    if not flags:
        return '<p class="none">Nothing flagged. Still, listen to a few places.</p>'
    out = []
    for kind, label in KINDS.items():
        mine = [f for f in flags if f.kind == kind]
        if not mine:
            continue
        items = "\n".join(
            f'<li><a href="#{_e(f.anchor)}" data-start="{_t(f.start)}">{clock(f.start)}</a> {_e(f.message)}</li>'
            for f in mine
        )
        # Hundreds of low-confidence words would bury the rest: that list starts folded.
        opened = "" if kind == "low" and len(mine) > 20 else " open"
        out.append(f'<details class="{kind}"{opened}><summary>{_e(label)} ({len(mine)})</summary>'
                   f"<ol>\n{items}\n</ol></details>")
    return "\n".join(out)


def _safe_src(audio_src: str | None) -> str | None:
    """Only web and relative addresses: an episode file should not smuggle `javascript:` in."""
    if not audio_src:
        return None
    scheme = urlsplit(audio_src).scheme.lower()
    return audio_src if scheme in ("", "http", "https", "file") else None


def render_page(
    episode: Episode, transcript: Transcript, alignment: Alignment, audio_src: str | None,
    options: Options = Options(), threshold: float = 0.5,
) -> str:
    index = _Index(alignment)
    flags = find_flags(episode, transcript, alignment, options, threshold, index)
    body = _transcript_html(episode, alignment, threshold, index.used)
    src = _safe_src(audio_src)
    player = (f'<audio id="player" controls preload="metadata" src="{_e(src)}"></audio>' if src else
              '<audio id="player" controls preload="none"></audio>'
              '<span class="noaudio">No audio: the episode has no URL and no local copy.</span>')
    offset = f" · show notes shifted {alignment.offset:+.1f} s" if alignment.offset else ""
    meta = (f"{transcript.engine} {transcript.model} · {clock(alignment.duration or transcript.duration)}"
            f" · {len(index.words)} words · {transcript.language}{offset}")
    values = {
        "title": _e(episode.title or episode.slug),
        "slug": _e(episode.slug),
        "meta": _e(meta),
        "state": _e(episode.state),
        "player": player,
        "flag_count": str(len(flags)),
        "flags": _flags_html(flags),
        "transcript": body,
        "threshold": _e(f"{threshold:g}"),
        "source": _e(str(episode.path)),
    }
    page = resources.files("pipeline").joinpath("templates/review.html").read_text(encoding="utf-8")
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], page)


def write_page(
    episode: Episode, transcript: Transcript, alignment: Alignment, audio_src: str | None,
    out_path: Path, options: Options = Options(), threshold: float = 0.5,
) -> Path:
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    text = render_page(episode, transcript, alignment, audio_src, options, threshold)
    write_atomic(out_path, text)
    return out_path


# --- from the transcripts folder ----------------------------------------------------------------


def audio_source(episode: Episode, page: Path, transcripts_dir: Path) -> str | None:
    """The local audio copy relative to the page, else the episode's URL."""
    from .download import AUDIO_EXTS

    for ext in AUDIO_EXTS:
        local = transcripts_dir / "audio" / f"{episode.slug}{ext}"
        if local.is_file():
            rel = os.path.relpath(local.resolve(), page.parent.resolve())
            return quote(Path(rel).as_posix())
    return episode.audio_url


def transcribed_slugs(transcripts_dir: Path) -> list[str]:
    return sorted({p.parent.name for name in ("whisper.json", "words.tsv") for p in transcripts_dir.glob(f"*/{name}")})


def _episodes_by_slug(settings: Settings, wanted: set[str]) -> dict[str, Episode]:
    from . import episodes

    found: dict[str, Episode] = {}
    for path in episodes.find_episodes([settings.episodes_dir]):
        if episodes.slug_of(path) in wanted:
            episode = episodes.load(path, settings.episodes)
            found[episode.slug] = episode
    return found


def load_transcript(path: Path) -> Transcript:
    try:
        return transcript_from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"{path}: unreadable transcript ({exc})") from exc


def write_pages(slugs: Sequence[str], settings: Settings, files: Sequence[Path] | None = None,
                remote_audio: bool = False) -> list[Path]:
    """A review page for each slug or episode file (every transcribed episode when none is given).

    The page shows the transcript as the episode file has it now, hand edits included, timed
    from the recorded words; an episode not written back yet shows the draft.
    """
    from . import align, episodes, publish

    root = settings.transcripts_dir
    if files is not None:
        found = {}
        for path in files:
            episode = episodes.load(path, settings.episodes)
            found[episode.slug] = episode
        slugs = list(found)
    else:
        slugs = list(slugs) or transcribed_slugs(root)
    if not slugs:
        raise PipelineError(f"{root}: no transcribed episodes yet; run `python -m pipeline transcribe` first")
    for slug in slugs:
        if not any((root / slug / name).is_file() for name in ("words.tsv", "whisper.json")):
            raise PipelineError(f"no transcript for {slug!r} in {root / slug}; run "
                                f"`python -m pipeline transcribe --only {slug}` first")
    if files is None:
        found = _episodes_by_slug(settings, set(slugs))
    threshold = getattr(settings.align, "review_threshold", 0.5)
    pages = []
    for slug in slugs:
        if slug not in found:
            raise PipelineError(f"no episode file for {slug!r} under {settings.episodes_dir}")
        episode = found[slug]
        transcript = publish.load_words(root, slug)
        if episode.state in ("generated", "edited", "reviewed"):
            alignment = publish.edited(episode, transcript, settings.writeback, settings.align).alignment
        else:
            alignment = align.align(transcript, episode.chapters, settings.align)
        page = root / slug / PAGE_NAME
        src = episode.audio_url if remote_audio else audio_source(episode, page, root)
        pages.append(write_page(episode, transcript, alignment, src, page, settings.review, threshold))
    return pages
