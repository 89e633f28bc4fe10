"""What flows between the stages: small frozen dataclasses, nothing clever.

Times are seconds (float) from the start of the audio. Sequences inside a frozen
dataclass are tuples so that the objects stay hashable and can be cached and compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Chapter:
    """One show-notes timestamp: `- 2:19 - Abstraction with good performance`."""

    start: float
    title: str
    line: int  # 1-based line number in the episode file


@dataclass(frozen=True)
class Episode:
    """One episode file, parsed. `text` is the whole decoded file, kept for write-back."""

    path: Path
    slug: str
    title: str
    description: str
    audio_url: str | None
    front_matter: dict[str, Any]
    body: str
    chapters: tuple[Chapter, ...]
    speakers: tuple[str, ...]
    state: str  # see episodes.STATES: "pending", "generated", "reviewed", "human"
    text: str


@dataclass(frozen=True)
class Audio:
    """A downloaded, verified audio file."""

    path: Path
    url: str
    size: int
    sha256: str
    content_type: str | None = None


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str  # as Whisper emits it, usually with a leading space
    probability: float
    speaker: str | None = None


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Transcript:
    segments: tuple[Segment, ...]
    language: str
    duration: float
    engine: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)
    audio_sha256: str = ""

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]


@dataclass(frozen=True)
class Paragraph:
    start: float
    end: float
    words: tuple[Word, ...]
    speaker: str | None = None

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words).strip()


@dataclass(frozen=True)
class Section:
    """Paragraphs under one chapter heading; `chapter` is None for the part before the first."""

    chapter: Chapter | None
    paragraphs: tuple[Paragraph, ...]


@dataclass(frozen=True)
class Alignment:
    """The transcript laid out for publishing, with what alignment found along the way."""

    sections: tuple[Section, ...]
    offset: float  # seconds added to every show-notes time (0.0 when none was applied)
    offset_estimate: float  # the best estimate, applied or not
    warnings: tuple[str, ...]
    duration: float


def transcript_to_dict(t: Transcript) -> dict[str, Any]:
    """A JSON-ready dict; `transcript_from_dict` reverses it exactly."""
    from dataclasses import asdict

    return asdict(t)


def transcript_from_dict(d: dict[str, Any]) -> Transcript:
    segments = tuple(
        Segment(
            **{k: v for k, v in s.items() if k != "words"},
            words=tuple(Word(**w) for w in s["words"]),
        )
        for s in d["segments"]
    )
    return Transcript(**{**d, "segments": segments})
