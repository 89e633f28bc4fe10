"""Reading episode files: the real Zola files, the Jekyll ones (refused), and edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED_EPISODES
from pipeline import episodes
from pipeline.errors import EpisodeError

DATA = Path(__file__).parent / "data" / "episodes"
ZOLA = SHARED_EPISODES / "zola"

# the table in ../shared/episodes/README.md
README_CHAPTERS = {
    "2019-09-13-rust-in-production-with-armin-ronacher": 27,
    "2019-09-16-how-http-works-with-julia-evans": 21,
    "2019-09-27-how-to-teach-programming-with-felienne": 11,
    "2019-10-10-pod-hunt-and-side-projects-with-mubashar-iqbal": 13,
    "2019-10-24-how-the-ruby-runtime-works-with-aaron-patterson": 17,
    "2019-11-06-building-scalable-systems-safely-in-ruby-with-samuel-williams": 35,
    "2019-12-06-load-balancing-and-haproxy-with-daniel-corbett": 0,
    "2022-09-30-tailscale": 0,
}
HUMAN = {
    "2019-11-21-choosing-the-right-job-with-cassidy-williams",
    "2022-09-30-tailscale",
    "2025-09-24-wine",
}


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


MINIMAL = '+++\ntitle = "T"\n\n[extra]\nepisode_url = "https://example.com/a.mp3"\n+++\n\n## Transcript\n\nTranscript for this episode is coming soon.\n'


def test_every_zola_episode_parses_with_the_readme_chapter_counts(zola_episodes: list[Path]) -> None:
    assert len(zola_episodes) == 10
    for path in zola_episodes:
        ep = episodes.load(path, episodes.Options())
        assert ep.slug == path.parent.name
        assert ep.audio_url and ep.audio_url.startswith("https://") and ep.audio_url.endswith(".mp3")
        assert ep.title and ep.description
        if ep.slug in README_CHAPTERS:
            assert len(ep.chapters) == README_CHAPTERS[ep.slug], ep.slug
        starts = [c.start for c in ep.chapters]
        assert starts == sorted(starts), ep.slug
        lines = path.read_text().split("\n")
        for chapter in ep.chapters:  # the line number points at the list item itself
            assert chapter.title in lines[chapter.line - 1]
        assert ep.state == ("human" if ep.slug in HUMAN else "pending"), ep.slug
        assert ep.text.encode("utf-8") == path.read_bytes()


@pytest.mark.shared
def test_chapters_of_the_design_episode() -> None:
    ep = episodes.load(ZOLA / "2019-09-13-rust-in-production-with-armin-ronacher" / "index.md")
    first, last = ep.chapters[0], ep.chapters[-1]
    assert (first.start, first.title, first.line) == (37.0, "What got you interested in Rust?", 50)
    assert (last.start, last.title, last.line) == (58 * 60 + 24.0, "Wrap Up", 76)
    assert "## Transcript" in ep.body and not ep.body.startswith("+++")
    assert ep.front_matter["extra"]["episode_url"] == ep.audio_url


@pytest.mark.shared
def test_minutes_above_59_and_double_space_after_the_dash() -> None:
    ep = episodes.load(
        ZOLA / "2019-11-06-building-scalable-systems-safely-in-ruby-with-samuel-williams" / "index.md"
    )
    by_title = {c.title: c.start for c in ep.chapters}
    assert by_title["Reasons for the CRuby Global VM Lock"] == 64 * 60 + 55
    assert by_title["Wrap up"] == 87 * 60 + 17
    assert by_title["Lightweight process model used by Go and Erlang vs threads in Ruby"] == 21 * 60 + 1


@pytest.mark.shared
def test_timestamps_coming_soon_means_no_chapters_and_h3_transcript_heading_is_pending() -> None:
    ep = episodes.load(ZOLA / "2019-12-06-load-balancing-and-haproxy-with-daniel-corbett" / "index.md")
    assert ep.chapters == ()
    assert ep.state == "pending"


def test_timestamp_styles_dashes_bullets_spacing_and_hours() -> None:
    ep = episodes.load(DATA / "timestamp-styles.md")
    assert [(c.start, c.title) for c in ep.chapters] == [
        (37, "Plain"),
        (139, "Double spaces"),
        (251, "En dash"),
        (331, "Em dash"),
        (386, "Star bullet"),
        (3895, "Minutes above fifty-nine"),
        (3745, "Hours"),
        (3780, "Tight dash"),
        (3840, "Last one"),
    ]
    text = (DATA / "timestamp-styles.md").read_text().split("\n")
    assert all(c.title in text[c.line - 1] for c in ep.chapters)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0:37", 37), ("00:36", 36), ("64:55", 3895), ("1:02:25", 3745), ("01:00:00", 3600), ("2:03.5", 123.5)],
)
def test_parse_timestamp(text: str, seconds: float) -> None:
    assert episodes.parse_timestamp(text) == seconds


@pytest.mark.parametrize("text", ["", "37", "1:60", "1:75:00", "a:10", "1::2", "1:2:3:4", "-1:10"])
def test_parse_timestamp_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        episodes.parse_timestamp(text)


def test_bad_timestamp_in_the_list_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.md", MINIMAL.replace("\n## Transcript", "\n### Timestamps\n- 5:75 - Oops\n\n## Transcript"))
    with pytest.raises(EpisodeError, match=r"bad\.md: line 9: .*5:75"):
        episodes.load(path)


@pytest.mark.shared
def test_jekyll_files_are_refused_with_one_clear_line() -> None:
    files = sorted((SHARED_EPISODES / "jekyll").glob("*.md"))
    assert len(files) == 3
    for path in files:
        with pytest.raises(EpisodeError) as info:
            episodes.load(path)
        message = str(info.value)
        assert str(path) in message and "+++" in message and "YAML" in message
        assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no TOML front matter"),
        ("# Just markdown\n", "no TOML front matter"),
        ('+++\ntitle = "x"\n\nbody\n', "unterminated front matter"),
        ('+++\ntitle = "x"\nbroken = = 1\n+++\n', r"broken TOML front matter: .*at line 3"),
        ('+++\ntitle = "x"\nextra = 5\n+++\n', "'extra' .* must be a table"),
        ('+++\n[extra]\nepisode_url = 5\n+++\n', "episode_url must be a string"),
    ],
)
def test_bad_files_give_one_line_naming_the_file(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, "ep.md", text)
    with pytest.raises(EpisodeError, match=problem) as info:
        episodes.load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_non_utf8_bytes_are_refused_naming_the_line(tmp_path: Path) -> None:
    raw = MINIMAL.encode().replace(b'title = "T"', b'title = "Caf\xe9"')
    path = write(tmp_path, "latin1.md", raw)
    with pytest.raises(EpisodeError, match=r"latin1\.md: not UTF-8 \(byte 0xe9 on line 2\)"):
        episodes.load(path)
    assert path.read_bytes() == raw


def test_unreadable_file_is_an_episode_error(tmp_path: Path) -> None:
    folder = tmp_path / "folder.md"
    folder.mkdir()
    with pytest.raises(EpisodeError, match=r"folder\.md: cannot read"):
        episodes.load(folder)


def test_missing_episode_url_is_none_and_speakers_are_read(tmp_path: Path) -> None:
    text = MINIMAL.replace('episode_url = "https://example.com/a.mp3"', 'speakers = ["Jeremy", "Xe"]')
    ep = episodes.load(write(tmp_path, "x.md", text))
    assert ep.audio_url is None
    assert ep.speakers == ("Jeremy", "Xe")


@pytest.mark.shared
def test_crlf_and_bom_parse_like_lf_and_text_keeps_the_bytes(tmp_path: Path) -> None:
    source = ZOLA / "2019-09-13-rust-in-production-with-armin-ronacher" / "index.md"
    plain = episodes.load(source)
    raw = b"\xef\xbb\xbf" + source.read_bytes().replace(b"\n", b"\r\n")
    ep = episodes.load(write(tmp_path, "crlf.md", raw))
    assert ep.chapters == plain.chapters
    assert ep.front_matter == plain.front_matter
    assert (ep.state, ep.title, ep.body) == (plain.state, plain.title, plain.body)
    assert ep.text.encode("utf-8") == raw


def test_placeholder_only_counts_under_the_transcript_heading(tmp_path: Path) -> None:
    assert episodes.load(DATA / "quoted-placeholder.md").state == "pending"
    assert episodes.load(DATA / "no-transcript-section.md").state == "no-transcript-section"
    assert episodes.load(DATA / "empty-transcript-section.md").state == "pending"
    # the placeholder only inside a fence in the section: a human's text, not a job
    text = MINIMAL.replace(
        "Transcript for this episode is coming soon.", "```\nTranscript for this episode is coming soon.\n```"
    )
    assert episodes.load(write(tmp_path, "fenced.md", text)).state == "human"


def test_placeholders_are_configurable(tmp_path: Path) -> None:
    text = MINIMAL.replace("Transcript for this episode is coming soon.", "Transcript: soon!")
    path = write(tmp_path, "custom.md", text)
    assert episodes.load(path).state == "human"
    ep = episodes.load(path, episodes.Options(placeholders=("Transcript: soon!",)))
    assert ep.state == "pending"


def test_find_episodes_flat_files_bundles_and_folders(tmp_path: Path) -> None:
    content = tmp_path / "content"
    write(content, "flat.md", MINIMAL)
    write(content, "bundle/index.md", MINIMAL)
    write(content, "_index.md", MINIMAL)  # a Zola section, not an episode
    write(content, "notes.md", "# not an episode\n")
    write(content, ".hidden/index.md", MINIMAL)
    write(content, "deep/er/bom.md", b"\xef\xbb\xbf" + MINIMAL.encode())
    named = write(tmp_path, "named.md", "no front matter at all\n")
    found = episodes.find_episodes([content, content / "flat.md", named])
    assert found == sorted([content / "bundle/index.md", content / "deep/er/bom.md", content / "flat.md", named])
    assert [episodes.slug_of(p) for p in found] == ["bundle", "bom", "flat", "named"]
    with pytest.raises(EpisodeError, match="missing.md: no such file"):
        episodes.find_episodes([tmp_path / "missing.md"])


@pytest.mark.shared
def test_find_episodes_on_the_shared_zola_folder_without_duplicates() -> None:
    one = ZOLA / "2022-09-30-tailscale" / "index.md"
    found = episodes.find_episodes([ZOLA, one, ZOLA / "." / "2022-09-30-tailscale" / "index.md", ZOLA])
    assert len(found) == 10
    assert {episodes.slug_of(p) for p in found} >= set(README_CHAPTERS)


def test_a_timestamps_heading_inside_the_transcript_is_not_the_chapter_list(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "Transcript for this episode is coming soon.\n",
        '<div class="transcript">\n\n## Timestamps and clocks\n\n- 0:05 - said aloud\n\n</div>\n',
    )
    ep = episodes.load(write(tmp_path, "inside.md", text))
    assert ep.chapters == ()
    assert ep.state == "human"
