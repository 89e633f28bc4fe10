"""`make eval`: how accurate the whole pipeline is, on episodes whose truth is known exactly.

The evaluation set is synthesized once from `pipeline/lab/episode_scripts/eval_*.toml` (espeak-ng,
see `synth`) and cached in `.eval/set/`, keyed by the script and synthesizer source. Each run
serves the audio over a local HTTP server, runs the real batch (`run.run_batch`: download,
transcribe, diarize, align, render, write back) into a fresh folder, and reads back what was
written: the episode file's transcript section and `<transcripts>/<slug>/whisper.json`.

Measured per episode and pooled:
- WER of whisper.json's words after normalisation (case, punctuation);
- the share of words published under the right chapter heading;
- paragraph timecode error: each paragraph's `[HH:MM:SS]` against the true start of the line
  its first word belongs to (interpolated by character position when a paragraph starts
  mid-line); the timecodes are whole seconds, so up to 1 s of the error is truncation;
- words emitted during the music-like tones or the silent stretch (a word counts when its
  middle lies more than `EDGE_S` inside such an interval);
- proper-noun recall: each spoken occurrence of a name listed in the script's `names` (all of
  which appear in the show notes) counts when the aligned output word is spelled exactly so;
- speaker attribution: the share of aligned words whose speaker is the line's true speaker;
- invented names: a show-notes name written where the truth has another word (or none);
- the longest run of consecutive truth words with nothing written for them (a dropped stretch).
Also WER on the real clips in ../shared/audio (manifest.json), one transcription per channel
where the manifest gives per-channel references.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import synth

SHARED_AUDIO = Path("..") / "shared" / "audio"  # beside the checkout `make eval` runs in
EVAL_SCRIPTS = ("eval_rust_at_sentry", "eval_database_panel", "eval_quick", "eval_interview_observability",
                "eval_interview_compilers", "eval_interview_analytics")
QUICK_SCRIPTS = ("eval_quick",)
LONG_SOURCES = ("eval_interview_observability", "eval_interview_compilers", "eval_interview_analytics")
EDGE_S = 0.5  # Whisper's word edges spill over into pauses; only a word well inside counts
CHANNELS = {"left_channel": 0, "right_channel": 1}

log = logging.getLogger("pipeline.evaluate")


# ---- text and alignment -------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    norm: str  # lower case, punctuation gone: what WER compares
    raw: str  # as written, outer punctuation stripped: what spelling checks compare
    ref: int  # index of the truth line / whisper word / rendered paragraph it came from
    offset: float = 0.0  # position of the token inside its source text, 0..1


_PUNCT_EDGES = re.compile(r"^[^\w]+|[^\w]+$")


def tokenize(text: str, ref: int = 0) -> list[Token]:
    """Words of `text`; "Ronacher's," -> raw "Ronacher's", norm "ronacher's"."""
    out: list[Token] = []
    pieces = list(re.finditer(r"\S+", text))
    for m in pieces:
        # Hyphens and slashes split words the same way on both sides ("follow-up" = "follow up").
        for part in re.split(r"[-/–—]+", m.group()):
            raw = _PUNCT_EDGES.sub("", part)
            norm = re.sub(r"[^\w']", "", raw.lower()).strip("'")
            if norm:
                out.append(Token(norm, raw, ref, m.start() / max(len(text), 1)))
    return out


def normalize(text: str) -> list[str]:
    return [t.norm for t in tokenize(text)]


def align_tokens(ref: Sequence[str], hyp: Sequence[str]) -> list[tuple[int | None, int | None]]:
    """Levenshtein alignment: pairs (ref index, hyp index); None marks a deletion/insertion.

    Among equal-cost paths a match or substitution is preferred, so aligned pairs are as many
    as possible (they carry the chapter, speaker and spelling checks).
    """
    n, m = len(ref), len(hyp)
    # Row-by-row DP with a full backpointer table; episodes are a few thousand words at most.
    prev = list(range(m + 1))
    back = [bytearray(m + 1) for _ in range(n + 1)]  # 0 diag, 1 up (deletion), 2 left (insertion)
    for j in range(1, m + 1):
        back[0][j] = 2
    for i in range(1, n + 1):
        cur = [i] + [0] * m
        back[i][0] = 1
        r = ref[i - 1]
        for j in range(1, m + 1):
            diag = prev[j - 1] + (r != hyp[j - 1])
            up = prev[j] + 1
            left = cur[j - 1] + 1
            best = diag
            move = 0
            if up < best:
                best, move = up, 1
            if left < best:
                best, move = left, 2
            cur[j] = best
            back[i][j] = move
        prev = cur
    pairs: list[tuple[int | None, int | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        move = back[i][j]
        if move == 0:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif move == 1:
            pairs.append((i - 1, None))
            i -= 1
        else:
            pairs.append((None, j - 1))
            j -= 1
    pairs.reverse()
    return pairs


def word_errors(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Substitutions + deletions + insertions: the Levenshtein distance over words.

    One numpy row at a time, so an hour of speech (7,000 x 7,000 words) takes a blink: the
    within-row dependency cur[j] = min(cur[j], cur[j-1] + 1) is a running minimum of
    cur[k] - k, shifted back by j.
    """
    import numpy as np

    ids: dict[str, int] = {}
    r = np.array([ids.setdefault(w, len(ids)) for w in ref], dtype=np.int64)
    h = np.array([ids.setdefault(w, len(ids)) for w in hyp], dtype=np.int64)
    steps = np.arange(len(h) + 1)
    prev = steps.copy()
    for i in range(1, len(r) + 1):
        cur = np.empty_like(prev)
        cur[0] = i
        cur[1:] = np.minimum(prev[:-1] + (h != r[i - 1]), prev[1:] + 1)
        prev = np.minimum.accumulate(cur - steps) + steps
    return int(prev[-1])


