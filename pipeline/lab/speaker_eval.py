"""The speaker stage's own evaluation: the hard cases, scored per episode.

Synthesized interviews between espeak-ng voices of one gender and near pitch (two and three
people, and a long one), built from the sentences in `episode_scripts/interview_lines.txt`;
the show notes name the guests as a real page would, and the front matter lists nobody, so the
speaker count must come from the notes and the voices. Real speech: the AMI meeting excerpts of
`../shared/audio/speakers-manifest.json` (RTTM references) and a conversation interleaved from
different real recordings. Per episode: the share of words under the right speaker, speakers
found against the true number, and the share of words under a wrong name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..models import Episode
from . import synth

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

LINES_FILE = synth.SCRIPTS_DIR / "interview_lines.txt"
BACKCHANNELS = ("Yeah.", "Right.", "Mm-hm.", "Sure.", "Okay.", "Exactly.")

# Same gender, near pitch: the voices real shows have. espeak-ng 1.51 ignores a variant after
# "en-gb" ("en-gb+m3" speaks exactly as "en-gb"; "en+m3", "en-us+m3" do change the voice), so M2
# is espeak-ng's default voice with a British accent, as M1 is with an American one, and M4 with RP.
M1 = {"voice": "en-us", "speed": 160, "pitch": 50}
M2 = {"voice": "en-gb+m3", "speed": 160, "pitch": 48}
M2_SAME_PITCH = {"voice": "en-gb+m3", "speed": 160, "pitch": 50}
M3 = {"voice": "en-us+m7", "speed": 158, "pitch": 46}
M4 = {"voice": "en-gb-x-rp", "speed": 162, "pitch": 50}
F1 = {"voice": "en-gb-scotland+f2", "speed": 160, "pitch": 55}
F2 = {"voice": "en-us+f2", "speed": 160, "pitch": 55}


@dataclass(frozen=True)
class Case:
    slug: str
    title: str
    description: str
    people: tuple[tuple[str, dict[str, object]], ...]  # host first
    minutes: float
    seed: int
    # "talk": turns of one to four sentences each; "interview": the host asks in one sentence and
    # a guest answers in four to twelve, as on real shows (the host then holds about 12% of the talk)
    shape: str = "talk"


CASES = (
    Case("close-two-us-gb", "Build Systems with Alvaro Leiva",
         "Kim Porter talks to Alvaro Leiva about build systems and what makes them slow.",
         (("Kim Porter", M1), ("Alvaro Leiva", M2)), 4, 1),
    Case("close-two-m7-rp", "Bryan Ortiz on Debugging Production",
         "Bryan Ortiz explains how his team debugs production systems.",
         (("Sam Rivera", M3), ("Bryan Ortiz", M4)), 4, 2),
    Case("close-two-female", "Testing Parsers with Maya Chen",
         "Maya Chen joins to talk about fuzzing, parsers and property based testing.",
         (("Ruth Evans", F1), ("Maya Chen", F2)), 4, 3),
    Case("close-three", "Anita Zhang and Alvaro Leiva on systemd",
         "Two guests on service managers, logging and boot times.",
         (("Kim Porter", M1), ("Anita Zhang", M3), ("Alvaro Leiva", M2)), 4, 4),
    # Only the accent differs: the same voice, pitch and speed.
    Case("close-two-accent", "Shipping Software with Jordan Blake",
         "Jordan Blake joins Casey Moore to talk about shipping software.",
         (("Casey Moore", M1), ("Jordan Blake", M2_SAME_PITCH)), 4, 13),
    # The control: two people in one voice cannot be told apart; nobody may be named.
    Case("same-voice-control", "Release Trains with Dana Wolfe",
         "Dana Wolfe talks to Lee Grant about release trains.",
         (("Lee Grant", M1), ("Dana Wolfe", M1)), 4, 14),
    # Real shows' shape: short questions, long answers; the host holds about 12% of the talk.
    Case("interview-close-two", "Build Systems with Alvaro Leiva",
         "Kim Porter talks to Alvaro Leiva about build systems and what makes them slow.",
         (("Kim Porter", M1), ("Alvaro Leiva", M2)), 10, 21, "interview"),
    Case("interview-close-female", "Testing Parsers with Maya Chen",
         "Maya Chen joins to talk about fuzzing, parsers and property based testing.",
         (("Ruth Evans", F1), ("Maya Chen", F2)), 10, 22, "interview"),
    Case("interview-close-three", "Anita Zhang and Alvaro Leiva on systemd",
         "Two guests on service managers, logging and boot times.",
         (("Kim Porter", M1), ("Anita Zhang", M3), ("Alvaro Leiva", M2)), 10, 23, "interview"),
    # The control again in real shows' shape: one voice cut 88/12 looks more like two people than
    # one cut in halves (six voices, 6-minute scratch episodes: 0.26-0.37 against WEAK_SPLIT 0.37).
    Case("same-voice-interview-control", "Release Trains with Dana Wolfe",
         "Lee Grant talks to Dana Wolfe about release trains.",
         (("Lee Grant", M1), ("Dana Wolfe", M1)), 10, 24, "interview"),
    Case("close-two-quick", "Build Systems with Alvaro Leiva",
         "Kim Porter talks to Alvaro Leiva about build systems.",
         (("Kim Porter", M1), ("Alvaro Leiva", M2)), 1.5, 6),
    Case("close-two-60min", "A Long Talk with Bryan Ortiz",
         "Bryan Ortiz on a career in infrastructure: databases, outages and teams.",
         (("Kim Porter", M1), ("Bryan Ortiz", M2)), 60, 5, "interview"),
)
QUICK_CASES = ("close-two-quick",)


def _lines() -> list[str]:
    text = LINES_FILE.read_text(encoding="utf-8").splitlines()
    return [line for line in text if line.strip() and not line.startswith("#")]


def script_for(case: Case) -> synth.Script:
    """An interview: introductions, then turns in the case's `shape`, with backchannels."""
    rng = random.Random(case.seed)
    pool = _lines()
    names = [name for name, _ in case.people]
    host, guests = names[0], names[1:]
    first = host.split()[0]
    guest_list = " and ".join(guests)
    parts: list[dict[str, object]] = [
        {"speaker": host, "text": f"Welcome to the show. I'm {host}, and today I am talking to {guest_list}."},
    ]
    for guest in guests:
        parts.append({"speaker": guest, "text": f"Thanks for having me, {first}. I'm glad to be here."})
    target = case.minutes * 60 * 2.6  # about 2.6 words a second at these speeds
    deck: list[str] = []

    def sentences(n: int) -> str:
        out = []
        for _ in range(n):
            if not deck:
                deck.extend(pool)
                rng.shuffle(deck)
            out.append(deck.pop())
        return " ".join(out)

    words, current = 0, guests[-1]
    while words < target:
        if case.shape == "interview":
            turns = [(host, sentences(1)), (current := rng.choice(guests), sentences(rng.randint(4, 12)))]
            if len(guests) > 1 and rng.random() < 0.3:  # the other guest adds to the answer
                turns.append((rng.choice([g for g in guests if g != current]), sentences(rng.randint(1, 4))))
        else:
            current = rng.choice([n for n in names if n != current])
            turns = [(current, sentences(rng.choice((1, 2, 2, 3, 3, 4))))]
        for who, text in turns:
            parts.append({"speaker": who, "text": text, "pause": round(rng.uniform(0.3, 0.9), 2)})
            words += len(text.split())
            current = who
        if rng.random() < 0.15:  # a listener's "yeah" between two stretches of one speaker
            listener = rng.choice([n for n in names if n != current])
            parts.append({"speaker": listener, "text": rng.choice(BACKCHANNELS), "pause": 0.4})
            parts.append({"speaker": current, "text": sentences(1), "pause": 0.6})
    data = {
        "title": case.title, "description": case.description,
        "speakers": {name: voice for name, voice in case.people}, "parts": parts,
    }
    return synth.parse_script(data, slug=case.slug)


