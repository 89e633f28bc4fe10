"""The show notes' vocabulary: prompts from real episode files, the glossary, and the measured
effect on names in a spoken clip (real inference, bundled tiny.en)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline import episodes, vocabulary
from pipeline.errors import ConfigError
from pipeline.models import Segment, Transcript, Word
from pipeline.lab.synth import parse_script, synthesize
from pipeline.transcribe import Options, transcribe

DATA = Path(__file__).parent / "data"
ARMIN = "2019-09-13-rust-in-production-with-armin-ronacher"

# Names come early and again after the first 30 s window (line starts are printed by synth's truth).
LINES = [
    "Today I am talking to Armin Ronacher about Sentry.",
    "He built the Symbolicator service in Rust.",
    "We talk about how a small team moves a big service to a new language.",
    "The first version was written in Python, and it was slow.",
    "Memory use was the biggest problem when the files were large.",
    "So the team rewrote the hot path and measured everything twice.",
    "The results were good enough to keep going with the new design.",
    "That work took most of the year.",
    "Later in the show, Armin Ronacher explains why he picked Actix.",
    "Today Actix runs the Symbolicator in production.",
    "Thanks to Armin Ronacher for joining us.",
]


@pytest.fixture(scope="module")
def armin(zola_episodes):
    path = next(p for p in zola_episodes if p.parent.name == ARMIN)
    return episodes.load(path)


def test_prompt_holds_the_names_from_the_show_notes(armin):
    prompt = vocabulary.build_prompt(armin)
    for name in ("Armin Ronacher", "Symbolicator", "Actix", "Sentry", "Milksnake", "Tokio Tower", "Jinja2"):
        assert name in prompt
    assert prompt.startswith("Rust in Production with Armin Ronacher.")
    assert "http" not in prompt and "](" not in prompt and "0:37" not in prompt
    assert vocabulary.count_tokens(prompt) <= vocabulary.PROMPT_TOKENS


def test_prompt_names_each_term_once(armin):
    prompt = vocabulary.build_prompt(armin)
    tail = prompt.rsplit("?", 1)[-1]  # the list of names after the chapter titles
    terms = [t.strip(" .") for t in tail.split(",")]
    assert len(terms) == len(set(terms)) > 5
    assert "Site" not in terms  # part of "Personal Site", already there


def test_prompt_fits_a_small_budget_keeping_names_first(armin):
    glossary = vocabulary.load_glossary(DATA / "glossary.toml")
    prompt = vocabulary.build_prompt(armin, glossary, budget=40)
    assert vocabulary.count_tokens(prompt) <= 40
    assert "Symbolicator" in prompt and "Ronacher" in prompt and "Actix" in prompt


def test_proper_nouns_skip_sentence_starts_and_common_words():
    text = "Deciding when to use Rust. We met Armin Ronacher at Sentry. The GitHub repo is on macOS too."
    names = vocabulary.proper_nouns(text)
    assert {"Rust", "Armin Ronacher", "Sentry", "GitHub", "macOS"} <= set(names)
    assert "Deciding" not in names and "We" not in names and "The" not in names


def test_load_glossary(tmp_path):
    glossary = vocabulary.load_glossary(DATA / "glossary.toml")
    assert ("simple cater", "Symbolicator") in glossary.entries
    assert glossary.terms == ("Symbolicator", "Ronacher", "Actix")
    bad = tmp_path / "g.toml"
    bad.write_text('"x" = 3\n')
    with pytest.raises(ConfigError, match=r"g\.toml"):
        vocabulary.load_glossary(bad)
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        vocabulary.load_glossary(tmp_path / "missing.toml")


def words_transcript(*texts: str) -> Transcript:
    words = tuple(Word(i * 0.5, i * 0.5 + 0.4, t, 0.9) for i, t in enumerate(texts))
    seg = Segment(0.0, words[-1].end, "".join(texts), -0.2, 0.01, words)
    return Transcript((seg,), "en", 10.0, "faster-whisper", "tiny.en (bundled)")


def test_glossary_rewrites_sound_alikes_across_words():
    glossary = vocabulary.load_glossary(DATA / "glossary.toml")
    t = words_transcript(" We", " use", " Simple", " cater,", " with", " actix.", " Rana", " Shuramat")
    fixed = vocabulary.apply_glossary(t, glossary)
    seg = fixed.segments[0]
    assert seg.text == " We use Symbolicator, with Actix. Ronacher"
    symbolicator = seg.words[2]
    assert (symbolicator.text, symbolicator.start, symbolicator.end) == (" Symbolicator,", 1.0, 1.9)
    assert [w.text for w in seg.words] == [" We", " use", " Symbolicator,", " with", " Actix.", " Ronacher"]
    assert vocabulary.apply_glossary(t, None) is t


@pytest.fixture(scope="module")
def names_clip(tmp_path_factory):
    script = parse_script({"speakers": {"Host": {"voice": "en-us+m3", "speed": 150}},
                           "parts": [{"speaker": "Host", "text": t, "pause": 0.6} for t in LINES]})
    out = tmp_path_factory.mktemp("names") / "names.mp3"
    truth = synthesize(script, out)
    assert truth.duration > 38 and truth.lines[8].start > 30  # the late names are in window two
    return out, truth


@pytest.mark.model
def test_vocabulary_gets_names_right_for_the_whole_episode(names_clip, armin, tmp_path):
    """Measured: tiny.en writes "Armin Rana Shuramat" and "tactics" without the show notes, and
    the right names with them, in the second 30 s window too (the prompt is not only for the first)."""
    path, truth = names_clip
    plain = transcribe(path, Options(), tmp_path)
    guided = transcribe(path, Options(), tmp_path, prompt=vocabulary.build_prompt(armin))

    def text(t, after=0.0):
        return "".join(w.text for w in t.words if w.start >= after)

    assert not re.search(r"Ronacher|Actix", text(plain))
    late = text(guided, after=truth.lines[8].start - 1.0)
    assert late.count("Ronacher") == 2 and late.count("Actix") == 2
    assert "Symbolicator" in text(guided, after=0) and "Ronacher about Sentry" in text(guided)
    # the glossary fixes the case tiny.en still gets wrong
    fixed = vocabulary.apply_glossary(guided, vocabulary.load_glossary(DATA / "glossary.toml"))
    assert text(fixed).lower().count("symbolicator") == text(fixed).count("Symbolicator") == 2