def wer(ref: Sequence[str], hyp: Sequence[str]) -> float:
    return word_errors(ref, hyp) / max(len(ref), 1)


# ---- the evaluation set -------------------------------------------------------------------

@dataclass(frozen=True)
class EvalEpisode:
    script: synth.Script
    names: tuple[str, ...]
    audio: Path
    truth: synth.Truth


def truth_to_dict(truth: synth.Truth) -> dict[str, Any]:
    return asdict(truth)


def truth_from_dict(d: dict[str, Any]) -> synth.Truth:
    return synth.Truth(
        lines=tuple(synth.Line(**line) for line in d["lines"]),
        chapters=tuple((title, start) for title, start in d["chapters"]),
        music=tuple((a, b) for a, b in d["music"]),
        silence=tuple((a, b) for a, b in d["silence"]),
        duration=d["duration"],
        extra=d.get("extra", {}),
    )


def _espeak_version() -> str:
    try:
        return subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "none"


def show_notes_text(script: synth.Script) -> str:
    return " ".join([script.title, script.description, *(t for t, _ in script.links), *script.speakers])


def script_path(name: str) -> Path:
    return synth.SCRIPTS_DIR / f"{name}.toml"


def build_set(names: Sequence[str], cache_dir: Path) -> list[EvalEpisode]:
    """Synthesize the scripts (once; cached by the script and synthesizer source)."""
    import tomllib

    out = []
    synth_src = Path(synth.__file__).read_bytes()
    version = _espeak_version()
    for name in names:
        path = script_path(name)
        data = path.read_bytes()
        script = synth.load_script(path)
        spoken = tomllib.loads(data.decode())
        nouns = tuple(spoken.get("names", ()))
        notes = show_notes_text(script)
        missing = [n for n in nouns if n not in notes]
        if missing:
            raise ValueError(f"{path}: names not in the show notes: {', '.join(missing)}")
        key = hashlib.sha256(data + synth_src + version.encode()).hexdigest()[:12]
        audio = cache_dir / f"{script.slug}-{key}.mp3"
        truth_file = audio.with_suffix(".truth.json")
        if audio.exists() and truth_file.exists():
            truth = truth_from_dict(json.loads(truth_file.read_text()))
        else:
            log.info("synthesizing %s", path)
            truth = synth.synthesize(script, audio)
            truth_file.write_text(json.dumps(truth_to_dict(truth), indent=1))
        out.append(EvalEpisode(script, nouns, audio, truth))
    return out