def build_case(case: Case, cache_dir: Path) -> tuple[synth.Script, Path, synth.Truth]:
    """Synthesized once, cached by the case, the sentences and the synthesizer source."""
    script = script_for(case)
    audio, lines = _synthesized(script, case.slug, repr(case).encode() + LINES_FILE.read_bytes(), cache_dir)
    return script, audio, synth.Truth(lines, (), (), (), lines[-1].end if lines else 0.0)


def _synthesized(script: synth.Script, slug: str, key: bytes, cache_dir: Path) -> tuple[Path, tuple[synth.Line, ...]]:
    """`script` spoken into `<slug>-<hash>.mp3` once (the hash of `key` and the synthesizer's
    source), with its lines' times beside it."""
    digest = hashlib.sha256(key + Path(synth.__file__).read_bytes()).hexdigest()[:12]
    audio = Path(cache_dir) / f"{slug}-{digest}.mp3"
    truth_file = audio.with_suffix(".truth.json")
    if not (audio.exists() and truth_file.exists()):
        log.info("synthesizing %s", slug)
        truth = synth.synthesize(script, audio)
        truth_file.write_text(json.dumps({"lines": [asdict(line) for line in truth.lines]}))
    return audio, tuple(synth.Line(**line) for line in json.loads(truth_file.read_text())["lines"])


