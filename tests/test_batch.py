"""The batch runner and the CLI in-process (click's CliRunner), with no model: the fake engine and
diarizer (tests/fakes.py) hear a synthesized episode exactly, and every later stage is real:
download from a local HTTP server, decoding with ffmpeg, speaker names, alignment, rendering,
sidecars, write-back, the report, status, review pages and approve."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

import fakes
from conftest import cli
from pipeline.lab import synth
from pipeline.lab.serve import serve

PLACEHOLDER = "Transcript for this episode is coming soon."
FAKES = '[tool.pipeline]\nengine = "fake"\ndiarizer = "fake"\nretries = 0\n'


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, synth.Script, synth.Truth]:
    folder = tmp_path_factory.mktemp("media")
    script = synth.load_script("demo")
    truth = synth.synthesize(script, folder / "demo.mp3")
    fakes.remember(folder / "demo.mp3", truth)
    return folder, script, truth


@pytest.fixture(scope="module")
def server(media: tuple[Path, synth.Script, synth.Truth]):  # type: ignore[no-untyped-def]
    with serve(media[0]) as base:
        yield base


def site(root: Path, media, url: str, slugs: tuple[str, ...] = ("demo",), settings: str = FAKES) -> list[Path]:  # type: ignore[no-untyped-def]
    _, script, truth = media
    root.mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text(settings)
    return [synth.write_episode_file(script, truth, url, root / "episodes" / slug / "index.md") for slug in slugs]


def body_of(text: str) -> str:
    return text.split('<div class="transcript">', 1)[1].split("</div>", 1)[0]


def strip_generated(text: str) -> str:
    """The file as it was before the pipeline: the placeholder back, the provenance table gone."""
    text = re.sub(r'<div class="transcript">\n.*?\n</div>', PLACEHOLDER, text, flags=re.S)
    return re.sub(r"\n\n\[extra\.transcript\]\n(?:[^\n\[+][^\n]*\n)*", "\n", text)


def provenance(path: Path) -> dict:
    return tomllib.loads(path.read_text().split("+++")[1])["extra"]["transcript"]


PARAGRAPH = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\] (?:\*\*(.+?):\*\* )?(.*)$", re.M)


def test_transcribe_lays_out_every_spoken_line_under_its_chapter_with_its_speaker(tmp_path, media, server):
    [episode] = site(tmp_path, media, f"{server}/demo.mp3")
    original = episode.read_bytes()
    truth = media[2]

    result = cli("transcribe", "--transcripts-dir", "out", cwd=tmp_path)

    assert result.exit_code == 0, result.output
    text = episode.read_text()
    body = body_of(text)
    assert re.findall(r"^## (.+)$", body, flags=re.M) == [title for title, _ in truth.chapters]
    paragraphs = PARAGRAPH.findall(body)
    # Every word the engine heard is written once, in order, and nothing else.
    assert " ".join(p[4] for p in paragraphs).split() == " ".join(line.text for line in truth.lines).split()
    # Each paragraph starts on a spoken line, at that line's second, named after its speaker
    # (full name at the first turn, first name after it).
    starts = {int(line.start): line for line in truth.lines}
    seen: set[str] = set()
    for hh, mm, ss, name, _ in paragraphs:
        line = starts[int(hh) * 3600 + int(mm) * 60 + int(ss)]
        assert name == (line.speaker.split()[0] if line.speaker in seen else line.speaker)
        seen.add(line.speaker)
    assert seen == set(media[1].speakers)
    # Each chapter heading stands right before the paragraph of the line that opens the chapter.
    for title, start in truth.chapters:
        s = int(start)
        assert f"## {title}\n\n[{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}]" in body
    assert strip_generated(text).encode() == original  # no other byte changed
    meta = provenance(episode)
    assert (meta["engine"], meta["model"], meta["reviewed"]) == ("fake", "tiny.en", False)
    drafts = tmp_path / "out" / "demo"
    assert (drafts / "transcript.md").read_text().strip() == body.strip()
    vtt = (drafts / "transcript.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "<v Jeremy Jung>" in vtt and "<v Armin Ronacher>" in vtt
    chapters = json.loads((drafts / "chapters.json").read_text())["chapters"]
    assert [c["title"] for c in chapters] == [title for title, _ in truth.chapters]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [(o["slug"], o["state"]) for o in report["outcomes"]] == [("demo", "written")]

    written = episode.read_bytes()
    again = cli("transcribe", "--transcripts-dir", "out", cwd=tmp_path)
    assert again.exit_code == 0 and "Nothing to do" in again.output
    assert episode.read_bytes() == written


def test_broken_episode_fails_alone_and_is_reported(tmp_path, media, server, caplog):
    good, dead = site(tmp_path, media, f"{server}/demo.mp3", slugs=("good", "dead-link"))
    dead.write_text(dead.read_text().replace("/demo.mp3", "/missing.mp3"))
    broken = tmp_path / "episodes" / "broken" / "index.md"
    broken.parent.mkdir(parents=True)
    broken.write_text('+++\ntitle = "unterminated\n+++\n\n## Transcript\n\n' + PLACEHOLDER + "\n")
    before = {p: p.read_bytes() for p in (dead, broken)}

    result = cli("transcribe", "--transcripts-dir", "out", cwd=tmp_path)

    assert result.exit_code == 1
    assert PLACEHOLDER not in good.read_text()
    assert all(p.read_bytes() == b for p, b in before.items())
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    states = {o["slug"]: o["state"] for o in report["outcomes"]}
    assert states == {"good": "written", "dead-link": "failed", "broken": "failed"}
    errors = " ".join(o["error"] or "" for o in report["outcomes"])
    assert "404" in errors and "missing.mp3" in errors and "broken/index.md" in errors
    assert "broken/index.md" in caplog.text and "missing.mp3" in caplog.text
    assert "2 failed" in result.output


def test_audio_the_engine_cannot_hear_fails_that_episode_with_its_name(tmp_path, media, server):
    other = synth.synthesize(synth.load_script("demo"), media[0] / "unheard.mp3", seed=1)
    assert other.duration == media[2].duration  # the same words; only the noise between them differs
    _, unheard = site(tmp_path, media, f"{server}/demo.mp3", slugs=("good", "unheard"))
    unheard.write_text(unheard.read_text().replace("/demo.mp3", "/unheard.mp3"))

    result = cli("transcribe", "--transcripts-dir", "out", cwd=tmp_path)

    assert result.exit_code == 1
    report = {o["slug"]: o for o in json.loads((tmp_path / "out" / "report.json").read_text())["outcomes"]}
    assert report["good"]["state"] == "written" and report["unheard"]["state"] == "failed"
    assert "never heard" in report["unheard"]["error"] and PLACEHOLDER in unheard.read_text()


def test_dry_run_prints_the_diff_and_writes_nothing(tmp_path, media, server):
    [episode] = site(tmp_path, media, f"{server}/demo.mp3")
    before = episode.read_bytes()

    result = cli("transcribe", "--dry-run", "--transcripts-dir", "out", cwd=tmp_path)

    assert result.exit_code == 0, result.output
    assert episode.read_bytes() == before
    assert f"-{PLACEHOLDER}" in result.output and "+## Why Rust" in result.output
    assert "+[extra.transcript]" in result.output


def test_a_new_model_regenerates_drafts_but_never_a_reviewed_transcript(tmp_path, media, server):
    draft, approved = site(tmp_path, media, f"{server}/demo.mp3", slugs=("draft", "approved"))
    assert cli("transcribe", "--transcripts-dir", "out", cwd=tmp_path).exit_code == 0
    assert cli("approve", "approved", cwd=tmp_path).exit_code == 0
    reviewed = approved.read_bytes()

    result = cli("transcribe", "--model", "base.en", "--transcripts-dir", "out", cwd=tmp_path)

    assert result.exit_code == 0, result.output
    assert provenance(draft)["model"] == "base.en"
    assert approved.read_bytes() == reviewed and provenance(approved)["reviewed"] is True
    status = cli("status", "--transcripts-dir", "out", cwd=tmp_path).output
    rows = {line.split()[0]: line for line in status.splitlines()[2:]}
    assert "transcribed, not reviewed" in rows["draft"] and "reviewed" in rows["approved"]


def test_speakers_off_for_the_run_or_for_one_episode(tmp_path, media, server):
    on, off = site(tmp_path, media, f"{server}/demo.mp3", slugs=("on", "off"))
    off.write_text(off.read_text().replace("[extra]\n", "[extra]\ndiarize = false\n"))

    assert cli("transcribe", "--transcripts-dir", "out", cwd=tmp_path).exit_code == 0

    assert "**Jeremy Jung:**" in body_of(on.read_text())
    off_body = body_of(off.read_text())
    assert "**" not in off_body and "Welcome to the show." in off_body
    assert PARAGRAPH.search(off_body)

    again = tmp_path / "again"
    [plain] = site(again, media, f"{server}/demo.mp3")
    assert cli("transcribe", "--no-diarize", "--transcripts-dir", "out", cwd=again).exit_code == 0
    assert "**" not in body_of(plain.read_text())


def test_unknown_diarizer_fails_the_episode_naming_the_setting(tmp_path, media, server):
    [episode] = site(tmp_path, media, f"{server}/demo.mp3", settings=FAKES.replace('"fake"\nretries', '"nobody"\nretries'))
    result = cli("transcribe", "--transcripts-dir", "out", cwd=tmp_path)
    assert result.exit_code == 1
    assert "diarizer 'nobody'" in result.output and PLACEHOLDER in episode.read_text()


def test_review_pages_for_the_transcribed_episodes(tmp_path, media, server):
    site(tmp_path, media, f"{server}/demo.mp3", slugs=("one", "two"))
    assert cli("review", "--transcripts-dir", "out", cwd=tmp_path).exit_code == 1
    assert cli("transcribe", "--transcripts-dir", "out", cwd=tmp_path).exit_code == 0

    result = cli("review", "two", "--transcripts-dir", "out", cwd=tmp_path)

    assert result.exit_code == 0, result.output
    page = tmp_path / "out" / "two" / "review.html"
    assert result.output.strip() == str(Path("out") / "two" / "review.html")
    html = page.read_text()
    for title, _ in media[2].chapters:
        assert title in html
    assert "../audio/two.mp3" in html  # the downloaded copy, relative to the page
    assert not (tmp_path / "out" / "one" / "review.html").exists()


def test_download_only_fetches_the_audio(tmp_path, media, server):
    [episode] = site(tmp_path, media, f"{server}/demo.mp3")
    before = episode.read_bytes()

    result = cli("download", "--transcripts-dir", "out", cwd=tmp_path)

    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "audio" / "demo.mp3").read_bytes() == (media[0] / "demo.mp3").read_bytes()
    assert episode.read_bytes() == before and "downloaded" in result.output
