"""openai-whisper, the reference implementation (PyTorch), fp32 on CPU.

It runs offline on the bundled CTranslate2 weights, converted once (ct2_to_whisper). VAD comes
from the same silero model faster-whisper uses: speech regions become `clip_timestamps`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TranscribeError
from ..models import Segment, Transcript, Word
from .base import Engine, Progress, clean_segments, cpu_threads, ct2_alignment_heads, decode_language, speech_clips
from .options import Options

log = logging.getLogger(__name__)

FRAMES_PER_SECOND = 100  # openai-whisper's progress counts mel frames (10 ms)


class OpenAIWhisperEngine(Engine):
    name = "openai-whisper"
    isolated = True

    def __init__(self, options: Options, cache_dir: Path | None = None) -> None:
        super().__init__(options, cache_dir)
        import torch
        import whisper

        device = options.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.compute_type = "float16" if device == "cuda" else "float32"
        if device == "cpu":
            torch.set_num_threads(cpu_threads(options))
        try:
            self.model = self._load(whisper, torch, device)
        except TranscribeError:
            raise
        except Exception as exc:  # noqa: BLE001 - download, file and torch errors mean the same here
            raise TranscribeError(f"model {options.model!r} for openai-whisper: {exc}") from exc
        self.language = decode_language(options, self.model.is_multilingual)

    def decode_window(self, samples: np.ndarray, prompt: str | None, beam_size: int,
                      temperature: float | tuple[float, ...]) -> list[Word]:
        import whisper

        o = self.options
        result = whisper.transcribe(
            self.model, samples, verbose=None, language=self.language, beam_size=beam_size,
            best_of=5, temperature=temperature, fp16=self.compute_type == "float16", word_timestamps=True,
            initial_prompt=prompt or None, condition_on_previous_text=False,
            compression_ratio_threshold=o.compression_ratio_threshold, logprob_threshold=o.log_prob_threshold,
            no_speech_threshold=o.no_speech_threshold)
        return [Word(float(w["start"]), float(w["end"]), w["word"], round(float(w["probability"]), 4))
                for s in result["segments"] for w in s.get("words", ())]

    def _load(self, whisper: Any, torch: Any, device: str) -> Any:
        ref = self.model_ref
        source = Path(ref.source)
        if source.is_dir() and (source / "model.bin").is_file():
            from .ct2_to_whisper import cached_checkpoint

            model = whisper.load_model(str(cached_checkpoint(source, self.cache_dir)), device=device)
            if ref.name in whisper._ALIGNMENT_HEADS:
                # the heads openai-whisper itself uses for this model: word times match the reference
                model.set_alignment_heads(whisper._ALIGNMENT_HEADS[ref.name])
            elif heads := ct2_alignment_heads(source):
                mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
                for layer, head in heads:
                    mask[layer, head] = True
                model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
            return model
        return whisper.load_model(ref.source, device=device)  # a .pt file or an openai model name

    def transcribe(
        self, wav_path: Path, duration: float, prompt: str | None, progress: Progress | None = None
    ) -> Transcript:
        return self.by_windows(wav_path, duration, prompt, progress)

    def transcribe_window(
        self, samples: np.ndarray, duration: float, prompt: str | None, progress: Progress | None = None,
        wav_path: Path | str = "audio",
    ) -> Transcript:
        import whisper

        o = self.options
        clips: list[float] | str = "0"
        if o.vad:
            clips = clip_timestamps(speech_clips(samples), samples.size / 16000)
            if not clips:
                return Transcript((), self.language or "en", duration, self.name, self.model_label)
        try:
            # verbose=False (for the progress bar we relay) also prints "Detected language" to
            # stdout on every window; a run's own output says which language was used.
            with _progress_from_tqdm(whisper, progress), contextlib.redirect_stdout(io.StringIO()):
                result = whisper.transcribe(
                    self.model, samples,
                    verbose=False if progress else None,
                    language=self.language,
                    beam_size=o.beam_size,
                    best_of=5,  # faster-whisper's default, for the temperature fallback
                    fp16=self.compute_type == "float16",
                    word_timestamps=True,
                    compression_ratio_threshold=o.compression_ratio_threshold,
                    logprob_threshold=o.log_prob_threshold,
                    no_speech_threshold=o.no_speech_threshold,
                    condition_on_previous_text=o.condition_on_previous_text,
                    initial_prompt=prompt or None,
                    carry_initial_prompt=bool(prompt),  # the vocabulary before every window
                    clip_timestamps=clips,
                )
        except Exception as exc:  # noqa: BLE001
            raise TranscribeError(f"{wav_path}: openai-whisper failed: {exc}") from exc
        raw = [
            Segment(float(s["start"]), float(s["end"]), s["text"], round(float(s["avg_logprob"]), 4),
                    round(float(s["no_speech_prob"]), 4),
                    tuple(Word(float(w["start"]), float(w["end"]), w["word"], round(float(w["probability"]), 4))
                          for w in s.get("words", ())))
            for s in result["segments"]
        ]
        ratios = [float(s["compression_ratio"]) for s in result["segments"]]
        if progress:
            progress(duration)
        return self.with_gaps_filled(samples, Transcript(
            segments=clean_segments(raw, duration, ratios, o.compression_ratio_threshold),
            language=result.get("language") or self.language or "en", duration=duration, engine=self.name,
            model=self.model_label,
        ))


def clip_timestamps(spans: list[tuple[float, float]], audio_seconds: float) -> list[float]:
    """VAD spans as `clip_timestamps`, every clip inside the audio and at least one frame long.

    A clip end rounded past the last mel frame gives openai-whisper a zero-length segment, on
    which it loops forever (upstream pull request 2005): ends are clamped to the last whole
    frame, and clips that come to nothing are dropped.
    """
    last = math.floor(audio_seconds * FRAMES_PER_SECOND) / FRAMES_PER_SECOND
    out: list[float] = []
    for start, end in spans:
        start, end = max(0.0, start, out[-1] if out else 0.0), min(end, last)
        if round(start * FRAMES_PER_SECOND) < round(end * FRAMES_PER_SECOND):
            out += [start, end]
    return out


@contextlib.contextmanager
def _progress_from_tqdm(whisper: Any, progress: Progress | None) -> Iterator[None]:
    """openai-whisper reports progress only to a tqdm bar; lend it one that calls `progress`."""
    if progress is None:
        yield
        return
    # Swap the name in whisper.transcribe's own namespace only, not the shared tqdm module.
    namespace = whisper.transcribe.__globals__
    real = namespace["tqdm"]

    report = progress

    class Relay:
        def __init__(self, *args: object, **kwargs: object) -> None:
            self.frames = 0

        def __enter__(self) -> Relay:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def update(self, n: int) -> None:
            self.frames += n
            report(self.frames / FRAMES_PER_SECOND)

    namespace["tqdm"] = types.SimpleNamespace(tqdm=Relay)
    try:
        yield
    finally:
        namespace["tqdm"] = real
