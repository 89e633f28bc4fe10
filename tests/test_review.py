"""The HTML review page: what it flags, how it escapes, and how it behaves in a real Chromium.

The flag logic runs on hand-made transcripts (exact times and scores). The browser tests use a
synthesized two-voice episode transcribed by the bundled Whisper model, served with its MP3 from
a Range-capable HTTP server on 127.0.0.1, and driven by selenium through /usr/bin/chromedriver.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

import pytest

from pipeline import config, flags as review_flags, review
from pipeline.lab import synth
from pipeline.workspace import Workspace
from pipeline.errors import PipelineError
from pipeline.models import (
    Alignment, Chapter, Episode, Paragraph, Section, Segment, Transcript, Word, transcript_to_dict,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


# --- hand-made material ---------------------------------------------------------------------------


def words_at(spec: str, start: float, speaker: str | None = None) -> tuple[Word, ...]:
    """`"a b@0.2 c"`: 0.4 s words, 0.1 s apart, from `start`; `@p` sets a probability."""
    out = []
    t = start
    for token in spec.split():
        text, _, p = token.partition("@")
        out.append(Word(round(t, 3), round(t + 0.4, 3), " " + text, float(p) if p else 0.95, speaker))
        t += 0.5
    return tuple(out)


def segment(words: tuple[Word, ...], avg_logprob: float = -0.2, no_speech_prob: float = 0.01) -> Segment:
    return Segment(words[0].start, words[-1].end, "".join(w.text for w in words), avg_logprob, no_speech_prob, words)


def transcript_of(*segments: Segment, duration: float | None = None) -> Transcript:
    end = segments[-1].end if segments else 0.0
    return Transcript(tuple(segments), "en", duration or end + 1.0, "faster-whisper", "tiny.en")


def one_section(transcript: Transcript, chapter: Chapter | None = None, offset: float = 0.0,
                warnings: tuple[str, ...] = ()) -> Alignment:
    paragraphs = tuple(Paragraph(s.start, s.end, s.words, s.words[0].speaker) for s in transcript.segments)
    return Alignment((Section(chapter, paragraphs),), offset, warnings, transcript.duration)


def episode_of(chapters: tuple[Chapter, ...] = (), title: str = "Rust at Sentry", slug: str = "rust-at-sentry",
               url: str | None = "https://example.com/ep.mp3") -> Episode:
    return Episode(Path(f"episodes/{slug}/index.md"), slug, title, "", url, {}, "", chapters, (), "generated", "")


def of_kind(flags: list[review_flags.Flag], kind: str) -> list[review_flags.Flag]:
    return [f for f in flags if f.kind == kind]


# --- flags ----------------------------------------------------------------------------------------


def test_long_gaps_between_words_are_flagged_at_the_word_after_them() -> None:
    first = words_at("we talked about rust", 1.0)  # ends at 2.9
    after_gap = words_at("and then about python", 15.0)  # 12.1 s later
    short_pause = words_at("all good", 22.0)  # 5 s after the previous word
    t = transcript_of(segment(first), segment(after_gap), segment(short_pause), duration=60.0)
    flags = of_kind(review_flags.find_flags(episode_of(), t, one_section(t), review_flags.Options(long_gap=8.0)), "gap")

    inner = [f for f in flags if "without words" in f.message]
    assert [(f.start, f.anchor) for f in inner] == [(2.9, "w4")]  # w4: the first word after the gap
    assert "12 s without words (00:00:02–00:00:15)" in inner[0].message
    trailing = [f for f in flags if "last" in f.message]
    assert len(trailing) == 1 and "no words in the last 37 s" in trailing[0].message
    assert len(flags) == 2  # the 5 s pause and the 1 s lead-in are below long_gap


def test_suspected_hallucinations_from_scores_repeats_and_known_phrases() -> None:
    normal = segment(words_at("so what is rust about", 0.0))
    unsure = segment(words_at("the crowd goes wild", 3.0), no_speech_prob=0.85)
    garbled = segment(words_at("fleeb the narn", 6.0), avg_logprob=-1.4)
    looping = segment(words_at("thank you thank you thank you thank you", 9.0))
    no_no_no = segment(words_at("no no no it is fine", 14.0))  # three times a single word: speech
    outro = segment(words_at("thanks for watching", 18.0))
    repeat_a = segment(words_at("we should ship it now", 21.0))
    repeat_b = segment(words_at("we should ship it now", 24.0))
    t = transcript_of(normal, unsure, garbled, looping, no_no_no, outro, repeat_a, repeat_b)
    flags = of_kind(review_flags.find_flags(episode_of(), t, one_section(t)), "hallucination")
    by_time = {f.start: f.message for f in flags}

    assert "probably not speech (no_speech_prob 0.85)" in by_time[3.0]
    assert "uncertain decoding (avg_logprob -1.40)" in by_time[6.0]
    assert by_time[9.0] == "“thank you” repeated 4×"
    assert "a phrase Whisper often invents" in by_time[18.0]
    assert "the same text as the segment before" in by_time[24.0]
    assert 0.0 not in by_time and 14.0 not in by_time
    assert len(flags) == 5


def test_each_speaker_is_listed_with_the_evidence_for_the_name_and_numbered_ones_flagged() -> None:
    from dataclasses import replace

    from pipeline.models import Diarization

    t = transcript_of(segment(words_at("welcome to the show", 0.0, "Kim Porter")),
                      segment(words_at("thanks for having me", 3.0, "Speaker 1")),
                      segment(words_at("so tell us", 6.0, "Kim Porter")))
    t = replace(t, diarization=Diarization("fake", 2, "voices", {"Kim Porter": "known voice"}, True))
    flags = of_kind(review_flags.find_flags(episode_of(), t, one_section(t)), "speaker")
    assert [(f.start, f.message) for f in flags] == [
        (0.0, "Kim Porter: known voice"),
        (3.0, "Speaker 1: no evidence for a name: give it in the front matter's speakers, or add a known voice"),
    ]
    calm = replace(t, diarization=Diarization("fake", 2, "voices", {}, False))
    assert of_kind(review_flags.find_flags(episode_of(), calm, one_section(calm)), "speaker") == []


def test_a_doubtful_turn_is_flagged_with_the_other_likely_speaker_and_survives_the_words_file() -> None:
    from dataclasses import replace

    from pipeline.models import Diarization, transcript_from_dict

    t = transcript_of(segment(words_at("welcome to the show", 0.0, "Kim Porter")),
                      segment(words_at("thanks for having me", 3.0, "Bryan Ortiz")),
                      segment(words_at("so tell us", 6.0, "Kim Porter")))
    t = replace(t, diarization=Diarization("fake", 2, "episode", doubtful=((3.0, 4.9, "Kim Porter"),)))
    t = transcript_from_dict(json.loads(json.dumps(transcript_to_dict(t))))
    assert t.diarization is not None and t.diarization.doubtful == ((3.0, 4.9, "Kim Porter"),)
    flags = of_kind(review_flags.find_flags(episode_of(), t, one_section(t)), "speaker")
    assert [(f.start, f.message.split("?")[0], f.anchor) for f in flags] == [(3.0, "Bryan Ortiz, or Kim Porter", "w4")]


def test_low_confidence_words_are_grouped_into_spans() -> None:
    t = transcript_of(segment(words_at("we use rust@0.3 and@0.2 python for@0.45 speed", 0.0)))
    flags = of_kind(review_flags.find_flags(episode_of(), t, one_section(t), threshold=0.5), "low")
    assert [(f.message, f.anchor) for f in flags] == [
        ("“rust and” (probability 0.20)", "w2"),
        ("“for” (probability 0.45)", "w5"),
    ]
    stricter = of_kind(review_flags.find_flags(episode_of(), t, one_section(t), threshold=0.25), "low")
    assert [f.message for f in stricter] == ["“and” (probability 0.20)"]

    # A span of doubtful words stops at a paragraph break (here also a change of speaker).
    t = transcript_of(segment(words_at("i like rust@0.3", 0.0, "Ann")), segment(words_at("thanks@0.2 ann", 2.0, "Bob")))
    flags = of_kind(review_flags.find_flags(episode_of(), t, one_section(t)), "low")
    assert [(f.message, f.anchor) for f in flags] == [
        ("“rust” (probability 0.30)", "w2"), ("“thanks” (probability 0.20)", "w3")]


def test_chapter_flags_for_drift_offsets_warnings_and_unplaced_chapters() -> None:
    intro = Chapter(0.0, "Intro", 10)
    why = Chapter(30.0, "Why Rust", 11)
    late = Chapter(400.0, "Debugging", 12)
    lost = Chapter(47.0, "Lost chapter", 13)
    chapters = (intro, why, lost, late)
    a = words_at("hello and welcome to the show", 5.0)
    b = words_at("so why did you pick rust", 52.0)  # 17 s after Why Rust's shifted time (35)
    t = transcript_of(segment(a), segment(b), duration=120.0)
    alignment = Alignment(
        (Section(intro, (Paragraph(a[0].start, a[-1].end, a),)), Section(why, (Paragraph(b[0].start, b[-1].end, b),))),
        5.0,
        ("chapter 'Debugging' (line 12) at 00:06:45 is after the end of the audio (00:02:00); dropped",),
        120.0,
    )
    flags = of_kind(review_flags.find_flags(episode_of(chapters), t, alignment, review_flags.Options(chapter_drift=10.0)), "chapter")
    messages = {f.message: f.anchor for f in flags}

    assert messages["chapter 'Debugging' (line 12) at 00:06:45 is after the end of the audio (00:02:00); dropped"] \
        .startswith("w")  # not placed, so it links to the words spoken around its time
    assert messages["show-notes times shifted by +5.0 s to match the audio"] == "ch0"
    drift = [m for m in messages if m.startswith("“Why Rust” heading is at 00:00:52, +17 s")]
    assert drift and messages[drift[0]] == "ch1"
    assert messages["“Lost chapter” (line 13, 00:00:47) was not placed"] == "w6"  # 52 s: "so", the first word then
    assert not any("Intro" in m for m in messages)  # placed 0 s from its shifted time
    assert len(flags) == 4


def test_flags_link_to_anchors_present_in_the_page() -> None:
    why = Chapter(25.0, "Why Rust", 3)
    a = words_at("hello hello hello hello there", 0.0)
    b = words_at("rust@0.1 is fast", 40.0)
    t = transcript_of(segment(a), segment(b, no_speech_prob=0.9))
    alignment = Alignment((Section(None, (Paragraph(0.0, a[-1].end, a),)),
                           Section(why, (Paragraph(40.0, b[-1].end, b),))), 0.0, (), t.duration)
    page = review.render_page(episode_of((why,)), t, alignment, "audio.mp3")
    ids = set(re.findall(r'\sid="([^"]+)"', page))
    targets = re.findall(r'<li><a href="#([^"]+)"', page)
    assert len(targets) == 5  # repeat, gap, hallucination, low word, heading drift
    assert set(targets) <= ids and "ch0" in targets


# --- the page as a file ---------------------------------------------------------------------------


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_page_escapes_text_and_loads_nothing_external(tmp_path: Path) -> None:
    evil = words_at("<img@0.2 src=x onerror=alert(1)> &amp; \"quoted\" {{title}}", 0.0, speaker="<b>Bob</b>")
    t = transcript_of(segment(evil))
    episode = episode_of(title="Tom & Jerry </title><script>alert(1)</script>")
    out = review.write_page(episode, t, one_section(t), "../audio/ep%201.mp3", tmp_path / "p" / "review.html")
    page = out.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    tags = [tag for tag, _ in parser.tags]

    assert "img" not in tags and tags.count("script") == 1 and tags.count("b") == 1
    assert parser.tags[[t for t, _ in parser.tags].index("title")] and \
        "Review: Tom & Jerry </title><script>alert(1)</script>" in parser.text
    words = "".join(parser.text)
    assert "<img src=x onerror=alert(1)> &amp; \"quoted\" {{title}}" in words
    assert "<b>Bob</b>:" in words
    # Nothing is fetched from elsewhere: the only address is the audio; links stay in the page.
    for tag, attrs in parser.tags:
        if "src" in attrs:
            assert (tag, attrs["src"]) == ("audio", "../audio/ep%201.mp3")
        if "href" in attrs:
            assert attrs["href"].startswith("#") or (tag == "link" and attrs["href"] == "data:,")
    assert 'title="probability 0.20"' in page
    assert "python -m pipeline approve rust-at-sentry" in words
    assert not list(tmp_path.glob("p/.*"))  # the temporary file was renamed into place


def test_audio_source_prefers_the_local_copy_relative_to_the_page(tmp_path: Path) -> None:
    root = tmp_path / "transcripts"
    episode = episode_of(slug="ep 1")
    page = root / "ep 1" / "review.html"
    assert review.audio_source(episode, page, Workspace(root)) == "https://example.com/ep.mp3"
    (root / "audio").mkdir(parents=True)
    (root / "audio" / "ep 1.m4a").write_bytes(b"\0")
    (root / "audio" / "ep 1.m4a.json").write_text("{}")
    assert review.audio_source(episode, page, Workspace(root)) == "../audio/ep%201.m4a"
    assert review.audio_source(episode_of(slug="other", url=None), page, Workspace(root)) is None

    t = transcript_of(segment(words_at("hi there", 0.0)))
    hostile = review.render_page(episode, t, one_section(t), "javascript:alert(1)")
    assert "javascript:" not in hostile and "No audio" in hostile


def _settings(root: Path, **values: object) -> config.Settings:
    return config.build({"episodes_dir": str(root / "episodes"), "transcripts_dir": str(root / "transcripts"),
                         **values})


def _write_pages(slugs: list[str], settings: config.Settings) -> list[Path]:
    return review.write_pages(slugs, settings.workspace, settings.episodes_dir, episode_options=settings.episodes,
                              align_options=settings.align, flag_options=settings.flags,
                              threshold=settings.render.review_threshold)


def test_write_pages_for_every_transcribed_episode_and_names_missing_ones(tmp_path: Path) -> None:
    script = synth.parse_script({
        "title": "Pages", "speakers": {"Ann": {}},
        "parts": [{"chapter": "Start", "speaker": "Ann", "text": "hello"}],
    }, slug="ep-a")
    truth = synth.Truth((), (("Start", 0.0),), (), (), 10.0)
    for slug in ("ep-a", "ep-b"):
        synth.write_episode_file(script, truth, f"https://example.com/{slug}.mp3",
                                 tmp_path / "episodes" / slug / "index.md")
    t = transcript_of(segment(words_at("hello and welcome", 0.0)))
    (tmp_path / "transcripts" / "ep-a").mkdir(parents=True)
    (tmp_path / "transcripts" / "ep-a" / "whisper.json").write_text(json.dumps(transcript_to_dict(t)))
    settings = _settings(tmp_path)

    pages = _write_pages([], settings)
    assert pages == [tmp_path / "transcripts" / "ep-a" / "review.html"]
    assert "https://example.com/ep-a.mp3" in pages[0].read_text()
    with pytest.raises(PipelineError, match="no transcript for 'ep-b'"):
        _write_pages(["ep-b"], settings)
    (tmp_path / "transcripts" / "ep-c").mkdir()
    (tmp_path / "transcripts" / "ep-c" / "whisper.json").write_text(json.dumps(transcript_to_dict(t)))
    with pytest.raises(PipelineError, match="no episode file for 'ep-c'"):
        _write_pages(["ep-c"], settings)
    (tmp_path / "transcripts" / "ep-a" / "whisper.json").write_text("{not json")
    with pytest.raises(PipelineError, match="whisper.json: unreadable transcript"):
        _write_pages(["ep-a"], settings)


# --- in a real browser ----------------------------------------------------------------------------


class RangeHandler(SimpleHTTPRequestHandler):
    """Static files with byte ranges: a media element seeks by asking for them."""

    ranges_served: list[str] = []

    def send_head(self):  # type: ignore[no-untyped-def]
        wanted = self.headers.get("Range")
        path = self.translate_path(self.path)
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", (wanted or "").strip())
        if not match or not os.path.isfile(path):
            return super().send_head()
        data = Path(path).read_bytes()
        first, last = match.groups()
        start = len(data) - int(last) if first == "" else int(first)
        end = len(data) - 1 if first == "" or last == "" else min(int(last), len(data) - 1)
        if start >= len(data):
            self.send_error(416)
            return None
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.ranges_served.append(self.path)
        return BytesIO(data[start:end + 1])

    def log_message(self, *args: object) -> None:
        pass


def _with_speakers(transcript: Transcript, truth: synth.Truth) -> Transcript:
    """Give each word the speaker of the scripted line it falls in (diarization is another stage)."""
    def who(w: Word) -> str:
        mid = (w.start + w.end) / 2
        return min(truth.lines, key=lambda line: max(line.start - mid, mid - line.end, 0.0)).speaker

    segments = tuple(
        Segment(s.start, s.end, s.text, s.avg_logprob, s.no_speech_prob,
                tuple(Word(w.start, w.end, w.text, w.probability, who(w)) for w in s.words))
        for s in transcript.segments
    )
    return Transcript(segments, transcript.language, transcript.duration, transcript.engine, transcript.model)


@pytest.fixture(scope="module")
def review_site(bundled_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo episode, really transcribed, laid out as `transcribe` leaves it; its review page."""
    from faster_whisper import WhisperModel

    root = tmp_path_factory.mktemp("site")
    script = synth.load_script("demo")
    audio = root / "transcripts" / "audio" / f"{script.slug}.mp3"
    truth = synth.synthesize(script, audio)
    synth.write_episode_file(script, truth, "https://example.com/demo.mp3",
                             root / "episodes" / script.slug / "index.md")
    model = WhisperModel(str(bundled_model), device="cpu", compute_type="int8", cpu_threads=2)
    segments, info = model.transcribe(str(audio), language="en", beam_size=1, word_timestamps=True)
    transcript = Transcript(
        tuple(Segment(s.start, s.end, s.text, s.avg_logprob, s.no_speech_prob,
                      tuple(Word(w.start, w.end, w.word, w.probability) for w in s.words)) for s in segments),
        "en", info.duration, "faster-whisper", "tiny.en",
    )
    transcript = _with_speakers(transcript, truth)
    (root / "transcripts" / script.slug).mkdir()
    (root / "transcripts" / script.slug / "whisper.json").write_text(json.dumps(transcript_to_dict(transcript)))
    # Short gaps and a high threshold, so that the short demo has flags of both kinds to follow.
    settings = _settings(root, long_gap=0.6, review_threshold=0.9)
    [page] = _write_pages([script.slug], settings)
    return page, script.slug


