"""Composing the stages: one episode (`process`), and a batch with a lock and a report."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from . import align, audio, download, episodes, executors, formats, render, speakers, transcribe, vocabulary, writeback
from .config import Settings
from .errors import EpisodeError, LockedError, PipelineError
from .files import write_atomic
from .models import Alignment, Audio, Episode, Transcript, transcript_to_dict

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


@dataclass(frozen=True)
class Computed:
    """What the heavy stages make of one episode: all a driver needs to write it."""

    transcript: Transcript
    alignment: Alignment
    audio_sha256: str


def compute(episode: Episode, audio_file: Audio, settings: Settings) -> Computed:
    """Transcribe, diarize and align one downloaded episode; writes no episode file.

    This is the part that may run elsewhere (a thread, a Ray worker): it only fills caches.
    """
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
    return Computed(transcript, alignment, audio_file.sha256)


def fetch_and_compute(episode: Episode, settings: Settings) -> Computed:
    """Everything for one episode short of writing it, with its own downloader."""
    with download.Downloader(settings.download, settings.transcripts_dir / "audio") as downloader:
        audio_file = fetch(episode, settings, downloader)
    return compute(episode, audio_file, settings)


def commit(episode: Episode, computed: Computed, settings: Settings) -> Outcome:
    """Render, write the drafts and sidecars, and write back: the driver's part alone."""
    alignment, transcript = computed.alignment, computed.transcript
    for warning in alignment.warnings:
        log.warning("%s: %s", episode.path, warning)
    body = render.render_markdown(alignment, settings.align)

    drafts = settings.transcripts_dir / episode.slug
    drafts.mkdir(parents=True, exist_ok=True)
    write_atomic(drafts / "transcript.md", body)
    write_atomic(drafts / "whisper.json", json.dumps(transcript_to_dict(transcript), indent=1))
    formats.write_sidecars(alignment, episode.chapters, drafts, title=episode.title)

    provenance = {
        "engine": settings.transcribe.engine,
        "model": settings.transcribe.model,
        "audio_sha256": computed.audio_sha256,
        "offset": round(alignment.offset, 2),
    }
    result = writeback.write(episode, body, provenance, settings.writeback)
    log.info("%s: %s", episode.path, result.message)
    return Outcome(
        episode.slug, str(episode.path), result.action, transcript.duration,
        warnings=alignment.warnings, diff=result.diff,
    )


def process(episode: Episode, audio_file: Audio, settings: Settings) -> Outcome:
    """Transcribe, diarize, align, render and write back one downloaded episode."""
    started = time.monotonic()
    outcome = commit(episode, compute(episode, audio_file, settings), settings)
    return replace(outcome, seconds=time.monotonic() - started)


@contextmanager
def lock(transcripts_dir: Path) -> Iterator[None]:
    """One run at a time per transcripts folder; the OS drops the lock if we are killed."""
    transcripts_dir.mkdir(parents=True, exist_ok=True)
    path = transcripts_dir / ".lock"
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


def sweep_leftovers(transcripts_dir: Path, episode_files: Sequence[Path]) -> None:
    """Remove temp files a killed run left behind; we hold the lock, so none is in use."""
    stale = [p for p in transcripts_dir.rglob("*")
             if p.is_file() and p.name.endswith((".tmp", ".partial.wav"))]
    for episode_file in episode_files:
        stale += episode_file.parent.glob(f".{episode_file.name}.*.tmp")
    for path in stale:
        log.debug("removing %s, left by an interrupted run", path)
        path.unlink(missing_ok=True)


def select(
    paths: Sequence[Path], settings: Settings, only: Sequence[str] = (), limit: int | None = None,
    retry_failed: bool = False,
) -> tuple[list[Episode], list[Outcome]]:
    """The episodes to work on, and outcomes for files that failed to load."""
    chosen: list[Episode] = []
    failures: list[Outcome] = []
    previously_failed = {o["slug"] for o in last_report(settings).get("outcomes", [])
                         if o["state"] == "failed"}
    for path in episodes.find_episodes(list(paths)):
        try:
            episode = episodes.load(path, settings.episodes)
        except PipelineError as exc:
            failures.append(Outcome(episodes.slug_of(path), str(path), "failed", error=str(exc)))
            continue
        if only and episode.slug not in only:
            continue
        if retry_failed and episode.slug not in previously_failed:
            continue
        if episode.state == "no-transcript-section":
            failures.append(Outcome(episode.slug, str(path), "failed", error=str(EpisodeError(
                f"{path}: no '## Transcript' heading, so no place for a transcript"))))
        elif needs_work(episode, settings):
            chosen.append(episode)
    return chosen[:limit] if limit is not None else chosen, failures


def run_batch(
    paths: Sequence[Path], settings: Settings, *, only: Sequence[str] = (), limit: int | None = None,
    retry_failed: bool = False, download_only: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Report:
    """Every selected episode: serially (the next one downloading while the current one is
    transcribed), `workers` at once, or on Ray; only this process writes files."""
    started = _now()
    outcomes: list[Outcome] = []

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    with lock(settings.transcripts_dir):
        chosen, failures = select(paths, settings, only, None, retry_failed)
        chosen = executors.shard(chosen, settings.executor.shard)
        chosen = chosen[:limit] if limit is not None else chosen
        sweep_leftovers(settings.transcripts_dir, [e.path for e in chosen])
        for failure in failures:
            log.error("%s", failure.error)
            record(failure)
        opts = settings.executor
        if download_only or (opts.executor == "local" and opts.workers == 1):
            _serial(chosen, settings, download_only, record)
        else:
            _parallel(chosen, settings, record)
        report = Report("download" if download_only else "transcribe", started, _now(),
                        tuple(outcomes))
        if not download_only:
            write_atomic(settings.transcripts_dir / "report.json",
                          json.dumps(asdict(report), indent=1))
    return report


def _serial(chosen: Sequence[Episode], settings: Settings, download_only: bool,
            record: Callable[[Outcome], None]) -> None:
    audio_dir = settings.transcripts_dir / "audio"
    with download.Downloader(settings.download, audio_dir) as downloader, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="download") as pool:
        pending: list[Future[Audio]] = []
        for i, episode in enumerate(chosen):
            while len(pending) <= i + 1 and len(pending) < len(chosen):
                pending.append(pool.submit(fetch, chosen[len(pending)], settings, downloader))
            record(_one(episode, pending[i], settings, download_only))


def _parallel(chosen: Sequence[Episode], settings: Settings, record: Callable[[Outcome], None]) -> None:
    """Work elsewhere, writes here, in completion order; the report keeps the selection order."""
    done: dict[int, Outcome] = {}

    def write(i: int, result: executors.Result) -> None:
        episode = chosen[i]
        started = time.monotonic()
        if result.computed is None:
            outcome = Outcome(episode.slug, str(episode.path), "failed", seconds=result.seconds,
                              error=result.error)
        else:
            try:
                outcome = commit(episode, result.computed, settings)
            except PipelineError as exc:
                log.error("%s", exc)
                outcome = Outcome(episode.slug, str(episode.path), "failed", error=str(exc))
            outcome = replace(outcome, seconds=result.seconds + time.monotonic() - started)
        done[i] = outcome

    if settings.executor.executor == "ray":
        from . import ray_executor

        ray_executor.run(chosen, settings, write)
    else:
        executors.run_threads(chosen, settings, write)
    for i in sorted(done):
        record(done[i])


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
