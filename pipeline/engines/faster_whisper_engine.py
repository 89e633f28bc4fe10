"""faster-whisper (CTranslate2): the default engine, int8 on CPU, float16 on CUDA."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import TranscribeError
from ..models import Segment, Transcript, Word
from .base import Engine, Progress, clean_segments, cpu_threads, decode_language

log = logging.getLogger(__name__)


class FasterWhisperEngine(Engine):
    name = "faster-whisper"
    isolated = True

    def __init__(self, options, cache_dir: Path | None = None) -> None:
        super().__init__(options, cache_dir)
        import ctranslate2
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        device = options.device
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        compute_type = options.compute_type
        if compute_type == "auto":
            compute_type = "float16" if device == "cuda" else "int8"
        self.device, self.compute_type = device, compute_type
        try:
            self.model = WhisperModel(
                self.model_ref.source, device=device, compute_type=compute_type,
                cpu_threads=cpu_threads(options), download_root=None,
            )
        except Exception as exc:  # noqa: BLE001 - hub, file and CTranslate2 errors all mean the same here
            raise TranscribeError(f"model {options.model!r}: {exc}") from exc
        self.language = decode_language(options, self.model.model.is_multilingual)
        self.batched = BatchedInferencePipeline(self.model) if options.batch_size > 0 else None

    def decode_window(self, samples, prompt: str | None, beam_size: int,
                      temperature: float | tuple[float, ...]) -> list[Word]:
        o = self.options
        segments, _ = self.model.transcribe(
            samples, language=self.language, beam_size=beam_size, temperature=temperature,
            word_timestamps=True, vad_filter=False, initial_prompt=prompt or None,
            condition_on_previous_text=False, compression_ratio_threshold=o.compression_ratio_threshold,
            log_prob_threshold=o.log_prob_threshold, no_speech_threshold=o.no_speech_threshold,
        )
        return [Word(float(w.start), float(w.end), w.word, round(float(w.probability), 4))
                for s in segments for w in s.words or ()]

    def transcribe(
        self, wav_path: Path, duration: float, prompt: str | None, progress: Progress | None = None
    ) -> Transcript:
        return self.by_windows(wav_path, duration, prompt, progress)

    def transcribe_window(
        self, samples, duration: float, prompt: str | None, progress: Progress | None = None,
        wav_path: Path | str = "audio",
    ) -> Transcript:
        o = self.options
        kwargs = dict(
            language=self.language,
            beam_size=o.beam_size,
            hotwords=o.hotwords or None,
            word_timestamps=True,
            vad_filter=o.vad,
            compression_ratio_threshold=o.compression_ratio_threshold,
            log_prob_threshold=o.log_prob_threshold,
            no_speech_threshold=o.no_speech_threshold,
            condition_on_previous_text=o.condition_on_previous_text,
            # The batched pipeline puts initial_prompt before every chunk; sequential decoding
            # only before the first window. `hotwords` would reach every window there, but it
            # made tiny.en skip whole windows (1137 of 1250 words on a 10-minute episode).
            initial_prompt=prompt or None,
        )
        try:
            if self.batched is not None:
                kwargs.pop("condition_on_previous_text")  # the batched pipeline has no such option
                segments, info = self.batched.transcribe(samples, batch_size=o.batch_size, **kwargs)
            else:
                segments, info = self.model.transcribe(samples, **kwargs)
            raw, ratios = [], []
            for s in segments:  # a generator: decoding happens while we iterate
                words = tuple(Word(float(w.start), float(w.end), w.word, round(float(w.probability), 4))
                              for w in s.words or ())
                raw.append(Segment(float(s.start), float(s.end), s.text, round(float(s.avg_logprob), 4),
                                   round(float(s.no_speech_prob), 4), words))
                ratios.append(s.compression_ratio)
                if progress:
                    progress(min(s.end, duration))
        except Exception as exc:  # noqa: BLE001
            raise TranscribeError(f"{wav_path}: faster-whisper failed: {exc}") from exc
        if progress:
            progress(duration)
        return self.with_gaps_filled(samples, Transcript(
            segments=clean_segments(raw, duration, ratios, o.compression_ratio_threshold),
            language=info.language, duration=duration, engine=self.name, model=self.model_label,
        ))