def long_episode(minutes: float, cache_dir: Path) -> EvalEpisode:
    """The interview scripts looped into one long episode (`--long`), synthesized once."""
    import tomllib

    eps = build_set(LONG_SOURCES, cache_dir)
    script = synth.loop_scripts([(ep.script, ep.truth) for ep in eps], minutes,
                                title=f"A {minutes:g}-minute episode of interviews",
                                description=" ".join(ep.script.description for ep in eps),
                                slug=f"eval-long-{minutes:g}min")
    key = hashlib.sha256(repr((script, Path(synth.__file__).read_text(), _espeak_version())).encode()).hexdigest()[:12]
    audio = cache_dir / f"{script.slug}-{key}.mp3"
    truth_file = audio.with_suffix(".truth.json")
    if audio.exists() and truth_file.exists():
        truth = truth_from_dict(json.loads(truth_file.read_text()))
    else:
        log.info("synthesizing the %g-minute episode", minutes)
        truth = synth.synthesize(script, audio)
        truth_file.write_text(json.dumps(truth_to_dict(truth)))
    nouns = tuple(dict.fromkeys(n for name in LONG_SOURCES
                                for n in tomllib.loads(script_path(name).read_text()).get("names", ())))
    return EvalEpisode(script, nouns, audio, truth)


# ---- reading back what the pipeline wrote -------------------------------------------------

@dataclass(frozen=True)
class Published:
    """One `[HH:MM:SS]` paragraph of the written transcript section."""

    heading: str | None  # the chapter heading above it
    start: float
    text: str


_TIMECODE = re.compile(r"^\[(\d+):(\d\d):(\d\d)\]\s*(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*$")
_LABEL = re.compile(r"^\*\*(.+?):\*\*\s*")
_REVIEW = re.compile(r"\s*\(_needs review_ [\d:]+\)")


def unescape(text: str) -> str:
    return html.unescape(re.sub(r"\\(.)", r"\1", text))


def read_published(episode_text: str) -> list[Published]:
    """The paragraphs after the `## Transcript` heading, with the chapter heading above each."""
    lines = episode_text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip().lower() == "## transcript")
    except StopIteration:
        return []
    heading: str | None = None
    out = []
    for line in lines[start + 1:]:
        line = line.strip()
        if m := _HEADING.match(line):
            heading = unescape(m.group(2))
        elif m := _TIMECODE.match(line):
            h, mi, s, body = m.groups()
            body = _REVIEW.sub("", _LABEL.sub("", body))
            out.append(Published(heading, int(h) * 3600 + int(mi) * 60 + int(s), unescape(body)))
    return out


# ---- metrics ------------------------------------------------------------------------------

