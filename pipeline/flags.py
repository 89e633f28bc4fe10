"""What a reviewer should check in a transcript, each flag pointing at a word of the page.

`find_flags` lists chapter placement problems, long gaps, suspected hallucinations and
low-confidence words, by kind then time; `review` renders them beside the transcript.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from .models import Alignment, Chapter, Episode, Transcript
from .text import normalize
from .timecode import format_timestamp

# Phrases Whisper is known to invent over silence or music (learnt from subtitle corpora).
KNOWN_HALLUCINATIONS = (
    "thanks for watching", "thank you for watching", "subtitles by", "amara.org",
    "please subscribe", "like and subscribe", "transcribed by", "translated by",
)


@dataclass(frozen=True)
class Options:
    long_gap: float = 8.0  # seconds without words, inside speech, that a reviewer should check
    chapter_drift: float = 10.0  # a heading this far from its (shifted) show-notes time is flagged
    suspect_no_speech: float = 0.6  # a segment Whisper itself thought was probably not speech
    suspect_logprob: float = -1.0  # a segment decoded with this average log-probability or less
    suspect_repeats: int = 3  # a phrase said this many times back to back (a single word: one more)


@dataclass(frozen=True)
class Flag:
    kind: str  # one of KINDS
    start: float
    message: str
    anchor: str  # element id in the page


KINDS = {
    "speaker": "Speakers, and the evidence for each name",
    "chapter": "Chapters",
    "hallucination": "Suspected hallucinations",
    "gap": "Long gaps",
    "low": "Low-confidence words",
}


# --- finding what to check ----------------------------------------------------------------------


class WordIndex:
    """The page's words in order, to turn a time into the anchor of the word spoken then."""

    def __init__(self, alignment: Alignment) -> None:
        self.words = [w for s in alignment.sections for p in s.paragraphs for w in p.words]
        # Indexes of paragraphs' first words: a span of doubtful words never crosses one.
        self.para_starts: set[int] = set()
        n = 0
        for s in alignment.sections:
            for p in s.paragraphs:
                self.para_starts.add(n)
                n += len(p.words)
        self.ends = [w.end for w in self.words]
        self.used: set[int] = set()  # word indexes that need an id in the page

    def at(self, t: float) -> int:
        """The word spoken at `t` (the next one, in a pause); -1 on an empty page."""
        return min(bisect.bisect_right(self.ends, t + 0.01), len(self.words) - 1)

    def anchor_at(self, t: float) -> str:
        return self.anchor_of(self.at(t)) if self.words else "transcript"

    def anchor_of(self, i: int) -> str:
        self.used.add(i)
        return f"w{i}"


def find_flags(
    episode: Episode, transcript: Transcript, alignment: Alignment, options: Options = Options(),
    threshold: float = 0.5, index: WordIndex | None = None,
) -> list[Flag]:
    """Everything a reviewer should look at, by kind then time."""
    index = index or WordIndex(alignment)
    flags = (
        _speaker_flags(transcript, index)
        + _chapter_flags(episode.chapters, alignment, options, index)
        + _hallucination_flags(transcript, options, index)
        + _gap_flags(index, alignment.duration or transcript.duration, options)
        + _low_confidence_flags(index, threshold)
    )
    order = list(KINDS)
    return sorted(flags, key=lambda f: (order.index(f.kind), f.start))


def _speaker_flags(transcript: Transcript, index: WordIndex) -> list[Flag]:
    """Each speaker at their first word, with why they carry their name (a numbered speaker in
    a conversation is a name nobody could vouch for, to be filled in by the reviewer); and each
    turn whose voice was nearly as like another speaker's."""
    evidence = transcript.diarization.evidence if transcript.diarization else {}
    flags = []
    seen: set[str] = set()
    for i, w in enumerate(index.words):
        if w.speaker is None or w.speaker in seen:
            continue
        seen.add(w.speaker)
        why = evidence.get(w.speaker)
        if why is None:
            if not (transcript.diarization and transcript.diarization.needs_review):
                continue
            why = "no evidence for a name: give it in the front matter's speakers, or add a known voice"
        flags.append(Flag("speaker", w.start, f"{w.speaker}: {why}", index.anchor_of(i)))
    for start, _end, other in transcript.diarization.doubtful if transcript.diarization else ():
        i = index.at(start)
        who = index.words[i].speaker if i >= 0 else None
        if who and who != other:
            flags.append(Flag("speaker", start, f"{who}, or {other}? This turn's voice is nearly as like "
                              f"{other}'s: listen, and give the paragraph to whoever said it", index.anchor_of(i)))
    return flags


def heading_id(k: int) -> str:
    return f"ch{k}"


