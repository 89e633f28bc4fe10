"""Name correction after decoding: near misses of show-notes names, and nothing else."""

from __future__ import annotations

from pathlib import Path

from pipeline import episodes, names
from pipeline.models import Segment, Transcript, Word

NAMES = ["Sentry", "Symbolicator", "Actix", "Ronacher", "Armin", "Ostrowski", "Anita", "Alvaro", "Tokio",
         "Flask", "Jeremy"]


def transcript(*words: tuple[str, float, float, float]) -> Transcript:
    ws = tuple(Word(start, end, text, prob) for text, start, end, prob in words)
    return Transcript((Segment(ws[0].start, ws[-1].end, "".join(w.text for w in ws), -0.3, 0.01, ws),),
                      "en", 30.0, "faster-whisper", "tiny.en")


def texts(t: Transcript) -> list[str]:
    return [w.text for w in t.words]


def test_near_misses_find_their_name_and_strangers_find_none():
    assert names.best_name("Century", NAMES) == "Sentry"
    assert names.best_name("Simolecator", NAMES) == "Symbolicator"
    assert names.best_name("Strowski", NAMES) == "Ostrowski"
    assert names.best_name("Ronaker", NAMES) == "Ronacher"
    assert names.best_name("Tokyo", NAMES) == "Tokio"
    for stranger in ("actually", "Antia", "Zhang", "young", "person", "Aaron", "the"):
        assert names.best_name(stranger, NAMES) is None, stranger


def test_a_doubtful_common_word_is_corrected_and_a_confident_one_is_not():
    t = transcript((" We", 0.0, 0.2, 0.99), (" use", 0.2, 0.4, 0.99), (" Century", 0.4, 0.9, 0.31),
                   (" for", 1.0, 1.1, 0.98), (" errors,", 1.1, 1.5, 0.97), (" century", 2.0, 2.4, 0.93),
                   (" Ronaker's", 2.5, 3.0, 0.9))
    fixed, corrections = names.correct(t, NAMES)
    assert texts(fixed) == [" We", " use", " Sentry", " for", " errors,", " century", " Ronacher's"]
    assert [(c.heard, c.written) for c in corrections] == [("Century", "Sentry"), ("Ronaker's", "Ronacher's")]
    assert [w.start for w in fixed.words] == [w.start for w in t.words]  # timing untouched


def test_two_words_heard_for_one_name_are_joined_only_without_a_pause():
    t = transcript((" the", 0.0, 0.2, 0.99), (" Simple", 0.3, 0.6, 0.4), (" Cater", 0.62, 1.0, 0.35),
                   (" service.", 1.0, 1.4, 0.9), (" Simple", 5.0, 5.3, 0.4), (" Cater", 6.5, 6.9, 0.4))
    fixed, corrections = names.correct(t, NAMES)
    assert texts(fixed)[:3] == [" the", " Symbolicator", " service."]
    assert fixed.words[1].start == 0.3 and fixed.words[1].end == 1.0
    assert texts(fixed)[3:] == [" Simple", " Cater"]  # 1.2 s apart: two words, left alone
    assert len(corrections) == 1


def test_a_name_already_right_or_another_name_is_left_alone():
    t = transcript((" Anita", 0.0, 0.4, 0.9), (" and", 0.4, 0.5, 0.9), (" Alvaro", 0.5, 1.0, 0.9))
    fixed, corrections = names.correct(t, NAMES)
    assert texts(fixed) == texts(t) and corrections == []


def test_vocabulary_names_come_from_speakers_links_and_notes(tmp_path: Path):
    path = tmp_path / "ep" / "index.md"
    path.parent.mkdir()
    path.write_text('+++\ntitle = "Rust at Sentry with Armin Ronacher"\n[extra]\n'
                    'speakers = ["Jeremy Jung", "Armin Ronacher"]\n+++\n\n'
                    "We talk about the [Actix web framework](https://actix.rs) and how Sentry uses it.\n\n"
                    "## Transcript\n\nTranscript for this episode is coming soon.\n")
    vocab = names.vocabulary_names(episodes.load(path, episodes.Options()))
    assert {"Jeremy", "Jung", "Armin", "Ronacher", "Actix", "Sentry"} <= set(vocab)
    assert not {"We", "the", "and"} & set(vocab)
