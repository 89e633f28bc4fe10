"""Offset warnings calibrated on real inference: every `make eval` episode and the long one looped
from the interviews, transcribed by the bundled model as a run does (show-notes prompt, names
corrected), with show notes right (no warning allowed) or shifted by 30 s either way (the right
offset found where the evidence allows, a wrong one never applied).

Where the evidence does not allow it, no offset is applied and the test says so: eval-quick is
23 s long with one chapter title that is spoken anywhere ("Tokio" throughout); at -30 s the
analytics interview keeps two chapters inside the audio (the first two times fall below 0:00),
each with one title word heard, which a chance alignment can match.
"""

from __future__ import annotations

import pytest

from pipeline import audio, episodes, run
from pipeline.align import align
from pipeline.config import Settings
from pipeline.lab import evaluate, synth

pytestmark = [pytest.mark.model, pytest.mark.lab]

CANNOT = {("eval-quick", 30.0), ("eval-quick", -30.0), ("eval-interview-analytics", -30.0)}


@pytest.fixture(scope="module")
def transcribed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("calibration")
    eps = evaluate.build_set(evaluate.EVAL_SCRIPTS, tmp / "set") + [evaluate.long_episode(10, tmp / "set")]
    settings = Settings(transcripts_dir=tmp / "transcripts")
    out = []
    for ep in eps:
        page = episodes.load(page_for(ep, 0.0, tmp))
        prepared = audio.prepare(ep.audio, settings.workspace.cache_dir)
        out.append((ep, run.transcribe_episode(page, prepared, settings)))
    return out, tmp


def page_for(ep, shift, tmp):
    return synth.write_episode_file(ep.script, ep.truth, "https://example.com/a.mp3",
                                    tmp / f"{ep.script.slug}-{shift:g}" / "index.md", shift=shift)


def aligned(ep, t, shift, tmp):
    return align(t, episodes.load(page_for(ep, shift, tmp)).chapters)


def test_no_offset_warning_when_the_show_notes_are_right(transcribed):
    eps, tmp = transcribed
    for ep, t in eps:
        a = aligned(ep, t, 0.0, tmp)
        assert a.offset == 0.0 and not any("offset" in w for w in a.warnings), (ep.script.slug, a.warnings)


@pytest.mark.parametrize("shift", [30.0, -30.0])
def test_the_right_offset_is_found_at_30_s_and_a_wrong_one_never_applied(transcribed, shift):
    eps, tmp = transcribed
    found = []
    for ep, t in eps:
        a = aligned(ep, t, shift, tmp)
        slug = ep.script.slug
        assert a.offset == 0.0 or abs(a.offset + shift) <= 1.0, (slug, a.warnings)
        if (slug, shift) in CANNOT:
            continue
        assert abs(a.offset + shift) <= 1.0, (slug, a.warnings)
        assert any("applied" in w and "not applied" not in w for w in a.warnings), (slug, a.warnings)
        found.append(slug)
    assert len(found) == len(eps) - sum(1 for _, s in CANNOT if s == shift)