def to_wav16k(src: Path, out: Path) -> Path:
    """What the audio stage hands the speaker stage: 16 kHz mono 16-bit wav."""
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".part.wav")
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-ac", "1",
                        "-ar", "16000", "-c:a", "pcm_s16le", str(tmp)], check=True)
        tmp.replace(out)
    return out


# --- scoring -------------------------------------------------------------------------------


def truth_by_overlap(spans: Sequence[tuple[float, float]], turns: Sequence[tuple[float, float, str]]) -> list[str | None]:
    """The reference speaker each (start, end) span overlaps most; None when it overlaps nobody."""
    out: list[str | None] = []
    for a, b in spans:
        best, best_overlap = None, 0.0
        for s, e, who in turns:
            overlap = min(b, e) - max(a, s)
            if overlap > best_overlap:
                best, best_overlap = who, overlap
        out.append(best)
    return out


@dataclass(frozen=True)
class Score:
    words: int
    accuracy: float  # right speaker, by name when names were given, else best one-to-one mapping
    found: int
    true: int
    wrong_name: float  # share of words under a name that belongs to somebody else


def score(predicted: Sequence[str], true: Sequence[str], true_names: Sequence[str] = ()) -> Score:
    """`true_names`: the real people's names, so that a label that is one of them is judged by
    name (a wrong one counts as a wrong name) and generic labels by the best mapping."""
    from scipy.optimize import linear_sum_assignment

    pairs = [(p, t) for p, t in zip(predicted, true) if t is not None]
    if not pairs:
        return Score(0, 0.0, len(set(predicted)), 0, 0.0)
    ps = sorted({p for p, _ in pairs})
    ts = sorted({t for _, t in pairs})
    named = set(true_names)
    counts = [[0] * len(ts) for _ in ps]
    for p, t in pairs:
        counts[ps.index(p)][ts.index(t)] += 1
    # Names are judged as names; generic labels map one-to-one onto whoever is left.
    right = sum(1 for p, t in pairs if p in named and p == t)
    wrong_name = sum(1 for p, t in pairs if p in named and p != t)
    free_p = [i for i, p in enumerate(ps) if p not in named]
    taken = {p for p in ps if p in named}
    free_t = [j for j, t in enumerate(ts) if t not in taken]
    if free_p and free_t:
        rows, cols = linear_sum_assignment([[-counts[i][j] for j in free_t] for i in free_p])
        right += sum(counts[free_p[r]][free_t[c]] for r, c in zip(rows, cols))
    return Score(len(pairs), right / len(pairs), len(ps), len(ts), wrong_name / len(pairs))


def _right_words(predicted: Sequence[str], true: Sequence[str | None], true_names: Sequence[str] = ()) -> list[bool | None]:
    """Per word: under the right speaker? A real name is judged as a name, a generic label by
    the person most of its words belong to; None where nobody spoke."""
    from collections import Counter

    mostly = {p: Counter(t for q, t in zip(predicted, true) if q == p and t).most_common(1) for p in set(predicted)}
    return [None if t is None else (p == t if p in true_names else bool(mostly[p]) and mostly[p][0][0] == t)
            for p, t in zip(predicted, true)]


