"""Alignment: sentences, paragraphs, chapter sections and show-notes offsets."""

from __future__ import annotations

import functools
import random
import re

import pytest

from align_fakes import VOCAB, build, random_chapters, random_transcript, titled_episode
from pipeline.align import Options, align, sentence_starts
from pipeline.models import Chapter, Segment, Transcript, Word

SPEAKER_SETS = [[None], ["Jeremy Jung", "Armin Ronacher"], ["Speaker 1", "Speaker 2", "Speaker 3"]]
OPTION_SETS = [
    Options(),
    Options(max_paragraph_words=12, min_paragraph_words=3, paragraph_pause=0.7),
    Options(max_paragraph_words=8, min_paragraph_words=4, chapter_tolerance=3.0),
    Options(min_paragraph_words=1, max_paragraph_words=30, detect_offset=False),
]


@functools.cache
def cases(n: int = 160) -> list:
    """Seeded random transcripts and chapters with every options set: reproducible by seed."""
    out = []
    for seed in range(n):
        rng = random.Random(seed)
        transcript = random_transcript(rng, SPEAKER_SETS[seed % len(SPEAKER_SETS)])
        chapters = random_chapters(rng, transcript.duration)
        options = OPTION_SETS[seed % len(OPTION_SETS)]
        out.append((seed, transcript, chapters, options, align(transcript, chapters, options)))
    return out


def counted(words) -> int:
    return sum(1 for w in words if w.text.strip())


# --- properties --------------------------------------------------------------------------


def test_every_word_lands_in_exactly_one_paragraph_in_order():
    for seed, transcript, _, _, a in cases():
        laid_out = [w for s in a.sections for p in s.paragraphs for w in p.words]
        assert laid_out == transcript.words, f"seed {seed}"


def test_headings_appear_in_timestamp_order_and_every_chapter_is_accounted_for():
    for seed, _, chapters, _, a in cases():
        heads = [s.chapter for s in a.sections if s.chapter is not None]
        assert [c.start for c in heads] == sorted(c.start for c in heads), f"seed {seed}"
        shown = " / ".join(c.title for c in heads)
        for c in chapters:
            assert c.title in shown or any(c.title in w for w in a.warnings), f"seed {seed}: {c} lost"
        assert all(s.chapter is not None for s in a.sections[1:]), f"seed {seed}: untitled section inside"


def test_timecodes_never_decrease_and_stay_inside_the_audio():
    for seed, transcript, _, _, a in cases():
        starts = [p.start for s in a.sections for p in s.paragraphs]
        assert starts == sorted(starts), f"seed {seed}"
        assert all(0 <= t <= transcript.duration for t in starts), f"seed {seed}"
        assert all(p.start <= p.end for s in a.sections for p in s.paragraphs), f"seed {seed}"


def test_headings_sit_on_sentence_boundaries_never_inside_a_sentence():
    for seed, transcript, _, _, a in cases():
        words = transcript.words
        starts = set(sentence_starts(words))
        position = 0
        for s in a.sections:
            if s.chapter is not None and s.paragraphs:
                assert position in starts, f"seed {seed}: heading {s.chapter.title!r} inside a sentence"
            position += sum(len(p.words) for p in s.paragraphs)


def test_no_paragraph_over_the_maximum_and_no_lone_word_beside_the_same_speaker():
    for seed, _, _, options, a in cases():
        for s in a.sections:
            ps = s.paragraphs
            for i, p in enumerate(ps):
                n = counted(p.words)
                assert n <= options.max_paragraph_words, f"seed {seed}: {n} words"
                assert len({w.speaker for w in p.words}) == 1, f"seed {seed}: two speakers in a paragraph"
                if n < options.min_paragraph_words:
                    same = [q for q in (ps[i - 1] if i else None, ps[i + 1] if i + 1 < len(ps) else None)
                            if q is not None and q.speaker == p.speaker]
                    assert not same, f"seed {seed}: {p.text!r} left alone beside its own speaker"


# --- sentences and paragraphs ------------------------------------------------------------


def words_of(text: str, speaker=None) -> list[Word]:
    return list(build([(speaker, text, 0.3)]).words)


def sentences(text: str) -> list[str]:
    ws = words_of(text)
    cuts = sentence_starts(ws) + [len(ws)]
    return ["".join(w.text for w in ws[a:b]).strip() for a, b in zip(cuts, cuts[1:])]


