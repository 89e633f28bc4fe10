"""Property-based tests (hypothesis) of the episode parser and the write-back.

Generated pages vary what a careless or hostile world varies: CRLF or LF, a byte-order mark,
comments and unicode in the front matter, code fences quoting the heading and the placeholder,
extra headings, and a person's text near the placeholder. The properties are the README's
promises: bytes outside the transcript block and its table never change, a second run changes
nothing, and a person's text is never replaced.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import episodes, writeback
from pipeline.errors import EpisodeError, HumanTranscriptError, WritebackError
from pipeline.models import Episode, EpisodeState, Provenance

PLACEHOLDERS = episodes.PLACEHOLDERS
def _our_body(ep: Episode) -> str | None:
    """Our transcript's lines in the file (those its recorded hash matches)."""
    lay, _ = episodes.layout(ep.path, ep.text)
    return None if lay.body is None else "\n".join(episodes.content(x) for x in lay.lines[lay.body[0] : lay.body[1] + 1])


PROV = Provenance(engine="faster-whisper", model="tiny.en", audio_sha256="cd" * 32, offset=0.0)

# printable text without line breaks; unicode letters, emoji, markup characters
_chars = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\ufeff")
words = st.text(_chars, min_size=1, max_size=30).map(str.strip).filter(bool)
lines_of_text = st.lists(words, min_size=1, max_size=4).map(lambda ws: " ".join(ws))


@st.composite
def front_matter(draw) -> list[str]:
    title = draw(words).replace("\\", "/").replace('"', "'")
    out = ["+++"]
    if draw(st.booleans()):
        out.append("# " + draw(lines_of_text))
    out.append(f'title = "{title}"' + (f"  # {draw(words)}" if draw(st.booleans()) else ""))
    if draw(st.booleans()):
        out.append("date = 2024-05-01")
    out += ["", "[extra]", 'episode_url = "https://example.com/a.mp3"']
    if draw(st.booleans()):
        out.append('speakers = ["Jeremy Jung", "Ünïcødé Guest"]   # names')
    if draw(st.booleans()):
        out += ["", "[extra.other]", "x = 1"]
    out.append("+++")
    return out


@st.composite
def show_notes(draw) -> list[str]:
    out: list[str] = [""]
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["text", "fence", "heading", "timestamps", "quote"]))
        if kind == "text":
            out += [draw(lines_of_text), ""]
        elif kind == "fence":
            fence = draw(st.sampled_from(["```", "~~~", "````"]))
            out += [fence, "## Transcript", "", draw(st.sampled_from(PLACEHOLDERS)), fence, ""]
        elif kind == "heading":
            out += ["#" * draw(st.integers(1, 4)) + " " + draw(lines_of_text), ""]
        elif kind == "timestamps":
            out += ["### Timestamps", "- 0:37 - " + draw(words), "- 64:55 - " + draw(words), ""]
        else:
            out += [f'It says "{draw(st.sampled_from(PLACEHOLDERS))}" until then.', ""]
    return out


@st.composite
def pages(draw) -> tuple[str, str]:
    """(text, kind): kind is "pending" (only placeholders in the section) or "human"."""
    heading = "#" * draw(st.integers(2, 3)) + " Transcript" + draw(st.sampled_from(["", ":", " ##"]))
    kind = draw(st.sampled_from(["pending", "pending", "human"]))
    section = [""] * draw(st.integers(0, 2))
    if kind == "pending":
        for _ in range(draw(st.integers(1, 2))):
            section += [draw(st.sampled_from(PLACEHOLDERS)), ""]
    else:
        human = draw(st.lists(lines_of_text, min_size=1, max_size=3))
        near = draw(st.sampled_from(["before", "after", "instead", "heading"]))
        placeholder = draw(st.sampled_from(PLACEHOLDERS))
        if near == "before":
            section += [*human, "", placeholder]
        elif near == "after":
            section += [placeholder, "", *human]
        elif near == "heading":
            section += [placeholder, "", heading, "", *human]
        else:
            section += human
    lines = draw(front_matter()) + draw(show_notes()) + [heading] + section
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    text = nl.join(lines) + (nl if draw(st.booleans()) else "")
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text, kind