# --- real speech ---------------------------------------------------------------------------

SHARED_AUDIO = Path(__file__).resolve().parents[2].parent / "shared" / "audio"
# Two and three real people, taking turns: pieces of public test clips (see manifest.json).
INTERLEAVED = {
    "real-two-interleaved": ("jfk.flac", "librispeech_dev-clean_2412-153948-0000.flac"),
    "real-three-interleaved": ("jfk.flac", "librispeech_dev-clean_2412-153948-0000.flac", "ljspeech_LJ050-0131.wav"),
}


@dataclass(frozen=True)
class Item:
    """One episode of the speaker evaluation."""

    name: str
    audio: Path
    turns: tuple[tuple[float, float, str], ...]  # the reference: who speaks when
    people: tuple[str, ...]  # true names, when the episode's page could name them
    title: str = ""
    description: str = ""
    host_clip: Path | None = None  # a separate recording of the first person, for known voices
    voices: tuple[str, ...] = ()  # each person's synthesizer voice, in `people` order


def read_rttm(path: Path) -> tuple[tuple[float, float, str], ...]:
    turns = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        f = line.split()
        if len(f) >= 8 and f[0] == "SPEAKER":
            turns.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return tuple(sorted(turns))


def ami_items(shared: Path = SHARED_AUDIO) -> list[Item]:
    manifest = json.loads((shared / "speakers-manifest.json").read_text(encoding="utf-8"))
    return [Item(Path(c["file"]).stem, shared / c["file"], read_rttm(shared / c["speaker_reference"]), ())
            for c in manifest["clips"]]


