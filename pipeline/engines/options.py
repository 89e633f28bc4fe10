"""How a Whisper model is loaded and how it decodes: the transcription stage's settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    engine: str = "faster-whisper"
    model: str = "tiny.en"  # the bundled model; any faster-whisper name or a local path
    device: str = "auto"
    compute_type: str = "auto"
    threads: int = 0  # 0: one per core
    concurrency: int = 1  # episodes transcribed at once, each on its own engine process (--workers)
    beam_size: int = 5
    # faster-whisper's batched pipeline decodes VAD-cut chunks with the vocabulary prompt before
    # every chunk; sequential decoding (0) loses it after the first 30 s. On a 10-minute
    # episode: WER 6.1% batched against 11.7-14.5% sequential, and no slower on 2 cores.
    batch_size: int = 4  # on 2 cores, 4 was a little faster than 8 or 16 (medians of 3)
    vad: bool = True
    # "auto": English for a .en model, detected per episode by a multilingual one.
    language: str = "auto"
    hotwords: str | None = None  # faster-whisper: words to favour, before every window
    # Speech (VAD) left without words is decoded again until covered or shown silent (recover.py).
    recover_gaps: bool = True
    # Whisper's fallback and hallucination thresholds (its own defaults).
    compression_ratio_threshold: float = 2.4
    log_prob_threshold: float = -1.0
    no_speech_threshold: float = 0.6
    # Off: each window sees the vocabulary prompt instead of the previous text, which keeps the
    # names in force for the whole episode and stops a hallucination from feeding the next one.
    condition_on_previous_text: bool = False
    # A real engine runs in a child process that is stopped after this many seconds plus this
    # many times the audio length (pipeline/watchdog.py): one stuck episode fails alone.
    engine_budget_min: float = 300.0
    engine_budget_factor: float = 3.0

    def __post_init__(self) -> None:
        if self.beam_size < 1 or self.batch_size < 0 or self.threads < 0:
            raise ValueError("beam_size must be at least 1, batch_size and threads not negative")