@dataclass
class Scores:
    """Counts that pool by addition; the rates are derived from them."""

    name: str
    audio_seconds: float = 0.0
    ref_words: int = 0
    errors: int = 0
    chapter_pairs: int = 0
    chapter_right: int = 0
    timecode_errors: list[float] = field(default_factory=list)
    words_in_music: int = 0
    words_in_silence: int = 0
    names_total: int = 0
    names_right: int = 0
    names_missed: list[str] = field(default_factory=list)
    invented: list[str] = field(default_factory=list)
    longest_dropped: int = 0
    speaker_pairs: int = 0
    speaker_right: int = 0
    speaker_labels: str = ""  # "names" when the output used the truth's names, "mapped" otherwise
    warnings: list[str] = field(default_factory=list)

    def add(self, other: Scores) -> None:
        for f in ("audio_seconds", "ref_words", "errors", "chapter_pairs", "chapter_right", "words_in_music",
                  "words_in_silence", "names_total", "names_right", "speaker_pairs", "speaker_right"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.timecode_errors += other.timecode_errors
        self.names_missed += other.names_missed
        self.invented += other.invented
        self.longest_dropped = max(self.longest_dropped, other.longest_dropped)

    def summary(self) -> dict[str, Any]:
        tc = sorted(self.timecode_errors)
        return {
            "episode": self.name,
            "audio_seconds": round(self.audio_seconds, 1),
            "ref_words": self.ref_words,
            "wer": _ratio(self.errors, self.ref_words),
            "chapter_accuracy": _ratio(self.chapter_right, self.chapter_pairs),
            "timecode_median_s": round(statistics.median(tc), 2) if tc else None,
            "timecode_p95_s": round(percentile(tc, 95), 2) if tc else None,
            "paragraphs": len(tc),
            "words_in_music": self.words_in_music,
            "words_in_silence": self.words_in_silence,
            "name_recall": _ratio(self.names_right, self.names_total),
            "names_total": self.names_total,
            "names_missed": sorted(set(self.names_missed)),
            "invented_names": len(self.invented),
            "invented": self.invented,
            "longest_dropped_run": self.longest_dropped,
            "speaker_accuracy": _ratio(self.speaker_right, self.speaker_pairs),
            "speaker_labels": self.speaker_labels,
            "warnings": self.warnings,
        }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    v = sorted(values)
    if not v:
        raise ValueError("no values")
    k = (len(v) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def _inside(t: float, spans: Sequence[tuple[float, float]]) -> bool:
    return any(a + EDGE_S < t < b - EDGE_S for a, b in spans)


def chapter_of(truth: synth.Truth, t: float) -> str | None:
    title = None
    for name, start in truth.chapters:
        if start <= t + 1e-6:
            title = name
    return title


def score_episode(ep: EvalEpisode, transcript: dict[str, Any], episode_text: str,
                  vocabulary: Sequence[str] = ()) -> Scores:
    """Compare what the pipeline wrote for `ep` with its truth; `vocabulary`: the show-notes
    names (names.vocabulary_names) whose appearance in place of another word counts as invented."""
    truth = ep.truth
    s = Scores(ep.script.slug, audio_seconds=truth.duration)
    ref = [t for i, line in enumerate(truth.lines) for t in tokenize(line.text, i)]
    words = [w for seg in transcript["segments"] for w in seg["words"]]
    hyp = [t for i, w in enumerate(words) for t in tokenize(w["text"], i)]
    s.ref_words = len(ref)
    pairs = align_tokens([t.norm for t in ref], [t.norm for t in hyp])
    s.errors = sum(1 for a, b in pairs if a is None or b is None or ref[a].norm != hyp[b].norm)

    # Hallucinations: words placed well inside the tones or the silences.
    for w in words:
        mid = (w["start"] + w["end"]) / 2
        s.words_in_music += _inside(mid, truth.music)
        s.words_in_silence += _inside(mid, truth.silence)

    # Names: every spoken occurrence, spelled exactly (case included) in the aligned word.
    wanted = set(ep.names)
    for a, b in pairs:
        if a is not None and ref[a].raw in wanted:
            s.names_total += 1
            got = _possessive(hyp[b].raw) if b is not None else ""
            if got == ref[a].raw:
                s.names_right += 1
            else:
                s.names_missed.append(f"{ref[a].raw}->{got or '(nothing)'}")

    # Invented names: a show-notes name where the truth has another word, or nothing.
    vocab = {v.lower() for v in vocabulary}
    for a, b in pairs:
        got = _possessive(hyp[b].raw) if b is not None else ""
        if got.lower() in vocab and (a is None or _possessive(ref[a].norm) != _possessive(hyp[b].norm)):
            s.invented.append(f"{ref[a].raw if a is not None else '(nothing)'}->{got}")
    run = 0
    for a, b in pairs:
        if a is not None and b is None:
            run += 1
            s.longest_dropped = max(s.longest_dropped, run)
        elif a is not None:
            run = 0

    # Speakers: a diarizer that knows the names uses them; otherwise map labels one-to-one.
    matched = [(truth.lines[ref[a].ref].speaker, words[hyp[b].ref].get("speaker"))
               for a, b in pairs if a is not None and b is not None]
    labelled = [(t, h) for t, h in matched if h]
    if labelled:
        s.speaker_pairs = len(labelled)
        truth_names = {line.speaker for line in truth.lines}
        if all(h in truth_names for _, h in labelled):
            s.speaker_labels = "names"
            s.speaker_right = sum(t == h for t, h in labelled)
        else:
            s.speaker_labels = "mapped"
            s.speaker_right = best_mapping(labelled)

    # The published section: chapter headings and paragraph timecodes.
    published = read_published(episode_text)
    if not published:
        s.warnings.append("no timecoded paragraphs found in the written transcript section")
    ptok = [t for i, p in enumerate(published) for t in tokenize(p.text, i)]
    ppairs = align_tokens([t.norm for t in ref], [t.norm for t in ptok])
    first_match: dict[int, Token] = {}
    for a, b in ppairs:
        if a is None or b is None:
            continue
        line = truth.lines[ref[a].ref]
        s.chapter_pairs += 1
        s.chapter_right += published[ptok[b].ref].heading == chapter_of(truth, line.start)
        first_match.setdefault(ptok[b].ref, ref[a])
    for para, token in sorted(first_match.items()):
        line = truth.lines[token.ref]
        true_start = line.start + token.offset * (line.end - line.start)
        s.timecode_errors.append(abs(published[para].start - true_start))
    return s


def _possessive(raw: str) -> str:
    return raw[:-2] if raw.endswith(("'s", "’s")) else raw


def best_mapping(pairs: Sequence[tuple[str, str]]) -> int:
    """Most agreements under a one-to-one mapping of output labels onto true speakers."""
    from itertools import permutations

    truths = sorted({t for t, _ in pairs})
    labels = sorted({h for _, h in pairs})
    counts: dict[tuple[str, str], int] = {}
    for t, h in pairs:
        counts[(h, t)] = counts.get((h, t), 0) + 1
    best = 0
    # At most a handful of speakers, so trying every assignment is cheap.
    pad = truths + [None] * max(0, len(labels) - len(truths))
    for perm in permutations(pad, len(labels)):
        best = max(best, sum(counts.get((h, t), 0) for h, t in zip(labels, perm) if t))
    return best


# ---- running ------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvalOptions:
    """What `python -m pipeline eval` was asked for; None means the project's setting."""

    quick: bool = False
    engine: str | None = None
    model: str | None = None
    beam_size: int | None = None
    batch_size: int | None = None
    diarize: bool | None = None
    vocabulary: bool | None = None
    vocabulary_prompt: str | None = None
    correct_names: bool | None = None
    recover_gaps: bool | None = None
    language: str | None = None
    episodes: tuple[str, ...] = ()
    long_minutes: float | None = None
    real: bool = True
    shared_audio: Path = SHARED_AUDIO
    cache_dir: Path = Path(".eval")
    pyproject: Path = Path("pyproject.toml")
    keep: bool = False


def settings_for(args: EvalOptions, episodes_dir: Path, transcripts_dir: Path) -> Any:
    from .. import config

    overrides = {
        "episodes_dir": episodes_dir,
        "transcripts_dir": transcripts_dir,
        "engine": args.engine,
        "model": args.model,
        "beam_size": args.beam_size,
        "batch_size": args.batch_size,
        "diarize": args.diarize,
        "vocabulary": args.vocabulary,
        "vocabulary_prompt": args.vocabulary_prompt,
        "correct_names": args.correct_names,
        "recover_gaps": args.recover_gaps,
        "language": args.language,
    }
    return config.load(overrides, pyproject=args.pyproject)


def run_episodes(eps: Sequence[EvalEpisode], args: EvalOptions, workdir: Path) -> list[Scores]:
    """The whole batch over HTTP on 127.0.0.1, then every episode scored from its files."""
    import shutil

    from .. import run
    from .serve import serve

    media = workdir / "media"
    media.mkdir(parents=True)
    for ep in eps:
        shutil.copyfile(ep.audio, media / f"{ep.script.slug}.mp3")
    episodes_dir, transcripts_dir = workdir / "episodes", workdir / "transcripts"
    settings = settings_for(args, episodes_dir, transcripts_dir)
    with serve(media) as base:
        files = {
            ep.script.slug: synth.write_episode_file(
                ep.script, ep.truth, f"{base}/{ep.script.slug}.mp3", episodes_dir / ep.script.slug / "index.md")
            for ep in eps
        }
        report = run.run_batch([episodes_dir], settings)
    outcomes = {o.slug: o for o in report.outcomes}
    scores = []
    for ep in eps:
        slug = ep.script.slug
        outcome = outcomes.get(slug)
        whisper = transcripts_dir / slug / "whisper.json"
        if outcome is None or outcome.state == "failed" or not whisper.exists():
            why = outcome.error if outcome else "not processed"
            raise RuntimeError(f"{files[slug]}: the pipeline failed: {why}")
        from .. import episodes, names

        vocab = names.vocabulary_names(episodes.load(files[slug], settings.episodes))
        sc = score_episode(ep, json.loads(whisper.read_text()), files[slug].read_text(encoding="utf-8"), vocab)
        sc.warnings += list(outcome.warnings)
        scores.append(sc)
    return scores


@dataclass(frozen=True)
class ClipResult:
    clip: str
    seconds: float
    ref_words: int
    errors: int
    hypothesis: str


def real_clips(args: EvalOptions, workdir: Path, audio_dir: Path, limit: int | None = None) -> list[ClipResult]:
    """Each clip transcribed alone (no prompt); per-channel references get one channel each."""
    from .. import audio, transcribe

    settings = settings_for(args, workdir / "episodes", workdir / "clips")
    cache = workdir / "clips" / "cache"
    manifest = json.loads((audio_dir / "manifest.json").read_text())
    out = []
    for clip in manifest["clips"]:
        path = audio_dir / clip["file"]
        refs = clip["reference_text"]
        jobs: list[tuple[str, Path, str]] = []
        if isinstance(refs, str):
            jobs.append((clip["file"], path, refs))
        else:
            for key, text in refs.items():
                channel = CHANNELS.get(key, list(refs).index(key))
                mono = workdir / "clips" / f"{path.stem}.{key}.wav"
                mono.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(path),
                                "-af", f"pan=mono|c0=c{channel}", str(mono)], check=True)
                jobs.append((f"{clip['file']} ({key.replace('_', ' ')})", mono, text))
        for label, file, text in jobs:
            if limit is not None and len(out) >= limit:
                return out
            t = transcribe.transcribe(file, settings.transcribe, cache)
            hyp = "".join(w.text for w in t.words)
            ref_n = normalize(text)
            out.append(ClipResult(label, round(audio.prepare(file, cache).duration, 2), len(ref_n),
                                  word_errors(ref_n, normalize(hyp)), hyp.strip()))
    return out