def _decode16k(path: Path) -> np.ndarray:
    import numpy as np

    raw = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-ac", "1", "-ar", "16000",
                          "-f", "s16le", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def _pieces(samples: np.ndarray, rate: int = 16000) -> list[np.ndarray]:
    """A clip cut at its pauses into pieces of at least 2 s (sentences and clauses)."""
    import numpy as np

    hop = rate // 100
    energy = np.array([np.sqrt(np.mean(samples[i:i + hop] ** 2)) for i in range(0, len(samples) - hop, hop)])
    quiet = energy < 0.15 * np.percentile(energy, 90)
    cuts, run = [0], 0
    for i, q in enumerate(quiet):
        run = run + 1 if q else 0
        if run == 15 and (i - 7) * hop - cuts[-1] >= 2 * rate:  # 150 ms of quiet
            cuts.append((i - 7) * hop)
    cuts.append(len(samples))
    return [samples[a:b] for a, b in zip(cuts, cuts[1:]) if b - a > rate // 2]


def interleaved_items(cache_dir: Path, shared: Path = SHARED_AUDIO) -> list[Item]:
    """Conversations made of real recordings: each clip's pieces in turn, 0.4 s apart."""
    import numpy as np

    out = []
    for name, files in INTERLEAVED.items():
        wav = Path(cache_dir) / f"{name}.wav"
        truth = wav.with_suffix(".json")
        if not (wav.exists() and truth.exists()):
            queues = [_pieces(_decode16k(shared / f)) for f in files]
            audio, turns, pos, gap = [], [], 0, np.zeros(6400, dtype=np.float32)
            while any(queues):
                for who, queue in zip(files, queues):
                    if queue:
                        piece = queue.pop(0)
                        turns.append((pos / 16000, (pos + len(piece)) / 16000, Path(who).stem))
                        audio += [piece, gap]
                        pos += len(piece) + len(gap)
            wav.parent.mkdir(parents=True, exist_ok=True)
            _write_wav(np.concatenate(audio), wav)
            truth.write_text(json.dumps(turns))
        turns = tuple(tuple(t) for t in json.loads(truth.read_text()))
        out.append(Item(name, wav, turns, ()))  # type: ignore[arg-type]
    return out


def _write_wav(samples: np.ndarray, path: Path) -> None:
    import wave

    import numpy as np

    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(16000)
        fh.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def synthesized_items(names: Sequence[str], cache_dir: Path) -> list[Item]:
    return [_case_item(case, cache_dir) for case in CASES if case.slug in names]


def _case_item(case: Case, cache_dir: Path) -> Item:
    """A case spoken (once), with its truth, its people's voices and a clip of the host's."""
    script, audio, truth = build_case(case, cache_dir)
    return Item(case.slug, audio, tuple((ln.start, ln.end, ln.speaker) for ln in truth.lines),
                tuple(script.speakers), case.title, case.description, _host_clip(case.people[0][1], cache_dir),
                tuple(json.dumps(v, sort_keys=True) for _, v in case.people))


def _no_names(item: Item) -> Item:
    """The same episode on a page that names nobody: the count comes from the voices alone."""
    return replace(item, name=f"{item.name} (no names)", title="", description="", host_clip=None)


MONOLOGUES = (("monologue-en-us", M1, 3.0, 7), ("monologue-en-us+f2", F2, 3.0, 8))


def monologue_items(cache_dir: Path) -> list[Item]:
    """One voice for three minutes, its page naming nobody: one speaker must come out."""
    out = []
    for slug, voice, minutes, seed in MONOLOGUES:
        rng = random.Random(seed)
        lines = _lines()
        rng.shuffle(lines)
        parts: list[dict[str, object]] = []
        words = 0
        for line in lines:
            if words > minutes * 60 * 2.6:
                break
            parts.append({"speaker": "Solo", "text": line, "pause": round(rng.uniform(0.3, 0.9), 2)})
            words += len(line.split())
        script = synth.parse_script({"speakers": {"Solo": voice}, "parts": parts}, slug=slug)
        audio, spoken = _synthesized(script, slug, json.dumps(parts).encode() + json.dumps(voice).encode(), cache_dir)
        out.append(Item(slug, audio, tuple((ln.start, ln.end, ln.speaker) for ln in spoken), ()))
    return out


def _host_clip(voice: dict[str, object], cache_dir: Path) -> Path:
    """About 37 s of one voice reading sentences the episodes rarely use, for `voices add`."""
    key = hashlib.sha256(json.dumps(voice, sort_keys=True).encode() + LINES_FILE.read_bytes()).hexdigest()[:12]
    path = Path(cache_dir) / f"clip-{key}.mp3"
    if not path.exists():
        lines = _lines()[::-1][:8]
        script = synth.parse_script({"speakers": {"Host": voice},
                                     "parts": [{"speaker": "Host", "text": t} for t in lines]}, slug="clip")
        synth.synthesize(script, path)
    return path


# --- running it ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    name: str
    score: Score
    seconds: float  # the speaker stage alone
    audio_seconds: float
    transcribe_seconds: float  # 0.0 when the transcript came from the cache
    host_named: float | None = None  # with the host's voice known: share of the host's words named so
    known_wrong: float | None = None  # ... and share of all words under another person's name
    doubtful: int = 0  # turns flagged for review as nearly as like another speaker's voice
    doubtful_wrong: int = 0  # ... of them, turns most of whose words are under the wrong speaker


def _episode(item: Item) -> Episode | None:
    if not item.title:
        return None
    fm = {"title": item.title, "description": item.description, "extra": {}}
    return Episode(Path(f"{item.name}.md"), item.name, item.title, item.description, None, fm, "", (), (),
                   "pending", "")


def run_item(item: Item, workdir: Path, known_voice: bool = True) -> Result:
    import time

    from .. import audio, speakers, transcribe, voices

    cache = Path(workdir) / "cache"
    started = time.monotonic()
    transcript = transcribe.transcribe(item.audio, transcribe.Options(), cache)
    transcribe_s = time.monotonic() - started
    wav = audio.prepare(item.audio, cache).path
    episode = _episode(item)
    started = time.monotonic()
    out = speakers.diarize(transcript, wav, episode, speakers.Options(), Path(workdir) / f"fresh-{time.time_ns()}")
    seconds = time.monotonic() - started
    words = out.words
    true = truth_by_overlap([(w.start, w.end) for w in words], item.turns)
    flagged = out.diarization.doubtful if out.diarization else ()
    right = _right_words([w.speaker or "" for w in words], true, item.people)
    on_errors = sum(1 for a, b, _ in flagged
                    if 2 * sum(r is False for w, r in zip(words, right) if a <= w.start < b)
                    > sum(1 for w in words if a <= w.start < b))
    result = Result(item.name, score([w.speaker or "" for w in words], true, item.people), seconds,
                    transcript.duration, transcribe_s, doubtful=len(flagged), doubtful_wrong=on_errors)
    if not (known_voice and item.host_clip and item.people):
        return result
    host = item.people[0]
    profile = voices.from_audio(host, audio.prepare(item.host_clip, cache).path, item.host_clip.name)
    named = speakers.diarize(transcript, wav, episode, speakers.Options(), cache, known=[profile]).words
    pairs = [(w.speaker, t) for w, t in zip(named, true) if t is not None]
    host_words = [p for p, t in pairs if t == host]
    wrong = sum(1 for p, t in pairs if p in item.people and p != t)
    return replace(result, host_named=sum(p == host for p in host_words) / max(1, len(host_words)),
                   known_wrong=wrong / max(1, len(pairs)))


def _speaker_of(voice: str) -> str:
    """One espeak-ng voice is one person, at any speed or pitch (M2 at pitch 48 and at 50)."""
    return str(json.loads(voice)["voice"])


def stranger_check(items: Sequence[Item], workdir: Path) -> list[tuple[str, str, int]]:
    """Every synthesized voice's profile (from its own ~37 s clip) applied to the episodes that
    voice is not in: (profile, episode, words given the profile's name), which must all be 0.
    Guests' voices too: the closest pair of voices is two guests'."""
    from .. import audio, speakers, transcribe, voices

    cache = Path(workdir) / "cache"
    out = []
    profiles = {}
    for item in items:
        for person, voice in zip(item.people, item.voices):
            if item.host_clip:
                clip = _host_clip(json.loads(voice), item.host_clip.parent)
                profiles.setdefault(voice, (f"{person} ({json.loads(voice)['voice']})", clip))
    profiles = {name: (clip, voice) for voice, (name, clip) in profiles.items()}
    for name, (clip, voice) in profiles.items():
        profile = voices.from_audio(name, audio.prepare(clip, cache).path, clip.name)
        for item in items:
            if _speaker_of(voice) in {_speaker_of(v) for v in item.voices} or not item.people:
                continue  # the same synthesizer voice is the same person, whatever its name
            if name in item.people:
                continue  # someone else of that name, named by the show notes: not the profile's doing
            transcript = transcribe.transcribe(item.audio, transcribe.Options(), cache)
            wav = audio.prepare(item.audio, cache).path
            words = speakers.diarize(transcript, wav, _episode(item), speakers.Options(), cache, known=[profile]).words
            out.append((name, item.name, sum(w.speaker == name for w in words)))
    return out


def table(results: Sequence[Result]) -> list[str]:
    head = ("| episode | audio s | words | right speaker | found / true | wrong name | doubtful turns flagged "
            "(on errors) | speakers s | with host's voice known: host named | wrong name |")
    rows = [head, "|" + "---|" * 10]
    for r in results:
        s = r.score
        known = (f"{r.host_named:.1%} | {r.known_wrong:.1%}" if r.host_named is not None else " | ")
        rows.append(f"| {r.name} | {r.audio_seconds:.0f} | {s.words} | {s.accuracy:.1%} | {s.found} / {s.true} | "
                    f"{s.wrong_name:.1%} | {r.doubtful} ({r.doubtful_wrong}) | {r.seconds:.1f} | {known} |")
    return rows


def evaluate(workdir: Path, quick: bool = False, real: bool = True, shared: Path = SHARED_AUDIO,
             cases: Sequence[str] = ()) -> dict[str, object]:
    """Every item scored, and the stranger check, as a JSON-ready dict. Transcripts are cached
    under `workdir` (keyed by the audio's content); the speaker stage always runs afresh."""

    names = cases or (QUICK_CASES if quick else tuple(c.slug for c in CASES if c.slug not in QUICK_CASES))
    synthesized = synthesized_items(names, Path(workdir) / "set")
    others = []
    if not quick:
        others += [_no_names(item) for item in synthesized]
        others += monologue_items(Path(workdir) / "set")
    if real and not quick and Path(shared).is_dir():
        others += interleaved_items(Path(workdir) / "real", shared) + ami_items(shared)
    results = []
    for item in [*synthesized, *others]:
        log.info("speaker eval: %s", item.name)
        results.append(run_item(item, workdir))
    strangers = stranger_check(synthesized, workdir) if len(synthesized) > 1 else []
    return {"episodes": [asdict(r) for r in results],
            "strangers": [{"profile": p, "episode": e, "words_named": n} for p, e, n in strangers]}


def print_report(report: dict[str, object]) -> None:
    results = [Result(**{**d, "score": Score(**d["score"])}) for d in report["episodes"]]  # type: ignore[attr-defined]
    print("\nspeakers: close voices of one gender (synthesized), real speech (interleaved clips, AMI)")
    print("\n".join(table(results)))
    strangers = report["strangers"]
    if strangers:
        named = sum(s["words_named"] for s in strangers)  # type: ignore[index]
        print(f"strangers: each voice's profile on the {len(strangers)} episodes that voice is not in: "
              f"{named} words given the profile's name")
        for s in strangers:
            if s["words_named"]:  # type: ignore[index]
                print(f"  {s['profile']} named {s['words_named']} words in {s['episode']}")  # type: ignore[index]


# --- the voice-pair sweep --------------------------------------------------------------------
# Two people in 4-minute interviews over many pairs of one gender, at one pitch and speed unless
# noted: which pairs the eval's fixed cases stand for, and where the encoder runs out. Not part
# of `make eval` (about 7 minutes): `python -m pipeline.lab.speaker_eval --pairs [WORKDIR]`.
def _v(voice: str, pitch: int = 50, speed: int = 165) -> dict[str, object]:
    return {"voice": voice, "speed": speed, "pitch": pitch}


PAIRS: tuple[tuple[str, dict[str, object], dict[str, object]], ...] = (
    ("us-usm7", _v("en-us"), _v("en-us+m7")),
    ("gbm3-usm7", _v("en-gb+m3"), _v("en-us+m7")),
    ("usm1-usm2", _v("en-us+m1"), _v("en-us+m2")),
    ("gbm1-usm3", _v("en-gb+m1"), _v("en-us+m3")),
    ("us-gb", _v("en-us"), _v("en-gb")),  # the accent only, from here on
    ("us-rp", _v("en-us"), _v("en-gb-x-rp")),
    ("gb-scot", _v("en-gb"), _v("en-gb-scotland")),
    ("gbm3-rp", _v("en-gb+m3"), _v("en-gb-x-rp")),
    ("gb-gbm3", _v("en-gb"), _v("en-gb+m3")),  # one voice: espeak-ng ignores +m3 after en-gb
    ("us-gb-pitch", _v("en-us"), _v("en-gb", 44, 170)),
    ("scotf2-gbf2", _v("en-gb-scotland+f2", 55), _v("en-gb+f2", 55)),
    ("usf2-usf3", _v("en-us+f2", 55), _v("en-us+f3", 55)),
    ("usf4-gbf5", _v("en-us+f4", 55), _v("en-gb+f5", 55)),
)


def pair_sweep(workdir: Path) -> list[Result]:
    """Every pair named in the notes (with and without the host's voice known), and again on a
    page that names nobody."""
    results = []
    for seed, (slug, host, guest) in enumerate(PAIRS, start=100):
        case = Case(slug, "Talking Shop with Jordan Blake", "Jordan Blake joins Casey Moore to talk about shipping software.",
                     (("Casey Moore", host), ("Jordan Blake", guest)), 4, seed)
        item = _case_item(case, Path(workdir) / "set")
        for one in (item, _no_names(item)):
            log.info("voice pairs: %s", one.name)
            results.append(run_item(one, workdir))
    return results


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] != ["--pairs"]:
        sys.exit("usage: python -m pipeline.lab.speaker_eval --pairs [WORKDIR]")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print("\n".join(table(pair_sweep(Path(sys.argv[2] if len(sys.argv) > 2 else ".eval/speakers")))))
