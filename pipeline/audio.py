"""Decode any episode audio once into the 16 kHz mono 16-bit wav that Whisper wants.

ffmpeg decodes, downmixes and resamples (mp3, m4a, wav, flac, ogg...) into a pipe that is
written straight to the wav in blocks, so decoding holds a few blocks of audio in memory however
long the episode is; stages read the wav back a window at a time (`read_window`). The result is
cached by the source's sha256, so a rerun (or the second engine, or diarization) reuses it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import threading
import tempfile
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import AudioError
from .files import storage_error

log = logging.getLogger(__name__)

RATE = 16000
# A frame louder than this is more than faint hiss: -50 dBFS. Speech peaks near -20 dBFS even on
# quiet recordings, so a file whose loudest 30 ms stays below this cannot hold audible speech.
SILENCE_DBFS = -50.0
FRAME_S = 0.03
BLOCK_SAMPLES = 1 << 19  # 32 s: what decoding holds at a time


@dataclass(frozen=True)
class Prepared:
    path: Path  # 16 kHz mono 16-bit PCM wav
    duration: float  # seconds
    sha256: str  # of the source file, as given
    source: Path  # the file it was decoded from


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_wav(path: Path) -> np.ndarray:
    """The samples of a prepared wav as float32 in [-1, 1]."""
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0


def loudest_frame_dbfs(samples: np.ndarray, rate: int = RATE) -> float:
    """RMS level of the loudest 30 ms frame, in dBFS (-inf for digital silence)."""
    step = int(rate * FRAME_S)
    usable = samples[: samples.size // step * step]
    if usable.size == 0:
        usable = samples
    if usable.size == 0:
        return float("-inf")
    frames = usable.reshape(-1, min(step, usable.size))
    rms = float(np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)).max())
    return 20 * np.log10(rms) if rms > 0 else float("-inf")


def duration_of(path: Path) -> float:
    """Seconds in a prepared wav, from its header."""
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def read_window(path: Path, start: int, stop: int) -> np.ndarray:
    """Samples [start, stop) of a prepared wav as float32 in [-1, 1]; only those are read."""
    with wave.open(str(path)) as w:
        start = min(max(start, 0), w.getnframes())
        w.setpos(start)
        raw = w.readframes(max(0, min(stop, w.getnframes()) - start))
    return np.frombuffer(raw, np.int16).astype(np.float32) / 32768.0


def blocks(path: Path, samples: int = BLOCK_SAMPLES) -> Iterator[np.ndarray]:
    """A prepared wav as consecutive int16 blocks."""
    with wave.open(str(path)) as w:
        while raw := w.readframes(samples):
            yield np.frombuffer(raw, np.int16)


class Loudness:
    """`loudest_frame_dbfs` over audio that arrives in blocks, holding one frame at most."""

    def __init__(self, rate: int = RATE) -> None:
        self.step = int(rate * FRAME_S)
        self.rest = np.zeros(0, np.int16)
        self.loudest = -1.0  # mean square of the loudest whole frame so far

    def add(self, block: np.ndarray) -> None:
        data = np.concatenate([self.rest, block]) if self.rest.size else block
        whole = data.size // self.step * self.step
        if whole:
            frames = (data[:whole].astype(np.float64) / 32768.0).reshape(-1, self.step)
            self.loudest = max(self.loudest, float((frames ** 2).mean(axis=1).max()))
        self.rest = data[whole:].copy()

    def dbfs(self) -> float:
        power = self.loudest
        if power < 0:  # shorter than one frame: the whole of it
            rest = self.rest.astype(np.float64) / 32768.0
            power = float((rest ** 2).mean()) if rest.size else 0.0
        return 10 * np.log10(power) if power > 0 else float("-inf")


def prepare(path: Path | str, cache_dir: Path | str, sha256: str | None = None) -> Prepared:
    """Decode, downmix and resample `path` (once); raise AudioError when it cannot hold speech.

    `sha256` may be passed when the caller already knows it (the downloader does).
    """
    path, cache_dir = Path(path), Path(cache_dir)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    target = cache_dir / "wav" / f"{sha256 or sha256_of(path)}.wav"
    if target.exists():
        level = Loudness()
        for block in blocks(target):
            level.add(block)
    else:
        if sha256 is not None and sha256_of(path) != sha256:
            # the file changed since its hash was taken: decoding it would poison the cache entry
            raise AudioError(f"{path}: changed on disk since it was downloaded (sha256 differs); run again")
        level = _decode(path, target)
    sha256 = sha256 or target.stem
    duration = duration_of(target)
    if duration < 0.1:
        raise AudioError(f"{path}: no audio in it (decoded to {duration:.2f} s)")
    if level.dbfs() < SILENCE_DBFS:
        raise AudioError(f"{path}: silent, no speech (loudest {level.dbfs():.0f} dBFS over {duration:.1f} s)")
    return Prepared(target, duration, sha256, path)


def _decode(path: Path, target: Path) -> Loudness:
    """ffmpeg -> pipe -> wav, a block at a time; the wav appears only once complete."""
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
               "-map", "0:a:0", "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-acodec", "pcm_s16le", "-"]
    target.parent.mkdir(parents=True, exist_ok=True)
    # Unique: two episodes with the same audio may be decoded at once (--workers, Ray).
    partial = target.with_name(f"{target.stem}.{os.getpid()}-{threading.get_ident()}.partial.wav")
    level = Loudness()
    try:
        with tempfile.TemporaryFile() as errors, wave.open(str(partial), "wb") as out:
            out.setnchannels(1), out.setsampwidth(2), out.setframerate(RATE)
            try:
                proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=errors)
            except FileNotFoundError:
                raise AudioError(f"{path}: cannot decode, ffmpeg is not installed "
                                 "(e.g. sudo apt-get install ffmpeg)") from None
            with proc:
                assert proc.stdout is not None
                while raw := proc.stdout.read(BLOCK_SAMPLES * 2):
                    raw = raw[: len(raw) // 2 * 2]  # a pipe read can end mid-sample; ffmpeg's never does
                    out.writeframesraw(raw)
                    level.add(np.frombuffer(raw, np.int16))
            if proc.returncode != 0:
                errors.seek(0)
                lines = errors.read().decode(errors="replace").strip().splitlines()
                reason = lines[-1] if lines else f"ffmpeg exit status {proc.returncode}"
                raise AudioError(f"{path}: cannot decode ({reason[-200:]})")
        partial.replace(target)  # atomic: a crash never leaves a half-written cache entry; the
        # same samples from a decode that finished first are simply replaced
    except OSError as exc:
        raise storage_error(partial, exc) from exc
    finally:
        partial.unlink(missing_ok=True)
    log.info("decoded %s -> %s (%.1f s)", path, target, duration_of(target))
    return level
