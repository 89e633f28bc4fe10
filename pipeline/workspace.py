"""The transcripts folder (`transcripts_dir`): every path in it, the lock, the sweep, the report.

    audio/<slug>.<ext>, audio/<slug>.<ext>.json    the download cache and its metadata
    cache/                                          prepared wavs, transcript and speaker caches
    <slug>/transcript.md, whisper.json, ...         one episode's drafts and sidecar files
    <slug>/review.html                              the review page
    report.json                                     the last batch's outcomes
    .lock                                           held while a batch runs

No other module builds a path inside the folder; each asks its `Workspace` for it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .download import AUDIO_EXTS
from .errors import LockedError
from .files import write_atomic

log = logging.getLogger("pipeline")

TRANSCRIPT_MD = "transcript.md"
WHISPER_JSON = "whisper.json"
REVIEW_PAGE = "review.html"
# What a killed run can leave behind: write_atomic's temp files, audio.prepare's partial wav.
_LEFTOVERS = (".tmp", ".partial.wav")


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
    def report_path(self) -> Path:
        return self.root / "report.json"

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    def drafts(self, slug: str) -> Path:
        """The folder of one episode's drafts and sidecar files."""
        return self.root / slug

    def transcript_md(self, slug: str) -> Path:
        return self.drafts(slug) / TRANSCRIPT_MD

    def whisper_json(self, slug: str) -> Path:
        return self.drafts(slug) / WHISPER_JSON

    def review_page(self, slug: str) -> Path:
        return self.drafts(slug) / REVIEW_PAGE

    def transcribed_slugs(self) -> list[str]:
        return sorted(p.parent.name for p in self.root.glob(f"*/{WHISPER_JSON}"))

    def local_audio(self, slug: str) -> Path | None:
        """The downloaded copy of an episode's audio, when there is one."""
        for ext in AUDIO_EXTS:
            path = self.audio_dir / f"{slug}{ext}"
            if path.is_file():
                return path
        return None

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One run at a time per transcripts folder; the OS drops the lock if we are killed."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.lock_path
        with path.open("a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "unknown"
                raise LockedError(f"{path} is held by process {holder}; try again when it finishes") from None
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            try:
                yield
            finally:
                fh.seek(0)
                fh.truncate()

    def sweep(self, episode_files: Sequence[Path]) -> None:
        """Remove temp files a killed run left behind; we hold the lock, so none is in use."""
        stale = [p for p in self.root.rglob("*") if p.is_file() and p.name.endswith(_LEFTOVERS)]
        for episode_file in episode_files:
            stale += episode_file.parent.glob(f".{episode_file.name}.*.tmp")
        for path in stale:
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
