"""Spoken test episodes with an exact truth, from a script, with espeak-ng.

Used by the demo, the tests, `make eval` and `make bench`: real audio whose words, speakers,
chapter starts, music and silences are known to the millisecond, with no network and no
recordings to license. A script is TOML:

    title = "Rust at Sentry"
    [speakers]
    "Jeremy Jung" = { voice = "en-us+m3", speed = 160, pitch = 35 }
    [[parts]]
    tones = 8.0                      # music-like intro
    [[parts]]
    chapter = "Introduction"         # this line starts a chapter
    speaker = "Jeremy Jung"
    text = "Today I am talking to Armin Ronacher."
    pause = 0.6                      # silence after the line (default 0.5 s)
    [[parts]]
    silence = 30.0                   # near-silence (faint noise)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import tomllib
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..timecode import format_timestamp

RATE = 22050  # espeak-ng's native rate; ffmpeg converts on output
DEFAULT_PAUSE = 0.5
SCRIPTS_DIR = Path(__file__).parent / "episode_scripts"


@dataclass(frozen=True)
class Voice:
    voice: str = "en-us"
    speed: int = 160
    pitch: int = 50


@dataclass(frozen=True)
class Part:
    kind: str  # "line", "tones" or "silence"
    seconds: float = 0.0
    speaker: str = ""
    text: str = ""
    chapter: str | None = None
    pause: float = DEFAULT_PAUSE


@dataclass(frozen=True)
class Script:
    title: str
    description: str
    speakers: dict[str, Voice]
    parts: tuple[Part, ...]
    links: tuple[tuple[str, str], ...] = ()
    slug: str = "synthetic-episode"


@dataclass(frozen=True)
class Line:
    speaker: str
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Truth:
    lines: tuple[Line, ...]
    chapters: tuple[tuple[str, float], ...]  # (title, start of its first line)
    music: tuple[tuple[float, float], ...]
    silence: tuple[tuple[float, float], ...]
    duration: float
    extra: dict[str, Any] = field(default_factory=dict)


def parse_script(data: dict[str, Any], slug: str = "synthetic-episode") -> Script:
    speakers = {name: Voice(**spec) for name, spec in data.get("speakers", {}).items()}
    parts = []
    for raw in data.get("parts", []):
        if "tones" in raw:
            parts.append(Part("tones", seconds=float(raw["tones"])))
        elif "silence" in raw:
            parts.append(Part("silence", seconds=float(raw["silence"])))
        else:
            if raw.get("speaker") not in speakers:
                raise ConfigError(f"script {slug}: unknown speaker {raw.get('speaker')!r}")
            parts.append(
                Part("line", speaker=raw["speaker"], text=raw["text"].strip(),
                     chapter=raw.get("chapter"), pause=float(raw.get("pause", DEFAULT_PAUSE)))
            )
    links = tuple((link["text"], link["url"]) for link in data.get("links", []))
    return Script(data.get("title", slug), data.get("description", ""), speakers, tuple(parts),
                  links, data.get("slug", slug))


def load_script(path: Path | str) -> Script:
    """A script by path, or by name from pipeline/lab/episode_scripts/ (`"demo"`)."""
    path = Path(path)
    if not path.exists() and not path.suffix:
        path = SCRIPTS_DIR / f"{path}.toml"
    with path.open("rb") as fh:
        return parse_script(tomllib.load(fh), slug=path.stem)


def _speak(text: str, voice: Voice, workdir: Path) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    out = workdir / "line.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice.voice, "-s", str(voice.speed), "-p", str(voice.pitch),
         "-w", str(out), text],
        check=True, capture_output=True,
    )
    with wave.open(str(out)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32)
    samples /= 32768.0
    # espeak pads each utterance with silence; trim it so the truth marks the voice itself.
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return samples[loud[0]: loud[-1] + 1] if loud.size else samples


def _tones(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Chords that change every half second: music-like, no speech formants to latch onto."""
    out = []
    step = int(RATE * 0.5)
    t = np.arange(step) / RATE
    envelope = np.minimum(1.0, np.minimum(t, t[::-1]) * 40)
    for _ in range(int(round(seconds / 0.5))):
        root = 220.0 * 2 ** (rng.integers(0, 12) / 12)
        chord = sum(np.sin(2 * np.pi * root * ratio * t) for ratio in (1.0, 1.26, 1.5, 2.0))
        out.append(0.08 * chord * envelope)
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _quiet(seconds: float, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0, 0.0015, int(RATE * seconds)).astype(np.float32)


