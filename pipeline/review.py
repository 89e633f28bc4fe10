"""The HTML review page: one self-contained file per episode to listen, read and check.

`write_pages(...)` renders `<transcripts_dir>/<slug>/review.html` for transcribed episodes;
`write_page(...)` renders one from objects. The page plays the local audio copy (a relative
link, so the folder can be moved or served as a whole) or else the episode URL; clicking any
timecode, paragraph or word seeks there, and playback highlights the current paragraph. The
flags (`flags.find_flags`) list what a reviewer should check, each linking to an anchor in the
text.

The page has no external resources (inline CSS and JS from `templates/review.html`), so it
works from `file://`, offline, and inside a CI artifact.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from urllib.parse import quote, urlsplit

from . import align, episodes, flags, publish, writeback
from .errors import PipelineError
from .files import write_atomic
from .flags import KINDS, Flag, WordIndex, clock, heading_id
from .models import Alignment, Episode, Transcript, Word, transcript_from_dict
from .sanitize import clean
from .workspace import Workspace

# --- the page -----------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(clean(str(text)), quote=True)


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
    chapter_ids = {c: heading_id(k) for k, c in enumerate(episode.chapters)}
    i = 0  # global word index, as in flags.WordIndex
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
    options: flags.Options = flags.Options(), threshold: float = 0.5,
) -> str:
    index = WordIndex(alignment)
    found = flags.find_flags(episode, transcript, alignment, options, threshold, index)
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
        "flag_count": str(len(found)),
        "flags": _flags_html(found),
        "transcript": body,
        "threshold": _e(f"{threshold:g}"),
        "source": _e(str(episode.path)),
    }
    page = resources.files("pipeline").joinpath("templates/review.html").read_text(encoding="utf-8")
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], page)


def write_page(
    episode: Episode, transcript: Transcript, alignment: Alignment, audio_src: str | None,
    out_path: Path, options: flags.Options = flags.Options(), threshold: float = 0.5,
) -> Path:
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    text = render_page(episode, transcript, alignment, audio_src, options, threshold)
    write_atomic(out_path, text)
    return out_path


# --- from the transcripts folder ----------------------------------------------------------------


def audio_source(episode: Episode, page: Path, workspace: Workspace) -> str | None:
    """The local audio copy relative to the page, else the episode's URL."""
    local = workspace.local_audio(episode.slug)
    if local is None:
        return episode.audio_url
    rel = os.path.relpath(local.resolve(), page.parent.resolve())
    return quote(Path(rel).as_posix())


def _episodes_by_slug(episodes_dir: Path, options: episodes.Options, wanted: set[str]) -> dict[str, Episode]:
    found: dict[str, Episode] = {}
    for f in episodes.discover([episodes_dir], episodes_dir):
        if f.key in wanted and not f.error:
            found[f.key] = episodes.load(f.path, options, key=f.key)
    return found


def load_transcript(path: Path) -> Transcript:
    try:
        return transcript_from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"{path}: unreadable transcript ({exc})") from exc


def write_pages(
    slugs: Sequence[str], workspace: Workspace, episodes_dir: Path, *,
    episode_options: episodes.Options = episodes.Options(), align_options: align.Options = align.Options(),
    flag_options: flags.Options = flags.Options(), threshold: float = 0.5,
    files: Sequence[episodes.Found] | None = None, wb: writeback.Options = writeback.Options(),
    remote_audio: bool = False,
) -> list[Path]:
    """A review page for each slug or episode file (every transcribed episode when none is given).

    The page shows the transcript as the episode file has it now, hand edits included, timed
    from the recorded words (`publish.edited`); an episode not written back yet shows the draft.
    `remote_audio`: the page plays the episode's URL, not the local copy (pages shared alone).
    """
    found: dict[str, Episode] = {}
    for f in files or ():
        episode = episodes.load(f.path, episode_options, f.key)
        found[episode.slug] = episode
    slugs = list(found) if files is not None else (list(slugs) or workspace.transcribed_slugs())
    if not slugs:
        raise PipelineError(f"{workspace.root}: no transcribed episodes yet; run `python -m pipeline transcribe` first")
    for slug in slugs:
        if not workspace.is_transcribed(slug):
            raise PipelineError(f"no transcript for {slug!r} in {workspace.drafts(slug)}; run "
                                f"`python -m pipeline transcribe --only {slug}` first")
    if files is None:
        found = _episodes_by_slug(episodes_dir, episode_options, set(slugs))
    pages = []
    for slug in slugs:
        if slug not in found:
            raise PipelineError(f"no episode file for {slug!r} under {episodes_dir}")
        episode = found[slug]
        transcript = publish.load_words(workspace, slug)
        if episode.state in ("generated", "edited", "reviewed"):
            alignment = publish.edited(episode, transcript, wb, align_options).alignment
        else:
            alignment = align.align(transcript, episode.chapters, align_options)
        page = workspace.review_page(slug)
        src = episode.audio_url if remote_audio else audio_source(episode, page, workspace)
        pages.append(write_page(episode, transcript, alignment, src, page, flag_options, threshold))
    return pages
