"""What the executors share: their options, the `--shard` split, and what comes back.

Whatever runs an episode's heavy work (this process, N threads, a Ray task), it hands back a
`Computed` (transcript and alignment) or that episode's error message. Only the driver writes
episode files, drafts, sidecars and the report (`run.commit`), so that the byte-safety and
compare-and-swap rules stay in one place whatever ran the work. `--shard K/N` picks a deterministic part of the pending episodes for CI matrix jobs.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import ConfigError
from .models import Alignment, Episode, Transcript

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
class Computed:
    """What the heavy stages make of one episode: all the driver needs to write it."""

    transcript: Transcript
    alignment: Alignment
    audio_sha256: str


@dataclass(frozen=True)
class Result:
    """One episode's work, as it comes back to the driver: computed, or its error message."""

    computed: Computed | None
    error: str | None
    seconds: float


Done = Callable[[int, Result], None]  # called in the driver's thread, in completion order


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
