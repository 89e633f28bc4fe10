"""`--executor ray`: one Ray task per episode, on a laptop's local cluster or a rented one.

Each task downloads, decodes, transcribes, diarizes and aligns one episode on whichever node
Ray picks, asking for `cpus_per_task` CPUs (the engine's threads) or, with `--device cuda`,
`gpus_per_task` GPUs. It returns the transcript and alignment; the driver writes every file.
A worker or node that dies is Ray's to retry (`max_retries`); an episode's own error comes back
as that episode's failure and is never retried. Ray is an optional extra: `pip install '.[ray]'`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .executors import Done, Progress, Result
from .models import Episode

if TYPE_CHECKING:
    from .config import Settings

Work = Callable[[Episode, "Settings"], Result]  # run.work, passed in: this module never imports run

log = logging.getLogger("pipeline")

MAX_RETRIES = 3  # for lost workers and nodes, not for an episode's own errors
# The smallest object store Ray accepts; results are a few hundred kB of transcript each.
LOCAL_OBJECT_STORE = 80 * 1024 * 1024


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install '.[ray]' "
                          "(or .venv/bin/pip install 'ray[default]')") from None
    return ray


def connect(address: str) -> bool:
    """Join the cluster at `address` (see executors.Options); True when we started it here."""
    ray = _ray()
    if ray.is_initialized():
        return False
    local = dict(include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE,
                 configure_logging=False)
    if address == "local":
        ray.init(**local)
        return True
    if address == "auto":
        try:
            ray.init(address="auto", configure_logging=False)
            return True
        except ConnectionError:
            log.info("no running Ray cluster found; starting one on this machine")
            ray.init(**local)
            return True
    ray.init(address=address, configure_logging=False)
    return True


def run(chosen: Sequence[Episode], settings: Settings, work: Work, done: Done) -> None:
    """`work` for every episode as one Ray task; `done` is called here, in the driver, as each
    finishes. Ray imports `work` by name on the workers, so it must be a module's function."""
    ray = _ray()
    opts = settings.executor
    started_here = connect(opts.ray_address)
    try:
        gpu = settings.transcribe.device == "cuda"
        resources: dict[str, Any] = {"num_cpus": opts.cpus_per_task}
        if gpu:
            resources = {"num_cpus": 1, "num_gpus": opts.gpus_per_task}
        # Paths must mean the same on every node: absolute, on storage they all see (docs/scaling.md).
        glossary = settings.vocabulary.glossary
        settings = replace(settings, transcripts_dir=settings.transcripts_dir.resolve(),
                           vocabulary=replace(settings.vocabulary, glossary=glossary and str(Path(glossary).resolve())),
                           transcribe=replace(settings.transcribe, threads=settings.transcribe.threads
                                              or opts.cpus_per_task))
        remote = ray.remote(work).options(max_retries=MAX_RETRIES, retry_exceptions=False,
                                           **resources)
        settings_ref = ray.put(settings)
        pending = {remote.remote(episode, settings_ref): i for i, episode in enumerate(chosen)}
        cluster = ray.cluster_resources()
        slots = int(cluster.get("GPU", 0) // opts.gpus_per_task if gpu
                    else cluster.get("CPU", 1) // opts.cpus_per_task)
        progress = Progress(len(chosen), slots)
        log.info("ray: %d episodes on a cluster of %s CPUs, %s GPUs", len(chosen),
                 cluster.get("CPU", 0), cluster.get("GPU", 0))
        submitted = time.monotonic()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                i = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died MAX_RETRIES + 1 times
                    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    result = Result(None, f"{chosen[i].path}: Ray task lost ({type(exc).__name__}: "
                                    f"{message[:300]})", time.monotonic() - submitted)
                    log.error("%s", result.error)
                progress.finished(result.error is not None)
                done(i, result)
    finally:
        if started_here:
            ray.shutdown()