@pytest.fixture(scope="module")
def served(review_site: tuple[Path, str]):  # type: ignore[no-untyped-def]
    page, slug = review_site
    handler = partial(RangeHandler, directory=str(page.parent.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{slug}/review.html"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(served: str):  # type: ignore[no-untyped-def]
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(f"the review-page tests need {CHROMIUM} and {CHROMEDRIVER}: "
                    "apt-get install chromium chromium-driver (make sysdeps)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("the review-page tests need selenium: pip install -e '.[test]'")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1200,900"):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="review-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.get(served)
        _wait(driver, "return document.getElementById('player').readyState >= 1", "audio metadata")
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, script: str, what: str, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _no_console_errors(driver) -> None:  # type: ignore[no-untyped-def]
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []


def _click(driver, element) -> None:  # type: ignore[no-untyped-def]
    # Centre it first: the sticky header would otherwise catch clicks near the top edge.
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def _current_time(driver) -> float:  # type: ignore[no-untyped-def]
    return float(driver.execute_script("return document.getElementById('player').currentTime"))


@pytest.mark.model
@pytest.mark.chromium
def test_review_page_loads_in_chromium_with_audio_and_without_console_errors(browser, review_site) -> None:
    state = browser.execute_script(
        "var a = document.getElementById('player');"
        "return {error: a.error && a.error.code, duration: a.duration, src: a.getAttribute('src'),"
        " paras: document.querySelectorAll('p.para').length, speakers: document.querySelectorAll('.speaker').length}"
    )
    assert state["error"] is None
    assert state["src"] == "../audio/demo-rust-in-production.mp3"
    assert state["duration"] == pytest.approx(json.loads(
        (review_site[0].parent / "whisper.json").read_text())["duration"], abs=0.5)
    assert state["paras"] >= 3 and state["speakers"] >= 3
    assert [h.text.split(" [")[0] for h in browser.find_elements("css selector", "h2.chapter")] == [
        "Introduction", "Why Rust", "Debugging at Sentry"]
    _no_console_errors(browser)


@pytest.mark.model
@pytest.mark.chromium
def test_clicking_a_timecode_seeks_the_audio_to_its_paragraph(browser) -> None:
    paragraphs = browser.find_elements("css selector", "p.para")
    target = next(p for p in paragraphs if float(p.get_attribute("data-start")) > 5.0)
    start = float(target.get_attribute("data-start"))
    _click(browser, target.find_element("css selector", "a.tc"))
    assert _current_time(browser) == pytest.approx(start, abs=0.5)
    assert "current" in target.get_attribute("class").split()
    assert browser.execute_script("return location.hash") == ""  # seeking, not jumping to the anchor
    assert RangeHandler.ranges_served, "the audio was never fetched with a Range request"
    _no_console_errors(browser)


@pytest.mark.model
@pytest.mark.chromium
def test_clicking_a_word_seeks_the_audio_to_that_word(browser) -> None:
    words = browser.find_elements("css selector", "#transcript .w")
    word = words[len(words) * 3 // 4]
    start = float(word.get_attribute("data-start"))
    _click(browser, word)
    assert _current_time(browser) == pytest.approx(start, abs=0.5)
    _no_console_errors(browser)


@pytest.mark.model
@pytest.mark.chromium
def test_playback_highlights_the_current_paragraph(browser) -> None:
    paragraphs = browser.find_elements("css selector", "p.para")
    second = paragraphs[1]
    start = float(second.get_attribute("data-start"))
    browser.execute_script(
        "var a = document.getElementById('player'); a.currentTime = arguments[0]; a.play()", start + 0.1)
    _wait(browser, f"return document.getElementById('player').currentTime > {start + 0.6}", "playback")
    current = browser.find_elements("css selector", "p.para.current")
    assert [p.get_attribute("id") for p in current] == [second.get_attribute("id")]
    assert len(browser.find_elements("css selector", "#transcript .w.now")) == 1
    browser.execute_script("document.getElementById('player').pause()")
    _no_console_errors(browser)


@pytest.mark.model
@pytest.mark.chromium
def test_flags_list_links_to_anchors_in_the_text(browser) -> None:
    links = browser.find_elements("css selector", "#flags li a")
    kinds = {d.get_attribute("class") for d in browser.find_elements("css selector", "#flags details")}
    assert {"gap", "low"} <= kinds
    hrefs = [a.get_attribute("href").split("#", 1)[1] for a in links]
    missing = browser.execute_script(
        "return arguments[0].filter(function (id) { return !document.getElementById(id); })", hrefs)
    assert links and missing == []

    low = browser.find_element("css selector", "#flags details.low li a")
    _click(browser, low)
    anchor = low.get_attribute("href").split("#", 1)[1]
    assert browser.execute_script("return location.hash") == f"#{anchor}"
    target = browser.find_element("id", anchor)
    assert "low" in target.get_attribute("class").split()
    assert target.get_attribute("title").startswith("probability 0.")
    assert _current_time(browser) == pytest.approx(float(low.get_attribute("data-start")), abs=0.5)
    _no_console_errors(browser)
