"""Composing the stages: which episodes (`select`), one episode (`process`), a batch (`run_batch`).

`process` calls one function per stage; `make bench` times those same functions."""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import (
    align,
    audio,
    download,
    episodes,
    executors,
    formats,
    names,
    publish,
    recover,
    render,
    speakers,
    transcribe,
    vocabulary,
    voices,
    wordsfile,
    writeback,
)
from .config import Settings
from .errors import ConfigError, EpisodeError, PipelineError
from .executors import Computed, Result
from .files import write_atomic
from .models import Alignment, Audio, Episode, EpisodeState, Provenance, Transcript, transcript_to_dict
from .workspace import Outcome, Report, Workspace

log = logging.getLogger("pipeline")


def needs_work(episode: Episode, settings: Settings) -> bool:
    """Pending, or our own unreviewed draft made by another engine/model (or --force)."""
    if episode.state == EpisodeState.PENDING:
        return True
    if episode.state != EpisodeState.GENERATED or episode.provenance is None:
        return False
    made = (episode.provenance.engine, episode.provenance.model)
    return settings.writeback.force or made != (settings.transcribe.engine, settings.transcribe.model)


def fetch(episode: Episode, settings: Settings, downloader: download.Downloader) -> Audio:
    if not episode.audio_url:
        raise EpisodeError(f"{episode.path}: no episode_url in [extra]")
    return downloader.fetch(episode.audio_url, episode.slug, label=str(episode.path))


def prompt_for(episode: Episode, settings: Settings) -> tuple[str | None, vocabulary.Glossary | None]:
    """The vocabulary prompt (None when it is off) and the glossary, if one is set."""
    opts = settings.vocabulary
    glossary = vocabulary.load_glossary(opts.glossary) if opts.glossary else None
    prompt = vocabulary.build_prompt(episode, glossary, with_names=opts.vocabulary_prompt == "sentences+names") \
        if opts.vocabulary else None
    if opts.initial_prompt:
        prompt = f"{opts.initial_prompt.strip()} {prompt or ''}".strip()
    return prompt, glossary


def transcribe_episode(episode: Episode, prepared: audio.Prepared, settings: Settings) -> Transcript:
    """Whisper's transcript of the episode, prompted with its vocabulary, glossary applied, and
    near misses of the show notes' names corrected (listed in `Transcript.names_corrected`)."""
    prompt, glossary = prompt_for(episode, settings)
    transcript = transcribe.transcribe(prepared, settings.transcribe, settings.workspace.cache_dir,
                                       prompt=prompt)
    transcript = vocabulary.apply_glossary(transcript, glossary)
    if not settings.vocabulary.correct_names:
        return transcript
    terms = glossary.terms if glossary else ()
    transcript, fixed = names.correct(transcript, names.vocabulary_names(episode, terms),
                                      names.full_names(episode, terms))
    done = [f"{c.heard} -> {c.written}" for c in fixed]
    return replace(transcript, names_corrected=tuple(done))


def repairs(transcript: Transcript) -> list[str]:
    """What the transcript's making repaired, for the log and the report."""
    notes = [f"decoded again {recover.Stretch(**s).describe()}" for s in transcript.recovered]
    if fixed := transcript.names_corrected:
        notes.append("names corrected: " + ", ".join(fixed))
    return notes


def label_speakers(episode: Episode, transcript: Transcript, prepared: audio.Prepared,
                   settings: Settings) -> Transcript:
    """Speaker names on every word, unless diarization is off for the run or the episode."""
    if not speakers.enabled(episode, settings.speakers):
        return transcript
    known = voices.load_all(settings.workspace.root)
    return speakers.diarize(transcript, prepared.path, episode, settings.speakers,
                            settings.workspace.cache_dir, known=known)


def lay_out(episode: Episode, transcript: Transcript, settings: Settings) -> tuple[Alignment, str]:
    """The alignment to the show notes' chapters, and the markdown body rendered from it."""
    alignment = align.align(transcript, episode.chapters, settings.align)
    for warning in alignment.warnings:
        log.warning("%s: %s", episode.path, warning)
    return alignment, render.render_markdown(alignment, settings.render)