def synthesize(script: Script, out_path: Path, seed: int = 0) -> Truth:
    """Speak the script into `out_path` (.wav, .mp3, .m4a, .ogg or .flac, by suffix)."""
    rng = np.random.default_rng(seed)
    chunks: list[np.ndarray] = []
    lines: list[Line] = []
    chapters: list[tuple[str, float]] = []
    music: list[tuple[float, float]] = []
    silence: list[tuple[float, float]] = []
    pos = 0  # samples written so far
    with tempfile.TemporaryDirectory() as tmp:
        for part in script.parts:
            start = pos / RATE
            if part.kind == "line":
                voice = _speak(part.text, script.speakers[part.speaker], Path(tmp))
                chunks.append(voice)
                pos += voice.size
                lines.append(Line(part.speaker, part.text, start, pos / RATE))
                if part.chapter:
                    chapters.append((part.chapter, start))
                gap = _quiet(part.pause, rng)
            else:
                make = _tones if part.kind == "tones" else _quiet
                gap = make(part.seconds, rng)
                (music if part.kind == "tones" else silence).append((start, start + gap.size / RATE))
            chunks.append(gap)
            pos += gap.size
    audio = np.clip(np.concatenate(chunks), -1, 1)
    _encode(audio, Path(out_path))
    return Truth(tuple(lines), tuple(chapters), tuple(music), tuple(silence), pos / RATE)


def _encode(audio: np.ndarray, out_path: Path) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (audio * 32767).astype(np.int16).tobytes()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(RATE),
         "-ac", "1", "-i", "pipe:0", str(out_path)],
        input=pcm, check=True,
    )


def timestamp(seconds: float) -> str:
    """Show-notes style: `0:37`, `64:55` stays minutes for under an hour, `1:02:25` after."""
    return format_timestamp(seconds, hours="auto", pad_hours=False)


def episode_markdown(script: Script, truth: Truth, url: str, shift: float = 0.0) -> str:
    """A Zola episode page like the real site's, pending a transcript.

    `shift` moves every show-notes time, as an intro or ad added after publishing does.
    """
    speakers = ", ".join(json.dumps(name) for name in script.speakers)
    notes = [
        "+++", f"title = {json.dumps(script.title)}", "", f"description = {json.dumps(script.description)}", "",
        "[extra]", f"episode_url = {json.dumps(url)}", f"speakers = [{speakers}]", "+++", "",
        script.description, "",
    ]
    if script.links:
        notes += ["### Links"] + [f"- [{text}]({href})" for text, href in script.links] + [""]
    notes += ["### Timestamps"]
    notes += [f"- {timestamp(start + shift)} - {title}" for title, start in truth.chapters]
    notes += ["", "---", "", "## Transcript", "", "Transcript for this episode is coming soon.", ""]
    return "\n".join(notes)


def write_episode_file(script: Script, truth: Truth, url: str, path: Path, shift: float = 0.0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(episode_markdown(script, truth, url, shift), encoding="utf-8")
    return path


def part_seconds(script: Script, truth: Truth) -> list[float]:
    """How long each part of `script` lasted when it was synthesized."""
    lines = iter(truth.lines)
    out = []
    for part in script.parts:
        if part.kind == "line":
            line = next(lines)
            out.append(line.end - line.start + part.pause)
        else:
            out.append(part.seconds)
    return out


def loop_scripts(spoken: Sequence[tuple[Script, Truth]], minutes: float, title: str, description: str,
                 slug: str) -> Script:
    """The scripts played round after round until `minutes` are filled (a long episode).

    Chapter titles get the round number, so every show-notes timestamp stays unique.
    """
    speakers: dict[str, Voice] = {}
    parts: list[Part] = []
    links: list[tuple[str, str]] = []
    total, target, rnd = 0.0, minutes * 60, 0
    while total < target:
        rnd += 1
        for script, truth in spoken:
            speakers.update(script.speakers)
            if rnd == 1:
                links += script.links
            for part, seconds in zip(script.parts, part_seconds(script, truth)):
                if total >= target:
                    break
                if part.chapter and rnd > 1:
                    part = replace(part, chapter=f"{part.chapter} ({rnd})")
                parts.append(part)
                total += seconds
    return Script(title=title, description=description, speakers=speakers, parts=tuple(parts),
                  links=tuple(links), slug=slug)
