"""Who is speaking: offline speaker diarization, and the names shown in the transcript.

Resemblyzer's speaker encoder (its weights ship inside the wheel, so this works offline) embeds
overlapping 1.5 s windows of speech; the windows are clustered by cosine similarity, every word
takes the speaker most windows over its frames voted for, and short flips are smoothed away.
Clusters are then named: from the episode's front matter or a setting when given, else from
cues in the text ("I'm Jeremy Jung", "welcome to the show, Armin"), else "Speaker 1", ...
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import time
import wave
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AudioError, ConfigError
from .files import write_atomic
from .models import Episode, Segment, Transcript, Word

log = logging.getLogger(__name__)

CACHE_VERSION = 1
RATE = 16000
FRAME_S = 0.01  # resemblyzer's mel hop: one frame per 10 ms
WINDOW_FRAMES = 150  # 1.5 s: long enough for a stable voice embedding, short enough for turns
HOP_FRAMES = 50  # every speech frame is seen by three windows, so it gets a majority vote
WORD_PAD_S = 0.1  # Whisper's word edges are a little tight; a margin keeps consonants in
PAUSE_S = 0.3  # a gap between words this long ends a stretch of talk: turns change at pauses
MAX_CLUSTERED = 1500  # windows clustered directly; the rest join the nearest centre
# Below this mean silhouette a split explains nothing: one voice. Measured: one espeak voice
# splits at 0.17-0.27 (the higher ones only into a tiny cluster), two or three espeak voices at
# 0.33-0.36, real voices at 0.5 and up.
MIN_SILHOUETTE = 0.25
# An estimated cluster smaller than this is noise, laughter or one voice's odd moment, not a
# person: 3% of the windows, and never under 8 windows (about 5 s of speech).
MIN_CLUSTER_SHARE = 0.03
MIN_CLUSTER_WINDOWS = 8
# One more speaker must earn it: a split that scores barely better is usually one odd stretch.
SILHOUETTE_GAIN = 0.02


@dataclass(frozen=True)
class Options:
    diarize: bool = True
    num_speakers: int | None = None  # None: from the episode's speaker list, else estimated
    speaker_names: tuple[str, ...] = ()  # used when the episode lists none
    max_speakers: int = 6  # upper bound when the count is estimated
    min_turn: float = 1.0  # seconds; a shorter turn between two of one other speaker is a flip
    diarizer: str = "resemblyzer"  # a name in DIARIZERS


# Words, the prepared wav, the speaker count when known, the options -> one label per word,
# numbered 0, 1, ... in order of first appearance.
Diarizer = Callable[[Sequence[Word], Path, int | None, Options], list[int]]


def _resemblyzer(words: Sequence[Word], wav_path: Path, count: int | None, options: Options) -> list[int]:
    return assign_speakers(words, load_wav(wav_path), count, options)


# Who tells the voices apart, by name; the tests register a model-free one for the fast tier.
DIARIZERS: dict[str, Diarizer] = {"resemblyzer": _resemblyzer}


def diarize(
    transcript: Transcript,
    wav_path: Path,
    episode: Episode | None,
    options: Options,
    cache_dir: Path,
) -> Transcript:
    """A copy of `transcript` in which every word's `speaker` is a display name.

    Returns `transcript` itself when diarization is off for the run or the episode, or when it
    has no words.
    """
    if not enabled(episode, options) or not transcript.words:
        return transcript
    if options.diarizer not in DIARIZERS:
        raise ConfigError(f"diarizer {options.diarizer!r} (known: {', '.join(DIARIZERS)})")
    wav_path = Path(wav_path)
    words = transcript.words
    if episode is not None and episode.speakers:
        names, names_from = tuple(episode.speakers), "episode"
    else:
        names, names_from = tuple(options.speaker_names), "setting"
    count = options.num_speakers or (len(names) if names else None)

    key = cache_key(wav_path, transcript, count, options)
    cache_file = Path(cache_dir) / "speakers" / f"{key}.json"
    labels = _read_cache(cache_file, len(words))
    if labels is None:
        started = time.monotonic()
        labels = DIARIZERS[options.diarizer](words, wav_path, count, options)
        log.info("diarized %s in %.1f s: %d speakers", wav_path, time.monotonic() - started, len(set(labels)))
        _write_cache(cache_file, labels)

    display, source = name_speakers(words, labels, names, names_from)
    speakers = [display[label] for label in labels]
    info = {"engine": options.diarizer, "speakers": len(set(labels)), "names": source}
    return _with_speakers(transcript, speakers, info)


def enabled(episode: Episode | None, options: Options) -> bool:
    """Off for the run (`diarize = false`) or for one episode (`[extra] diarize = false`)."""
    if not options.diarize:
        return False
    if episode is None:
        return True
    fm = episode.front_matter or {}
    extra = fm.get("extra") if isinstance(fm.get("extra"), dict) else {}
    for table in (extra, fm):
        if table.get("diarize") is False:
            return False
    return True


# --- cache -------------------------------------------------------------------------------


def cache_key(wav_path: Path, transcript: Transcript, count: int | None, options: Options) -> str:
    """Audio bytes + word timings/texts + what changes the labels: a new key for any of them."""
    digest = hashlib.sha256()
    if transcript.audio_sha256:  # the source audio's hash, already known: no second read
        digest.update(transcript.audio_sha256.encode())
    else:
        with Path(wav_path).open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    words = [[round(w.start, 3), round(w.end, 3), w.text] for w in transcript.words]
    settings = {
        "version": CACHE_VERSION,
        "count": count,
        "max_speakers": options.max_speakers,
        "min_turn": options.min_turn,
        "diarizer": options.diarizer,
    }
    digest.update(json.dumps(words, ensure_ascii=False).encode())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def _read_cache(path: Path, n_words: int) -> list[int] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    labels = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(labels, list) or len(labels) != n_words:
        return None
    return [int(x) for x in labels]


def _write_cache(path: Path, labels: list[int]) -> None:
    write_atomic(path, json.dumps({"version": CACHE_VERSION, "labels": labels}))


# --- audio and embeddings ------------------------------------------------------------------


def load_wav(path: Path) -> np.ndarray:
    """Float samples in [-1, 1] at 16 kHz mono (the audio stage's wav; anything else resampled)."""
    try:
        with wave.open(str(path), "rb") as fh:
            if fh.getframerate() == RATE and fh.getnchannels() == 1 and fh.getsampwidth() == 2:
                raw = fh.readframes(fh.getnframes())
                return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    except (wave.Error, EOFError):
        pass
    except OSError as exc:
        raise AudioError(f"{path}: {exc}") from exc
    import librosa

    try:
        samples, _ = librosa.load(str(path), sr=RATE, mono=True)
    except Exception as exc:  # librosa raises whatever its backend raises
        raise AudioError(f"{path}: {exc}") from exc
    return samples.astype(np.float32)


@functools.lru_cache(maxsize=1)
def _encoder() -> Any:
    """Loaded once per process: building it costs a second and ~20 MB."""
    from resemblyzer import VoiceEncoder

    return VoiceEncoder("cpu", verbose=False)


def _regions(words: Sequence[Word], n_frames: int) -> list[tuple[int, int]]:
    """Frame ranges of talk without a pause: a window never spans a pause, where turns change."""
    regions: list[tuple[int, int]] = []
    for w in sorted(words, key=lambda w: w.start):
        a = max(0, int((w.start - WORD_PAD_S) / FRAME_S))
        b = min(n_frames, int(np.ceil((w.end + WORD_PAD_S) / FRAME_S)))
        if b <= a:
            continue
        if regions and a <= regions[-1][1] + int((PAUSE_S - 2 * WORD_PAD_S) / FRAME_S):
            regions[-1] = (regions[-1][0], max(regions[-1][1], b))
        else:
            regions.append((a, b))
    return regions


def _tiled(frames: np.ndarray) -> np.ndarray:
    """A short stretch repeated to a full window: the encoder, trained on 1.6 s partials,
    judged a lone 0.8 s reply poorly, and borrowing the neighbours' audio would mix voices."""
    if len(frames) >= WINDOW_FRAMES:
        return frames
    return np.resize(frames, (WINDOW_FRAMES, frames.shape[1]))


def _embed_windows(
    samples: np.ndarray, words: Sequence[Word]
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Embeddings of 1.5 s windows slid over each stretch of talk, each window's frame indices,
    and which windows are full length (a stretch shorter than a window is one short window).
    """
    import torch
    from resemblyzer.audio import wav_to_mel_spectrogram

    hop = int(RATE * FRAME_S)
    n_frames = len(samples) // hop + 1
    regions = _regions(words, n_frames)
    if not regions:
        return np.zeros((0, 256), dtype=np.float32), [], np.zeros(0, dtype=bool)
    # Level the voices to the -30 dBFS the encoder was trained on, measured over speech only.
    voiced = np.concatenate([samples[a * hop : b * hop] for a, b in regions])
    rms = float(np.sqrt(np.mean(voiced.astype(np.float64) ** 2))) if len(voiced) else 0.0
    if rms > 1e-6:
        samples = samples * (10 ** (-30 / 20) / rms)
    mel = wav_to_mel_spectrogram(samples)
    spans: list[tuple[int, int]] = []
    for a, b in regions:
        b = min(b, len(mel))
        if b - a <= WINDOW_FRAMES:
            spans.append((a, b))
            continue
        starts = list(range(a, b - WINDOW_FRAMES + 1, HOP_FRAMES))
        if starts[-1] != b - WINDOW_FRAMES:
            starts.append(b - WINDOW_FRAMES)
        spans.extend((s, s + WINDOW_FRAMES) for s in starts)
    spans = [(a, b) for a, b in spans if b > a]
    full = np.array([b - a == WINDOW_FRAMES for a, b in spans])
    encoder = _encoder()
    embeds = np.zeros((len(spans), 256), dtype=np.float32)
    # One thread: this small LSTM gains nothing from more, and with the cores busy (Whisper,
    # other jobs) torch's spinning worker threads made it ten times slower in measurements.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            # Equal lengths go through together: full windows in batches, short ones by size.
            by_length: dict[int, list[int]] = defaultdict(list)
            for i, (a, b) in enumerate(spans):
                by_length[b - a].append(i)
            for idx in by_length.values():
                for j in range(0, len(idx), 32):
                    chunk = idx[j : j + 32]
                    batch = np.stack([_tiled(mel[spans[i][0] : spans[i][1]]) for i in chunk])
                    out = encoder(torch.from_numpy(batch).to(encoder.device)).cpu().numpy()
                    embeds[chunk] = out
    finally:
        torch.set_num_threads(threads)
    frames = [np.arange(a, b) for a, b in spans]
    return embeds, frames, full


# --- clustering ----------------------------------------------------------------------------


def cluster(
    embeds: np.ndarray, count: int | None, max_speakers: int = 6, fit: np.ndarray | None = None
) -> np.ndarray:
    """A cluster label per (L2-normalised) embedding; the count is estimated when None.

    Only the `fit` windows (full-length ones: short windows are noisy) shape the clusters;
    every window then joins the nearest centre.
    """
    n = len(embeds)
    if n == 0:
        return np.zeros(0, dtype=int)
    x = embeds[fit] if fit is not None and fit.sum() >= 4 else embeds
    if count == 1 or len(x) < 4:
        return np.zeros(n, dtype=int)
    # Long episodes: cluster an even sample of windows, then everyone joins the nearest centre.
    step = max(1, int(np.ceil(len(x) / MAX_CLUSTERED)))
    if count is not None:
        labels = _refine(x, step, _agglomerative(x[::step], min(count, len(x[::step]))))
    else:
        labels = _estimate(x, step, max_speakers)
    if len(np.unique(labels)) == 1:
        return np.zeros(n, dtype=int)
    centres = _centres(x, labels)
    return np.argmax(embeds @ centres.T, axis=1)


def _agglomerative(x: np.ndarray, k: int) -> np.ndarray:
    """Ward linkage (on unit vectors, so Euclidean follows cosine): average linkage peeled off
    one or two odd windows as a "speaker" and left both real voices in the other cluster."""
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(x)


def _centres(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    centres = np.stack([x[labels == c].mean(axis=0) for c in np.unique(labels)])
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def _refine(x: np.ndarray, step: int, sample_labels: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Spherical k-means from the agglomerative start on x[::step]: then all windows join in."""
    centres = _centres(x[::step], sample_labels)
    labels = np.argmax(x @ centres.T, axis=1)
    for _ in range(rounds):
        kept = np.unique(labels)
        centres = _centres(x, labels) if len(kept) > 1 else centres[kept]
        new = np.argmax(x @ centres.T, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def _estimate(x: np.ndarray, step: int, max_speakers: int) -> np.ndarray:
    """Pick the count with the best silhouette; one speaker when no split is convincing."""
    from sklearn.metrics import silhouette_score

    sample = x[::step]
    best_k, best_score, best = 1, MIN_SILHOUETTE, np.zeros(len(x), dtype=int)
    for k in range(2, min(max_speakers, len(sample) - 1) + 1):
        labels = _drop_small(x, _refine(x, step, _agglomerative(sample, k)))
        if len(np.unique(labels)) < k:
            continue  # the extra cluster was noise: k - 1 was already tried
        score = float(silhouette_score(sample, labels[::step], metric="cosine"))
        log.debug("k=%d silhouette=%.3f", k, score)
        if score > best_score + (SILHOUETTE_GAIN if best_k > 1 else 0.0):
            best_k, best_score, best = k, score, labels
    log.debug("estimated %d speakers (silhouette %.3f)", best_k, best_score)
    return best


def _drop_small(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    sizes = Counter(labels.tolist())
    big = [c for c, n in sizes.items() if n >= max(MIN_CLUSTER_WINDOWS, MIN_CLUSTER_SHARE * len(labels))]
    if len(big) == len(sizes):
        return labels
    if not big:
        return np.zeros(len(labels), dtype=int)
    centres = _centres(x, labels)
    index = {c: i for i, c in enumerate(np.unique(labels))}
    big_centres = centres[[index[c] for c in big]]
    return np.asarray(big)[np.argmax(x @ big_centres.T, axis=1)]


# --- words ---------------------------------------------------------------------------------


def assign_speakers(
    words: Sequence[Word], samples: np.ndarray, count: int | None, options: Options
) -> list[int]:
    """A speaker number per word, numbered 0, 1, ... in order of first appearance."""
    embeds, frames, full = _embed_windows(samples, words)
    if len(embeds) == 0:
        return [0] * len(words)
    labels = cluster(embeds, count, options.max_speakers, fit=full)
    k = int(labels.max()) + 1
    n_frames = int(max(f.max() for f in frames)) + 1
    votes = np.zeros((n_frames, k))
    for f, label in zip(frames, labels):
        votes[f, label] += 1
    per_word = []
    for w in words:
        a = max(0, int(w.start / FRAME_S))
        b = min(n_frames, max(a + 1, int(np.ceil(w.end / FRAME_S))))
        tally = votes[a:b].sum(axis=0) if b > a else np.zeros(k)
        per_word.append(int(np.argmax(tally)) if tally.any() else -1)
    per_word = _fill_gaps(per_word)
    per_word = smooth(words, per_word, options.min_turn)
    per_word = snap_boundaries(words, per_word)
    return _by_first_appearance(per_word)


def _fill_gaps(labels: list[int]) -> list[int]:
    """Words no window reached (beyond the audio's end) take their neighbour's speaker."""
    out = list(labels)
    last = next((x for x in out if x >= 0), 0)
    for i, x in enumerate(out):
        if x < 0:
            out[i] = last
        else:
            last = x
    return out


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


# --- names ---------------------------------------------------------------------------------

_NAME = r"[A-Z][a-z]+(?:['-][A-Za-z][a-z]+)?"
_FULL = rf"(?P<name>{_NAME}(?: {_NAME})?)"
# The speaker says their own name.
_SELF = [
    re.compile(rf"\bmy name is {_FULL}"),
    re.compile(rf"\b(?:[Hh]i|[Hh]ey|[Hh]ello)(?: everyone| everybody| there| folks| all)?[,.!]? (?:I'm|I am|this is|it's) {_FULL}"),
    re.compile(rf"\bI'm your host,? {_FULL}"),
    re.compile(rf"(?:^|[.!?])\s*I'm (?P<name>{_NAME} {_NAME})\b"),
]
# The speaker names the person who talks next (the guest being welcomed, the host thanked).
_OTHER = [
    re.compile(rf"\b[Ww]elcome (?:back )?to the (?:show|podcast|program),? {_FULL}"),
    re.compile(rf"(?:^|[.!?])\s*[Ww]elcome,? {_FULL}[.!,]"),
    re.compile(
        rf"\b(?:[Tt]hanks|[Tt]hank you)(?: so much| very much)? for (?:having me|coming on|joining (?:me|us)|being here|being on the show)"
        rf"(?: today)?,? {_FULL}"
    ),
    re.compile(rf"\b(?:talking|speaking) (?:to|with) (?P<name>{_NAME} {_NAME})"),
    re.compile(rf"\bmy guest (?:today )?is (?P<name>{_NAME} {_NAME})"),
    re.compile(rf"\bjoined (?:today )?by (?P<name>{_NAME} {_NAME})"),
]
# A turn that opens by thanking someone by name answers the one who spoke before.
_REPLY = [re.compile(rf"(?:^|[.!?])\s*(?:Thanks|Thank you)(?: so much| very much)?,? {_FULL}[.!,]")]
# Capitalised words these patterns catch that are not names.
_NOT_NAMES = {
    "Everyone", "Everybody", "Back", "Today", "Here", "The", "This", "That", "Thanks", "Thank",
    "Yeah", "Yes", "So", "Well", "And", "But", "Okay", "Ok", "Oh", "Hi", "Hey", "Hello", "Not",
    "Just", "Really", "Very", "Glad", "Happy", "Excited", "Sure", "Going", "Doing", "Good",
    "Great", "Also", "Actually", "Still", "Now", "Currently", "Always", "Sorry", "All", "Folks",
    "Guys", "Friends", "Listeners", "Show", "Podcast", "Episode", "American", "English", "Canadian",
}


def _clean_name(raw: str) -> str | None:
    parts = raw.split()
    while parts and parts[-1] in _NOT_NAMES:
        parts.pop()
    if not parts or parts[0] in _NOT_NAMES:
        return None
    return " ".join(parts)


def text_cues(words: Sequence[Word], labels: Sequence[int]) -> dict[int, Counter[str]]:
    """Names the text gives each speaker: self-introductions count twice, being addressed once."""
    text, owner = "", []
    for i, w in enumerate(words):
        owner.extend([i] * len(w.text))
        text += w.text
    votes: dict[int, Counter[str]] = defaultdict(Counter)
    for patterns, kind in ((_SELF, "self"), (_OTHER, "next"), (_REPLY, "previous")):
        for pattern in patterns:
            for m in pattern.finditer(text):
                name = _clean_name(m.group("name"))
                if not name:
                    continue
                at = owner[m.start("name")]
                speaker = labels[at]
                if kind == "self":
                    votes[speaker][name] += 2
                    continue
                # The one addressed is the next (or the previous) other voice.
                span = range(at, len(labels)) if kind == "next" else range(at, -1, -1)
                nxt = next((labels[j] for j in span if labels[j] != speaker), None)
                if nxt is None and len(set(labels)) == 2:
                    nxt = 1 - speaker if set(labels) == {0, 1} else None
                if nxt is not None:
                    votes[nxt][name] += 1
    return votes


def name_speakers(
    words: Sequence[Word], labels: Sequence[int], names: Sequence[str] = (), names_from: str = "episode"
) -> tuple[dict[int, str], str]:
    """A display name per label, and where the names came from.

    With a list of names, a text cue that matches one of them (full or first name) pins it;
    the rest go out in order of first appearance. Without one, conservative text cues name who
    they can, and everyone else is "Speaker N" (N by first appearance).
    """
    order = list(dict.fromkeys(labels))
    cues = text_cues(words, labels)
    chosen: dict[int, str] = {}
    if names:
        def listed(cue: str) -> str | None:
            for n in names:
                if cue.lower() in (n.lower(), n.split()[0].lower()):
                    return n
            return None

        ranked = sorted(
            ((n, listed(cue), label) for label, c in cues.items() for cue, n in c.items()),
            key=lambda t: -t[0],
        )
        for _, name, label in ranked:
            if name and name not in chosen.values() and label not in chosen:
                chosen[label] = name
        rest = [n for n in names if n not in chosen.values()]
        for label in order:
            if label not in chosen and rest:
                chosen[label] = rest.pop(0)
        source = names_from
    else:
        # "Jeremy" and "Jeremy Jung" are one person: vote by first name, show the longest form.
        longest: dict[str, str] = {}
        ranked_cues: list[tuple[int, str, int]] = []
        for label, c in cues.items():
            by_first: Counter[str] = Counter()
            for cue, n in c.items():
                first = cue.split()[0]
                by_first[first] += n
                if len(cue) > len(longest.get(first, "")):
                    longest[first] = cue
            ranked_cues.extend((n, first, label) for first, n in by_first.items())
        for _, first, label in sorted(ranked_cues, key=lambda t: -t[0]):
            name = longest[first]
            if name not in chosen.values() and label not in chosen:
                chosen[label] = name
        source = "text" if chosen else "generic"
    unnamed = [label for label in order if label not in chosen]
    for number, label in enumerate(unnamed, start=1):
        chosen[label] = f"Speaker {number}"
    return chosen, source


def _with_speakers(transcript: Transcript, speakers: Sequence[str], info: dict[str, Any]) -> Transcript:
    it = iter(speakers)
    segments: list[Segment] = []
    for seg in transcript.segments:
        words = tuple(replace(w, speaker=next(it)) for w in seg.words)
        segments.append(replace(seg, words=words))
    return replace(
        transcript,
        segments=tuple(segments),
        options={**transcript.options, "diarization": info},
    )