def save_drafts(episode: Episode, transcript: Transcript, alignment: Alignment, body: str,
                ws: Workspace, sidecars: bool = True, options: formats.Options = formats.Options()) -> None:
    """The draft body, the final transcript, the recorded words (`words.tsv`, committed: publish
    and review rebuild everything from it) and, unless told not to, the sidecar files, in the
    episode's folder."""
    write_atomic(ws.transcript_md(episode.slug), body)
    write_atomic(ws.whisper_json(episode.slug), json.dumps(transcript_to_dict(transcript), indent=1))
    wordsfile.write(transcript, ws.words_tsv(episode.slug))
    if sidecars:
        formats.write_sidecars(alignment, episode.chapters, ws.drafts(episode.slug), title=episode.title,
                               options=options)


def write_back(episode: Episode, body: str, offset: float, audio_sha256: str,
               settings: Settings) -> writeback.WriteResult:
    """The body into the episode file, with where it came from in `[extra.transcript]`."""
    provenance = Provenance(engine=settings.transcribe.engine, model=settings.transcribe.model,
                            audio_sha256=audio_sha256, offset=round(offset, 2))
    return writeback.write(episode, body, provenance, settings.writeback)


def compute(episode: Episode, audio_file: Audio, settings: Settings) -> Computed:
    """Decode, transcribe, diarize and align one downloaded episode; writes no episode file.

    The part that may run elsewhere (a thread, a Ray worker): it only fills the caches.
    """
    # Decoded once: transcription and diarization read the same wav.
    prepared = audio.prepare(audio_file.path, settings.workspace.cache_dir, sha256=audio_file.sha256)
    transcript = transcribe_episode(episode, prepared, settings)
    notes = repairs(transcript)
    for note in notes:
        log.info("%s: %s", episode.path, note)
    transcript = label_speakers(episode, transcript, prepared, settings)
    return Computed(transcript, align.align(transcript, episode.chapters, settings.align), audio_file.sha256)


def fetch_and_compute(episode: Episode, settings: Settings) -> Computed:
    """Everything for one episode short of writing it, with a downloader of its own."""
    with download.Downloader(settings.download, settings.workspace.audio_dir) as downloader:
        audio_file = fetch(episode, settings, downloader)
    return compute(episode, audio_file, settings)


def commit(episode: Episode, computed: Computed, settings: Settings) -> Outcome:
    """Render, save the drafts and sidecars, write back: the driver's part, whoever computed."""
    # An impossible place for the sidecars fails the episode before anything is written.
    site = publish.sidecar_dir(episode, settings.workspace, settings.publish)
    alignment, transcript = computed.alignment, computed.transcript
    notes = repairs(transcript)
    for note in notes:
        log.info("%s: %s", episode.path, note)
    for warning in alignment.warnings:
        log.warning("%s: %s", episode.path, warning)
    body = render.render_markdown(alignment, settings.render)
    if not settings.writeback.dry_run:  # a dry run writes nothing but the download and decode caches
        save_drafts(episode, transcript, alignment, body, settings.workspace, sidecars=False)
        # The sidecars (what `publish` would rebuild from the file about to be written) go before
        # the episode file: a run killed in between leaves the episode pending, so the next run
        # makes all of it again (from the caches). After it, the next run would see the episode
        # done and never make its captions. A refused write-back (the file changed meanwhile)
        # leaves sidecars that, like the drafts, describe the transcript it did not write.
        formats.write_sidecars(alignment, episode.chapters, site, title=episode.title, options=settings.formats)
    result = write_back(episode, body, alignment.offset, computed.audio_sha256, settings)
    log.info("%s: %s", episode.path, result.message)
    return Outcome(episode.slug, str(episode.path), result.action, transcript.duration,
                   warnings=alignment.warnings, diff=result.diff, notes=tuple(notes))


def work(episode: Episode, settings: Settings) -> Result:
    """Download, decode, transcribe, diarize and align one episode, wherever this runs (a thread,
    a Ray worker); its own errors are its result."""
    started = time.monotonic()
    try:
        return Result(fetch_and_compute(episode, settings), None, time.monotonic() - started)
    except PipelineError as exc:
        log.error("%s", exc)
        return Result(None, str(exc), time.monotonic() - started)
    except Exception as exc:  # one broken episode never stops the batch
        log.exception("%s: unexpected error", episode.path)
        return Result(None, f"{episode.path}: {type(exc).__name__}: {exc}", time.monotonic() - started)


