"""Audio preparation: real ffmpeg decoding of real clips, and clear errors for bad audio."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from pipeline import audio
from pipeline.errors import AudioError

FORMATS = ("mp3", "m4a", "wav", "flac", "ogg")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, shared_audio: Path) -> dict[str, Path]:
    """The first 4 s of jfk.flac (44.1 kHz stereo) in each format."""
    out = tmp_path_factory.mktemp("formats")
    files = {}
    for ext in FORMATS:
        files[ext] = out / f"jfk.{ext}"
        ffmpeg("-i", str(shared_audio / "jfk.flac"), "-t", "4", str(files[ext]))
    return files


@pytest.mark.parametrize("ext", FORMATS)
def test_decodes_every_format_to_16k_mono_16bit(encoded, ext, tmp_path):
    prepared = audio.prepare(encoded[ext], tmp_path)
    with wave.open(str(prepared.path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert w.getnframes() / 16000 == pytest.approx(prepared.duration)
    assert prepared.duration == pytest.approx(4.0, abs=0.1)
    assert prepared.sha256 == audio.sha256_of(encoded[ext])
    # speech survives the trip: the clip is loud, not zeroed by a bad conversion
    assert audio.loudest_frame_dbfs(audio.read_wav(prepared.path)) > -30


def test_resamples_22k_to_16k(shared_audio, tmp_path):
    prepared = audio.prepare(shared_audio / "ljspeech_LJ050-0131.wav", tmp_path)
    assert prepared.duration == pytest.approx(7.658, abs=0.01)


def test_decodes_once_per_source(shared_audio, tmp_path):
    first = audio.prepare(shared_audio / "jfk.flac", tmp_path)
    stamp = first.path.stat().st_mtime_ns
    second = audio.prepare(shared_audio / "jfk.flac", tmp_path)
    assert second == first
    assert second.path.stat().st_mtime_ns == stamp  # the cached wav, not a new decode
    assert first.sha256 == "63a4b1e4c1dc655ac70961ffbf518acd249df237e5a0152faae9a4a836949715"


def test_corrupt_mp3_is_an_audio_error_naming_the_file(tmp_path):
    bad = tmp_path / "episode.mp3"
    bad.write_bytes(b"ID3" + np.random.default_rng(1).bytes(4000))
    with pytest.raises(AudioError, match=r"episode\.mp3: cannot decode"):
        audio.prepare(bad, tmp_path / "cache")


def test_empty_file_is_an_audio_error(tmp_path):
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.mp3: empty file"):
        audio.prepare(empty, tmp_path / "cache")


def test_missing_file_is_an_audio_error(tmp_path):
    with pytest.raises(AudioError, match=r"nope\.mp3: no such file"):
        audio.prepare(tmp_path / "nope.mp3", tmp_path / "cache")


@pytest.mark.parametrize("noise", [0.0, 0.0005])
def test_silent_file_is_an_audio_error(tmp_path, noise):
    """Digital silence and a faint hiss (-66 dBFS) both hold no speech."""
    samples = np.random.default_rng(0).normal(0, noise, 16000 * 5) if noise else np.zeros(16000 * 5)
    path = tmp_path / "silent.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes((samples * 32767).astype(np.int16).tobytes())
    with pytest.raises(AudioError, match=r"silent\.wav: silent, no speech"):
        audio.prepare(path, tmp_path / "cache")


def test_zero_length_audio_stream_is_an_audio_error(tmp_path):
    path = tmp_path / "nothing.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
    with pytest.raises(AudioError, match=r"nothing\.wav"):
        audio.prepare(path, tmp_path / "cache")
