"""Composing the stages: one episode (`process`), and a batch with a lock and a report."""

from __future__ import annotations

import fcntl
import glob
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import align, audio, download, episodes, formats, render, speakers, transcribe, vocabulary, writeback
from .config import Settings
from .errors import ConfigError, EpisodeError, LockedError, PipelineError
from .files import TEMP_NAME, confined, storage_error, write_atomic
from .models import Audio, Episode, transcript_to_dict

log = logging.getLogger("pipeline")


@dataclass(frozen=True)
class Outcome:
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
    command: str
    started: str
    finished: str
    outcomes: tuple[Outcome, ...]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.state == "failed"]


def needs_work(episode: Episode, settings: Settings) -> bool:
    """Pending, or our own unreviewed draft made by another engine/model (or --force)."""
    if episode.state == "pending":
        return True
    if episode.state != "generated":
        return False
    made = episode.front_matter.get("extra", {}).get("transcript", {})
    wanted = (settings.transcribe.engine, settings.transcribe.model)
    return settings.writeback.force or (made.get("engine"), made.get("model")) != wanted


def fetch(episode: Episode, settings: Settings, downloader: download.Downloader) -> Audio:
    if not episode.audio_url:
        raise EpisodeError(f"{episode.path}: no episode_url in [extra]")
    return downloader.fetch(episode.audio_url, episode.slug, label=str(episode.path))


def process(episode: Episode, audio_file: Audio, settings: Settings) -> Outcome:
    """Transcribe, diarize, align, render and write back one downloaded episode."""
    started = time.monotonic()
    cache = settings.transcripts_dir / "cache"
    opts = settings.transcribe
    glossary = vocabulary.load_glossary(opts.glossary) if opts.glossary else None
    prompt = vocabulary.build_prompt(episode, glossary) if opts.vocabulary else None
    transcript = transcribe.transcribe(
        audio_file.path, opts, cache, prompt=prompt, audio_sha256=audio_file.sha256
    )
    transcript = vocabulary.apply_glossary(transcript, glossary)
    if speakers.enabled(episode, settings.speakers):
        wav = audio.prepare(audio_file.path, cache, sha256=audio_file.sha256).path
        transcript = speakers.diarize(transcript, wav, episode, settings.speakers, cache)
    alignment = align.align(transcript, episode.chapters, settings.align)
    for warning in alignment.warnings:
        log.warning("%s: %s", episode.path, warning)
    body = render.render_markdown(alignment, settings.align)

    if not settings.writeback.dry_run:  # a dry run writes nothing but the download and decode caches
        drafts = confined(settings.transcripts_dir, episode.slug)
        write_atomic(drafts / "transcript.md", body)
        write_atomic(drafts / "whisper.json", json.dumps(transcript_to_dict(transcript), indent=1))
        formats.write_sidecars(alignment, episode.chapters, drafts, title=episode.title)

    provenance = {
        "engine": opts.engine,
        "model": opts.model,
        "audio_sha256": audio_file.sha256,
        "offset": round(alignment.offset, 2),
    }
    result = writeback.write(episode, body, provenance, settings.writeback)
    log.info("%s: %s", episode.path, result.message)
    return Outcome(
        episode.slug, str(episode.path), result.action, transcript.duration,
        time.monotonic() - started, alignment.warnings, diff=result.diff,
    )


@contextmanager
def lock(transcripts_dir: Path, leave_nothing: bool = False) -> Iterator[None]:
    """One run at a time per transcripts folder; the OS drops the lock if we are killed.

    `leave_nothing` (a dry run): a lock file or folder this run created is removed again.
    """
    made = [p for p in (transcripts_dir, *transcripts_dir.parents) if not p.exists()]
    path = transcripts_dir / ".lock"
    existed = path.exists()
    try:
        transcripts_dir.mkdir(parents=True, exist_ok=True)
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


# The pipeline's own temporary files: atomic writes (`files.TEMP_NAME`) and decoded wavs.
_PARTIAL_WAV = re.compile(r"^[0-9a-f]{64}\.partial\.wav$")


def sweep_leftovers(transcripts_dir: Path, chosen: Sequence[Episode]) -> None:
    """Remove temp files a killed run left behind; we hold the lock, so none is in use.

    Only names the pipeline makes, only in folders it owns: the audio and decode caches, the
    chosen episodes' draft folders, and beside the chosen episode files (write-back's temp
    file). A person's `notes.tmp` anywhere, even in those folders, is not ours.
    """
    stale: list[Path] = []
    for folder in (transcripts_dir / "audio", transcripts_dir / "cache"):
        if folder.is_dir() and not folder.is_symlink():
            stale += [p for p in folder.rglob("*") if TEMP_NAME.match(p.name) or _PARTIAL_WAV.match(p.name)]
    for episode in chosen:
        try:
            drafts = confined(transcripts_dir, episode.slug)
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