def test_sentences_split_after_terminal_punctuation_but_not_after_abbreviations_or_numbers():
    assert sentences("We use it. Does it work? Yes! Mr. Smith said e.g. this and i.e. that. Fine.") == [
        "We use it.", "Does it work?", "Yes!", "Mr. Smith said e.g. this and i.e. that.", "Fine."]
    assert sentences("Version 2.0 is out. It moved to the U.S. last year. The U.S. Then more...") == [
        "Version 2.0 is out.", "It moved to the U.S. last year.", "The U.S.", "Then more..."]
    assert sentences("We waited... and then it worked. Apples, pears etc. and so on.") == [
        "We waited... and then it worked.", "Apples, pears etc. and so on."]


def test_a_number_split_across_tokens_is_not_a_sentence_end():
    ws = [Word(0.0, 0.3, " Version", 0.9), Word(0.3, 0.5, " 2.", 0.9), Word(0.5, 0.6, "0", 0.9),
          Word(0.7, 0.9, " shipped.", 0.9)]
    assert sentence_starts(ws) == [0]


def test_a_speaker_change_in_mid_sentence_breaks_the_paragraph_there():
    ws = words_of("So what I was going to say is", "Jeremy Jung") + words_of("Sorry to interrupt, but yes.", "Armin Ronacher")
    t = Transcript((Segment(0, ws[-1].end, "", 0, 0, tuple(ws)),), "en", ws[-1].end + 1, "fake", "none")
    a = align(t, [], Options())
    texts = [(p.speaker, p.text) for p in a.sections[0].paragraphs]
    assert texts == [("Jeremy Jung", "So what I was going to say is"), ("Armin Ronacher", "Sorry to interrupt, but yes.")]


def test_long_pause_starts_a_paragraph_and_tiny_paragraphs_merge_into_neighbours():
    t = build([("A", "We talked about the compiler for a while.", 2.5),
               ("A", "Right.", 2.5),
               ("A", "Then we moved on to the database layer and its cache.", 0.3),
               ("B", "Yeah.", 0.3),
               ("A", "And that was it.", 0.3)])
    ps = align(t, [], Options(paragraph_pause=1.5)).sections[0].paragraphs
    assert [p.text for p in ps] == [
        "We talked about the compiler for a while. Right.",  # "Right." joined its own speaker
        "Then we moved on to the database layer and its cache.",  # after a 2.5 s pause
        "Yeah.",  # another speaker's one-word turn stays its own paragraph
        "And that was it.",
    ]


def test_a_run_on_sentence_is_cut_into_paragraphs_no_longer_than_the_maximum():
    text = " ".join(random.Random(3).choice(VOCAB) for _ in range(300)) + "."
    t = build([("A", text, 0.3)])
    ps = align(t, [], Options(max_paragraph_words=50, min_paragraph_words=4)).sections[0].paragraphs
    assert len(ps) >= 6 and all(4 <= counted(p.words) <= 50 for p in ps)


def test_short_paragraph_next_to_a_full_one_borrows_instead_of_overflowing():
    full = " ".join(["word"] * 9) + "."
    t = build([("A", full, 2.0), ("A", "Ok then.", 0.2)])
    ps = align(t, [], Options(max_paragraph_words=10, min_paragraph_words=3)).sections[0].paragraphs
    # 11 words cannot be one paragraph; the 2-word one takes words from its neighbour.
    assert sorted(counted(p.words) for p in ps) == [5, 6]


# --- chapters ----------------------------------------------------------------------------


def episode() -> Transcript:
    return build([
        ("Jeremy Jung", "Some music and a welcome to the show.", 1.0),   # 0
        ("Jeremy Jung", "Today we are talking about memory safety.", 0.4),  # 1
        ("Armin Ronacher", "Memory safety matters a lot to us at work.", 0.4),  # 2
        ("Armin Ronacher", "It saves us from whole classes of bugs. It also helps hiring.", 0.4),  # 3
        ("Jeremy Jung", "Let us move to async runtimes next.", 0.4),  # 4
        ("Armin Ronacher", "Async runtimes in Rust are young but good.", 2.0),  # 5
    ], start=8.0)


def heads(a) -> list[tuple[str, str]]:
    return [(s.chapter.title if s.chapter else None, s.paragraphs[0].text) for s in a.sections]


