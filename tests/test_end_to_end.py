"""The whole pipeline for real: a local HTTP server, the bundled model, real audio, real files."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest

from pipeline.lab import synth
from pipeline.lab.serve import serve

from conftest import REPO

PLACEHOLDER = "Transcript for this episode is coming soon."


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, synth.Script, synth.Truth]:
    folder = tmp_path_factory.mktemp("media")
    script = synth.load_script("demo")
    truth = synth.synthesize(script, folder / "demo.mp3")
    return folder, script, truth


@pytest.fixture(scope="module")
def server(media: tuple[Path, synth.Script, synth.Truth]):
    with serve(media[0]) as base:
        yield base


def pipeline(*args: str, cwd: Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def make_episode(root: Path, slug: str, media, url: str) -> Path:
    _, script, truth = media
    return synth.write_episode_file(script, truth, url, root / "episodes" / slug / "index.md")


def strip_generated(text: str) -> str:
    """The file as it was before the pipeline: the transcript block back to the placeholder,
    the provenance table removed."""
    text = re.sub(r'<div class="transcript">\n.*?\n</div>', PLACEHOLDER, text, flags=re.S)
    return re.sub(r"\n\n\[extra\.transcript\]\n(?:[^\n\[+][^\n]*\n)*", "\n", text)


@pytest.mark.model
def test_transcribe_writes_transcript_with_chapter_headings(tmp_path, media, server):
    episode = make_episode(tmp_path, "demo", media, f"{server}/demo.mp3")
    original = episode.read_bytes()

    proc = pipeline("transcribe", "--transcripts-dir", "out", cwd=tmp_path, check=True)

    text = episode.read_text()
    assert PLACEHOLDER not in text, proc.stderr
    body = text.split('<div class="transcript">', 1)[1].split("</div>", 1)[0]
    headings = re.findall(r"^## (.+)$", body, flags=re.M)
    assert headings == [title for title, _ in media[2].chapters]
    assert re.search(r"^\[00:00:\d\d\] \*\*[A-Z][a-z]+ [A-Z][a-z]+:\*\* \S", body, flags=re.M)
    assert "production" in body.lower() and "debug" in body.lower()
    # Every byte outside the transcript body and the added table is unchanged.
    assert strip_generated(text).encode() == original
    meta = tomllib.loads(text.split("+++")[1])["extra"]["transcript"]
    assert meta["engine"] == "faster-whisper" and meta["reviewed"] is False
    for sidecar in ("transcript.vtt", "transcript.srt", "transcript.json", "chapters.json"):
        assert (tmp_path / "out" / "demo" / sidecar).stat().st_size > 0

    written = episode.read_bytes()
    again = pipeline("transcribe", "--transcripts-dir", "out", cwd=tmp_path, check=True)
    assert episode.read_bytes() == written, again.stdout
    assert "Nothing to do" in again.stdout


def test_second_concurrent_run_is_refused_by_the_lock(tmp_path, media, server):
    from pipeline.workspace import Workspace

    episode = make_episode(tmp_path, "demo", media, f"{server}/demo.mp3")
    before = episode.read_bytes()
    with Workspace(tmp_path / "out").lock():
        proc = pipeline("transcribe", "--transcripts-dir", "out", cwd=tmp_path)
    assert proc.returncode != 0
    assert "Another pipeline run is in progress" in proc.stderr
    assert episode.read_bytes() == before


@pytest.mark.model
def test_killed_batch_resumes_and_transcribes_each_episode_once(tmp_path, media, server):
    folder, script, _ = media
    slugs = ["a-one", "b-two", "c-three"]
    files = []
    for seed, slug in enumerate(slugs):  # other noise, other audio: no episode comes from the cache
        truth = synth.synthesize(script, folder / f"{slug}.mp3", seed=seed)
        files.append(synth.write_episode_file(script, truth, f"{server}/{slug}.mp3",
                                              tmp_path / "episodes" / slug / "index.md"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "transcribe", "--no-diarize",
                             "--transcripts-dir", "out"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Kill it once the first episode is written and the second one's audio is decoded for its
    # transcription: an episode is then in progress.
    log, in_progress = [], re.compile(r"decoded out/audio/b-two\.mp3")
    timer = threading.Timer(300, proc.kill)
    timer.start()
    for line in proc.stderr:
        log.append(line)
        if in_progress.search(line):
            proc.send_signal(signal.SIGKILL)
            break
    timer.cancel()
    proc.wait()
    first_run = "".join(log)
    assert proc.returncode == -signal.SIGKILL, first_run
    assert "a-one/index.md: transcript written" in first_run
    assert [PLACEHOLDER in f.read_text() for f in files] == [False, True, True], first_run

    resumed = pipeline("transcribe", "--no-diarize", "--transcripts-dir", "out", cwd=tmp_path, check=True)

    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [(o["slug"], o["state"]) for o in report["outcomes"]] == [("b-two", "written"), ("c-three", "written")]
    assert re.findall(r"transcribed out/audio/(\S+)\.mp3", resumed.stderr) == ["b-two", "c-three"]
    for f in files:
        text = f.read_text()
        assert text.count('<div class="transcript">') == 1 and PLACEHOLDER not in text
        assert text.count("[extra.transcript]") == 1
        tomllib.loads(text.split("+++")[1])
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith((".tmp", ".part", ".partial.wav"))]
    assert leftovers == []


@pytest.mark.model
def test_demo_writes_a_transcript_with_chapter_headings(tmp_path):
    proc = pipeline("demo", "--workdir", str(tmp_path / "demo"), cwd=tmp_path, check=True)
    assert "## Why Rust" in proc.stdout and PLACEHOLDER not in proc.stdout
    assert re.search(r"\[00:00:\d\d\] \*\*", proc.stdout)
