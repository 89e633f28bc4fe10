"""Sidecars that follow the text: the words file, retiming edited text, `publish`, where files go,
and the edits the review server makes.

Episodes here are written exactly as `transcribe` leaves them (align, render, write-back, words
file, sidecars) from hand-made transcripts with known times; the Whisper runs are elsewhere.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from align_fakes import golden_episode, random_chapters, random_transcript
from conftest import REPO
from pipeline import align, config, edits, episodes, formats, publish, render, retime, wordsfile, writeback
from pipeline.errors import ConcurrentEditError, EpisodeError
from pipeline.models import Provenance
from pipeline.workspace import Workspace

SLUG = "wine"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def site(root: Path, flat: bool = False, transcripts: str = "transcripts") -> Path:
    """The golden episode transcribed into `root` as `transcribe` would: file, words, sidecars."""
    transcript, chapters = golden_episode()
    notes = "\n".join(f"- {int(c.start) // 60}:{int(c.start) % 60:02d} - {c.title}" for c in chapters)
    path = root / "episodes" / (f"{SLUG}.md" if flat else f"{SLUG}/index.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((f'+++\ntitle = "Wine"  # keep this comment\n[extra]\nepisode_url = "https://example.com/w.mp3"\n'
                      f"+++\r\n\r\nNotes.\n\n### Timestamps\n{notes}\n\n## Transcript\n\n"
                      "Transcript for this episode is coming soon.\n").encode())
    episode = episodes.load(path)
    alignment = align.align(transcript, episode.chapters)
    body = render.render_markdown(alignment)
    writeback.write(episode, body, Provenance(engine="faster-whisper", model="tiny.en",
                                              offset=round(alignment.offset, 2)))
    drafts = root / transcripts / SLUG
    wordsfile.write(transcript, drafts / wordsfile.NAME)
    formats.write_sidecars(alignment, episode.chapters, drafts, title=episode.title)
    return path


def vtt_times(text: str) -> list[str]:
    return re.findall(r"^(\S+ --> \S+)$", text, flags=re.M)


# --- the words file ---------------------------------------------------------------------------------


def test_words_file_round_trips_every_word_and_segment_and_is_compact(tmp_path: Path) -> None:
    t = random_transcript(random.Random(3), ["Jeremy Jung", None, "Armin Ronacher"])
    back = wordsfile.read(wordsfile.write(t, tmp_path / "words.tsv"))
    assert [(w.start, w.end, w.text, w.speaker) for w in back.words] == \
        [(round(w.start, 3), round(w.end, 3), w.text, w.speaker) for w in t.words]
    assert [round(w.probability, 3) for w in t.words] == [w.probability for w in back.words]
    assert [(s.start, s.end) for s in back.segments] == [(round(s.start, 3), round(s.end, 3)) for s in t.segments]
    assert (back.engine, back.model, back.duration) == (t.engine, t.model, round(t.duration, 3))
    from pipeline.models import transcript_to_dict
    assert (tmp_path / "words.tsv").stat().st_size * 3 < len(json.dumps(transcript_to_dict(t), indent=1))


def test_a_broken_words_file_names_itself(tmp_path: Path) -> None:
    (tmp_path / "words.tsv").write_text("# podcast-transcripts words 1\n# {}\n")
    with pytest.raises(EpisodeError, match=r"words\.tsv: unreadable words file"):
        wordsfile.read(tmp_path / "words.tsv")
    (tmp_path / "other.tsv").write_text("hello\n")
    with pytest.raises(EpisodeError, match="other.tsv: not a words file"):
        wordsfile.read(tmp_path / "other.tsv")


# --- retiming ---------------------------------------------------------------------------------------


def test_an_unedited_transcript_publishes_exactly_what_transcribe_wrote() -> None:
    for seed in range(25):
        rng = random.Random(seed)
        t = random_transcript(rng, ["Jeremy Jung", "Armin Ronacher", "Speaker 3"] if seed % 2 else [None])
        chapters = random_chapters(rng, t.duration)
        machine = align.align(t, chapters)
        back = retime.retime(render.render_markdown(machine), t, chapters, machine.offset, machine=machine)
        for name, writer in formats.WRITERS.items():
            assert writer.render(back.alignment, back.chapters) == writer.render(machine, chapters), (seed, name)


def test_fixed_words_keep_their_time_and_inserted_words_share_their_neighbours() -> None:
    recorded = [w for w in golden_episode()[0].words]
    tokens = [w.text.strip() for w in recorded]
    i = tokens.index("translation")
    tokens[i] = "compatibility"
    tokens.insert(i + 1, "(really)")
    del tokens[tokens.index("Quick")]
    out = retime.retime_tokens(tokens, recorded)
    assert [w.text.strip() for w in out] == tokens
    fixed, inserted, after = out[i], out[i + 1], out[i + 2]
    assert (fixed.start, fixed.end, fixed.probability) == (recorded[i].start, recorded[i].end, 1.0)
    assert recorded[i].end <= inserted.start <= inserted.end <= recorded[i + 1].start
    assert (after.start, after.end) == (recorded[i + 1].start, recorded[i + 1].end)
    starts = [w.start for w in out]
    assert starts == sorted(starts)


# --- publish ----------------------------------------------------------------------------------------


def test_a_hand_edit_then_publish_puts_the_fix_in_every_sidecar_with_times_kept(tmp_path: Path) -> None:
    path = site(tmp_path)
    out = tmp_path / "transcripts" / SLUG
    before = {name: (out / name).read_text() for name in ("transcript.vtt", "transcript.srt", "transcript.json")}
    text = path.read_bytes().decode()
    assert text.count("translation layer") == 1
    path.write_bytes(text.replace("translation layer", "compatibility layer").encode())

    proc = cli("publish", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    after = {name: (out / name).read_text() for name in before}
    for name, content in after.items():
        assert "compatibility layer" in content and "translation" not in content, name
    assert vtt_times(after["transcript.vtt"]) == vtt_times(before["transcript.vtt"])
    old_json, new_json = json.loads(before["transcript.json"]), json.loads(after["transcript.json"])
    assert [(s["startTime"], s["endTime"], s.get("speaker")) for s in new_json["segments"]] == \
        [(s["startTime"], s["endTime"], s.get("speaker")) for s in old_json["segments"]]
    assert [s["body"] for s in new_json["segments"]] == \
        [s["body"].replace("translation layer", "compatibility layer") for s in old_json["segments"]]
    # The review page is rebuilt from the file too.
    proc = cli("review", SLUG, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = (out / "review.html").read_text()
    assert "compatibility" in page and ">translation<" not in page


def test_sidecars_bundle_puts_them_beside_index_md(tmp_path: Path) -> None:
    path = site(tmp_path)
    (tmp_path / "podcast-transcripts.toml").write_text('sidecars = "bundle"\n')
    proc = cli("publish", "episodes", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["chapters.json", "index.md", "transcript.json", "transcript.srt", "transcript.vtt"]
    assert (path.parent / "transcript.vtt").read_text().startswith("WEBVTT\n")
    chapters = json.loads((path.parent / "chapters.json").read_text())
    assert [c["title"] for c in chapters["chapters"]] == ["What's Wine", "C++ & <Rust> *stars*", "Wrap-up"]


def test_sidecars_dir_and_a_flat_file_with_bundle(tmp_path: Path) -> None:
    path = site(tmp_path, flat=True)
    (tmp_path / "site.toml").write_text('[tool.pipeline]\nsidecars_dir = "static/transcripts"\n')
    proc = cli("publish", "--config", "site.toml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "static" / "transcripts" / SLUG / "transcript.vtt").is_file()
    (tmp_path / "site.toml").write_text('[tool.pipeline]\nsidecars = "bundle"\n')
    proc = cli("publish", str(path), "--config", "site.toml", cwd=tmp_path)
    assert proc.returncode == 1 and f"{path.relative_to(tmp_path)}: sidecars = \"bundle\" needs a page bundle" \
        in proc.stderr


def test_config_file_plain_table_and_episodes_dir(tmp_path: Path) -> None:
    (tmp_path / "cfg.toml").write_text('model = "base.en"\nheading_level = 3\n')
    settings = config.load({}, config_file=tmp_path / "cfg.toml")
    assert settings.transcribe.model == "base.en" and settings.render.heading_level == 3
    with pytest.raises(Exception, match="cannot read the settings file"):
        config.load({}, config_file=tmp_path / "missing.toml")
    site(tmp_path / "elsewhere")
    proc = cli("status", "--episodes-dir", "elsewhere/episodes", "--transcripts-dir", "elsewhere/transcripts",
               cwd=tmp_path)
    assert proc.returncode == 0 and SLUG in proc.stdout, proc.stdout + proc.stderr


# --- what the review server changes ----------------------------------------------------------------


def test_edits_change_only_what_they_must(tmp_path: Path) -> None:
    path = site(tmp_path)
    data = path.read_bytes()
    body = edits.current_body(path, data.decode())
    assert edits.speakers(body) == ["Jeremy Jung", "Elizabeth Figura", "Speaker 3"]
    renamed = edits.rename_speaker(body, "Speaker 3", "Abbie Smith")
    assert renamed == body.replace("**Speaker 3:**", "**Abbie Smith:**")
    fixed = edits.set_paragraph(renamed, 0, "Today I am talking to Elizabeth Figura. She is a <Wine> developer.")
    assert fixed == renamed.replace("a Wine developer", "a &lt;Wine&gt; developer")
    moved = edits.move_heading(fixed, 0, 1)  # "What's Wine" up, before Elizabeth's first turn
    assert moved.index("## What's Wine") < moved.index("Thank you Jeremy")
    assert sorted(moved.split("\n")) == sorted(fixed.split("\n"))

    new = edits.save(path, edits.version(data), moved)
    expected = data.decode().replace(body, moved).encode()
    assert new == expected == path.read_bytes()
    with pytest.raises(ConcurrentEditError):
        edits.save(path, edits.version(data), body)  # the page's version is stale now
    assert path.read_bytes() == new
    assert episodes.load(path).state == "edited"
    chapters = json.loads(formats.WRITERS["chapters-json"].render(
        *(lambda e: (e.alignment, e.chapters))(publish.edited(episodes.load(path), publish.load_words(
            Workspace(tmp_path / "transcripts"), SLUG)))))
    wine = next(c for c in chapters["chapters"] if c["title"] == "What's Wine")
    thank_you = next(w for w in golden_episode()[0].words if w.text.strip() == "Thank")
    assert wine["startTime"] == pytest.approx(thank_you.start)  # the heading's new place


TURNS = """## Intro