def process(episode: Episode, audio_file: Audio, settings: Settings) -> Outcome:
    """Transcribe, diarize, align, render and write back one downloaded episode."""
    started = time.monotonic()
    # An impossible place for the sidecars fails the episode before any work (commit checks again).
    publish.sidecar_dir(episode, settings.workspace, settings.publish)
    outcome = commit(episode, compute(episode, audio_file, settings), settings)
    return replace(outcome, seconds=time.monotonic() - started)


def select(
    paths: Sequence[Path], settings: Settings, only: Sequence[str] = (), limit: int | None = None,
    retry_failed: bool = False,
) -> tuple[list[Episode], list[Outcome]]:
    """The episodes to work on, and outcomes for files that failed to load or were refused."""
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, not {limit}")
    found = episodes.discover(list(paths), settings.episodes_dir)
    wanted = wanted_keys(found, only, paths)
    chosen: list[Episode] = []
    failures: list[Outcome] = []
    previously_failed = set(settings.workspace.last_failures())
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
        if episode.state == EpisodeState.NO_TRANSCRIPT_SECTION:
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
    """Every selected episode: serially (the next one downloading while the current one is
    transcribed), `workers` at once, or on Ray; only this process writes files."""
    started = _now()
    outcomes: list[Outcome] = []

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    ws = settings.workspace
    dry_run = settings.writeback.dry_run
    check_selection(paths, settings, only, limit)
    with ws.lock(leave_nothing=dry_run):
        chosen, failures = select(paths, settings, only, None, retry_failed)
        chosen = executors.shard(chosen, settings.executor.shard)
        chosen = chosen[:limit] if limit is not None else chosen
        if not dry_run:
            ws.sweep(chosen)
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
        if not download_only and not dry_run:
            try:
                ws.write_report(report)
            except PipelineError as exc:
                log.error("%s", exc)  # the summary is still printed
    return report


def _serial(chosen: Sequence[Episode], settings: Settings, download_only: bool,
            record: Callable[[Outcome], None]) -> None:
    with download.Downloader(settings.download, settings.workspace.audio_dir) as downloader:
        prefetch = _Prefetch()
        try:
            pending: list[Future[Audio]] = []
            for i, episode in enumerate(chosen):
                while len(pending) <= i + 1 and len(pending) < len(chosen):
                    pending.append(prefetch.submit(fetch, chosen[len(pending)], settings, downloader))
                record(_one(episode, pending[i], settings, download_only))
        finally:
            # Ctrl-C or the end: the download thread stops at its next chunk, and nobody
            # waits for it (a daemon thread), so the lock is released now.
            downloader.cancel()
            prefetch.close()


def _parallel(chosen: Sequence[Episode], settings: Settings, record: Callable[[Outcome], None]) -> None:
    """Work elsewhere, writes here as results come in; the report keeps the selection order."""
    done: dict[int, Outcome] = {}

    def write(i: int, result: Result) -> None:
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

        ray_executor.run(chosen, settings, work, write)
    else:
        _threads(chosen, settings, write)
    for i in sorted(done):
        record(done[i])


def divided(settings: Settings, parallel: int) -> Settings:
    """Settings for `parallel` episodes at once: the engine's threads shared out between them."""
    t = settings.transcribe
    threads = t.threads or max(1, (os.cpu_count() or 1) // parallel)
    return replace(settings, transcribe=replace(t, threads=threads, concurrency=parallel))


def _threads(chosen: Sequence[Episode], settings: Settings, done: executors.Done) -> None:
    """`workers` episodes at once in this process, each on its own engine."""
    n = min(settings.executor.workers, len(chosen)) or 1
    shared = divided(settings, n)
    progress = executors.Progress(len(chosen), n)
    pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="episode")
    try:
        futures = {pool.submit(work, episode, shared): i for i, episode in enumerate(chosen)}
        for future in as_completed(futures):
            result = future.result()
            progress.finished(result.error is not None)
            done(futures[future], result)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: no episode not yet begun starts


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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
