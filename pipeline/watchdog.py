"""Engine calls in a child process under a time budget, so that a stuck engine fails one episode.

A Python thread cannot be stopped, and an engine stuck inside C code (openai-whisper looping
on a zero-length clip, upstream pull request 2005) never returns. So a real engine lives in a
child process for the whole batch (the model is loaded once, as before), and each
transcription is a request to it with a budget of `engine_budget_min + engine_budget_factor x
audio length` seconds. Past the budget the child is killed, the episode fails with a clear
error, and the next call starts a fresh child. Ctrl-C in the parent kills the child at once:
the parent only ever waits in short polls.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from . import errors
from .engines.base import Engine, Progress
from .errors import PipelineError, TranscribeError
from .models import Transcript

log = logging.getLogger(__name__)

LOAD_SECONDS = 900.0  # loading may download a model from the hub on first use


class Watched:
    """Looks like a loaded `Engine`; the real one runs in a child process."""

    def __init__(self, engine_cls: type[Engine], options: Any, cache_dir: Path | None = None) -> None:
        self.engine_cls, self.options, self.cache_dir = engine_cls, options, cache_dir
        self.name = engine_cls.name
        self.budget_min, self.budget_factor = options.engine_budget_min, options.engine_budget_factor
        self.process: Any = None
        self.conn: Connection | None = None
        self.device = self.compute_type = self.model_label = "?"
        self._start()

    def _start(self) -> None:
        # spawn, not fork: the parent may hold torch's or CTranslate2's threads, which a fork
        # would copy in a locked state
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, self.engine_cls, self.options, self.cache_dir),
                                   name=f"engine-{self.name}", daemon=True)
        self.process.start()
        child.close()
        self.conn = parent
        try:
            reply = self._wait(LOAD_SECONDS, f"loading {self.name} {self.options.model}", None)
        except BaseException:
            self.stop()
            raise
        _, self.device, self.compute_type, self.model_label = reply

    def transcribe(
        self, wav_path: Path, duration: float, prompt: str | None, progress: Progress | None = None
    ) -> Transcript:
        if self.process is None or not self.process.is_alive():
            self._start()
        assert self.conn is not None
        budget = self.budget_min + self.budget_factor * duration
        self.conn.send((str(wav_path), duration, prompt))
        try:
            reply = self._wait(budget, f"{wav_path}: {self.name} on {duration:.0f} s of audio", progress)
        except BaseException:
            self.stop()  # stuck, interrupted or broken: the next call starts afresh
            raise
        result: Transcript = reply[1]
        return result

    def _wait(self, budget: float, what: str, progress: Progress | None) -> tuple[Any, ...]:
        """The child's answer; progress relayed; a TranscribeError when it is late or gone."""
        assert self.conn is not None
        deadline = time.monotonic() + budget
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TranscribeError(
                    f"{what}: no result within {budget:.0f} s (engine_budget_min + engine_budget_factor "
                    "x audio length); the engine was stopped"
                )
            try:
                ready = self.conn.poll(min(left, 0.25))
                message = self.conn.recv() if ready else None
            except (EOFError, OSError):
                message = None
                ready = True
            if message is None:
                if ready or not self.process.is_alive():
                    self.process.join(1)
                    raise TranscribeError(f"{what}: the engine process ended unexpectedly "
                                          f"(exit code {self.process.exitcode})")
                continue
            if message[0] == "progress":
                if progress is not None:
                    progress(message[1])
                continue
            if message[0] == "error":
                raise _rebuilt(message[1], message[2])
            return tuple(message)

    def stop(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        if self.conn is not None:
            self.conn.close()
        self.process = self.conn = None

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _rebuilt(kind: str, detail: str) -> PipelineError:
    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, PipelineError):
        return cls(detail)
    return TranscribeError(f"{kind}: {detail}")


def _serve(conn: Connection, engine_cls: type[Engine], options: Any, cache_dir: Path | None) -> None:
    """The child: load once, then answer (wav, duration, prompt) requests until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it kills us on Ctrl-C
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    try:
        engine = engine_cls(options, cache_dir)
    except Exception as exc:  # noqa: BLE001 - sent to the parent, which raises it
        conn.send(_error(exc))
        return
    conn.send(("ready", engine.device, engine.compute_type, engine.model_label))
    while True:
        try:
            wav, duration, prompt = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result = engine.transcribe(Path(wav), duration, prompt, lambda s: conn.send(("progress", s)))
            conn.send(("done", result))
        except Exception as exc:  # noqa: BLE001
            conn.send(_error(exc))


def _exit_with(parent: int) -> None:
    """A parent killed outright (kill -9, a cron timeout) cannot stop us: end when it is gone."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _error(exc: Exception) -> tuple[str, str, str]:
    if isinstance(exc, PipelineError):
        return "error", type(exc).__name__, exc.detail
    return "error", type(exc).__name__, str(exc)