# ---- output -------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "platform": platform.platform()}


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    if pct:
        return f"{v * 100:.1f}%"
    return str(v)


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


EPISODE_COLUMNS = ("episode", "audio s", "words", "WER", "chapter ok", "tc med s", "tc p95 s",
                   "in music", "in silence", "names ok", "invented", "max dropped", "speaker ok")


def episode_row(d: dict[str, Any]) -> list[str]:
    return [d["episode"], f"{d['audio_seconds']:.0f}", str(d["ref_words"]), _fmt(d["wer"], True),
            _fmt(d["chapter_accuracy"], True), _fmt(d["timecode_median_s"]), _fmt(d["timecode_p95_s"]),
            str(d["words_in_music"]), str(d["words_in_silence"]),
            f"{_fmt(d['name_recall'], True)} of {d['names_total']}", str(d["invented_names"]),
            str(d["longest_dropped_run"]),
            _fmt(d["speaker_accuracy"], True) + (" (mapped)" if d["speaker_labels"] == "mapped" else "")]


def evaluate(args: EvalOptions) -> dict[str, Any]:
    started = time.monotonic()
    names = args.episodes or (QUICK_SCRIPTS if args.quick else EVAL_SCRIPTS)
    eps = build_set(names, args.cache_dir / "set")
    if args.long_minutes:
        eps.append(long_episode(args.long_minutes, args.cache_dir / "set"))
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=args.cache_dir))
    try:
        scores = run_episodes(eps, args, workdir)
        pooled = Scores("pooled")
        for sc in scores:
            pooled.add(sc)
        labels = {sc.speaker_labels for sc in scores if sc.speaker_labels}
        pooled.speaker_labels = "mapped" if "mapped" in labels else ("names" if labels else "")
        clips: list[ClipResult] = []
        if args.real and args.shared_audio.is_dir():
            clips = real_clips(args, workdir, args.shared_audio, limit=1 if args.quick else None)
        settings = settings_for(args, workdir / "episodes", workdir / "transcripts")
        speaker_report = None
        if settings.speakers.diarize:
            from . import speaker_eval

            speaker_report = speaker_eval.evaluate(args.cache_dir / "speakers", quick=args.quick, real=args.real,
                                                   shared=args.shared_audio)
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    clip_words = sum(c.ref_words for c in clips)
    return {
        "machine": machine(),
        "settings": {"engine": settings.transcribe.engine, "model": settings.transcribe.model,
                     "beam_size": settings.transcribe.beam_size, "batch_size": settings.transcribe.batch_size,
                     "vad": settings.transcribe.vad, "vocabulary": settings.vocabulary.vocabulary,
                     "vocabulary_prompt": settings.vocabulary.vocabulary_prompt,
                     "correct_names": settings.vocabulary.correct_names,
                     "recover_gaps": settings.transcribe.recover_gaps,
                     "diarize": settings.speakers.diarize},
        "episodes": [sc.summary() for sc in scores],
        "pooled": pooled.summary(),
        "real_clips": [{**asdict(c), "wer": _ratio(c.errors, c.ref_words)} for c in clips],
        "real_pooled": {"clips": len(clips), "ref_words": clip_words,
                        "wer": _ratio(sum(c.errors for c in clips), clip_words)},
        "speakers": speaker_report,
        "workdir": str(workdir) if args.keep else None,
        "seconds": round(time.monotonic() - started, 1),
    }


