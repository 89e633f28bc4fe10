"""Memory flat in episode length: the decode streams through a pipe into the wav, and engines
transcribe it a window at a time, cut between words. Real ffmpeg, real tiny.en, real audio."""

from __future__ import annotations

import difflib
import re
import wave
from pathlib import Path

import numpy as np
import pytest

from pipeline import audio
from pipeline.engines import Options, base, get_engine
from pipeline.lab import synth

RATE = audio.RATE


def _write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(RATE)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


@pytest.mark.shared
def test_streamed_loudness_equals_the_whole_file_figure(shared_audio, tmp_path):
    prepared = audio.prepare(shared_audio / "jfk.flac", tmp_path)
    whole = audio.loudest_frame_dbfs(audio.read_wav(prepared.path))
    for block in (1000, 4801, 1 << 19):  # block edges inside frames, and the real size
        level = audio.Loudness()
        for chunk in audio.blocks(prepared.path, block):
            level.add(chunk)
        assert level.dbfs() == pytest.approx(whole, abs=1e-9)


@pytest.mark.shared
def test_read_window_is_that_slice_of_the_whole(shared_audio, tmp_path):
    prepared = audio.prepare(shared_audio / "jfk.flac", tmp_path)
    whole = audio.read_wav(prepared.path)
    assert np.array_equal(audio.read_window(prepared.path, 16000, 48000), whole[16000:48000])
    assert np.array_equal(audio.read_window(prepared.path, whole.size - 10, whole.size + 99), whole[-10:])
    assert audio.duration_of(prepared.path) == pytest.approx(whole.size / RATE)


def test_decode_of_a_long_file_streams_to_the_same_samples_as_a_short_one(tmp_path):
    """25 minutes of 44.1 kHz stereo through the pipe: exact length, every block in place."""
    import subprocess

    src = tmp_path / "long.flac"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=44100:duration=1500", "-ac", "2", str(src)], check=True)
    prepared = audio.prepare(src, tmp_path / "cache")
    assert prepared.duration == pytest.approx(1500, abs=0.05)
    # The same tone everywhere: the first and the last minute decode alike.
    first = audio.read_window(prepared.path, 0, 60 * RATE)
    last = audio.read_window(prepared.path, int((1500 - 61) * RATE), int((1500 - 1) * RATE))
    assert np.sqrt((first ** 2).mean()) == pytest.approx(np.sqrt((last ** 2).mean()), rel=1e-3)
    assert not list(prepared.path.parent.glob("*.partial.wav"))


def test_windows_cover_the_audio_and_cut_in_silence(tmp_path):
    """25 minutes of 6.5 s 'talk' bursts with 0.5 s pauses: every cut falls in a pause."""
    t = np.arange(7 * RATE) / RATE
    burst = np.where(t < 6.5, 0.3 * np.sin(2 * np.pi * 220 * t), 0.0)
    samples = np.tile(burst, 1500 // 7 + 1)[: 1500 * RATE]
    wav = _write_wav(tmp_path / "talk.wav", samples)
    spans = base.windows(wav)
    assert spans[0][0] == 0 and spans[-1][1] == samples.size
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert len(spans) == 3  # about 575 s, 575 s, and the 350 s left
    for lo, cut in spans[:-1]:
        assert (cut / RATE) % 7 > 6.5, cut / RATE  # inside a pause
        assert (base.WINDOW_S - base.CUT_SEARCH_S) * RATE <= cut - lo <= base.WINDOW_S * RATE
    assert spans[-1][1] - spans[-1][0] <= (base.WINDOW_S + base.SLACK_S) * RATE


def test_an_episode_up_to_the_window_is_one_window(tmp_path):
    wav = _write_wav(tmp_path / "short.wav", 0.3 * np.ones((int(base.WINDOW_S + base.SLACK_S) - 1) * RATE))
    assert base.windows(wav) == [(0, (int(base.WINDOW_S + base.SLACK_S) - 1) * RATE)]


def _words(transcript) -> list[str]:
    return [re.sub(r"[^\w']", "", w.text.lower()) for w in transcript.words if re.sub(r"[^\w']", "", w.text)]


@pytest.mark.model
def test_windowed_transcription_hears_what_the_whole_file_gives(tmp_path, monkeypatch):
    """faster-whisper only: openai-whisper takes minutes for this on a shared 2-core machine;
    its window loop is the same shape and `make bench` runs it."""
    engine = "faster-whisper"
    script = synth.load_script("demo")
    synth.synthesize(script, tmp_path / "demo.mp3")
    prepared = audio.prepare(tmp_path / "demo.mp3", tmp_path / "cache")
    model = get_engine(Options(engine=engine))
    whole = model.transcribe(prepared.path, prepared.duration, None)

    monkeypatch.setattr(base, "WINDOW_S", 10.0)
    monkeypatch.setattr(base, "SLACK_S", 2.0)
    monkeypatch.setattr(base, "CUT_SEARCH_S", 4.0)
    spans = base.windows(prepared.path)
    assert len(spans) >= 3
    windowed = model.transcribe(prepared.path, prepared.duration, None)

    words = windowed.words
    assert all(a.start <= b.start and a.end <= b.end for a, b in zip(words, words[1:]))
    assert 0 <= words[0].start and words[-1].end <= prepared.duration
    for _, cut in spans[:-1]:  # speech goes on after every cut, at the right time
        assert any(cut / RATE <= w.start < cut / RATE + 8 for w in words), cut / RATE
    same = difflib.SequenceMatcher(None, _words(whole), _words(windowed)).ratio()
    assert same > 0.85, (same, _words(whole), _words(windowed))
