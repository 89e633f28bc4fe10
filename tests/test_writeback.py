"""Write-back on copies of the real Zola files and on edge cases.

Every write test checks that the bytes outside the transcript block and the added
`[extra.transcript]` table are exactly the bytes that were there before.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tomllib
from pathlib import Path

import pytest

from conftest import SHARED_EPISODES
from pipeline import episodes, writeback
from pipeline.errors import ConcurrentEditError, EpisodeError, HumanTranscriptError, WritebackError

DATA = Path(__file__).parent / "data" / "episodes"
ZOLA = SHARED_EPISODES / "zola"
ARMIN = ZOLA / "2019-09-13-rust-in-production-with-armin-ronacher" / "index.md"
PLACEHOLDER = "Transcript for this episode is coming soon."
PROV = {"engine": "faster-whisper", "model": "tiny.en", "audio_sha256": "ab" * 32, "offset": 1.5}
BODY = "## Intro\n\n**Jeremy:** Hello and welcome.   \n\n## Wrap up\n\n**Xe:** Thanks, bye."
MARK = "\x00TRANSCRIPT\x00"


def copy(src: Path, tmp_path: Path, name: str | None = None) -> Path:
    dst = tmp_path / (name or src.name)
    shutil.copyfile(src, dst)  # the shared files are read-only; the copy is ours
    dst.chmod(0o644)
    return dst


def block(body: str = BODY, nl: str = "\n") -> str:
    return nl.join(['<div class="transcript">', "", *body.split("\n"), "", "</div>"])


def cut_table(text: str) -> str:
    """The text without the appended `[extra.transcript]` table and the blank line before it."""
    return re.sub(r"\r?\n\r?\n\[extra\.transcript\][\s\S]*?(?=\r?\n\+\+\+)", "", text, count=1)


def assert_rest_identical(before: bytes, after: bytes, old: str, new: str) -> None:
    b, a = before.decode("utf-8"), after.decode("utf-8")
    assert b.count(old) == 1, "the old region must be unique in the original"
    assert a.count(new) == 1, "the new transcript block must be in the result exactly once"
    assert cut_table(a).replace(new, MARK).encode("utf-8") == cut_table(b).replace(old, MARK).encode("utf-8")


def front_matter(path: Path) -> dict:
    text = path.read_bytes().decode("utf-8").removeprefix("\ufeff").replace("\r\n", "\n")
    return tomllib.loads(text.split("+++\n", 2)[1])


def assert_provenance(path: Path, original: dict, body: str = BODY, **expected: object) -> dict:
    fm = front_matter(path)
    table = fm["extra"].pop("transcript")
    assert fm == original, "every original key and value is kept"
    assert table["transcript_sha256"] == hashlib.sha256(body.encode()).hexdigest()
    assert table["reviewed"] is False
    assert table["generated"].tzinfo is not None
    for key, value in {**PROV, **expected}.items():
        assert table[key] == value
    return table


def heading_of(text: str) -> str:
    return re.search(r"^#{2,3} Transcript", text, re.M).group(0)


PENDING = sorted(p for p in ZOLA.glob("*/index.md") if PLACEHOLDER in p.read_text())


@pytest.mark.shared
@pytest.mark.parametrize("source", PENDING, ids=[p.parent.name for p in PENDING])
def test_writes_every_pending_zola_episode_and_a_rerun_changes_nothing(source: Path, tmp_path: Path) -> None:
    path = copy(source, tmp_path)
    before = path.read_bytes()
    original_fm = front_matter(path)
    ep = episodes.load(path)
    assert ep.state == "pending"

    result = writeback.write(ep, BODY + "\n", PROV, writeback.Options())
    assert (result.action, result.path) == ("written", path)
    assert str(path) in result.message

    after = path.read_bytes()
    head = heading_of(before.decode())
    assert_rest_identical(before, after, f"{head}\n\n{PLACEHOLDER}", f"{head}\n\n{block()}")
    assert not after.endswith(b"\n"), "the missing final newline stays missing"
    assert_provenance(path, original_fm)
    again = episodes.load(path)
    assert again.state == "generated"
    assert [(c.start, c.title) for c in again.chapters] == [(c.start, c.title) for c in ep.chapters]
    assert writeback.transcript_body(again) == BODY

    rerun = writeback.write(again, BODY, PROV, writeback.Options())
    assert rerun.action == "unchanged" and rerun.diff == ""
    assert path.read_bytes() == after, "not even the generated timestamp changes"


@pytest.mark.parametrize(
    "slug",
    [
        "2019-11-21-choosing-the-right-job-with-cassidy-williams",
        "2022-09-30-tailscale",
        "2025-09-24-wine",
    ],
)
@pytest.mark.shared
@pytest.mark.parametrize("force", [False, True])
def test_human_transcripts_are_never_overwritten(slug: str, force: bool, tmp_path: Path) -> None:
    path = copy(ZOLA / slug / "index.md", tmp_path)
    before = path.read_bytes()
    ep = episodes.load(path)
    with pytest.raises(HumanTranscriptError, match=re.escape(str(path))):
        writeback.write(ep, BODY, PROV, writeback.Options(force=force))
    assert path.read_bytes() == before
    assert writeback.transcript_body(ep)  # the person's text is there to show


@pytest.mark.shared
def test_crlf_file_stays_crlf(tmp_path: Path) -> None:
    path = tmp_path / "crlf.md"
    path.write_bytes(ARMIN.read_bytes().replace(b"\n", b"\r\n") + b"\r\n")
    before = path.read_bytes()
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    after = path.read_bytes()
    assert b"\n" not in after.replace(b"\r\n", b"")
    crlf_block = block(nl="\r\n")
    assert_rest_identical(
        before, after, f"## Transcript\r\n\r\n{PLACEHOLDER}\r\n", f"## Transcript\r\n\r\n{crlf_block}\r\n"
    )
    assert episodes.load(path).state == "generated"


@pytest.mark.shared
def test_byte_order_mark_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "bom.md"
    path.write_bytes(b"\xef\xbb\xbf" + ARMIN.read_bytes())
    before = path.read_bytes()
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    after = path.read_bytes()
    assert after.startswith(b"\xef\xbb\xbf+++\n")
    assert_rest_identical(before, after, f"## Transcript\n\n{PLACEHOLDER}", f"## Transcript\n\n{block()}")


def test_placeholder_quoted_in_show_notes_and_code_blocks_is_left_alone(tmp_path: Path) -> None:
    path = copy(DATA / "quoted-placeholder.md", tmp_path)
    before = path.read_bytes()
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    after = path.read_bytes()
    # only the last line, the one in the transcript section, is replaced
    assert_rest_identical(before, after, f"Start\n\n## Transcript\n\n{PLACEHOLDER}\n",
                          f"Start\n\n## Transcript\n\n{block()}\n")
    assert after.decode().count(PLACEHOLDER) == 4


def test_two_placeholders_only_the_first_is_replaced_and_a_rerun_is_a_no_op(tmp_path: Path) -> None:
    path = copy(DATA / "two-placeholders.md", tmp_path)
    before = path.read_bytes()
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    after = path.read_bytes()
    assert_rest_identical(before, after, f"## Transcript\n\n{PLACEHOLDER}\n", f"## Transcript\n\n{block()}\n")
    assert b"\nThe transcript for this episode is coming soon.\n" in after
    ep = episodes.load(path)
    assert ep.state == "generated"
    assert writeback.write(ep, BODY, PROV, writeback.Options()).action == "unchanged"


@pytest.mark.shared
def test_h3_transcript_heading(tmp_path: Path) -> None:
    path = copy(ZOLA / "2019-12-06-load-balancing-and-haproxy-with-daniel-corbett" / "index.md", tmp_path)
    before = path.read_bytes()
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    assert_rest_identical(
        before, path.read_bytes(), f"### Transcript\n\n{PLACEHOLDER}", f"### Transcript\n\n{block()}"
    )


def test_episode_without_transcript_section_is_an_error_and_untouched(tmp_path: Path) -> None:
    path = copy(DATA / "no-transcript-section.md", tmp_path)
    before = path.read_bytes()
    ep = episodes.load(path)
    assert ep.state == "no-transcript-section"
    with pytest.raises(WritebackError, match=rf"{re.escape(str(path))}: no '## Transcript' heading") as info:
        writeback.write(ep, BODY, PROV, writeback.Options())
    assert not isinstance(info.value, HumanTranscriptError)
    assert path.read_bytes() == before


def test_empty_transcript_section_gets_the_transcript_under_its_heading(tmp_path: Path) -> None:
    path = copy(DATA / "empty-transcript-section.md", tmp_path)
    before = path.read_bytes()
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    after = path.read_bytes()
    assert_rest_identical(before, after, "### Transcript\n", f"### Transcript\n\n{block()}\n")
    assert episodes.load(path).state == "generated"


@pytest.mark.shared
def test_non_utf8_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes(ARMIN.read_bytes().replace(b"Armin is", b"Ar\xf1in is"))
    before = path.read_bytes()
    with pytest.raises(EpisodeError, match="not UTF-8"):
        episodes.load(path)
    with pytest.raises(EpisodeError, match="not UTF-8"):
        writeback.approve(path)
    assert path.read_bytes() == before


@pytest.mark.shared
def test_read_only_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = copy(ARMIN, tmp_path)
    path.chmod(0o444)
    before = path.read_bytes()
    with pytest.raises(WritebackError, match=rf"{re.escape(str(path))}: the file is read-only"):
        writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    assert path.read_bytes() == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "no temporary file left behind"


@pytest.mark.shared
def test_file_edited_between_read_and_write_is_not_overwritten(tmp_path: Path) -> None:
    path = copy(ARMIN, tmp_path)
    ep = episodes.load(path)
    edited = path.read_bytes().replace(b"Armin is the creator", b"Armin Ronacher is the creator")
    path.write_bytes(edited)
    with pytest.raises(ConcurrentEditError, match=re.escape(str(path))):
        writeback.write(ep, BODY, PROV, writeback.Options())
    assert path.read_bytes() == edited


@pytest.mark.shared
def test_file_mode_is_kept(tmp_path: Path) -> None:
    path = copy(ARMIN, tmp_path)
    path.chmod(0o640)
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_front_matter_comments_and_inline_tables_are_kept(tmp_path: Path) -> None:
    path = copy(DATA / "front-matter-comments.md", tmp_path)
    before = path.read_bytes()
    original_fm = front_matter(path)
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    after = path.read_bytes()
    assert_rest_identical(before, after, f"## Transcript\n\n{PLACEHOLDER}\n", f"## Transcript\n\n{block()}\n")
    assert b"# a comment before the closing line\n\n[extra.transcript]\n" in after
    assert_provenance(path, original_fm)


def test_inline_extra_table_gets_the_provenance_on_its_own_line(tmp_path: Path) -> None:
    path = copy(DATA / "inline-extra.md", tmp_path)
    before = path.read_bytes().decode()
    original_fm = front_matter(path)
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    after = path.read_bytes().decode()
    assert_provenance(path, original_fm)
    old_lines, new_lines = before.split("\n"), after.split("\n")
    changed = [i for i, (o, n) in enumerate(zip(old_lines[:4], new_lines[:4])) if o != n]
    assert changed == [2], "only the `extra = {...}` line changes in the front matter"
    assert new_lines[2].endswith("}  # {inline} # table")
    assert "[extra.transcript]" not in after
    head = "## Transcript\n\n"
    assert_rest_identical(
        "\n".join(old_lines[3:]).encode(), "\n".join(new_lines[3:]).encode(), head + PLACEHOLDER, head + block()
    )

    # and a regeneration over it works the same way
    ep = episodes.load(path)
    assert ep.state == "generated"
    writeback.write(ep, BODY + " Again.", {**PROV, "model": "small.en"}, writeback.Options())
    assert_provenance(path, original_fm, body=BODY + " Again.", model="small.en")


def test_dotted_extra_keys_take_the_table(tmp_path: Path) -> None:
    path = copy(DATA / "dotted-extra.md", tmp_path)
    before = path.read_bytes()
    original_fm = front_matter(path)
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    assert_rest_identical(before, path.read_bytes(), f"## Transcript\n\n{PLACEHOLDER}\n", f"## Transcript\n\n{block()}\n")
    assert_provenance(path, original_fm)


@pytest.mark.shared
def test_regenerates_its_own_unedited_transcript(tmp_path: Path) -> None:
    path = copy(ARMIN, tmp_path)
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    first = path.read_bytes()
    original_fm = front_matter(ARMIN)

    bigger = BODY.replace("Hello and welcome.", "Hello, and welcome to the show.")
    result = writeback.write(episodes.load(path), bigger, {**PROV, "model": "small.en"}, writeback.Options())
    assert result.action == "written" and "regenerated" in result.message
    after = path.read_bytes()
    assert_rest_identical(first, after, block(), block(bigger))
    table = assert_provenance(path, original_fm, body=bigger, model="small.en")
    # the table was replaced where it was: same lines, same place
    first_fm, after_fm = first.decode().split("+++")[1], after.decode().split("+++")[1]
    assert len(first_fm.split("\n")) == len(after_fm.split("\n"))
    assert table["model"] == "small.en"


@pytest.mark.shared
@pytest.mark.parametrize("force", [False, True])
def test_edited_transcript_is_never_replaced(force: bool, tmp_path: Path) -> None:
    path = copy(ARMIN, tmp_path)
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    edited = path.read_bytes().replace(b"Hello and welcome.", b"Hello and welcome!")
    path.write_bytes(edited)
    ep = episodes.load(path)
    assert ep.state == "edited"
    with pytest.raises(HumanTranscriptError, match="edited"):
        writeback.write(ep, BODY, PROV, writeback.Options(force=force))
    assert path.read_bytes() == edited


@pytest.mark.shared
@pytest.mark.parametrize("force", [False, True])
def test_reviewed_transcript_is_never_replaced(force: bool, tmp_path: Path) -> None:
    path = copy(ARMIN, tmp_path)
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    written = path.read_bytes()
    writeback.approve(path)
    approved = path.read_bytes()
    assert approved.replace(b"reviewed = true", b"reviewed = false") == written
    ep = episodes.load(path)
    assert ep.state == "reviewed"
    with pytest.raises(HumanTranscriptError, match="reviewed"):
        writeback.write(ep, BODY + " More.", PROV, writeback.Options(force=force))
    assert path.read_bytes() == approved
    writeback.approve(path)  # approving twice is harmless
    assert path.read_bytes() == approved


@pytest.mark.shared
def test_approve_needs_a_generated_transcript(tmp_path: Path) -> None:
    for source in (ARMIN, ZOLA / "2022-09-30-tailscale" / "index.md"):
        path = copy(source, tmp_path)
        before = path.read_bytes()
        with pytest.raises(WritebackError, match=rf"{re.escape(str(path))}: no generated transcript"):
            writeback.approve(path)
        assert path.read_bytes() == before


@pytest.mark.shared
def test_force_rewrites_an_identical_transcript_with_fresh_provenance(tmp_path: Path) -> None:
    path = copy(ARMIN, tmp_path)
    writeback.write(episodes.load(path), BODY, {**PROV, "generated": "2020-01-01T00:00:00Z"}, writeback.Options())
    first = path.read_bytes()
    result = writeback.write(episodes.load(path), BODY, PROV, writeback.Options(force=True))
    assert result.action == "written"
    after = path.read_bytes()
    assert after != first
    assert cut_table(after.decode()) == cut_table(first.decode())


@pytest.mark.shared
def test_dry_run_returns_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    path = copy(ARMIN, tmp_path)
    before = path.read_bytes()
    result = writeback.write(episodes.load(path), BODY, PROV, writeback.Options(dry_run=True))
    assert result.action == "dry-run"
    assert path.read_bytes() == before
    removed = [x for x in result.diff.splitlines() if x.startswith("-") and not x.startswith("---")]
    added = [x[1:] for x in result.diff.splitlines() if x.startswith("+") and not x.startswith("+++")]
    assert removed == [f"-{PLACEHOLDER}"]
    assert "[extra.transcript]" in added and '<div class="transcript">' in added
    assert "**Jeremy:** Hello and welcome.   " in added
    # the diff is exactly what the real write then does
    fixed = {**PROV, "generated": "2024-01-01T00:00:00Z"}
    dry = writeback.write(episodes.load(path), BODY, fixed, writeback.Options(dry_run=True))
    real = writeback.write(episodes.load(path), BODY, fixed, writeback.Options())
    assert real.action == "written" and real.diff == dry.diff


@pytest.mark.shared
def test_empty_wrapper_writes_the_bare_body_and_still_recognises_it(tmp_path: Path) -> None:
    path = copy(ARMIN, tmp_path)
    before = path.read_bytes()
    bare = episodes.Options(wrapper_open="", wrapper_close="")
    writeback.write(episodes.load(path, bare), BODY, PROV, writeback.Options())
    assert_rest_identical(before, path.read_bytes(), f"## Transcript\n\n{PLACEHOLDER}", f"## Transcript\n\n{BODY}")
    ep = episodes.load(path, bare)
    assert ep.state == "generated"
    assert writeback.write(ep, BODY, PROV, writeback.Options()).action == "unchanged"


@pytest.mark.shared
def test_note_line_beside_the_placeholder_makes_the_page_a_persons(tmp_path: Path) -> None:
    """Text in the section that is not a placeholder is a person's: report it, never write."""
    text = ARMIN.read_text().replace(
        f"## Transcript\n\n{PLACEHOLDER}", f"## Transcript\n\nYou can help edit this transcript on GitHub.\n\n{PLACEHOLDER}"
    )
    path = tmp_path / "note.md"
    path.write_text(text)
    before = path.read_bytes()
    ep = episodes.load(path)
    assert ep.state == "human"
    with pytest.raises(HumanTranscriptError):
        writeback.write(ep, BODY, PROV, writeback.Options())
    assert path.read_bytes() == before


