"""Hostile and careless input: one test (or more) per class of broken promise in issue 13.

Each class is tested through its variants, not only the example that found it: the pipeline's
promises are that human text is never touched, no byte outside the transcript changes, and
scheduled runs are safe.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO
from pipeline import config, episodes, formats, render, writeback
from pipeline.align import align
from pipeline.errors import ConfigError, EpisodeError, HumanTranscriptError
from pipeline.models import Chapter, Segment, Transcript, Word

PLACEHOLDER = "Transcript for this episode is coming soon."
PROV = {"engine": "faster-whisper", "model": "tiny.en", "audio_sha256": "ab" * 32, "offset": 0.0}
BODY = "## Intro\n\n[00:00:00] **Jeremy:** Hello and welcome.\n\n[00:00:05] **Xe:** Thanks, bye."
HEAD = '+++\ntitle = "Ep"\n[extra]\nepisode_url = "http://127.0.0.1:9/ep.mp3"\n+++\n\nNotes.\n\n'


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def page(tmp_path: Path, section: str, name: str = "ep.md", head: str = HEAD) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + "## Transcript\n\n" + section)
    return path


def written(tmp_path: Path, name: str = "ep.md") -> Path:
    """A page the pipeline has just transcribed."""
    path = page(tmp_path, PLACEHOLDER + "\n", name)
    writeback.write(episodes.load(path), BODY, PROV)
    assert episodes.load(path).state == "generated"
    return path


def provenance(path: Path) -> dict:
    text = path.read_text()
    return tomllib.loads(text.split("+++\n")[1])["extra"]["transcript"]


# --- 4. human edits are recognised by content, not by position ------------------------------

EDITS = {
    "line added before the body, inside the wrapper":
        lambda t: t.replace('<div class="transcript">\n\n', '<div class="transcript">\n\nEdited by Sam.\n\n'),
    "line added after the body, inside the wrapper":
        lambda t: t.replace("Thanks, bye.\n\n</div>", "Thanks, bye.\n\nCorrections welcome.\n\n</div>"),
    "line added after the wrapper":
        lambda t: t.replace("</div>\n", "</div>\n\nTranscribed by hand from 12:00 on.\n"),
    "line added between heading and wrapper":
        lambda t: t.replace('## Transcript\n\n<div', '## Transcript\n\nA note.\n\n<div'),
    "closing wrapper deleted": lambda t: t.replace("\n</div>\n", "\n"),
    "opening wrapper deleted": lambda t: t.replace('<div class="transcript">\n', ""),
    "wrapper changed": lambda t: t.replace('<div class="transcript">', '<div class="transcript edited">'),
    "nested in a second wrapper":
        lambda t: t.replace('<div class="transcript">', '<div class="transcript">\n<div class="transcript">')
                   .replace("</div>", "</div>\n</div>"),
    "a word changed": lambda t: t.replace("Hello and", "Hi and"),
    "trailing space on a line": lambda t: t.replace("Thanks, bye.", "Thanks, bye. "),
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_4_any_edit_of_our_output_makes_it_a_persons(tmp_path, edit):
    path = written(tmp_path)
    path.write_text(EDITS[edit](path.read_text()))
    edited = path.read_bytes()
    ep = episodes.load(path)
    assert ep.state == "edited"
    for force in (False, True):
        with pytest.raises(HumanTranscriptError):
            writeback.write(ep, BODY + " New.", PROV, writeback.Options(force=force))
    assert path.read_bytes() == edited


@pytest.mark.parametrize("value", ['"yes"', '"true"', "1", "0", '"false"', "[]", "2024-01-01"])
def test_4_reviewed_must_be_a_boolean_and_is_never_reset(tmp_path, value):
    path = written(tmp_path)
    path.write_text(path.read_text().replace("reviewed = false", f"reviewed = {value}"))
    before = path.read_bytes()
    with pytest.raises(EpisodeError, match=rf"{re.escape(str(path))}: .*reviewed"):
        episodes.load(path)
    with pytest.raises(EpisodeError):
        writeback.approve(path)
    assert path.read_bytes() == before


def test_4_transcript_table_of_the_wrong_type_is_an_error(tmp_path):
    head = HEAD.replace("[extra]\n", '[extra]\ntranscript = "by hand"\n')
    path = page(tmp_path, PLACEHOLDER + "\n", head=head)
    with pytest.raises(EpisodeError, match=r"transcript must be a table"):
        episodes.load(path)


def test_4_keys_a_person_added_to_the_table_are_kept(tmp_path):
    path = written(tmp_path)
    text = path.read_text().replace("reviewed = false\n", 'reviewed = false\nauthor = "Sam"\n', 1)
    text = text.replace("\n+++\n", '\n[extra.transcript.notes]\nfixed = ["names"]\n+++\n', 1)
    path.write_text(text)
    ep = episodes.load(path)
    assert ep.state == "generated"
    writeback.write(ep, BODY + " Regenerated.", {**PROV, "model": "small.en"})
    table = provenance(path)
    assert table["author"] == "Sam" and table["notes"] == {"fixed": ["names"]}
    assert table["model"] == "small.en" and table["reviewed"] is False
    writeback.approve(path)
    table = provenance(path)
    assert table["author"] == "Sam" and table["reviewed"] is True
    # a placeholder put back asks for a new transcript; the person's keys still stay
    text = path.read_text().replace("reviewed = true", "reviewed = false")
    body_start = text.index('<div class="transcript">')
    path.write_text(text[:body_start] + PLACEHOLDER + "\n")
    writeback.write(episodes.load(path), BODY, PROV)
    assert provenance(path)["author"] == "Sam"


# --- 5. human text beside a placeholder -----------------------------------------------------

BESIDE = {
    "transcript after the placeholder": f"{PLACEHOLDER}\n\n**Jeremy:** I typed this myself.\n",
    "transcript before the placeholder": f"**Jeremy:** I typed this myself.\n\n{PLACEHOLDER}\n",
    "a second transcript heading": f"{PLACEHOLDER}\n\n## Transcript\n\nMy own words.\n",
    "a sub-heading with text": f"{PLACEHOLDER}\n\n### Part 1\n\nWords.\n",
    "placeholder in a fence": f"```\n{PLACEHOLDER}\n```\n",
    "an HTML block": f"{PLACEHOLDER}\n\n<div class=\"transcript\">\nMine.\n</div>\n",
    "a list": f"- {PLACEHOLDER}\n- and more\n",
    "placeholder inside a sentence": f"{PLACEHOLDER} Meanwhile, here are my notes.\n",
    "a table": f"{PLACEHOLDER}\n\n| a | b |\n|---|---|\n",
    "indented text": f"{PLACEHOLDER}\n\n    code I wrote\n",
}


@pytest.mark.parametrize("case", BESIDE, ids=list(BESIDE))
def test_5_human_text_beside_a_placeholder_makes_the_page_human(tmp_path, case):
    path = page(tmp_path, BESIDE[case])
    before = path.read_bytes()
    ep = episodes.load(path)
    assert ep.state == "human"
    for force in (False, True):
        with pytest.raises(HumanTranscriptError, match=re.escape(str(path))):
            writeback.write(ep, BODY, PROV, writeback.Options(force=force))
    assert path.read_bytes() == before


def test_5_placeholder_lines_and_blank_lines_only_are_still_pending(tmp_path):
    path = page(tmp_path, f"\n{PLACEHOLDER}\n\n   \n\tThe transcript for this episode is coming soon.\n\n")
    assert episodes.load(path).state == "pending"
    writeback.write(episodes.load(path), BODY, PROV)
    assert episodes.load(path).state == "generated"
    assert writeback.write(episodes.load(path), BODY, PROV).action == "unchanged"


# --- 8. injection through names -------------------------------------------------------------

EVIL_NAMES = [
    "Eve\n\n2\n00:00:00,000 --> 00:09:59,000\nFORGED",
    "Eve\r\nWEBVTT",
    "Eve\x1b[31m\x07",
    "Eve\u2028## Heading",
    "Eve\x00\x0b\x0c\x85",
    "Eve\u202e\u2066gnirts",
    "\n\n",
    "</div>\n\n## Injected",
]


def evil_alignment(name: str, word: str = " hello\nthere") -> tuple:
    words = tuple(Word(0.5 + i, 1.0 + i, w, 0.9, speaker=name) for i, w in enumerate([" Hi", word, " end."]))
    t = Transcript((Segment(0.5, 3.0, "x", -0.1, 0.0, words),), "en", 10.0, "e", "m")
    chapters = [Chapter(0.0, "Intro\n\n## Evil\r\x1b[2J", 1)]
    return align(t, chapters), chapters


@pytest.mark.parametrize("name", EVIL_NAMES, ids=[repr(n)[:20] for n in EVIL_NAMES])
def test_8_control_characters_never_reach_any_output(tmp_path, name):
    a, chapters = evil_alignment(name)
    formats.write_sidecars(a, chapters, tmp_path, title="Title\nwith\x00controls")
    control = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

    vtt = (tmp_path / "transcript.vtt").read_text()
    assert not control.search(vtt.replace("\n", ""))
    blocks = vtt.rstrip("\n").split("\n\n")
    assert blocks[0] == "WEBVTT"
    for b in blocks[1:]:  # every block is one cue: a timing line, then text
        lines = b.split("\n")
        assert re.fullmatch(r"[\d:.]+ --> [\d:.]+", lines[0]) and len(lines) >= 2
        assert all(line.strip() and "-->" not in line for line in lines[1:])

    srt = (tmp_path / "transcript.srt").read_text()
    assert not control.search(srt.replace("\n", ""))
    cues = srt.rstrip("\n").split("\n\n")
    assert [c.split("\n")[0] for c in cues] == [str(i) for i in range(1, len(cues) + 1)]
    for c in cues:
        assert sum("-->" in line for line in c.split("\n")) == 1
        assert all(line.strip() for line in c.split("\n"))

    for name_ in ("transcript.json", "chapters.json"):
        doc = json.loads((tmp_path / name_).read_text())
        assert not control.search(json.dumps(doc, ensure_ascii=False))

    md = render.render_markdown(a)
    assert not control.search(md.replace("\n", ""))
    assert not re.search(r"^(#|</div>|<)", md.replace("## Intro", "", 1), re.M), md


def test_8_markdown_and_html_review_page_stay_inert(tmp_path):
    from pipeline import review

    a, chapters = evil_alignment("Eve\n</div>\n## X", word=" <script>alert(1)</script>\n")
    md = render.render_markdown(a)
    assert "<script>" not in md and "\n</div>" not in md
    assert html.escape("x\x1by") != review._e("x\x1by") and "\x1b" not in review._e("x\x1by")


# --- 9. nonsense options ----------------------------------------------------------------------

@pytest.mark.parametrize("args, option", [
    (["--limit", "-1"], "--limit"),
    (["--limit", "0"], "--limit"),
    (["--num-speakers", "-3"], "--num-speakers"),
    (["--num-speakers", "0"], "--num-speakers"),
    (["--only", "typo"], "--only"),
    (["--transcripts-dir", "afile"], "--transcripts-dir"),
    (["no/such/path"], "no/such/path"),
    (["--model", ""], "--model"),
])
def test_9_nonsense_options_are_usage_errors_naming_the_option(tmp_path, args, option):
    (tmp_path / "afile").write_text("a file, not a folder\n")
    page(tmp_path / "episodes", PLACEHOLDER + "\n", "real-episode.md")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = cli("transcribe", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert option in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before, "nothing written"


@pytest.mark.parametrize("setting, value, name", [
    ("num_speakers", -3, "num_speakers"), ("beam_size", 0, "beam_size"), ("retries", -1, "retries"),
    ("heading_level", 9, "heading_level"), ("read_timeout", 0, "read_timeout"),
    ("no_speech_threshold", 1.5, "no_speech_threshold"), ("diarize", "yes", "diarize"),
    ("engine", "whisper.cpp", "engine"), ("placeholders", [], "placeholders"),
    ("placeholders", ["line\nbreak"], "placeholders"), ("wrapper_open", "", "wrapper_open"),
    ("threads", 1.5, "threads"), ("connect_timeout", float("nan"), "connect_timeout"),
])
def test_9_nonsense_settings_are_config_errors_naming_the_key(setting, value, name):
    with pytest.raises(ConfigError, match=name):
        config.build({setting: value})


def test_9_nonsense_in_pyproject_is_a_usage_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.pipeline]\nbeam_size = -2\n")
    result = cli("status", cwd=tmp_path)
    assert result.returncode == 2 and "beam_size" in result.stderr and "Traceback" not in result.stderr


# --- 12. the transcripts/ folder is part of the repository ----------------------------------

def test_12_transcripts_folder_is_tracked_with_a_readme():
    readme = REPO / "transcripts" / "README.md"
    assert readme.is_file()
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", "transcripts/README.md"], cwd=REPO,
                             capture_output=True, text=True)
    assert tracked.returncode == 0, "transcripts/README.md must be committed"
    text = readme.read_text()
    ignored = subprocess.run(["git", "check-ignore", "transcripts/audio/x.mp3", "transcripts/cache/x",
                              "transcripts/report.json", "transcripts/.lock"], cwd=REPO,
                             capture_output=True, text=True).stdout.split()
    assert len(ignored) == 4
    for name in ("audio/", "cache/", "report.json", ".lock", "transcript.vtt"):
        assert name in text