[00:00:01] **Kim Porter:** Welcome to the show.

[00:00:05] **Bryan Ortiz:** Thanks for having me.

[00:00:09] Glad to be here.

[00:00:12] **Kim:** So tell me.

## Next

[00:00:20] **Bryan:** Sure.
"""


def test_a_short_label_means_the_full_name_on_the_page_before_the_front_matters() -> None:
    renamed = [retime.Block("paragraph", "", label) for label in ("Jeremy Q Jung", "Armin", "Jeremy", None)]
    assert retime.resolve_speakers(renamed, ("Jeremy Jung", "Armin Ronacher")) == [
        "Jeremy Q Jung", "Armin Ronacher", "Jeremy Q Jung", "Jeremy Q Jung"]


def test_a_paragraph_given_to_another_speaker_relabels_it_and_its_neighbours_as_render_would() -> None:
    def who(body: str) -> list[str | None]:
        return retime.resolve_speakers(retime.blocks(body))

    # A continuation becomes a turn of its own; the next turn of the same person needs no label.
    moved = edits.set_speaker(TURNS, 2, "Kim Porter")
    assert who(moved) == ["Kim Porter", "Bryan Ortiz", "Kim Porter", "Kim Porter", "Bryan Ortiz"]
    assert moved == TURNS.replace("[00:00:09] Glad", "[00:00:09] **Kim:** Glad").replace("**Kim:** So", "So")
    # A short name means the person already on the page.
    assert who(edits.set_speaker(TURNS, 1, "Kim")) == ["Kim Porter"] * 2 + ["Bryan Ortiz", "Kim Porter", "Bryan Ortiz"]
    # The first turn taken from Kim: her next one must carry her full name, or "Kim" is nobody.
    first = edits.set_speaker(TURNS, 0, "Bryan Ortiz")
    assert who(first) == ["Bryan Ortiz"] * 3 + ["Kim Porter", "Bryan Ortiz"]
    assert "**Kim Porter:** So tell me." in first and "[00:00:05] Thanks" in first
    # After a heading the label stays (readers jump there); a new person is written in full.
    assert edits.set_speaker(TURNS, 4, "Alex Doe") == TURNS.replace("**Bryan:** Sure.", "**Alex Doe:** Sure.")
    assert edits.set_speaker(TURNS, 3, "Kim Porter") == TURNS  # already hers: nothing moves
    with pytest.raises(EpisodeError, match="no paragraph 9"):
        edits.set_speaker(TURNS, 9, "Kim Porter")
    with pytest.raises(EpisodeError, match="cannot be empty"):
        edits.set_speaker(TURNS, 1, "  ")


# --- the review server's API, in this process (the browser test is tests/test_review_server.py) ----


def _post(server, slug: str, action: str, args: dict, token: str | None = None) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    import urllib.error
    import urllib.request

    base = server.url.split("/?")[0]
    request = urllib.request.Request(f"{base}/api/{slug}/{action}", data=json.dumps(args).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "X-Review-Token": server.token if token is None else token})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_review_server_api_saves_each_change_and_refuses_stale_or_unsigned_ones(tmp_path: Path) -> None:
    import threading

    from pipeline import review_server

    path = site(tmp_path)
    ws = Workspace(tmp_path / "transcripts")
    s = config.build({})
    server = review_server.ReviewServer(review_server.Site(
        {SLUG: path}, ws, s.episodes, s.writeback, s.align, s.publish, s.flags))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        before = path.read_bytes()
        assert _post(server, SLUG, "approve", {"version": edits.version(before)}, token="guess")[0] == 403
        assert _post(server, SLUG, "approve", {"version": "0" * 64})[0] == 409
        assert path.read_bytes() == before

        status, answer = _post(server, SLUG, "rename", {"version": edits.version(before), "old": "Speaker 3",
                                                         "new": "Abbie Smith", "voice": True})
        assert status == 200, answer
        assert path.read_bytes() == before.replace(b"**Speaker 3:**", b"**Abbie Smith:**")
        assert answer["notes"] and "known voice" in answer["notes"][0]  # saved, or why not
        assert "Abbie Smith" in (ws.drafts(SLUG) / "transcript.vtt").read_text()

        # One paragraph to another speaker: the published captions follow.
        body = edits.current_body(path, path.read_text())
        assert "Dana Wolfe" not in (ws.drafts(SLUG) / "transcript.vtt").read_text()
        status, answer = _post(server, SLUG, "speaker", {"version": answer["version"], "n": 1, "name": "Dana Wolfe"})
        assert status == 200, answer
        assert retime.resolve_speakers(retime.blocks(edits.current_body(path, path.read_text())))[1] == "Dana Wolfe"
        assert edits.current_body(path, path.read_text()) == edits.set_speaker(body, 1, "Dana Wolfe")
        second = retime.blocks(body)[[b.kind for b in retime.blocks(body)].index("paragraph") + 1].text
        assert f"<v Dana Wolfe>{second.split()[0]}" in (ws.drafts(SLUG) / "transcript.vtt").read_text().replace("\n", " ")

        status, answer = _post(server, SLUG, "paragraph", {"version": answer["version"], "n": 99, "text": "x"})
        assert status == 400 and "no paragraph 99" in answer["error"]
        status, answer = _post(server, SLUG, "approve", {"version": edits.version(path.read_bytes())})
        assert status == 200 and episodes.load(path).state == "reviewed"
    finally:
        server.close()
