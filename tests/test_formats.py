"""Sidecar files: WebVTT, SRT, Podcasting 2.0 JSON transcript and chapters, written atomically."""

from __future__ import annotations

import dataclasses
import html
import json
import random
import re

from align_fakes import check_golden, golden_episode, random_chapters, random_transcript
from pipeline.align import Options, align
from pipeline.formats import WRITERS, cues, write_sidecars
from pipeline.models import Chapter

CLOCK = re.compile(r"^(\d\d):(\d\d):(\d\d)[.,](\d\d\d) --> (\d\d):(\d\d):(\d\d)[.,](\d\d\d)$")


def seconds(h, m, s, ms) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def test_golden_sidecars(tmp_path):
    t, chapters = golden_episode()
    a = align(t, chapters)
    paths = write_sidecars(a, chapters, tmp_path, title="Elizabeth Figura on Wine")
    assert [p.name for p in paths] == ["transcript.vtt", "transcript.srt", "transcript.json", "chapters.json"]
    for p in paths:
        check_golden(p.name, p.read_text(encoding="utf-8"))


def test_golden_vtt_without_speakers():
    t, chapters = golden_episode(speakers=False)
    check_golden("transcript-nospeakers.vtt", WRITERS["vtt"].render(align(t, chapters), chapters))


def test_vtt_cues_hold_two_lines_of_65_characters_in_order_and_inside_the_audio():
    for seed in range(40):
        rng = random.Random(seed)
        t = random_transcript(rng, ["Jeremy Jung", "Armin Ronacher"] if seed % 2 else [None])
        vtt = WRITERS["vtt"].render(align(t, []), [])
        assert vtt.startswith("WEBVTT\n\n")
        previous_start = 0.0
        spoken = []
        for block in vtt.split("\n\n")[1:]:
            head, *lines = block.strip("\n").split("\n")
            m = CLOCK.match(head)
            assert m, (seed, head)
            start, end = seconds(*m.groups()[:4]), seconds(*m.groups()[4:])
            assert previous_start <= start < end <= t.duration + 0.001, (seed, head)
            previous_start = start
            assert 1 <= len(lines) <= 2, (seed, block)
            if seed % 2:
                assert re.match(r"^<v (Jeremy Jung|Armin Ronacher)>", lines[0]), (seed, block)
                lines[0] = re.sub(r"^<v [^>]+>", "", lines[0])
            # Displayed characters count: `&lt;` shows as one.
            assert all(len(html.unescape(line)) <= 65 for line in lines if " " in line), (seed, block)
            spoken += " ".join(lines).split()
        expected = [w.text.strip().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                    for w in t.words if w.text.strip()]
        assert spoken == expected, seed  # every word, once, in order


def test_srt_cards_are_numbered_short_and_name_the_speaker_when_it_changes():
    t, chapters = golden_episode()
    srt = WRITERS["srt"].render(align(t, chapters), chapters)
    blocks = srt.strip("\n").split("\n\n")
    names = []
    for n, block in enumerate(blocks, 1):
        number, head, *lines = block.split("\n")
        assert number == str(n) and CLOCK.match(head) and 1 <= len(lines) <= 2
        assert all(len(line) <= 32 for line in lines), block
        m = re.match(r"^(Jeremy Jung|Elizabeth Figura|Speaker 3): ", lines[0])
        if m:
            names.append(m.group(1))
    assert names == ["Jeremy Jung", "Elizabeth Figura", "Jeremy Jung", "Elizabeth Figura", "Speaker 3",
                     "Jeremy Jung", "Elizabeth Figura", "Jeremy Jung"]


def test_podcast_json_follows_the_namespace_shape():
    t, chapters = golden_episode()
    doc = json.loads(WRITERS["podcast-json"].render(align(t, chapters), chapters))
    assert doc["version"] == "1.0.0"
    times = []
    for seg in doc["segments"]:
        assert set(seg) == {"speaker", "startTime", "endTime", "body"}
        assert isinstance(seg["startTime"], float) and seg["startTime"] < seg["endTime"]
        times.append(seg["startTime"])
    assert times == sorted(times)
    assert " ".join(s["body"] for s in doc["segments"]).split() == [w.text.strip() for w in t.words]
    t2, chapters2 = golden_episode(speakers=False)
    doc2 = json.loads(WRITERS["podcast-json"].render(align(t2, chapters2), chapters2))
    assert all("speaker" not in s for s in doc2["segments"])  # optional: left out, not null


def test_chapters_json_uses_offset_times_and_leaves_out_what_is_past_the_end():
    t, chapters = golden_episode()
    shifted = [Chapter(c.start + 39, c.title, c.line) for c in chapters] + [Chapter(999.0, "Bonus", 20)]
    # The writer's part only: whether 39 s is detected on this minute of talk (one title word is
    # said before its chapter starts) is tests/test_align.py's and test_offset_calibration.py's.
    a = dataclasses.replace(align(t, chapters, Options()), offset=-39.0)
    doc = json.loads(WRITERS["chapters-json"].render(a, shifted, "Title"))
    assert doc["version"] == "1.2.0" and doc["title"] == "Title"
    assert [c["title"] for c in doc["chapters"]] == [c.title for c in chapters]
    assert [c["startTime"] for c in doc["chapters"]] == [round(c.start + 39 + a.offset, 3) for c in chapters]


def test_sidecars_replace_old_files_atomically_and_leave_no_temporary_files(tmp_path):
    rng = random.Random(7)
    t = random_transcript(rng, ["A B", "C D"])
    chapters = random_chapters(rng, t.duration)
    (tmp_path / "transcript.vtt").write_text("old", encoding="utf-8")
    before = (tmp_path / "transcript.vtt").stat().st_ino
    paths = write_sidecars(align(t, chapters), chapters, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    assert (tmp_path / "transcript.vtt").read_text(encoding="utf-8").startswith("WEBVTT")
    assert (tmp_path / "transcript.vtt").stat().st_ino != before  # a new file moved into place


def test_cues_end_at_silences_and_never_overlap():
    t, chapters = golden_episode()
    cs = cues(align(t, chapters), 65)
    for a, b in zip(cs, cs[1:]):
        assert a.end <= b.start + 0.001
    words = t.words
    gaps = [(w.end, n.start) for w, n in zip(words, words[1:]) if n.start - w.end > 1.0]
    for lo, hi in gaps:
        assert not any(c.start < lo and c.end > hi for c in cs)


def test_transcripts_saved_before_typed_decoding_still_load() -> None:
    from pipeline.models import Decoding, Diarization, transcript_from_dict, transcript_to_dict

    old = {"segments": [], "language": "en", "duration": 1.0, "engine": "faster-whisper", "model": "tiny.en",
           "audio_sha256": "ab", "options": {
               "engine": "faster-whisper", "model": "tiny.en", "device": "cpu", "compute_type": "int8",
               "threads": 0, "beam_size": 5, "batch_size": 4, "vad": True, "language": "en", "vocabulary": True,
               "glossary": None, "condition_on_previous_text": False, "prompt": "Armin.",
               "diarization": {"engine": "resemblyzer", "speakers": 2, "names": "episode"}}}
    t = transcript_from_dict(old)
    assert t.decoding == Decoding("cpu", "int8", "Armin.", 5, 4, True, "en", False)
    assert t.diarization == Diarization("resemblyzer", 2, "episode")
    assert transcript_from_dict(transcript_to_dict(t)) == t