def select(
    paths: Sequence[Path], settings: Settings, only: Sequence[str] = (), limit: int | None = None,
    retry_failed: bool = False,
) -> tuple[list[Episode], list[Outcome]]:
    """The episodes to work on, and outcomes for files that failed to load or were refused."""
    check_selection(paths, settings, only, limit)
    found = episodes.discover(list(paths), settings.episodes_dir)
    wanted = wanted_keys(found, only, paths)
    chosen: list[Episode] = []
    failures: list[Outcome] = []
    previously_failed = {o["slug"] for o in last_report(settings).get("outcomes", [])
                         if o["state"] == "failed"}
    for f in found:
        if wanted is not None and f.key not in wanted:
            continue
        if retry_failed and f.key not in previously_failed:
            continue
        if f.error:
            failures.append(Outcome(f.key, str(f.path), "failed", error=f.error))
            continue
        try:
            episode = episodes.load(f.path, settings.episodes, key=f.key)
        except PipelineError as exc:
            failures.append(Outcome(f.key, str(f.path), "failed", error=str(exc)))
            continue
        if episode.state == "no-transcript-section":
            failures.append(Outcome(episode.slug, str(f.path), "failed", error=str(EpisodeError(
                f"{f.path}: no '## Transcript' heading, so no place for a transcript"))))
        elif needs_work(episode, settings):
            chosen.append(episode)
    return chosen[:limit] if limit is not None else chosen, failures


def wanted_keys(found: Sequence[episodes.Found], only: Sequence[str], paths: Sequence[Path]) -> set[str] | None:
    """The keys `--only` names: a key, or a file's plain name when only one file has it.

    A name that matches nothing, or several files, is a usage error, not "nothing to do".
    """
    if not only:
        return None
    keys: set[str] = set()
    for name in only:
        match = [f.key for f in found if f.key == name.strip("/")] or \
            [f.key for f in found if episodes.slug_of(f.path) == name]
        if not match:
            where = ", ".join(map(str, paths))
            raise ConfigError(f"--only {name}: no episode of that name under {where}")
        if len(match) > 1:
            raise ConfigError(f"--only {name}: several episodes have that name ({', '.join(match)}); "
                              "give its path under the episodes folder")
        keys.update(match)
    return keys


def check_selection(
    paths: Sequence[Path], settings: Settings, only: Sequence[str] = (), limit: int | None = None
) -> None:
    """Nonsense selections are usage errors before anything is locked or written."""
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, not {limit}")
    if only:
        wanted_keys(episodes.discover(list(paths), settings.episodes_dir), only, paths)


def run_batch(
    paths: Sequence[Path], settings: Settings, *, only: Sequence[str] = (), limit: int | None = None,
    retry_failed: bool = False, download_only: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Report:
    """Every selected episode, the next one downloading while the current one is transcribed."""
    started = _now()
    outcomes: list[Outcome] = []

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    check_selection(paths, settings, only, limit)
    dry_run = settings.writeback.dry_run
    with lock(settings.transcripts_dir, leave_nothing=dry_run):
        chosen, failures = select(paths, settings, only, limit, retry_failed)
        if not dry_run:
            sweep_leftovers(settings.transcripts_dir, chosen)
        for failure in failures:
            log.error("%s", failure.error)
            record(failure)
        audio_dir = settings.transcripts_dir / "audio"
        with download.Downloader(settings.download, audio_dir) as downloader:
            prefetch = _Prefetch()
            try:
                pending: list[Future[Audio]] = []
                for i, episode in enumerate(chosen):
                    while len(pending) <= i + 1 and len(pending) < len(chosen):
                        pending.append(prefetch.submit(fetch, chosen[len(pending)], settings, downloader))
                    record(_one(episode, pending[i], settings, download_only))
            finally:
                # Ctrl-C or the end: the download thread stops at its next chunk; nobody waits
                # for it (a daemon thread), so the lock is released now.
                downloader.cancel()
                prefetch.close()
        report = Report("download" if download_only else "transcribe", started, _now(),
                        tuple(outcomes))
        if not download_only and not dry_run:
            try:
                write_atomic(settings.transcripts_dir / "report.json", json.dumps(asdict(report), indent=1))
            except PipelineError as exc:
                log.error("%s", exc)  # the summary is still printed
    return report


class _Prefetch:
    """One download at a time on a daemon thread, so that Ctrl-C never waits for a transfer."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[Future[Audio], Callable[..., Audio], tuple[Any, ...]] | None] = queue.Queue()
        threading.Thread(target=self._work, name="download", daemon=True).start()

    def submit(self, fn: Callable[..., Audio], *args: Any) -> Future[Audio]:
        future: Future[Audio] = Future()
        self.jobs.put((future, fn, args))
        return future

    def close(self) -> None:
        self.jobs.put(None)

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting episode
                future.set_exception(exc)


def _one(episode: Episode, audio_future: Future[Audio], settings: Settings, download_only: bool) -> Outcome:
    started = time.monotonic()
    try:
        audio_file = audio_future.result()
        if download_only:
            return Outcome(episode.slug, str(episode.path), "downloaded", seconds=time.monotonic() - started)
        outcome = process(episode, audio_file, settings)
        return replace(outcome, seconds=time.monotonic() - started)
    except PipelineError as exc:
        log.error("%s", exc)
        return Outcome(episode.slug, str(episode.path), "failed", seconds=time.monotonic() - started,
                       error=str(exc))
    except Exception as exc:  # one broken episode never stops the batch
        log.exception("%s: unexpected error", episode.path)
        return Outcome(episode.slug, str(episode.path), "failed", seconds=time.monotonic() - started,
                       error=f"{episode.path}: {type(exc).__name__}: {exc}")


def last_report(settings: Settings) -> dict:
    path = settings.transcripts_dir / "report.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