@pytest.mark.shared
def test_empty_body_is_refused(tmp_path: Path) -> None:
    path = copy(ARMIN, tmp_path)
    with pytest.raises(WritebackError, match="empty"):
        writeback.write(episodes.load(path), "\n  \n", PROV, writeback.Options())


@pytest.mark.shared
def test_placeholder_put_back_by_a_person_means_pending_again(tmp_path: Path) -> None:
    path = copy(ARMIN, tmp_path)
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    text = path.read_text()
    path.write_text(text.replace(block(), PLACEHOLDER))
    ep = episodes.load(path)
    assert ep.state == "pending"
    writeback.write(ep, BODY + " Second.", PROV, writeback.Options())
    assert episodes.load(path).state == "generated"
    assert front_matter(path)["extra"]["transcript"]["transcript_sha256"] == hashlib.sha256(
        (BODY + " Second.").encode()
    ).hexdigest()
    assert path.read_text().count("[extra.transcript]") == 1
    assert os.listdir(tmp_path) == [path.name]


@pytest.mark.shared
def test_a_person_can_approve_their_edited_draft(tmp_path: Path) -> None:
    path = copy(ARMIN, tmp_path)
    writeback.write(episodes.load(path), BODY, PROV, writeback.Options())
    path.write_bytes(path.read_bytes().replace(b"Thanks, bye.", b"Thanks, goodbye."))
    assert episodes.load(path).state == "edited"
    edited = path.read_bytes()
    writeback.approve(path)
    assert path.read_bytes() == edited.replace(b"reviewed = false", b"reviewed = true")
    assert episodes.load(path).state == "reviewed"
