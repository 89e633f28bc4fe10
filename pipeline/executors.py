"""Where episodes' heavy work runs: one after another, N at once on this machine, or on Ray.

Every executor hands back, per episode, a `run.Computed` (transcript and alignment) or that
episode's error message. Only the driver writes episode files, drafts, sidecars and the report
(`run.commit`), so that the byte-safety and compare-and-swap rules stay in one place whatever
ran the work. `--shard K/N` picks a deterministic part of the pending episodes for CI matrix jobs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .errors import ConfigError, PipelineError
from .models import Episode

if TYPE_CHECKING:
    from .config import Settings
    from .run import Computed

log = logging.getLogger("pipeline")

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Options:
    executor: str = "local"  # or "ray"
    workers: int = 1  # episodes at once on this machine (local executor)
    shard: str | None = None  # "K/N": only the K-th of N parts of the pending episodes
    # "auto": the cluster `ray start` made on this machine (or RAY_ADDRESS), else a local one;
    # "local": always a new one on this machine; or an address such as ray://head:10001.
    ray_address: str = "auto"
    cpus_per_task: int = 2  # Ray: CPUs each episode asks for (and the engine's threads)
    gpus_per_task: float = 1.0  # Ray with --device cuda: GPUs each episode asks for

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor {self.executor!r} (known: {', '.join(EXECUTORS)})")
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, not {self.workers}")
        if self.cpus_per_task < 1:
            raise ConfigError(f"cpus_per_task must be at least 1, not {self.cpus_per_task}")
        if self.shard is not None:
            parse_shard(self.shard)


def parse_shard(spec: str) -> tuple[int, int]:
    """'2/4' -> (2, 4); K counts from 1."""
    try:
        k, n = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ConfigError(f"shard {spec!r}: expected K/N, such as 1/4") from None
    if not 1 <= k <= n:
        raise ConfigError(f"shard {spec!r}: K must be between 1 and N")
    return k, n


def shard(chosen: Sequence[Episode], spec: str | None) -> list[Episode]:
    """The K-th of N parts: the episodes whose slug hashes to K-1 modulo N.

    A slug's part never depends on which other episodes are pending, so matrix jobs that see
    different checkouts (one ran earlier, an episode was added) still never overlap.
    """
    if spec is None:
        return list(chosen)
    k, n = parse_shard(spec)
    return [e for e in chosen if shard_of(e.slug, n) == k]


def shard_of(slug: str, n: int) -> int:
    return int(hashlib.sha256(slug.encode()).hexdigest()[:8], 16) % n + 1


@dataclass(frozen=True)
class Result:
    """One episode's work, as it comes back to the driver."""

    computed: Computed | None
    error: str | None
    seconds: float


Done = Callable[[int, Result], None]  # called in the driver's thread, in completion order


def work(episode: Episode, settings: Settings) -> Result:
    """Download, decode, transcribe, diarize and align one episode; its own errors are its result."""
    from .run import fetch_and_compute

    started = time.monotonic()
    try:
        return Result(fetch_and_compute(episode, settings), None, time.monotonic() - started)
    except PipelineError as exc:
        log.error("%s", exc)
        return Result(None, str(exc), time.monotonic() - started)
    except Exception as exc:  # one broken episode never stops the batch
        log.exception("%s: unexpected error", episode.path)
        return Result(None, f"{episode.path}: {type(exc).__name__}: {exc}", time.monotonic() - started)


class Progress:
    """Episodes done, running and failed, logged as each one finishes."""

    def __init__(self, total: int, slots: int) -> None:
        self.total, self.slots = total, max(1, slots)
        self.done = self.failed = 0

    def finished(self, failed: bool) -> str:
        self.done += 1
        self.failed += failed
        left = self.total - self.done
        running = min(left, self.slots)
        line = (f"progress: {self.done}/{self.total} done ({self.failed} failed), {running} running, "
                f"{left - running} waiting")
        log.info("%s", line)
        return line


def divided(settings: Settings, parallel: int) -> Settings:
    """Settings for `parallel` episodes at once: the engine's threads shared out between them."""
    t = settings.transcribe
    threads = t.threads or max(1, (os.cpu_count() or 1) // parallel)
    return replace(settings, transcribe=replace(t, threads=threads, concurrency=parallel))


def run_threads(chosen: Sequence[Episode], settings: Settings, done: Done) -> None:
    """`workers` episodes at once in this process; one model, `workers` engine replicas."""
    n = min(settings.executor.workers, len(chosen)) or 1
    shared = divided(settings, n)
    progress = Progress(len(chosen), n)
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="episode") as pool:
        futures = {pool.submit(work, episode, shared): i for i, episode in enumerate(chosen)}
        for future in as_completed(futures):
            result = future.result()
            progress.finished(result.error is not None)
            done(futures[future], result)