def print_results(result: dict[str, Any]) -> None:
    s, m = result["settings"], result["machine"]
    print(f"eval: {s['engine']} {s['model']}, beam {s['beam_size']}, batch {s['batch_size']}, "
          f"vocabulary {s['vocabulary_prompt'] if s['vocabulary'] else 'off'}, "
          f"names {'corrected' if s['correct_names'] else 'as decoded'}, "
          f"gaps {'recovered' if s['recover_gaps'] else 'left'}, diarize {'on' if s['diarize'] else 'off'}; "
          f"{m['nproc']} x {m['cpu']}\n")
    rows = [episode_row(d) for d in result["episodes"]] + [episode_row(result["pooled"])]
    print(table(rows, EPISODE_COLUMNS))
    for d in result["episodes"]:
        extra = []
        if d["names_missed"]:
            extra.append("names wrong: " + ", ".join(d["names_missed"]))
        if d["invented"]:
            extra.append("names invented: " + ", ".join(d["invented"]))
        extra += d["warnings"]
        for e in extra:
            print(f"  {d['episode']}: {e}")
    if result["real_clips"]:
        print()
        rows = [[c["clip"], f"{c['seconds']:.1f}", str(c["ref_words"]), _fmt(c["wer"], True)]
                for c in result["real_clips"]]
        rp = result["real_pooled"]
        rows.append(["pooled", "", str(rp["ref_words"]), _fmt(rp["wer"], True)])
        print(table(rows, ("real clip", "audio s", "words", "WER")))
    if result.get("speakers"):
        from . import speaker_eval

        speaker_eval.print_report(result["speakers"])
    print(f"\n{result['seconds']:.0f} s in all" + (f"; run folder kept: {result['workdir']}" if result["workdir"] else ""))