def test_paragraphs_before_the_first_chapter_come_first_without_a_heading():
    t = episode()
    starts = [s.start for s in t.segments]
    a = align(t, [Chapter(int(starts[1]), "Memory safety", 5), Chapter(int(starts[4]), "Async runtimes", 6)])
    assert heads(a) == [
        (None, "Some music and a welcome to the show."),
        ("Memory safety", "Today we are talking about memory safety."),
        ("Async runtimes", "Let us move to async runtimes next."),
    ]
    assert a.warnings == ()


def test_chapter_inside_a_paragraph_splits_it_at_the_nearest_sentence_boundary():
    t = episode()
    second_sentence = [w for w in t.segments[3].words if w.text.strip() == "It"][1].start
    a = align(t, [Chapter(second_sentence - 0.4, "Hiring", 3)])
    assert heads(a)[1] == ("Hiring", "It also helps hiring.")
    before = a.sections[0].paragraphs[-1].text
    assert before.endswith("It saves us from whole classes of bugs.")


def test_chapter_times_are_rounded_to_the_nearest_sentence_not_the_next():
    t = episode()
    mid = t.segments[2].words[2].start  # in the middle of "Memory safety matters..."
    a = align(t, [Chapter(mid, "X", 1)])
    assert heads(a)[1][1].startswith("Memory safety matters")


def test_chapter_after_the_end_of_the_audio_is_dropped_with_a_warning():
    t = episode()
    a = align(t, [Chapter(10, "Start", 1), Chapter(t.duration + 30, "Bonus", 2)], Options(detect_offset=False))
    assert [s.chapter.title for s in a.sections if s.chapter] == ["Start"]
    assert any("'Bonus'" in w and "after the end of the audio" in w and "dropped" in w for w in a.warnings)


def test_duplicated_chapter_is_dropped_and_same_time_titles_are_merged():
    t = episode()
    s1 = int(t.segments[1].start)
    a = align(t, [Chapter(s1, "Memory", 1), Chapter(s1, "Memory", 2), Chapter(s1, "Safety", 3)])
    assert [s.chapter.title for s in a.sections if s.chapter] == ["Memory / Safety"]
    assert any("duplicates line 1" in w and "dropped" in w for w in a.warnings)
    assert any("'Safety'" in w and "merged" in w for w in a.warnings)


def test_out_of_order_chapter_is_placed_by_its_time_with_a_warning():
    t = episode()
    s = [int(seg.start) for seg in t.segments]
    a = align(t, [Chapter(s[4], "Async", 1), Chapter(s[1], "Memory", 2)])
    assert [x.chapter.title for x in a.sections if x.chapter] == ["Memory", "Async"]
    assert any("'Memory'" in w and "out of order" in w for w in a.warnings)


def test_chapter_far_from_any_sentence_boundary_is_placed_at_the_nearest_with_a_warning():
    t = build([("A", "Hello there.", 0.3), ("A", " ".join(["blah"] * 80) + ".", 0.3), ("A", "Back again.", 0.3)])
    middle = t.segments[1].words[50].start
    a = align(t, [Chapter(middle, "Break", 1)], Options(chapter_tolerance=5, detect_offset=False))
    assert heads(a)[1] == ("Break", "Back again.")
    assert any("'Break'" in w and "nearest" in w for w in a.warnings)


def test_two_chapters_on_one_sentence_are_merged_with_a_warning():
    t = build([("A", " ".join(["long"] * 60) + ".", 0.3), ("A", "Short end here.", 0.3)])
    a = align(t, [Chapter(0, "One", 1), Chapter(2, "Two", 2)], Options(chapter_tolerance=5))
    assert [s.chapter.title for s in a.sections if s.chapter] == ["One / Two"]
    assert any("'Two'" in w and "merged" in w for w in a.warnings)


def test_no_speech_gives_headings_only():
    t = Transcript((), "en", 30.0, "fake", "none")
    a = align(t, [Chapter(0, "Intro", 1)])
    assert [(s.chapter.title, s.paragraphs) for s in a.sections] == [("Intro", ())]
    assert any("no speech" in w for w in a.warnings)


def test_bad_options_are_refused():
    with pytest.raises(ValueError):
        Options(max_paragraph_words=5, min_paragraph_words=4)


# --- offsets -----------------------------------------------------------------------------

TOPICS = ["Memory safety", "Async runtimes", "Error handling", "Compile times", "Hiring engineers",
          "Open source funding"]