def _chapter_flags(chapters: Sequence[Chapter], alignment: Alignment, options: Options, index: WordIndex) -> list[Flag]:
    flags: list[Flag] = []
    heading_at = {s.chapter: s.paragraphs[0].start if s.paragraphs else None
                  for s in alignment.sections if s.chapter is not None}
    ids = {c: heading_id(k) for k, c in enumerate(chapters)}
    mentioned: set[Chapter] = set()

    def where(c: Chapter) -> tuple[float, str]:
        if c in heading_at:
            at = heading_at[c]
            return (c.start + alignment.offset if at is None else at), ids[c]
        t = c.start + alignment.offset
        return t, index.anchor_at(t)

    for warning in alignment.warnings:
        named = [c for c in chapters if repr(c.title) in warning or f"“{c.title}”" in warning]
        mentioned.update(named)
        if named:
            t, anchor = where(named[0])
        elif chapters:
            t, anchor = where(chapters[0])
        else:
            t, anchor = 0.0, "transcript"
        flags.append(Flag("chapter", t, warning, anchor))
    if alignment.offset and not any("offset" in w for w in alignment.warnings) and chapters:
        t, anchor = where(chapters[0])
        flags.append(Flag("chapter", t, f"show-notes times shifted by {alignment.offset:+.1f} s to match the audio", anchor))
    for c in chapters:
        if c in mentioned:
            continue
        expected = c.start + alignment.offset
        if c not in heading_at:
            t, anchor = where(c)
            flags.append(Flag("chapter", t, f"“{c.title}” (line {c.line}, {clock(c.start)}) was not placed", anchor))
            continue
        actual = heading_at[c]
        if actual is not None and abs(actual - expected) > options.chapter_drift:
            flags.append(Flag(
                "chapter", actual,
                f"“{c.title}” heading is at {clock(actual)}, {actual - expected:+.0f} s from the show notes' "
                f"{clock(c.start)}" + (f" {alignment.offset:+.0f} s offset" if alignment.offset else ""),
                ids[c],
            ))
    return flags


def _repeats(tokens: Sequence[str], options: Options) -> list[tuple[int, int, int]]:
    """(first token, phrase length, times) for phrases repeated back to back."""
    found = []
    i = 0
    while i < len(tokens):
        hit = None
        for n in range(1, 9):
            phrase = tokens[i:i + n]
            if len(phrase) < n or not all(phrase):
                break
            times = 1
            while tokens[i + times * n: i + (times + 1) * n] == phrase:
                times += 1
            if times >= options.suspect_repeats + (1 if n == 1 else 0):
                hit = (i, n, times)
                break
        if hit:
            found.append(hit)
            i += hit[1] * hit[2]
        else:
            i += 1
    return found


def _hallucination_flags(transcript: Transcript, options: Options, index: WordIndex) -> list[Flag]:
    flags: list[Flag] = []
    previous = ""
    for seg in transcript.segments:
        text = seg.text.strip()
        why = []
        if seg.no_speech_prob >= options.suspect_no_speech:
            why.append(f"probably not speech (no_speech_prob {seg.no_speech_prob:.2f})")
        if seg.avg_logprob <= options.suspect_logprob:
            why.append(f"uncertain decoding (avg_logprob {seg.avg_logprob:.2f})")
        lowered = normalize(text)
        if any(normalize(phrase) in lowered for phrase in KNOWN_HALLUCINATIONS):
            why.append("a phrase Whisper often invents")
        if lowered and lowered == previous and len(lowered.split()) >= 4:
            why.append("the same text as the segment before")
        previous = lowered
        if why:
            flags.append(Flag("hallucination", seg.start, f"{'; '.join(why)}: “{_short(text)}”",
                              index.anchor_at(seg.start)))
    tokens = [normalize(w.text) for w in index.words]
    for i, n, times in _repeats(tokens, options):
        phrase = " ".join(w.text.strip() for w in index.words[i:i + n])
        flags.append(Flag("hallucination", index.words[i].start, f"“{_short(phrase)}” repeated {times}×",
                          index.anchor_of(i)))
    return flags


def _gap_flags(index: WordIndex, duration: float, options: Options) -> list[Flag]:
    words = index.words
    flags = []
    for i in range(1, len(words)):
        gap = words[i].start - words[i - 1].end
        if gap > options.long_gap:
            flags.append(Flag(
                "gap", words[i - 1].end,
                f"{_secs(gap)} without words ({clock(words[i - 1].end)}–{clock(words[i].start)}): "
                "music, an ad, or missed speech?",
                index.anchor_of(i),
            ))
    # Whisper sometimes stops early or starts late: silence at either end is worth a listen.
    if words and words[0].start > options.long_gap:
        flags.append(Flag("gap", 0.0, f"no words in the first {_secs(words[0].start)}", index.anchor_of(0)))
    if words and duration - words[-1].end > options.long_gap:
        flags.append(Flag("gap", words[-1].end, f"no words in the last {_secs(duration - words[-1].end)} "
                          f"({clock(words[-1].end)}–{clock(duration)})", index.anchor_of(len(words) - 1)))
    return flags


def _low_confidence_flags(index: WordIndex, threshold: float) -> list[Flag]:
    flags = []
    span: list[int] = []
    for i, w in enumerate([*index.words, None]):
        low = w is not None and w.probability < threshold
        if low and not (span and i in index.para_starts):
            span.append(i)
            continue
        if span:
            words = [index.words[j] for j in span]
            text = "".join(x.text for x in words).strip()
            lowest = min(x.probability for x in words)
            flags.append(Flag("low", words[0].start, f"“{_short(text)}” (probability {lowest:.2f})",
                              index.anchor_of(span[0])))
            span = [i] if low else []
    return flags


def _secs(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def clock(seconds: float) -> str:
    """`HH:MM:SS`, the timecode style of the transcripts on podcast sites."""
    return format_timestamp(seconds)
