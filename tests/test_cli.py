"""The command line and settings: status, selection flags, approve, exit codes, pyproject."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO, SHARED_EPISODES, cli
from pipeline import config, run
from pipeline.errors import ConfigError

PLACEHOLDER = "Transcript for this episode is coming soon."


def episode(root: Path, slug: str, url: str | None = "http://127.0.0.1:9/x.mp3",
            transcript: str = PLACEHOLDER) -> Path:
    path = root / "episodes" / slug / "index.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = f'[extra]\nepisode_url = "{url}"\n' if url else ""
    path.write_text(f'+++\ntitle = "{slug}"\n{extra}+++\n\nNotes.\n\n## Transcript\n\n{transcript}\n')
    return path


def test_flags_override_pyproject_settings(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pipeline]\nmodel = "small.en"\nheading_level = 3\nspeaker_names = ["A", "B"]\n')
    settings = config.load({"model": "base.en"}, pyproject=tmp_path / "pyproject.toml")
    assert settings.transcribe.model == "base.en"
    assert settings.align.heading_level == 3
    assert settings.speakers.speaker_names == ("A", "B")


def test_unknown_setting_is_a_usage_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown setting 'modle'"):
        config.build({"modle": "tiny.en"})
    (tmp_path / "pyproject.toml").write_text('[tool.pipeline]\nbeam = 3\n')
    proc = cli("status", cwd=tmp_path)
    assert proc.exit_code == 2 and "unknown setting 'beam'" in proc.stderr


def test_every_option_name_belongs_to_one_stage():
    owners = config._owners()
    assert {"model", "retries", "heading_level", "diarize", "wrapper_open", "long_gap"} <= set(owners)


@pytest.mark.shared
def test_status_names_every_state(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.pipeline]\nretries = 0\n")
    episode(tmp_path, "dead-link", url="http://127.0.0.1:9/gone.mp3")
    episode(tmp_path, "no-url", url=None)
    episode(tmp_path, "by-hand", transcript="**Jeremy:** We wrote this ourselves.")
    bad = tmp_path / "episodes" / "broken.md"
    bad.write_text('+++\ntitle = "unterminated\n+++\n\n## Transcript\n\n' + PLACEHOLDER + "\n")
    haproxy = (SHARED_EPISODES / "zola" / "2019-12-06-load-balancing-and-haproxy-with-daniel-corbett"
                   / "index.md").read_bytes()
    (tmp_path / "episodes" / "haproxy").mkdir()
    (tmp_path / "episodes" / "haproxy" / "index.md").write_bytes(haproxy)

    failed_run = cli("transcribe", "--only", "dead-link", cwd=tmp_path)
    assert failed_run.exit_code == 1

    proc = cli("status", cwd=tmp_path)
    assert proc.exit_code == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[2:]}
    assert "failed" in rows["dead-link"] and "connection refused" in rows["dead-link"]
    assert "no audio URL" in rows["no-url"]
    assert "human-written" in rows["by-hand"]
    assert "pending" in rows["haproxy"]
    assert "unreadable" in rows["broken"] and "TOML" in rows["broken"]


def test_only_limit_and_retry_failed_select_episodes(tmp_path):
    for slug in ("a", "b", "c"):
        episode(tmp_path, slug)
    settings = config.build({"transcripts_dir": str(tmp_path / "out")})
    root = [tmp_path / "episodes"]
    assert [e.slug for e in run.select(root, settings)[0]] == ["a", "b", "c"]
    assert [e.slug for e in run.select(root, settings, only=["b"])[0]] == ["b"]
    assert [e.slug for e in run.select(root, settings, limit=2)[0]] == ["a", "b"]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.json").write_text(
        '{"outcomes": [{"slug": "c", "state": "failed"}, {"slug": "a", "state": "written"}]}')
    assert [e.slug for e in run.select(root, settings, retry_failed=True)[0]] == ["c"]


def test_approve_marks_a_generated_transcript_reviewed(tmp_path):
    path = episode(tmp_path, "ep")
    from pipeline import episodes, writeback

    loaded = episodes.load(path, episodes.Options())
    writeback.write(loaded, "[00:00:01] Hello there.", {"engine": "faster-whisper", "model": "tiny.en"},
                    writeback.Options())
    proc = cli("approve", "ep", cwd=tmp_path)
    assert proc.exit_code == 0, proc.stderr
    meta = tomllib.loads(path.read_text().split("+++")[1])["extra"]["transcript"]
    assert meta["reviewed"] is True
    assert "reviewed" in cli("status", cwd=tmp_path).stdout
    assert cli("approve", "nope", cwd=tmp_path).exit_code == 2  # a usage error, naming it


def test_unknown_command_and_bad_flag_exit_2(tmp_path):
    assert cli("transcribe", "--no-such-flag", cwd=tmp_path).exit_code == 2
    assert cli("frobnicate", cwd=tmp_path).exit_code == 2


def test_python_dash_m_pipeline_runs_the_cli_in_its_own_process(tmp_path):
    # The one real subprocess here: `__main__` wiring, and exit codes as a shell sees them.
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def run_it(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    helped = run_it("--help")
    assert helped.returncode == 0 and "transcribe" in helped.stdout and "Examples:" in helped.stdout
    assert run_it("frobnicate").returncode == 2


def test_nothing_pending_exits_0(tmp_path):
    episode(tmp_path, "done", transcript="A human wrote this.")
    proc = cli("transcribe", cwd=tmp_path)
    assert proc.exit_code == 0 and "Nothing to do" in proc.stdout


def test_episode_without_transcript_section_fails_with_its_name(tmp_path, caplog):
    path = tmp_path / "episodes" / "no-section.md"
    path.parent.mkdir(parents=True)
    path.write_text('+++\ntitle = "x"\n[extra]\nepisode_url = "http://127.0.0.1:9/x.mp3"\n+++\n\nNotes.\n')
    before = path.read_bytes()
    proc = cli("transcribe", cwd=tmp_path)
    assert proc.exit_code == 1
    assert "no-section.md: no '## Transcript' heading" in caplog.text
    assert "no-section" in proc.stdout and "1 failed" in proc.stdout
    assert path.read_bytes() == before
