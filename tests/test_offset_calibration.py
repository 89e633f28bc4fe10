"""Offset warnings calibrated on real inference: the interview-style eval episodes and the long
one looped from them, transcribed by the bundled model, with show notes right (no warning
allowed) or shifted by 30 s either way (the right offset found on the long episode; on the
four-chapter ones an offset, when applied, must be the right one)."""

from __future__ import annotations

import pytest

from pipeline import engines, episodes, transcribe
from pipeline.lab import evaluate, synth
from pipeline.align import align

pytestmark = [pytest.mark.model, pytest.mark.lab]


@pytest.fixture(scope="module")
def transcribed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("calibration")
    eps = evaluate.build_set(evaluate.LONG_SOURCES, tmp / "set") + [evaluate.long_episode(10, tmp / "set")]
    return [(ep, transcribe.transcribe(ep.audio, engines.Options(), tmp / "cache")) for ep in eps], tmp


def aligned(ep, t, shift, tmp):
    page = synth.write_episode_file(ep.script, ep.truth, "https://example.com/a.mp3",
                                    tmp / f"{ep.script.slug}-{shift:g}" / "index.md", shift=shift)
    return align(t, episodes.load(page).chapters)


def test_no_offset_warning_when_the_show_notes_are_right(transcribed):
    eps, tmp = transcribed
    for ep, t in eps:
        a = aligned(ep, t, 0.0, tmp)
        assert a.offset == 0.0 and not any("offset" in w for w in a.warnings), (ep.script.slug, a.warnings)


@pytest.mark.parametrize("shift", [30.0, -30.0])
def test_the_right_offset_is_found_at_30_s_and_a_wrong_one_never_applied(transcribed, shift):
    eps, tmp = transcribed
    *short, (long_ep, long_t) = eps
    a = aligned(long_ep, long_t, shift, tmp)
    assert abs(a.offset + shift) <= 1.0, a.warnings
    assert any("applied" in w and "not applied" not in w for w in a.warnings), a.warnings
    if shift > 0:  # 30 s earlier would put the first chapters of a 3-minute episode before 0:00
        for ep, t in short:
            a = aligned(ep, t, shift, tmp)
            assert a.offset == 0.0 or abs(a.offset + shift) <= 1.0, (ep.script.slug, a.warnings)
