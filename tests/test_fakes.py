"""The fakes themselves, and the two stages around them without a model: `transcribe()` with its
cache, and `speakers.diarize()` with its cache and names, the fakes standing in for the models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import fakes
from conftest import REPO
from pipeline import audio, engines, episodes, speakers
from pipeline import transcribe as tr
from pipeline.lab import synth
from pipeline.lab.serve import serve
from pipeline.errors import AudioError, ConfigError

OPTIONS = engines.Options(engine=fakes.NAME)


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, synth.Script, synth.Truth]:
    folder = tmp_path_factory.mktemp("spoken")
    script = synth.load_script("demo")
    truth = synth.synthesize(script, folder / "demo.mp3")
    fakes.remember(folder / "demo.mp3", truth)
    synth.write_episode_file(script, truth, "https://example.com/demo.mp3", folder / "demo.md")
    return folder, script, truth


def test_the_fake_engine_hears_every_line_in_order_inside_its_span(spoken, tmp_path):
    folder, _, truth = spoken
    t = tr.transcribe(folder / "demo.mp3", OPTIONS, tmp_path)
    assert [s.text.strip() for s in t.segments] == [line.text for line in truth.lines]
    for segment, line in zip(t.segments, truth.lines):
        # Word times are kept to the millisecond, as the real engines keep them.
        assert line.start - 0.001 <= segment.words[0].start and segment.words[-1].end <= line.end + 0.001
        starts = [w.start for w in segment.words]
        assert starts == sorted(starts) and all(w.start < w.end for w in segment.words)
    # Longer words take longer to say.
    longest = max(t.words, key=lambda w: len(w.text))
    shortest = min(t.words, key=lambda w: len(w.text))
    assert longest.end - longest.start > shortest.end - shortest.start
    assert (t.engine, t.model, t.audio_sha256) == ("fake", "tiny.en (fake)", audio.sha256_of(folder / "demo.mp3"))


def test_audio_the_fake_never_heard_is_an_audio_error(spoken, tmp_path):
    other = tmp_path / "other.mp3"
    synth.synthesize(spoken[1], other, seed=7)  # the same words, other noise: other samples
    with pytest.raises(AudioError, match="never heard"):
        tr.transcribe(other, OPTIONS, tmp_path / "cache")


def test_a_second_transcription_comes_from_the_cache(spoken, tmp_path, monkeypatch):
    audio_file = spoken[0] / "demo.mp3"
    first = tr.transcribe(audio_file, OPTIONS, tmp_path)
    monkeypatch.setattr(fakes, "truth_of", lambda wav: pytest.fail("the cache should have answered"))
    assert tr.transcribe(audio_file, OPTIONS, tmp_path) == first
    with pytest.raises(pytest.fail.Exception, match="cache should have answered"):
        tr.transcribe(audio_file, engines.Options(engine=fakes.NAME, beam_size=1), tmp_path)


def test_diarize_names_the_voices_from_the_front_matter_and_caches_the_labels(spoken, tmp_path, monkeypatch):
    folder, _, truth = spoken
    cache = tmp_path / "cache"
    transcript = tr.transcribe(folder / "demo.mp3", OPTIONS, cache)
    wav = audio.prepare(folder / "demo.mp3", cache).path
    episode = episodes.load(folder / "demo.md")
    options = speakers.Options(diarizer=fakes.NAME)

    named = speakers.diarize(transcript, wav, episode, options, cache)

    by_line = [{w.speaker for w in s.words} for s in named.segments]
    assert by_line == [{line.speaker} for line in truth.lines]
    assert named.options["diarization"] == {
        "engine": "fake", "speakers": 2, "names": "episode", "needs_review": False,
        "evidence": {name: "listed in the episode" for name in episode.speakers},
    }
    monkeypatch.setitem(speakers.DIARIZERS, fakes.NAME, lambda *a: pytest.fail("the cache should have answered"))
    assert speakers.diarize(transcript, wav, episode, options, cache) == named
    with pytest.raises(pytest.fail.Exception, match="cache should have answered"):
        speakers.diarize(transcript, wav, episode, speakers.Options(diarizer=fakes.NAME, min_turn=0.5), cache)


def test_an_unknown_diarizer_is_a_config_error(spoken, tmp_path):
    folder = spoken[0]
    transcript = tr.transcribe(folder / "demo.mp3", OPTIONS, tmp_path)
    wav = audio.prepare(folder / "demo.mp3", tmp_path).path
    with pytest.raises(ConfigError, match="diarizer 'nobody' \\(known: resemblyzer, fake\\)"):
        speakers.diarize(transcript, wav, None, speakers.Options(diarizer="nobody"), tmp_path)


def test_a_child_process_hears_what_this_one_remembered(spoken, tmp_path):
    # For runs in other processes (a real CLI process, a Ray worker): register(), then the
    # truths that remember() filed under PIPELINE_FAKES_DIR.
    folder, script, truth = spoken
    (tmp_path / "pyproject.toml").write_text('[tool.pipeline]\nengine = "fake"\ndiarizer = "fake"\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    launch = "import fakes; fakes.register(); from pipeline.cli import main; main()"
    with serve(folder) as base:
        page = synth.write_episode_file(script, truth, f"{base}/demo.mp3", tmp_path / "episodes" / "demo.md")
        proc = subprocess.run([sys.executable, "-c", launch, "transcribe", "--transcripts-dir", "out"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "**Armin Ronacher:** Thanks for having me, Jeremy." in page.read_text()
