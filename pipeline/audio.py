"""Decode any episode audio once into the 16 kHz mono 16-bit wav that Whisper wants.

pydub drives ffmpeg, so mp3, m4a, wav, flac and ogg all work. The result is cached by the
source's sha256, so a rerun (or the second engine, or diarization) reuses it.
"""

from __future__ import annotations

import hashlib
import logging
import wave
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
    if not target.exists():
        if sha256 is not None and sha256_of(path) != sha256:
            # the file changed since its hash was taken: decoding it would poison the cache entry
            raise AudioError(f"{path}: changed on disk since it was downloaded (sha256 differs); run again")
        _decode(path, target)
    sha256 = sha256 or target.stem
    samples = read_wav(target)
    duration = samples.size / RATE
    if duration < 0.1:
        raise AudioError(f"{path}: no audio in it (decoded to {duration:.2f} s)")
    level = loudest_frame_dbfs(samples)
    if level < SILENCE_DBFS:
        raise AudioError(f"{path}: silent, no speech (loudest {level:.0f} dBFS over {duration:.1f} s)")
    return Prepared(target, duration, sha256, path)


def _decode(path: Path, target: Path) -> None:
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

    try:
        sound = AudioSegment.from_file(str(path))
    except (CouldntDecodeError, IndexError, OSError) as exc:
        # pydub puts ffmpeg's whole stderr in the message; its last line says what went wrong.
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise AudioError(f"{path}: cannot decode ({reason[-200:]})") from exc
    sound = sound.set_channels(1).set_frame_rate(RATE).set_sample_width(2)
    partial = target.with_suffix(".partial.wav")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        sound.export(str(partial), format="wav").close()
        partial.replace(target)  # atomic: a crash never leaves a half-written cache entry
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise storage_error(partial, exc) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    log.info("decoded %s -> %s (%.1f s)", path, target, len(sound) / 1000)
