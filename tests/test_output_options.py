"""`--output-format` picks the sidecars; `--max-line-width` / `--max-line-count` shape captions."""

from __future__ import annotations

import html
import re

import pytest

from align_fakes import golden_episode
from pipeline import config, formats
from pipeline.align import align
from pipeline.errors import ConfigError


def test_only_the_chosen_sidecars_are_written(tmp_path):
    t, chapters = golden_episode()
    paths = formats.write_sidecars(align(t, chapters), chapters, tmp_path,
                                   options=formats.Options(output_format=("srt", "chapters-json")))
    assert [p.name for p in paths] == ["transcript.srt", "chapters.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chapters.json", "transcript.srt"]


def test_caption_lines_follow_width_and_count(tmp_path):
    t, chapters = golden_episode()
    a = align(t, chapters)
    default = formats.WRITERS["vtt"].render(a, chapters)
    narrow = formats.WRITERS["vtt"].render(a, chapters, options=formats.Options(max_line_width=20, max_line_count=1))
    cue_lines = [b.strip().split("\n")[1:] for b in narrow.split("\n\n")[1:]]
    assert all(len(lines) == 1 for lines in cue_lines)
    shown = [html.unescape(re.sub(r"^<v [^>]*>", "", line)) for [line] in cue_lines]
    assert all(len(text) <= 20 or " " not in text for text in shown), shown
    assert len(cue_lines) > default.count(" --> ")


def test_flags_reach_the_formats_stage_and_bad_values_are_refused():
    s = config.load({"output_format": ("vtt",), "max_line_width": 42, "max_line_count": 3, "language": "de",
                     "hotwords": "Actix", "initial_prompt": "Rust.", "threads": 2, "vad": False})
    assert s.formats == formats.Options(("vtt",), 42, 3)
    assert (s.transcribe.language, s.transcribe.hotwords, s.vocabulary.initial_prompt, s.transcribe.threads,
            s.transcribe.vad) == ("de", "Actix", "Rust.", 2, False)
    with pytest.raises(ConfigError, match="output_format docx unknown"):
        config.load({"output_format": ["docx"]})
    with pytest.raises(ConfigError, match="vocabulary_prompt must be"):
        config.load({"vocabulary_prompt": "names"})


def test_publish_takes_the_same_sidecar_flags_as_transcribe(tmp_path):
    from test_publish import SLUG, cli, site

    site(tmp_path)
    out = tmp_path / "transcripts" / SLUG
    for f in out.iterdir():
        if f.name.startswith("transcript.") or f.name == "chapters.json":
            f.unlink()
    proc = cli("publish", "--output-format", "vtt", "--max-line-width", "20", "--max-line-count", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(f.name for f in out.iterdir() if f.suffix in (".vtt", ".srt", ".json")) == ["transcript.vtt"]
    cues = [b.strip().split("\n")[1:] for b in (out / "transcript.vtt").read_text().split("\n\n")[1:]]
    assert cues and all(len(lines) == 1 for lines in cues)
    shown = [html.unescape(re.sub(r"^<v [^>]*>", "", line)) for [line] in cues]
    assert all(len(text) <= 20 or " " not in text for text in shown), shown
