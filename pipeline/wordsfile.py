"""The recorded words, compact enough to commit beside the transcript.

`publish` and `review` need every word's time, probability and speaker, and the segments'
decoding scores for the review flags. `whisper.json` holds them but is large and machine-local
(git-ignored); `words.tsv` holds the same in about a fifth of the space, one word a line, so a
fresh clone or a CI checkout rebuilds sidecars and review pages without transcribing again, and
a diff of it stays readable.

    # podcast-transcripts words 1
    # {"engine": "faster-whisper", "model": "tiny.en", "language": "en", "duration": 33.1, ...}
    S	0	5.2	-0.213	0.012          a segment: start, end, avg_logprob, no_speech_prob
    P	Jeremy Jung                     the speaker of the words that follow (empty: none)
    0	0.42	0.93	 Welcome          a word: start, end, probability, text as Whisper wrote it
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import EpisodeError
from .files import write_atomic
from .models import Segment, Transcript, Word

NAME = "words.tsv"
MAGIC = "# podcast-transcripts words 1"


def _num(x: float, places: int = 3) -> str:
    text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _clean(text: str) -> str:
    # Tabs and newlines would break the line format; Whisper never means them.
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def dumps(transcript: Transcript) -> str:
    meta = {"engine": transcript.engine, "model": transcript.model, "language": transcript.language,
            "duration": round(transcript.duration, 3), "audio_sha256": transcript.audio_sha256,
            "options": transcript.options}
    out = [MAGIC, "# " + json.dumps(meta, ensure_ascii=False, sort_keys=True, default=str)]
    speaker: str | None = None
    for s in transcript.segments:
        out.append(f"S\t{_num(s.start)}\t{_num(s.end)}\t{_num(s.avg_logprob)}\t{_num(s.no_speech_prob)}")
        for w in s.words:
            if w.speaker != speaker:
                out.append(f"P\t{_clean(w.speaker or '')}")
                speaker = w.speaker
            out.append(f"{_num(w.start)}\t{_num(w.end)}\t{_num(w.probability)}\t{_clean(w.text)}")
    return "\n".join(out) + "\n"


def loads(text: str, source: Path) -> Transcript:
    lines = text.split("\n")
    if not lines or lines[0].strip() != MAGIC or len(lines) < 2 or not lines[1].startswith("# "):
        raise EpisodeError(f"{source}: not a words file (expected {MAGIC!r} on the first line)")
    try:
        meta = json.loads(lines[1][2:])
        segments: list[Segment] = []
        head: list[float] | None = None
        words: list[Word] = []
        speaker: str | None = None

        def close() -> None:
            if head is not None:
                text = "".join(w.text for w in words)
                segments.append(Segment(head[0], head[1], text, head[2], head[3], tuple(words)))

        for n, line in enumerate(lines[2:], 3):
            if not line:
                continue
            kind, _, rest = line.partition("\t")
            if kind == "S":
                close()
                head, words = [float(x) for x in rest.split("\t")], []
            elif kind == "P":
                speaker = rest or None
            else:
                if head is None:
                    raise ValueError(f"line {n}: a word before any segment")
                end, probability, word = rest.split("\t", 2)
                words.append(Word(float(kind), float(end), word, float(probability), speaker))
        close()
        return Transcript(tuple(segments), meta["language"], float(meta["duration"]), meta["engine"],
                          meta["model"], meta.get("options") or {}, meta.get("audio_sha256") or "")
    except (ValueError, KeyError, TypeError) as exc:
        raise EpisodeError(f"{source}: unreadable words file ({exc})") from exc


def write(transcript: Transcript, path: Path) -> Path:
    write_atomic(path, dumps(transcript))
    return path


def read(path: Path) -> Transcript:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EpisodeError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return loads(text, path)