bodies = st.lists(lines_of_text, min_size=1, max_size=6).map(lambda ls: "\n\n".join(ls)).filter(
    lambda b: b.strip() and all(line.strip() not in PLACEHOLDERS for line in b.split("\n"))
)
# How many examples: conftest's hypothesis profile (150 in `make test`, 30 in `make test-fast`).
EXAMPLES = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fresh(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ep.md"
    path.write_bytes(text.encode("utf-8"))
    return path


def _outside(text: str) -> tuple[list[str], list[str]]:
    """Front matter lines without the `[extra.transcript]` table; lines from the heading on."""
    lay, _ = episodes.layout(Path("x.md"), text)
    fm = list(lay.lines[: lay.fm_end + 1])
    return fm, list(lay.lines[lay.fm_end + 1 :])


@EXAMPLES
@given(page=pages(), body=bodies)
def test_write_changes_only_the_transcript_and_its_table(tmp_path_factory, page, body):
    text, kind = page
    path = _fresh(tmp_path_factory.mktemp("p"), text)
    ep = episodes.load(path)
    if kind == "human":
        assert ep.state == "human"
        with pytest.raises(HumanTranscriptError):
            writeback.write(ep, body, PROV, writeback.Options(force=True))
        assert path.read_bytes() == text.encode("utf-8")
        return
    assert ep.state == "pending"
    try:
        writeback.write(ep, body, PROV)
    except WritebackError:  # refused (and then untouched) is always allowed
        assert path.read_bytes() == text.encode("utf-8")
        return
    new = path.read_bytes().decode("utf-8")
    assert new.startswith("\ufeff") == text.startswith("\ufeff")

    old_fm, old_rest = _outside(text)
    new_fm, new_rest = _outside(new)
    # the front matter: the old lines, in order, with one contiguous run of new lines inserted
    k = next(i for i in range(len(old_fm) + 1) if new_fm[:i] == old_fm[:i] and new_fm[i:i + 1] != old_fm[i:i + 1])
    added = len(new_fm) - len(old_fm)
    assert new_fm[k + added :] == old_fm[k:]
    old_data = tomllib.loads("\n".join(x.rstrip("\r") for x in old_fm[1:-1]))
    new_data = tomllib.loads("\n".join(x.rstrip("\r") for x in new_fm[1:-1]))
    table = new_data["extra"].pop("transcript")
    assert new_data == old_data and table["reviewed"] is False
    # the rest: the placeholder line (or, in an empty section, the heading's end) became the block
    lay, _ = episodes.layout(path, text)
    at = lay.placeholder - lay.fm_end - 1
    assert new_rest[:at] == old_rest[:at]
    assert [x.rstrip("\r") for x in new_rest[at : at + 1]] == [x.rstrip("\r") for x in old_rest[at : at + 1]] \
        or lay.placeholder != lay.heading
    tail = len(old_rest) - at - 1
    assert new_rest[len(new_rest) - tail :] == old_rest[at + 1 :]

    again = episodes.load(path)
    assert again.state == "generated"
    assert _our_body(again) == episodes.canonical(body)
    assert writeback.write(again, body, PROV).action == "unchanged"
    assert path.read_bytes().decode("utf-8") == new


@EXAMPLES
@given(page=pages().filter(lambda p: p[1] == "pending"), body=bodies, human=lines_of_text,
       where=st.floats(0, 1), force=st.booleans())
def test_a_line_a_person_adds_anywhere_in_the_section_is_never_replaced(
    tmp_path_factory, page, body, human, where, force
):
    path = _fresh(tmp_path_factory.mktemp("p"), page[0])
    try:
        writeback.write(episodes.load(path), body, PROV)
    except WritebackError:
        return
    text = path.read_bytes().decode("utf-8")
    lay, _ = episodes.layout(path, text)
    at = lay.heading + 1 + int(where * (len(lay.lines) - lay.heading - 1))
    lines = list(lay.lines)
    lines.insert(at, human + ("\r" if lay.newline == "\r\n" else ""))
    edited = "\n".join(lines)
    path.write_bytes(edited.encode("utf-8"))
    ep = episodes.load(path)
    assert ep.state in ("edited", "human")
    with pytest.raises(HumanTranscriptError):
        writeback.write(ep, body + " again", PROV, writeback.Options(force=force))
    assert path.read_bytes().decode("utf-8") == edited


@EXAMPLES
@given(page=pages(), junk=st.text(max_size=40))
def test_the_parser_fails_only_with_a_clear_error(tmp_path_factory, page, junk):
    text = page[0]
    cut = len(junk) % max(len(text), 1)
    for variant in (text, text[:cut] + junk + text[cut:]):
        path = _fresh(tmp_path_factory.mktemp("p"), variant)
        try:
            ep = episodes.load(path)
        except EpisodeError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc).strip()
            continue
        assert ep.state in set(EpisodeState)
        assert ep.text == variant


@EXAMPLES
@given(page=pages().filter(lambda p: p[1] == "pending"), first=bodies, second=bodies)
def test_a_regeneration_replaces_only_our_block_and_keeps_a_persons_keys(tmp_path_factory, page, first, second):
    path = _fresh(tmp_path_factory.mktemp("p"), page[0])
    try:
        writeback.write(episodes.load(path), first, PROV)
    except WritebackError:
        return
    lay, _ = episodes.layout(path, path.read_bytes().decode("utf-8"))
    lines = list(lay.lines)
    cr = "\r" if lay.newline == "\r\n" else ""
    at = next(i for i in range(lay.fm_end) if lines[i].startswith("reviewed = false"))
    lines.insert(at + 1, 'author = "Sam Ünïcødé"' + cr)
    path.write_bytes("\n".join(lines).encode("utf-8"))
    ours = path.read_bytes().decode("utf-8")
    assert writeback.write(episodes.load(path), second, dataclasses.replace(PROV, model="small.en")).action == "written"
    new = path.read_bytes().decode("utf-8")
    again = episodes.load(path)
    assert again.state == "generated" and _our_body(again) == episodes.canonical(second)
    table = again.front_matter["extra"]["transcript"]
    assert table["author"] == "Sam Ünïcødé" and table["model"] == "small.en"
    # outside our block and table, not a byte moved
    old_lay, _ = episodes.layout(path, ours)
    new_lay, _ = episodes.layout(path, new)
    assert old_lay.lines[old_lay.fm_end : old_lay.block[0]] == new_lay.lines[new_lay.fm_end : new_lay.block[0]]
    assert old_lay.lines[old_lay.block[1] + 1 :] == new_lay.lines[new_lay.block[1] + 1 :]
