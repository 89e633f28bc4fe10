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


FULL = ["Alvaro Leiva", "Anita Zhang", "Kim Porter", "Armin Ronacher"]


def test_a_full_name_heard_as_three_doubtful_words_is_written_as_its_two():
    t = transcript((" talking", 3.52, 4.0, 0.97), (" to", 4.0, 4.24, 0.89), (" El", 4.24, 4.32, 0.86),
                   (" Mero", 4.32, 4.6, 0.3), (" Leave.", 4.6, 4.86, 0.1), (" Thanks", 5.48, 5.94, 0.97))
    fixed, corrections = names.correct(t, NAMES, FULL)
    assert texts(fixed) == [" talking", " to", " Alvaro", " Leiva.", " Thanks"]
    assert fixed.words[2].start == 4.24 and fixed.words[3].end == 4.86
    assert fixed.words[2].end == fixed.words[3].start  # the window's span shared between the two
    assert [(c.heard, c.written) for c in corrections] == [("El Mero Leave.", "Alvaro Leiva.")]


def test_a_full_name_heard_as_one_word_or_regrouped_is_split_back():
    t = transcript((" with", 0.0, 0.2, 0.99), (" Alvarolaiva", 0.2, 1.0, 0.4), (" and", 1.1, 1.2, 0.99),
                   (" Ani", 1.2, 1.4, 0.45), (" Tazhang", 1.4, 1.9, 0.3), (" today.", 1.9, 2.3, 0.99))
    fixed, _ = names.correct(t, NAMES, FULL)
    assert texts(fixed) == [" with", " Alvaro", " Leiva", " and", " Anita", " Zhang", " today."]


def test_confident_words_a_pause_or_a_sentence_end_keep_a_full_name_out():
    confident = transcript((" El", 4.24, 4.32, 0.86), (" Mero", 4.32, 4.6, 0.9), (" Leave.", 4.6, 4.86, 0.8))
    paused = transcript((" El", 4.24, 4.32, 0.3), (" Mero", 4.32, 4.6, 0.3), (" Leave.", 5.6, 5.86, 0.1))
    split = transcript((" El", 4.24, 4.32, 0.3), (" Mero.", 4.32, 4.6, 0.3), (" Leave", 4.6, 4.86, 0.1))
    for t in (confident, paused, split):
        fixed, corrections = names.correct(t, [], FULL)
        assert texts(fixed) == texts(t) and corrections == [], texts(t)


def test_a_full_name_is_not_written_over_part_of_it_or_over_other_words():
    t = transcript((" Alvaro", 0.0, 0.4, 0.3), (" said", 0.5, 0.7, 0.3), (" Kim", 1.0, 1.2, 0.3),
                   (" Porter", 1.2, 1.5, 0.3), (" and", 1.5, 1.6, 0.3), (" leave", 2.0, 2.2, 0.2),
                   (" early", 2.2, 2.5, 0.2))
    fixed, corrections = names.correct(t, [], FULL)
    assert texts(fixed) == texts(t) and corrections == []
    assert names.best_full_name(["Riven", "Ortiz"], FULL) is None
    assert names.best_full_name(["Anita", "Heng"], FULL) == "Anita Zhang"


def test_full_names_come_from_speakers_and_notes(tmp_path: Path):
    path = tmp_path / "ep" / "index.md"
    path.parent.mkdir()
    path.write_text('+++\ntitle = "Observability at Scale with Anita Zhang and Alvaro Leiva"\n[extra]\n'
                    'speakers = ["Jeremy Jung"]\n+++\n\nWe talk to Anita Zhang about tracing at Honeycomb.\n\n'
                    "## Transcript\n\nTranscript for this episode is coming soon.\n")
    full = names.full_names(episodes.load(path, episodes.Options()))
    assert {"Jeremy Jung", "Anita Zhang", "Alvaro Leiva"} <= set(full)
    assert all(len(n.split()) >= 2 for n in full)


def test_a_word_beside_a_full_name_heard_right_is_kept():
    t = transcript((" to", 0.0, 0.2, 0.4), (" Anita", 0.2, 0.5, 0.4), (" Zhang", 0.5, 0.9, 0.3),
                   (" and", 1.0, 1.1, 0.4), (" Alvaro", 1.1, 1.5, 0.3), (" Leiva.", 1.5, 1.9, 0.2))
    fixed, corrections = names.correct(t, [], FULL)
    assert texts(fixed) == texts(t) and corrections == []
