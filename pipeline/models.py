"""What flows between the stages: small frozen dataclasses, nothing clever.

Times are seconds (float) from the start of the audio. Sequences inside a frozen
dataclass are tuples so that the objects stay hashable and can be cached and compared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Chapter:
    """One show-notes timestamp: `- 2:19 - Abstraction with good performance`."""

    start: float
    title: str
    line: int  # 1-based line number in the episode file


class EpisodeState(StrEnum):
    """Where an episode's transcript stands (see `episodes.state_of`)."""

    PENDING = "pending"  # the placeholder is there (or the section is empty): work to do
    GENERATED = "generated"  # ours, unedited (its hash matches), not reviewed
    EDITED = "edited"  # ours, but a person changed it since
    REVIEWED = "reviewed"  # `reviewed = true` in [extra.transcript]
    HUMAN = "human"  # a transcript without provenance: a person wrote it
    NO_TRANSCRIPT_SECTION = "no-transcript-section"  # no `## Transcript` heading to write under


@dataclass(frozen=True)
class Provenance:
    """`[extra.transcript]`: where a generated transcript came from. Keys in this order."""

    engine: str | None = None
    model: str | None = None
    generated: datetime | None = None
    audio_sha256: str | None = None
    transcript_sha256: str | None = None
    reviewed: bool = False
    offset: float | None = None  # seconds added to the show notes' times

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> Provenance:
        """The known keys of a table read from a file; the types are checked where they are used."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in table.items() if k in known})

    def to_table(self) -> dict[str, Any]:
        """The TOML table to write: unset values left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}


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
    state: EpisodeState
    text: str
    show_notes: str = ""  # the body before the transcript heading, without the timestamp list
    provenance: Provenance | None = None  # [extra.transcript], when the pipeline wrote one
    diarize: bool = True  # False: `diarize = false` in [extra]
    placeholders: tuple[str, ...] = ()  # the lines that mean "no transcript yet" it was read with
    wrapper: tuple[str, str] | None = None  # the lines around a generated transcript (None: the usual)


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
class Decoding:
    """What decoded the words: the options that change them, and what the engine ran on."""

    device: str
    compute_type: str
    prompt: str | None
    beam_size: int
    batch_size: int
    vad: bool
    language: str
    condition_on_previous_text: bool


@dataclass(frozen=True)
class Diarization:
    """Who labelled the speakers, how many it found, and where the names came from."""

    engine: str
    speakers: int
    names: str  # where the names came from: "episode", "setting", "text", "voices", "generic"...
    evidence: dict[str, str] = field(default_factory=dict)  # name -> why it was given
    needs_review: bool = False  # a name was given on weak evidence
    voices: dict[str, list[float]] = field(default_factory=dict)  # name -> voice embedding
    # (start, end, the other likely speaker) of each turn whose voice was nearly as like another's
    doubtful: tuple[tuple[float, float, str], ...] = ()


@dataclass(frozen=True)
class Transcript:
    segments: tuple[Segment, ...]
    language: str
    duration: float
    engine: str
    model: str
    audio_sha256: str = ""
    decoding: Decoding | None = None
    diarization: Diarization | None = None
    # What was decoded again where the first pass left speech without words (recover.Stretch).
    recovered: tuple[dict[str, Any], ...] = ()
    names_corrected: tuple[str, ...] = ()  # "heard -> written", show-notes names fixed after decoding

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
    warnings: tuple[str, ...]
    duration: float


def transcript_to_dict(t: Transcript) -> dict[str, Any]:
    """A JSON-ready dict; `transcript_from_dict` reverses it exactly."""
    return asdict(t)


def _known(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


def transcript_from_dict(d: dict[str, Any]) -> Transcript:
    """The Transcript of `transcript_to_dict`, also from files written before `decoding` and
    `diarization` had their own fields (they were in an `options` dict then)."""
    segments = tuple(
        Segment(
            **{k: v for k, v in s.items() if k != "words"},
            words=tuple(Word(**w) for w in s["words"]),
        )
        for s in d["segments"]
    )
    old = d.get("options") or {}
    decoding = d.get("decoding") or (old if "device" in old else None)
    diarization = d.get("diarization") or old.get("diarization")
    typed = ("segments", "decoding", "diarization", "recovered", "names_corrected")
    return Transcript(
        **{k: v for k, v in _known(Transcript, d).items() if k not in typed},
        segments=segments,
        decoding=Decoding(**_known(Decoding, decoding)) if decoding else None,
        diarization=_diarization(diarization) if diarization else None,
        recovered=tuple(d.get("recovered") or old.get("recovered") or ()),
        names_corrected=tuple(d.get("names_corrected") or old.get("names_corrected") or ()),
    )


def _diarization(d: dict[str, Any]) -> Diarization:
    known = _known(Diarization, d)
    doubtful = tuple((float(a), float(b), str(c)) for a, b, c in known.pop("doubtful", ()))
    return Diarization(**known, doubtful=doubtful)
