"""Fake transcripts built in code, for the alignment, rendering and sidecar tests.

Timing is deterministic: a word lasts 0.25 s plus 0.03 s a letter, words are 0.08 s apart, and
each line is followed by its pause. `word@0.2` gives a word the probability 0.2 (default 0.95).
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Sequence

from pipeline.models import Chapter, Segment, Transcript, Word

Line = tuple  # (speaker | None, text, pause_after_seconds)


def build(lines: Sequence[Line], start: float = 0.0, tail: float = 2.0) -> Transcript:
    t = start
    segments = []
    for speaker, text, pause in lines:
        words = []
        for token in text.split():
            prob = 0.95
            if "@" in token and token.rsplit("@", 1)[1].replace(".", "").isdigit():
                token, p = token.rsplit("@", 1)
                prob = float(p)
            length = 0.25 + 0.03 * len(token)
            words.append(Word(round(t, 3), round(t + length, 3), " " + token, prob, speaker))
            t += length + 0.08
        t += pause
        segments.append(Segment(words[0].start, words[-1].end, "".join(w.text for w in words), -0.2, 0.01,
                                tuple(words)))
    return Transcript(tuple(segments), "en", round(t + tail, 3), "fake", "none")


def line_starts(transcript: Transcript) -> list[float]:
    return [s.start for s in transcript.segments]


VOCAB = (
    "the a we rust python server memory thread async compiler type trait borrow checker really "
    "think so and but because you know it was kind of like just people code bug test build deploy "
    "database query index cache latency"
).split()
TRICKY = ["e.g.", "Mr.", "2.0", "U.S.", "i.e.", "Dr.", "v1.2", "etc.", "Vec<T>", "don't", "#1", "*", "[link]"]


def random_transcript(rng: random.Random, speakers: Sequence[str | None]) -> Transcript:
    """A few minutes of made-up talk: sentences of 1 to 40 words (now and then a 150-word run-on
    without punctuation), pauses from 0.05 to 4 s, speaker turns, sometimes in mid-sentence."""
    t = rng.uniform(0, 20)  # a music intro, sometimes
    words: list[Word] = []
    speaker = rng.choice(speakers)
    for _ in range(rng.randint(1, 60)):
        n = 150 if rng.random() < 0.03 else rng.randint(1, 40)
        for k in range(n):
            token = rng.choice(TRICKY) if rng.random() < 0.05 else rng.choice(VOCAB)
            if k == 0:
                token = token.capitalize()
            if k == n - 1 and n != 150:
                token += rng.choice([".", ".", ".", "?", "!"])
            elif rng.random() < 0.08:
                token += ","
            if rng.random() < 0.02:
                speaker = rng.choice(speakers)  # an interruption mid-sentence
            length = rng.uniform(0.1, 0.6)
            words.append(Word(round(t, 3), round(t + length, 3), " " + token, rng.random(), speaker))
            t += length + rng.uniform(0.0, 0.3)
        t += rng.choice([0.05, 0.2, 0.4, 0.8, 1.6, 4.0])
        if rng.random() < 0.3:
            speaker = rng.choice(speakers)
    seg = Segment(words[0].start, words[-1].end, "".join(w.text for w in words), -0.3, 0.02, tuple(words))
    return Transcript((seg,), "en", round(t + rng.uniform(0, 30), 3), "fake", "none")


def random_chapters(rng: random.Random, duration: float) -> list[Chapter]:
    """Show-notes chapters, including the awkward ones: unordered, duplicated, past the end."""
    n = rng.randint(0, 8)
    times = sorted(rng.uniform(0, duration * 1.1) for _ in range(n))
    chapters = [Chapter(float(int(t)), f"Topic {i} {rng.choice(VOCAB)}", 10 + i) for i, t in enumerate(times)]
    if chapters and rng.random() < 0.3:
        chapters.append(chapters[rng.randrange(len(chapters))])  # listed twice
    if len(chapters) > 2 and rng.random() < 0.3:
        i = rng.randrange(len(chapters) - 1)
        chapters[i], chapters[i + 1] = chapters[i + 1], chapters[i]
    return chapters


RARE = "zebra quokka narwhal axolotl pangolin okapi tapir wombat dugong ibis".split()


def titled_episode(rng: random.Random, shift: float, at_chapter_starts: bool) -> tuple[Transcript, list[Chapter]]:
    """A random transcript with 2-8 chapters titled `<Rare word> talk`; each rare word is said
    once, either (70% of them) just after its chapter's first sentence starts, or anywhere at
    random. Chapter times are the sentence starts moved by `shift` and floored to the second,
    as show notes write them."""
    from pipeline.align import sentence_starts

    t = random_transcript(rng, ["Jeremy Jung", "Armin Ronacher"])
    words = list(t.words)
    starts = sentence_starts(words)
    picks = sorted(rng.sample(range(len(starts)), min(rng.randint(2, 8), len(starts))))
    titles = rng.sample(RARE, len(picks))
    chapters = []
    for k, (j, title) in enumerate(zip(picks, titles)):
        first = starts[j]
        i = (first + 1 if rng.random() < 0.7 and first + 1 < len(words) else None) if at_chapter_starts \
            else rng.randrange(len(words))
        if i is not None:  # the rare word replaces one, keeping its punctuation and so the sentences
            w = words[i]
            trailing = re.search(r"[.,?!]*$", w.text.strip()).group()
            words[i] = Word(w.start, w.end, " " + title + trailing, 0.9, w.speaker)
        chapters.append(Chapter(float(int(words[first].start + shift)), f"{title.capitalize()} talk", k))
    seg = Segment(words[0].start, words[-1].end, "", -0.3, 0.02, tuple(words))
    return Transcript((seg,), "en", t.duration, "fake", "none"), chapters


# --- golden files ---------------------------------------------------------------------------

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/<name>; `UPDATE_GOLDEN=1 pytest ...` rewrites the files instead."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 and review the new file"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from the golden file (UPDATE_GOLDEN=1 to accept)"


def golden_episode(speakers: bool = True) -> tuple[Transcript, list[Chapter]]:
    """One short made-up episode that exercises every formatting rule at least once."""
    jeremy, liz, third = ("Jeremy Jung", "Elizabeth Figura", "Speaker 3") if speakers else (None, None, None)
    t = build([
        (jeremy, "Today I am talking to Elizabeth Figura. She is a Wine developer.", 0.6),
        (liz, "Thank you Jeremy. I am glad to be here.", 1.0),
        (jeremy, "What is Wine, in a sentence or two?", 0.5),
        (liz, "Wine is a translation layer. It re-implements the Windows API so programs run on Linux.", 2.0),
        (liz, "It works not by emulating the CPU but by writing every API again.", 0.5),
        (third, "Quick question from the audience: does it run games?", 0.5),
        (jeremy, "Good question. Elizabeth?", 0.4),
        (liz, "Yes. In Rust terms it is like a Vec<T> & Box<dyn Error> of *everything*, "
              "with snake_case names, `cargo build`, [links](here) and {{ templates }} | pipes.", 0.5),
        (liz, "The XAudio@0.2 library@0.3 builds a bank of sounds. #1 is spatial audio.", 0.5),
        (jeremy, "Thanks@0.1 for@0.2 coming on.", 1.0),
    ], start=3.0)
    s = [seg.start for seg in t.segments]
    chapters = [
        Chapter(float(int(s[2])), "What's Wine", 12),
        Chapter(float(int(s[7])), "C++ & <Rust> *stars*", 13),
        Chapter(float(int(s[9])), "Wrap-up", 14),
    ]
    return t, chapters
