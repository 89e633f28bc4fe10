"""Dropped stretches: speech (VAD) with no words under it is decoded again, with real inference."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from pipeline import audio, engines, recover, transcribe
from pipeline.engines.base import speech_clips
from pipeline.models import Word


def words_at(*spans: tuple[float, float]) -> list[Word]:
    return [Word(a, b, " w", 0.9) for a, b in spans]


def test_uncovered_finds_speech_without_words_and_long_holes_between_words():
    speech = [(0.0, 10.0), (12.0, 13.0), (20.0, 30.0)]
    words = words_at((0.1, 0.5), (0.5, 1.0), (5.0, 5.5), (9.0, 9.9), (20.5, 21.0), (28.0, 29.9))
    # 1.3-4.7 inside speech, 5.8-8.7; 12-13 has no word but is under MIN_GAP; 21.3-27.7
    assert recover.uncovered(words, speech) == [(1.3, 4.7), (5.8, 8.7), (21.3, 27.7)]
    assert recover.uncovered(words, []) == []


@pytest.fixture(scope="module")
def jfk(shared_audio, tmp_path_factory):
    cache = tmp_path_factory.mktemp("recover")
    options = engines.Options(batch_size=0, recover_gaps=False)
    t = transcribe.transcribe(shared_audio / "jfk.flac", options, cache)
    samples = audio.read_wav(audio.prepare(shared_audio / "jfk.flac", cache).path)
    # in this process, not behind the watchdog: the test calls decode_window itself
    return engines.ENGINES["faster-whisper"](options), samples, t


def norm(words) -> str:
    return " ".join(re.sub(r"[^\w']", "", w.text.lower()) for w in words)


@pytest.mark.model
@pytest.mark.shared
def test_a_dropped_stretch_is_decoded_again_and_put_back_in_order(jfk):
    engine, samples, full = jfk
    # Take away the words of the middle of the speech, as a skipped window would.
    holed = dataclasses.replace(full, segments=tuple(
        dataclasses.replace(s, words=tuple(w for w in s.words if not 3.5 <= w.start < 7.5))
        for s in full.segments))
    missing = [w for w in full.words if 3.5 <= w.start < 7.5]
    assert len(missing) >= 5
    fixed, stretches = recover.fill_gaps(engine, samples, holed, 5, speech_clips(samples))
    assert len(stretches) == 1 and stretches[0].words >= len(missing) - 1, stretches
    assert stretches[0].attempt == "no prompt"
    assert norm(missing) in norm(fixed.words) or len(set(norm(missing).split()) - set(norm(fixed.words).split())) <= 1
    starts = [w.start for w in fixed.words]
    assert starts == sorted(starts)
    assert re.match(r"0:0\d-0:\d\d: \d+ words \(no prompt\)$", stretches[0].describe())


@pytest.mark.model
@pytest.mark.shared
def test_a_complete_transcript_has_nothing_to_recover(jfk):
    engine, samples, full = jfk
    fixed, stretches = recover.fill_gaps(engine, samples, full, 5, speech_clips(samples))
    assert stretches == [] and fixed == full


@pytest.mark.model
@pytest.mark.shared
def test_noise_decoded_again_is_shown_silent(jfk):
    engine, _, _ = jfk
    noise = np.random.default_rng(0).normal(0, 0.002, 16000 * 6).astype(np.float32)
    words, how = recover._decode_again(engine, noise, 0.5, 5.5, 5, 6.0)
    assert (words, how) == ([], "silent")


@pytest.mark.model
@pytest.mark.shared
def test_a_transcription_through_the_watchdog_reports_what_it_recovered(shared_audio, tmp_path):
    # jfk.flac has pauses inside speech; whatever the engine's child process did is in the result
    t = transcribe.transcribe(shared_audio / "jfk.flac", engines.Options(), tmp_path)
    assert isinstance(t.options["recovered"], list)
    for s in t.options["recovered"]:
        assert set(s) == {"start", "end", "words", "attempt"} and s["start"] < s["end"]
