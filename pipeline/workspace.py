"""The transcripts folder (`transcripts_dir`): every path in it, the lock, the sweep, the report.

    audio/<slug>.<ext>, audio/<slug>.<ext>.json    the download cache and its metadata
    cache/                                          prepared wavs, transcript and speaker caches
    <slug>/transcript.md, whisper.json, ...         one episode's drafts and sidecar files
    <slug>/words.tsv                                its recorded words, committed with the site
    <slug>/review.html                              the review page
    report.json                                     the last batch's outcomes
    .lock                                           held while a batch runs

No other module builds a path inside the folder; each asks its `Workspace` for it. `<slug>` is
the episode's key (`episodes.Found`): its path under the episodes folder, so it may hold
folders (`season-1/pilot`). Every path is confined to the folder: a key with `..`, or a link
that leads out, is refused with a `PathError`.
"""

from __future__ import annotations

import fcntl
import glob
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .download import AUDIO_EXTS
from .episodes import key_problem
from .errors import LockedError, PathError, PipelineError
from .files import TEMP_NAME, confined, storage_error, write_atomic
from .models import Episode

log = logging.getLogger("pipeline")

TRANSCRIPT_MD = "transcript.md"
WHISPER_JSON = "whisper.json"
WORDS_TSV = "words.tsv"  # the recorded words, compact and committed (see wordsfile)
REVIEW_PAGE = "review.html"
# What a killed run can leave behind: write_atomic's temp files (files.TEMP_NAME) and
# audio.prepare's partial wav. Nothing else is ever removed.
_PARTIAL_WAV = re.compile(r"^[0-9a-f]{64}\.partial\.wav$")


@dataclass(frozen=True)
class Outcome:
    """What happened to one episode in a batch."""

    slug: str
    path: str
    state: str  # written, unchanged, dry-run, skipped, downloaded, failed
    audio_seconds: float = 0.0
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()
    error: str | None = None
    diff: str = ""
    notes: tuple[str, ...] = ()  # what was repaired: stretches decoded again, names corrected


@dataclass(frozen=True)
class Report:
    """One batch: what `report.json` holds."""

    command: str
    started: str
    finished: str
    outcomes: tuple[Outcome, ...]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.state == "failed"]


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def audio_dir(self) -> Path:
        return self.root / "audio"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def voices_dir(self) -> Path:
        """Known voices' profiles (`voices`): small text files the site commits."""
        return self.root / "voices"

    @property
    def report_path(self) -> Path:
        return self.root / "report.json"

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    def drafts(self, slug: str) -> Path:
        """The folder of one episode's drafts and sidecar files; PathError if it would escape."""
        problem = key_problem(slug)
        if problem:
            raise PathError(f"{self.root}: episode {problem}")
        return confined(self.root, slug)

    def transcript_md(self, slug: str) -> Path:
        return self.drafts(slug) / TRANSCRIPT_MD

    def whisper_json(self, slug: str) -> Path:
        return self.drafts(slug) / WHISPER_JSON

    def words_tsv(self, slug: str) -> Path:
        return self.drafts(slug) / WORDS_TSV

    def review_page(self, slug: str) -> Path:
        return self.drafts(slug) / REVIEW_PAGE

    def is_transcribed(self, slug: str) -> bool:
        return self.words_tsv(slug).is_file() or self.whisper_json(slug).is_file()

    def transcribed_slugs(self) -> list[str]:
        found = (p.parent.relative_to(self.root).as_posix()
                 for name in (WORDS_TSV, WHISPER_JSON) for p in self.root.glob(f"**/{name}"))
        return sorted({slug for slug in found if not key_problem(slug)})

    def local_audio(self, slug: str) -> Path | None:
        """The downloaded copy of an episode's audio, when there is one."""
        for ext in AUDIO_EXTS:
            try:
                path = confined(self.audio_dir, f"{slug}{ext}")
            except PathError:
                return None
            if path.is_file():
                return path
        return None

    @contextmanager
    def lock(self, leave_nothing: bool = False) -> Iterator[None]:
        """One run at a time per transcripts folder; the OS drops the lock if we are killed.

        `leave_nothing` (a dry run): a lock file or folders this run created are removed again.
        """
        made = [p for p in (self.root, *self.root.absolute().parents) if not p.exists()]
        path = self.lock_path
        existed = path.exists()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fh = path.open("a+")
        except OSError as exc:
            raise storage_error(path, exc) from exc
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "unknown"
                raise LockedError(f"{path} is held by process {holder}; try again when it finishes") from None
            try:
                fh.seek(0)
                fh.truncate()
                fh.write(str(os.getpid()))
                fh.flush()
            except OSError:
                pass  # a full disk: the lock holds all the same, only the holder's pid is missing
            try:
                yield
            finally:
                fh.seek(0)
                fh.truncate()
                if leave_nothing and not existed:
                    path.unlink(missing_ok=True)
                    for folder in made:
                        try:
                            folder.rmdir()  # only while empty
                        except OSError:
                            break

    def sweep(self, chosen: Sequence[Episode]) -> None:
        """Remove temp files a killed run left behind; we hold the lock, so none is in use.

        Only names the pipeline makes, only in folders it owns: the audio and decode caches, the
        chosen episodes' draft folders, and beside the chosen episode files (write-back's temp
        file). A person's `notes.tmp`, even in those folders, is not ours and stays.
        """
        stale: list[Path] = []
        for folder in (self.audio_dir, self.cache_dir):
            if folder.is_dir() and not folder.is_symlink():
                stale += [p for p in folder.rglob("*") if TEMP_NAME.match(p.name) or _PARTIAL_WAV.match(p.name)]
        for episode in chosen:
            try:
                drafts = self.drafts(episode.slug)
            except PipelineError:
                continue
            if drafts.is_dir():
                stale += [p for p in drafts.iterdir() if TEMP_NAME.match(p.name)]
            stale += [p for p in episode.path.parent.glob(f".{glob.escape(episode.path.name)}.*.tmp")
                      if TEMP_NAME.match(p.name)]
        for path in stale:
            if path.is_file() and not path.is_symlink():
                log.debug("removing %s, left by an interrupted run", path)
                path.unlink(missing_ok=True)

    def write_report(self, report: Report) -> None:
        write_atomic(self.report_path, json.dumps(asdict(report), indent=1))

    def last_report(self) -> dict[str, Any]:
        """The last batch's report as JSON data; empty when there is none or it is unreadable."""
        try:
            data = json.loads(self.report_path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def last_failures(self) -> dict[str, str]:
        """Slug -> error of every episode that failed in the last batch."""
        outcomes = self.last_report().get("outcomes", [])
        return {o["slug"]: o.get("error") or "" for o in outcomes
                if isinstance(o, dict) and o.get("state") == "failed"}
