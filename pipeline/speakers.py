"""Who is speaking: offline speaker diarization, and the names shown in the transcript.

The words are grouped into stretches of talk without a pause (`diarization.stretches`), each
stretch gets a voice embedding (`voiceprint`), the stretches are clustered into speakers within
the count the front matter or the show notes allow (`diarization.cluster`), every word takes its
stretch's speaker, and short flips are smoothed away. Speakers are then named, only with
evidence (`speaker_names`), known voices (`voices`) included.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import diarization, resegment, speaker_names, voiceprint
from .audio import sha256_of
from .errors import ConfigError
from .files import write_atomic
from .models import Diarization, Episode, Segment, Transcript, Word

log = logging.getLogger(__name__)

CACHE_VERSION = 11
PAD_S = 0.05  # Whisper's word edges are a little tight; a margin keeps consonants in
# A doubtful turn shorter than this is a "yeah" or a "right": too little voice to judge, and too
# many of them to review.
DOUBTFUL_WORDS = 4


@dataclass(frozen=True)
class Options:
    diarize: bool = True
    num_speakers: int | None = None  # None: from the episode's speaker list, else estimated
    speaker_names: tuple[str, ...] = ()  # used when the episode lists none
    max_speakers: int = 6  # upper bound when the count is estimated
    # Seconds: a shorter turn between two of one other speaker is taken for a flip and given to
    # that speaker. 0 (default): the voices decide; the Viterbi pass already asks a short turn
    # for clear evidence, and smoothing after it took every real "yeah" from its speaker.
    min_turn: float = 0.0
    diarizer: str = "resemblyzer"  # a name in DIARIZERS


@dataclass(frozen=True)
class Found:
    """What a diarizer found: one label per word, numbered 0, 1, ... in order of first
    appearance; each label's voice embedding (for recognising known voices; (k, 0) when the
    diarizer has none); whether the voices came out clearly apart, so that names can go on them;
    the turns a reviewer should check: (first word, end word, the other likely speaker)."""

    labels: list[int]
    voices: np.ndarray
    apart: bool = True
    doubtful: tuple[tuple[int, int, int], ...] = ()
    samples: tuple[np.ndarray, ...] = ()  # each label's `resegment.frame_sample`, to check known voices


# Words, the prepared wav, the (least, most) number of speakers, the options -> the labels alone,
# or a `Found`.
Diarizer = Callable[[Sequence[Word], Path, tuple[int, int], Options], "list[int] | Found"]


def _resemblyzer(words: Sequence[Word], wav_path: Path, bounds: tuple[int, int], options: Options) -> Found:
    return assign_speakers(words, wav_path, bounds, options)


# Who tells the voices apart, by name; the tests register a model-free one for the fast tier.
DIARIZERS: dict[str, Diarizer] = {"resemblyzer": _resemblyzer}


def diarize(
    transcript: Transcript,
    wav_path: Path,
    episode: Episode | None,
    options: Options,
    cache_dir: Path,
    known: Sequence[Any] = (),
) -> Transcript:
    """A copy of `transcript` in which every word's `speaker` is a display name.

    `known`: voice profiles (`voices.Profile`) to recognise. Returns `transcript` itself when
    diarization is off for the run or the episode, or when it has no words.
    """
    if not enabled(episode, options) or not transcript.words:
        return transcript
    if options.diarizer not in DIARIZERS:
        raise ConfigError(f"diarizer {options.diarizer!r} (known: {', '.join(DIARIZERS)})")
    wav_path = Path(wav_path)
    words = transcript.words
    if episode is not None and episode.speakers:
        listed, listed_from = tuple(episode.speakers), "episode"
    else:
        listed, listed_from = tuple(options.speaker_names), "setting"
    notes = speaker_names.notes_people(episode)
    count = options.num_speakers or (len(listed) if listed else None)
    bounds = (count, count) if count else speaker_names.count_bounds(notes, options.max_speakers)

    key = cache_key(wav_path, transcript, bounds, options)
    cache_file = Path(cache_dir) / "speakers" / f"{key}.json"
    found = _read_cache(cache_file, len(words))
    if found is None:
        started = time.monotonic()
        got = DIARIZERS[options.diarizer](words, wav_path, bounds, options)
        found = got if isinstance(got, Found) else Found(got, np.zeros((max(got) + 1, 0), np.float32))
        voices = np.asarray(np.round(found.voices.astype(np.float64), 6).tolist(), dtype=np.float32)  # as cached
        samples = tuple(np.asarray(np.round(x.astype(np.float64), 3).tolist(), dtype=np.float32) for x in found.samples)
        found = replace(found, voices=voices, samples=samples)
        log.info("diarized %s in %.1f s: %d speakers (bounds %d..%d)%s", wav_path, time.monotonic() - started,
                 len(voices), *bounds, "" if found.apart else ", too alike to name")
        _write_cache(cache_file, found)
    labels, voices = found.labels, found.voices

    from . import voices as voice_profiles

    recognised = (voice_profiles.recognise(voices, known, found.samples)
                  if known and not listed and voices.shape[1] and found.apart else {})
    naming = speaker_names.name_speakers(words, labels, listed, listed_from, notes, recognised, found.apart)
    speakers = [naming.names[label] for label in labels]
    # The voices are kept for `voices add --from SLUG --label LABEL`.
    kept = ({naming.names[i]: [round(float(v), 5) for v in vec] for i, vec in enumerate(voices)}
            if voices.shape[1] else {})
    doubtful = tuple((words[a].start, words[b - 1].end, naming.names[other])
                     for a, b, other in found.doubtful if other < len(naming.names))
    info = Diarization(options.diarizer, len(voices), naming.source, dict(naming.evidence), naming.weak, kept,
                       doubtful)
    return _with_speakers(transcript, speakers, info)


def enabled(episode: Episode | None, options: Options) -> bool:
    """Off for the run (`diarize = false`) or for one episode (`[extra] diarize = false`)."""
    return options.diarize and (episode is None or episode.diarize)


# --- cache -------------------------------------------------------------------------------


def cache_key(wav_path: Path, transcript: Transcript, bounds: tuple[int, int], options: Options) -> str:
    """Audio + word timings/texts + what changes the labels: a new key for any of them."""
    digest = hashlib.sha256()
    # The source audio's hash, already known: no second read of the audio.
    digest.update((transcript.audio_sha256 or sha256_of(Path(wav_path))).encode())
    words = [[round(w.start, 3), round(w.end, 3), w.text] for w in transcript.words]
    settings = {"version": CACHE_VERSION, "bounds": list(bounds), "min_turn": options.min_turn,
                "diarizer": options.diarizer}
    digest.update(json.dumps(words, ensure_ascii=False).encode())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def _read_cache(path: Path, n_words: int) -> Found | None:
    try:
        data = json.loads(path.read_text())
        labels = [int(x) for x in data["labels"]]
        voices = np.asarray(data["voices"], dtype=np.float32)
        apart = bool(data["apart"])
        doubtful = tuple((int(a), int(b), int(c)) for a, b, c in data["doubtful"])
        samples = tuple(np.asarray(x, dtype=np.float32) for x in data.get("samples", []))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if len(labels) != n_words or len(voices) != max(labels, default=-1) + 1:
        return None
    return Found(labels, voices, apart, doubtful, samples)


def _write_cache(path: Path, found: Found) -> None:
    data = {"version": CACHE_VERSION, "labels": found.labels, "voices": np.round(found.voices, 6).tolist(),
            "apart": found.apart, "doubtful": [list(t) for t in found.doubtful],
            "samples": [np.round(x.astype(np.float64), 3).tolist() for x in found.samples]}
    write_atomic(path, json.dumps(data))


# --- voices to words ----------------------------------------------------------------------


def assign_speakers(words: Sequence[Word], wav_path: Path, bounds: tuple[int, int], options: Options) -> Found:
    """A speaker number per word (0, 1, ... by first appearance), each speaker's voice (the mean
    embedding of their stretches, for matching known voices), and whether they came out apart."""
    items = diarization.stretches(words)
    with voiceprint.Reader(wav_path) as reader:
        embeds, timbre, cepstra = voiceprint.embed_with_timbre(reader, [(s.start - PAD_S, s.stop + PAD_S) for s in items])
    weights = diarization.weights(items)
    labels = diarization.cluster(embeds, timbre, weights, *bounds, diarization.switch_penalties(words, items), cepstra)
    per_word = [0] * len(words)
    for s, label in zip(items, labels):
        per_word[s.first : s.end] = [int(label)] * (s.end - s.first)
    if options.min_turn > 0:
        per_word = smooth(words, per_word, options.min_turn)
    per_word = snap_boundaries(words, per_word)
    numbered = _by_first_appearance(per_word)
    apart = diarization.separation(embeds, timbre, weights, labels) >= diarization.WEAK_SPLIT
    doubtful: list[tuple[int, int, int]] = []
    if apart:  # else every turn is in doubt, and the episode is flagged as a whole
        turns = diarization.doubtful_turns(diarization.features(embeds, timbre, weights), weights,
                                           np.array([numbered[s.first] for s in items], dtype=int))
        doubtful = [(items[a].first, items[b - 1].end, other) for a, b, other in turns
                    if items[b - 1].end - items[a].first >= DOUBTFUL_WORDS]
    samples = tuple(resegment.frame_sample([c for s, c in zip(items, cepstra) if numbered[s.first] == k])
                    for k in range(max(numbered) + 1))
    return Found(numbered, _voices(items, embeds, weights, numbered), apart, tuple(doubtful), samples)


def _voices(items: Sequence[diarization.Stretch], embeds: np.ndarray, weights: np.ndarray,
            per_word: Sequence[int]) -> np.ndarray:
    """Each speaker's mean stretch embedding (unit length), by the words' final labels."""
    k = max(per_word) + 1
    out = np.zeros((k, embeds.shape[1]), dtype=np.float64)
    for s, e, w in zip(items, embeds, weights):
        out[per_word[s.first]] += w * e
    return np.asarray((out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)).astype(np.float32))


def _runs(labels: Sequence[int]) -> list[tuple[int, int, int]]:
    """(label, first index, end index) of each stretch of one label."""
    runs: list[tuple[int, int, int]] = []
    for i, x in enumerate(labels):
        if runs and runs[-1][0] == x:
            runs[-1] = (x, runs[-1][1], i + 1)
        else:
            runs.append((x, i, i + 1))
    return runs


def smooth(words: Sequence[Word], labels: Sequence[int], min_turn: float) -> list[int]:
    """A short run (< min_turn s or < 3 words) between two runs of one other speaker is a flip.

    The window votes blur near turns, and a real interjection that short is rarely worth a new
    paragraph; the shortest flips go first so that a long run is never eaten by a short one.
    """
    out = list(labels)
    while True:
        runs = _runs(out)
        flips = [
            (words[b - 1].end - words[a].start, i)
            for i, (x, a, b) in enumerate(runs)
            if 0 < i < len(runs) - 1
            and runs[i - 1][0] == runs[i + 1][0]
            and words[b - 1].end - words[a].start < min_turn
            and b - a < 3
        ]
        if not flips:
            return out
        _, i = min(flips)
        _, a, b = runs[i]
        out[a:b] = [runs[i - 1][0]] * (b - a)


def snap_boundaries(words: Sequence[Word], labels: Sequence[int], reach: int = 2) -> list[int]:
    """Move each change of speaker to the likeliest break within `reach` words.

    Windows place a turn to within half a second or so; people change turns at pauses and at the
    end of sentences, so the boundary goes to the word gap (plus a bonus for punctuation) that
    looks most like one, never emptying a run.
    """
    out = list(labels)
    runs = _runs(out)
    for i in range(1, len(runs)):
        prev_label, prev_a, _ = runs[i - 1]
        label, cut, end = runs[i]

        def score(j: int) -> float:
            gap = words[j].start - words[j - 1].end
            ends_sentence = words[j - 1].text.rstrip().endswith((".", "?", "!"))
            return gap + (0.3 if ends_sentence else 0.0)

        lo, hi = max(prev_a + 1, cut - reach), min(end - 1, cut + reach)
        candidates = range(lo, hi + 1)
        if not candidates:
            continue
        best = max(candidates, key=lambda j: (score(j), -abs(j - cut)))
        if score(best) <= score(cut) + 0.05:
            continue
        for j in range(min(best, cut), max(best, cut)):
            out[j] = prev_label if best > cut else label
        runs[i] = (label, best, end)
        runs[i - 1] = (prev_label, prev_a, best)
    return out


def _by_first_appearance(labels: Sequence[int]) -> list[int]:
    order: dict[int, int] = {}
    for x in labels:
        order.setdefault(x, len(order))
    return [order[x] for x in labels]


def _with_speakers(transcript: Transcript, speakers: Sequence[str], info: Diarization) -> Transcript:
    it = iter(speakers)
    segments: list[Segment] = []
    for seg in transcript.segments:
        words = tuple(replace(w, speaker=next(it)) for w in seg.words)
        segments.append(replace(seg, words=words))
    return replace(
        transcript,
        segments=tuple(segments),
        diarization=info,
    )