def topical_episode(seed: int = 1) -> tuple[Transcript, list[tuple[float, str]]]:
    """Six chapters, each opened by a sentence naming its topic, amid filler talk."""
    rng = random.Random(seed)
    lines = [("Host", " ".join(rng.choice(VOCAB) for _ in range(12)) + ".", 1.0)]
    opening = []
    for title in TOPICS:
        opening.append((len(lines), title))
        lines.append(("Host", f"Let us talk about {title.lower()} now.", 0.6))
        for _ in range(rng.randint(4, 8)):
            lines.append((rng.choice(["Host", "Guest"]),
                          " ".join(rng.choice(VOCAB) for _ in range(rng.randint(5, 25))) + ".",
                          rng.choice([0.3, 0.6, 1.2, 2.0])))
    t = build(lines, start=45.0)
    return t, [(t.segments[i].start, title) for i, title in opening]


@pytest.mark.parametrize("shift", [39.0, -20.0])
def test_shifted_show_notes_are_detected_and_corrected(shift):
    t, truth = topical_episode()
    chapters = [Chapter(float(int(start + shift)), title, n) for n, (start, title) in enumerate(truth)]
    a = align(t, chapters)
    assert abs(a.offset + shift) <= 1.0
    placed = [(s.chapter.title, s.paragraphs[0].start) for s in a.sections if s.chapter]
    assert placed == [(title, start) for start, title in truth]
    assert any("applied" in w and "not applied" not in w for w in a.warnings)


def test_no_offset_is_invented_when_titles_match_nothing():
    t, truth = topical_episode()
    chapters = [Chapter(float(int(start + 39)), f"Zebra {k} quokka", n) for n, (start, k) in
                enumerate(zip((s for s, _ in truth), "abcdef"))]
    a = align(t, chapters)
    assert a.offset == 0.0 and not any("offset" in w for w in a.warnings)


def test_no_offset_when_the_show_notes_are_right():
    t, truth = topical_episode(seed=2)
    a = align(t, [Chapter(float(int(s)), title, n) for n, (s, title) in enumerate(truth)])
    assert a.offset == 0.0 and not any("offset" in w for w in a.warnings)


def test_offset_estimate_is_reported_but_not_applied_when_detection_is_off():
    t, truth = topical_episode()
    a = align(t, [Chapter(float(int(s + 39)), title, n) for n, (s, title) in enumerate(truth)],
              Options(detect_offset=False))
    assert a.offset == 0.0
    [warning] = [w for w in a.warnings if "not applied" in w]
    estimate = float(re.search(r"offset ([-+][\d.]+) s not applied", warning).group(1))
    assert abs(estimate + 39) <= 1.0


def test_a_single_matching_chapter_is_not_enough_evidence():
    t, truth = topical_episode()
    (s0, title0), rest = truth[0], truth[1:]
    chapters = [Chapter(float(int(s0 + 39)), title0, 0)] + [
        Chapter(float(int(s)), f"Zebra {i}", i + 1) for i, (s, _) in enumerate(rest)]
    assert align(t, chapters).offset == 0.0


def test_offsets_found_on_random_episodes_are_right_and_false_ones_are_rare():
    found = missed = 0
    off_sentence = []
    for seed in range(150):
        rng = random.Random(seed)
        shift = rng.choice([-1, 1]) * rng.uniform(5, 100)
        t, chapters = titled_episode(rng, shift, at_chapter_starts=True)
        a = align(t, chapters)
        if a.offset:
            assert abs(a.offset + shift) <= 2.5, f"seed {seed}: shift {shift:.1f}, offset {a.offset}"
            # Each heading lands on the sentence its time was taken from, but for a few: here
            # every title opens its sentence, where tiny.en hears title words 0.6-3.7 s in (the
            # offset is calibrated on that, tests/test_offset_calibration.py), and these
            # sentences are a second apart, so a refined offset 0.5-1 s off picks a neighbour.
            if any(abs(s.paragraphs[0].start - (s.chapter.start - shift)) > 1.01 for s in a.sections[1:]):
                off_sentence.append(seed)
            found += 1
        else:
            missed += 1
    # Misses are episodes where fewer than two or three titles are heard: too little to go on.
    assert found >= 90, (found, missed)
    assert len(off_sentence) <= 0.03 * found, off_sentence

    false = [seed for seed in range(150) if align(*titled_episode(random.Random(seed), 0.0, False)).offset]
    assert len(false) <= 5, f"offsets invented for titles said at random places: seeds {false}"


# --- real audio --------------------------------------------------------------------------

