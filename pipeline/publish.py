"""Sidecars that follow the text: VTT, SRT, Podcasting 2.0 JSON and chapters, rebuilt from the
transcript in the episode file as it now reads (hand edits included) and the recorded words.

Where they go (`[tool.pipeline]`):
- `sidecars = "transcripts"` (default): `<transcripts_dir>/<slug>/`, beside the draft;
- `sidecars = "bundle"`: the page bundle, `content/episodes/<slug>/transcript.vtt` beside
  `index.md`, which Zola publishes with the page (a flat `<slug>.md` episode cannot have one);
- `sidecars_dir = "static/transcripts"`: `<sidecars_dir>/<slug>/`, served as static files.

Nothing here transcribes: `words.tsv` (committed beside the transcript) is enough, so a fresh
clone can rebuild everything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from . import align, edits, episodes, formats, retime, wordsfile, writeback
from .errors import EpisodeError, PipelineError
from .models import Episode, Transcript, transcript_from_dict
from .workspace import Workspace

WHERE = ("transcripts", "bundle")


@dataclass(frozen=True)
class Options:
    sidecars: str = "transcripts"  # or "bundle"
    sidecars_dir: Path | None = None  # e.g. static/transcripts: files go to <sidecars_dir>/<slug>/

    def __post_init__(self) -> None:
        if self.sidecars not in WHERE:
            raise ValueError(f"sidecars must be one of {', '.join(WHERE)}, not {self.sidecars!r}")
        if self.sidecars_dir is not None and self.sidecars == "bundle":
            raise ValueError("set either sidecars = \"bundle\" or sidecars_dir, not both")


def sidecar_dir(episode: Episode, ws: Workspace, options: Options = Options()) -> Path:
    if options.sidecars_dir is not None:
        return Path(options.sidecars_dir) / episode.slug
    if options.sidecars == "bundle":
        if episode.path.name != "index.md":
            raise EpisodeError(f"{episode.path}: sidecars = \"bundle\" needs a page bundle "
                               f"({episode.slug}/index.md), not a flat file")
        return episode.path.parent
    return ws.drafts(episode.slug)


def load_words(ws: Workspace, slug: str) -> Transcript:
    """The recorded words: `words.tsv`, or the machine-local `whisper.json` of older runs."""
    if ws.words_tsv(slug).is_file():
        return wordsfile.read(ws.words_tsv(slug))
    legacy = ws.whisper_json(slug)
    if legacy.is_file():
        try:
            return transcript_from_dict(json.loads(legacy.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EpisodeError(f"{legacy}: unreadable transcript ({exc})") from exc
    raise EpisodeError(f"{ws.words_tsv(slug)}: no recorded words for {slug!r}; "
                       f"run `python -m pipeline transcribe --only {slug}` first")


def edited(episode: Episode, transcript: Transcript, wb: writeback.Options = writeback.Options(),
           align_options: align.Options = align.Options(), body: str | None = None) -> retime.Edited:
    """The episode's transcript as it reads now (or `body`), timed from the recorded words."""
    body = body if body is not None else edits.body_of(episode)
    if body is None:
        raise EpisodeError(f"{episode.path}: no transcript in the file to publish (state: {episode.state})")
    machine = align.align(transcript, episode.chapters, align_options)
    # The offset align finds again from the same words and notes: the one the draft was made with.
    result = retime.retime(body, transcript, episode.chapters, machine.offset, episode.speakers, machine)
    # What align was unsure of is still worth a reviewer's look.
    return replace(result, alignment=replace(result.alignment, warnings=machine.warnings))


def write(episode: Episode, result: retime.Edited, out_dir: Path,
          format_options: formats.Options = formats.Options()) -> list[Path]:
    return formats.write_sidecars(result.alignment, result.chapters, out_dir, title=episode.title,
                                  options=format_options)


def publish(path: Path, ws: Workspace, options: Options = Options(),
            wb: writeback.Options = writeback.Options(), align_options: align.Options = align.Options(),
            episode_options: episodes.Options = episodes.Options(), key: str | None = None,
            format_options: formats.Options = formats.Options()) -> list[Path]:
    """Rebuild one episode's sidecars from its file (`key`: its name under transcripts/, see
    `episodes.discover`); the paths written."""
    episode = episodes.load(path, episode_options, key)
    transcript = load_words(ws, episode.slug)
    result = edited(episode, transcript, wb, align_options)
    return write(episode, result, sidecar_dir(episode, ws, options), format_options)


def publish_all(files: Sequence[episodes.Found], ws: Workspace, say: Callable[[str], object], warn: Callable[[str], object],
                options: Options = Options(), wb: writeback.Options = writeback.Options(),
                align_options: align.Options = align.Options(),
                episode_options: episodes.Options = episodes.Options(),
                format_options: formats.Options = formats.Options()) -> int:
    """`publish` for each transcribed episode among `files` (others have nothing to publish);
    one that fails is reported and the rest go on. Returns how many failed."""
    failed = 0
    for f in files:
        if not ws.is_transcribed(f.key):
            continue
        try:
            written = publish(f.path, ws, options, wb, align_options, episode_options, f.key, format_options)
        except PipelineError as exc:
            warn(str(exc))
            failed += 1
            continue
        say(f"{f.path}: " + ", ".join(str(p) for p in written))
    return failed