SCRIPT = {
    "title": "Alignment test episode",
    "description": "Three voices, four chapters.",
    "speakers": {
        "Jeremy Jung": {"voice": "en-us+m3", "speed": 165, "pitch": 40},
        "Elizabeth Figura": {"voice": "en-gb+f3", "speed": 155, "pitch": 65},
        "Speaker 3": {"voice": "en-us+m7", "speed": 160, "pitch": 25},
    },
    "parts": [
        {"tones": 4.0},
        {"chapter": "Introduction", "speaker": "Jeremy Jung",
         "text": "Welcome to the introduction. Today I am talking to Elizabeth about Wine.", "pause": 0.8},
        {"speaker": "Elizabeth Figura", "text": "Thank you for having me. I am glad to be here.", "pause": 1.0},
        {"chapter": "System calls", "speaker": "Jeremy Jung",
         "text": "Let us talk about system calls. What are they?", "pause": 0.8},
        {"speaker": "Elizabeth Figura",
         "text": "A system call asks the kernel to do some work. Windows programs call much higher level functions.",
         "pause": 1.0},
        {"chapter": "Graphics drivers", "speaker": "Speaker 3",
         "text": "I have a question about graphics drivers. Does Wine translate them?", "pause": 0.8},
        {"speaker": "Elizabeth Figura", "text": "Yes. We translate the graphics calls into Vulkan.", "pause": 1.0},
        {"chapter": "Testing", "speaker": "Jeremy Jung",
         "text": "Finally, how does the project handle testing?", "pause": 0.8},
        {"speaker": "Elizabeth Figura",
         "text": "Every change runs thousands of tests on real Windows machines first.", "pause": 1.0},
    ],
}


@pytest.fixture(scope="module")
def spoken_episode(tmp_path_factory):
    """The script spoken by espeak-ng and transcribed by the bundled Whisper model, once."""
    from pipeline import transcribe
    from pipeline.lab import synth

    tmp = tmp_path_factory.mktemp("spoken")
    script = synth.parse_script(SCRIPT, slug="align-test")
    truth = synth.synthesize(script, tmp / "episode.wav")
    transcript = transcribe.transcribe(tmp / "episode.wav", transcribe.Options(), tmp / "cache")
    # What the speaker stage provides: each word labelled by who spoke at its midpoint.
    def who(w: Word) -> str | None:
        mid = (w.start + w.end) / 2
        line = min(truth.lines, key=lambda ln: 0 if ln.start <= mid <= ln.end else min(abs(mid - ln.start), abs(mid - ln.end)))
        return line.speaker
    segments = tuple(Segment(s.start, s.end, s.text, s.avg_logprob, s.no_speech_prob,
                             tuple(Word(w.start, w.end, w.text, w.probability, who(w)) for w in s.words))
                     for s in transcript.segments)
    return script, truth, Transcript(segments, transcript.language, transcript.duration, transcript.engine,
                                     transcript.model), tmp


@pytest.mark.model
@pytest.mark.parametrize("shift", [0.0, 39.0])
def test_spoken_episode_headings_land_on_the_right_sentence(spoken_episode, shift):
    from pipeline import episodes
    from pipeline.lab import synth

    script, truth, transcript, tmp = spoken_episode
    page = synth.write_episode_file(script, truth, "https://example.com/ep.mp3", tmp / f"shift{shift:g}" / "index.md",
                                    shift=shift)
    chapters = episodes.load(page).chapters
    assert [c.title for c in chapters] == [title for title, _ in truth.chapters]
    a = align(transcript, chapters)

    assert abs(a.offset + shift) <= 1.0, a.warnings
    placed = [s for s in a.sections if s.chapter is not None]
    assert [s.chapter.title for s in placed] == [title for title, _ in truth.chapters], a.warnings
    for section, (title, start) in zip(placed, truth.chapters):
        line = next(ln for ln in truth.lines if abs(ln.start - start) < 1e-6)
        first = section.paragraphs[0]
        assert abs(first.start - start) <= 1.0, (title, first.start, start)
        assert first.text.split()[:2] == line.text.split()[:2], (title, first.text, line.text)
    # Every paragraph starts where a line of the script starts: turns and pauses, not noise.
    line_starts = [ln.start for ln in truth.lines]
    for s in a.sections:
        for p in s.paragraphs:
            assert min(abs(p.start - t) for t in line_starts) <= 1.0, (p.start, p.text)
    if shift:
        assert any("applied" in w and "39" in w for w in a.warnings), a.warnings
