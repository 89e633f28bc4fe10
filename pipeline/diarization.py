"""Who spoke when, from voice embeddings of stretches of talk.

Borrowed from the open systems (pyannote, VBx, NeMo, 3D-Speaker): embed long stretches of one
voice rather than short sliding windows; cluster them spectrally on a pruned cosine affinity,
reading the number of speakers off the eigengap within the bounds the show notes allow (NME-SC);
then re-segment with Viterbi passes over the stretches, so that a short, noisy stretch follows
its neighbours unless its voice clearly says otherwise (VBx's HMM, in its simplest form). Where
the speakers come out weakly apart, a finer clustering's best grouping replaces the first one
(`regroup`): a host's short questions among a guest's long answers are a small cluster that a
k-way cut misses. Last, the stretches are re-segmented by Gaussian mixtures of each speaker's
cepstral frames (`resegment`), which hear accents that the embeddings average away.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from . import resegment
from .models import Word

log = logging.getLogger(__name__)

PAUSE_S = 0.25  # a gap this long between words ends a stretch: turns change at pauses...
# ... and at sentence ends, gap or not: Whisper's word times often swallow the pause between two
# people, and cutting at every sentence end took close espeak voices from 89% to 97% right.
MAX_STRETCH_S = 6.0  # longer ones are cut at their widest gap; shorter cuts (3-4 s) cost 5-10%
FULL_S = 1.5  # a stretch this long gives a trustworthy embedding; shorter ones count less
# In cosine units (of centred embeddings): what changing speaker between two stretches costs.
# Swept on the hard eval cases: 0.04 and 0.08 best, 0.12 loses 2% on the closest voices.
SWITCH_PENALTY = 0.04
# ... and between two stretches of one sentence (`switch_penalties`). Swept 0.04-1.0 on the eval:
# 0.5-0.7 best (the host's "I'm Kim Porter, and today I'm talking to ..." 8 words right, nothing
# lost elsewhere); 1.0 cost the 58-minute episode 0.4%.
MID_SENTENCE_PENALTY = 0.5
MID_SENTENCE_GAP_S = 0.7
# Two clusters whose mean embeddings are this alike are one person, unless the show notes say
# there are more. With little talk behind each (AMI's 30 s meeting excerpts): one real speaker's
# two halves 0.89-0.97, two real people 0.52-0.81 (one room). With plenty (STABLE_MASS full
# stretches each, a minute or more), a mean voice is steady: one espeak-ng voice's halves
# 0.975-0.979 over 3-minute monologues, two close espeak-ng voices 0.877-0.964, real different
# people lower still. 0.85 throughout made every close-voiced interview without names in its
# show notes one speaker, at 4 and at 60 minutes.
SAME_VOICE = 0.85
SAME_VOICE_STABLE = 0.97
STABLE_MASS = 12.0
# A cluster with less talk than this is an odd moment of one voice (laughter, a cough, a
# crosstalk), not a person: two full stretches, and 5% of the episode's.
MIN_SPEAKER_WEIGHT = 2.0
MIN_SPEAKER_SHARE = 0.05
# An eigengap at least this share of the largest still counts: 0.5 and 0.4 found the third of
# three close voices with nobody named (0.7 and 1.0 found two); monologues stayed one voice.
GAP_SHARE = 0.5
# Speakers this little apart (squared distance between two speakers' mean features over the
# mean spread of their stretches about their own means) are one mass of stretches cut in two, or
# too close to split reliably, and names put on them are wrong on many words. Measured on 4-minute
# two-person episodes (`speaker_eval.PAIRS`, the eval's cases and more seeds): one voice as both
# people (13 episodes, 6 voices) 0.20-0.34; two voices split 95-100% right 0.354-1.98; 75-89%
# right 0.298-0.356; 57-72% right 0.254-0.283. It does not catch every poor split: one
# accent-only pair split 91.3% right scored 0.42.
WEAK_SPLIT = 0.37
# A turn whose voice is nearly as like another speaker's as its own speaker's is where a reviewer
# should listen: the weighted mean, over the turn's stretches, of the `closeness` to its own
# speaker's mean less that to the next closest. On ten close-voiced 4-minute episodes (2 and 3
# people, accent-only pairs included) the misattributed turns scored 0.07-0.33, five of eight
# under 0.2; the right ones 0.09 and up, 5% of them under 0.22.
DOUBTFUL_MARGIN = 0.2
MIN_SPLIT_STRETCHES = 8  # full stretches each; fewer (a half-minute clip) give no steady spread
# Full stretches in an episode above which every speaker must have MIN_SPLIT_STRETCHES: the
# eval's half-minute real clips have 1-8 in all. At 80 (fourth session), a 4-minute episode of one
# voice spoken as two people (54 full stretches) was cut 47/7, the 7 were not judged, and the
# host's known voice named the large part: 44% of the words under the host's name.
PLENTY_STRETCHES = 24
# When the clustering's speakers come out weakly apart, the partition is chosen again among the
# groupings of a finer clustering (this many clusters more) into as many speakers: the one whose
# closest two speakers are furthest apart. Spectral clustering of a short-spoken host among a
# guest's long answers (12% of the talk) cut the guest's mass in two: 77% and 76% of words right
# on close voices; chosen again (with `closeness` and REFINE_PASSES), 93.5% and 92.7%; balanced
# interviews unchanged. Up to three speakers: nine clusters have millions of groupings into six.
REGROUP_EXTRA = 3
REGROUP_MAX_SPEAKERS = 3
# Viterbi passes, each with the speakers' means taken again from the labels of the pass before.
REFINE_PASSES = 2
TIMBRE_DIMS = 20  # principal components of the timbre statistics kept
SUPERVECTOR_DIMS = 30  # ... and of the supervectors
# Re-segmentation passes (`resegment`); the switch penalties above apply to its scores too (in
# nats per frame there, not cosine units: kept as they were, the passes came out best at 2-3).
RESEGMENT_PASSES = 3
# From this many speakers up, a second partition is clustered with the frames' supervectors beside
# the embeddings, and the one the held-out likelihood prefers is kept: on eight 3-person episodes
# the embeddings alone merged two close voices and cut the third in two on three (56-76% right);
# the supervectors did on one other, and the likelihood picked the right one every time (99%+).
# Not for two: there the embeddings' partition was never the worse one; nor where the first
# partition's closest speakers are WEAK_SPLIT apart or more (it costs a third of the stage's time).
SUPERVECTOR_SPEAKERS = 3
# One speaker found though more may speak: two are kept if their held-out likelihood is at least
# this much better per frame. Two real voices (10 close-voiced 4-10 minute episodes named nobody):
# 0.23-1.5 better; one voice cut in two (controls, monologues): 0.01-0.37 worse.
SPLIT_GAIN = 0.1
PLENTY_FRAMES = 12000  # two minutes of speech: with less, one voice's two halves model poorly
MAX_CLUSTERED = 1500  # stretches clustered directly (about 75 minutes of talk)


@dataclass(frozen=True)
class Stretch:
    """Words [first, end) spoken without a pause, from `start` to `stop` seconds."""

    first: int
    end: int
    start: float
    stop: float

    @property
    def seconds(self) -> float:
        return self.stop - self.start


def stretches(words: Sequence[Word]) -> list[Stretch]:
    """Runs of words without a pause or sentence end, kept under MAX_STRETCH_S."""
    out: list[Stretch] = []
    first = 0
    for i in range(1, len(words) + 1):
        if i < len(words):
            gap = words[i].start - words[i - 1].end
            sentence_end = words[i - 1].text.rstrip().endswith((".", "?", "!"))
            if gap < PAUSE_S and not sentence_end:
                continue
        out.extend(_cut(words, first, i))
        first = i
    return out


def _cut(words: Sequence[Word], first: int, end: int) -> list[Stretch]:
    start, stop = words[first].start, words[end - 1].end
    if stop - start <= MAX_STRETCH_S or end - first < 2:
        return [Stretch(first, end, start, stop)]
    # The widest gap that leaves both halves at least a second long, else the middle.
    best, best_gap = (first + end) // 2, -1.0
    for j in range(first + 1, end):
        if words[j - 1].end - start < 1.0 or stop - words[j].start < 1.0:
            continue
        gap = words[j].start - words[j - 1].end
        if gap > best_gap:
            best, best_gap = j, gap
    return _cut(words, first, best) + _cut(words, best, end)


def weights(items: Sequence[Stretch]) -> np.ndarray:
    """How much each stretch's embedding is worth: by length, up to FULL_S."""
    return np.array([min(1.0, max(s.seconds, 0.05) / FULL_S) for s in items])


# --- clustering ----------------------------------------------------------------------------


def affinity(x: np.ndarray) -> np.ndarray:
    """Cosine similarity, each row pruned to its nearest neighbours, symmetrised (NME-SC)."""
    n = len(x)
    sim = np.clip(x @ x.T, 0.0, 1.0)
    # A fifth of the rows, but never fewer than four: in a half-minute episode (ten stretches)
    # two neighbours each left the graph in pieces and one sentence became a "speaker".
    keep = min(n - 1, max(4, int(round(0.2 * n))))
    pruned = np.zeros_like(sim)
    idx = np.argpartition(-sim, keep, axis=1)[:, : keep + 1]
    rows = np.arange(n)[:, None]
    pruned[rows, idx] = sim[rows, idx]
    return np.asarray((pruned + pruned.T) / 2)


def spectral(x: np.ndarray, k_min: int, k_max: int) -> np.ndarray:
    """Labels for the rows of `x` (unit vectors); the count is the eigengap's within bounds."""
    n = len(x)
    k_max = max(1, min(k_max, n - 1))
    k_min = max(1, min(k_min, k_max))
    if n < 3 or k_max == 1:
        return np.zeros(n, dtype=int)
    a = affinity(x)
    degree = a.sum(axis=1)
    d = 1.0 / np.sqrt(np.maximum(degree, 1e-9))
    laplacian = np.eye(n) - d[:, None] * a * d[None, :]
    values, vectors = np.linalg.eigh(laplacian)
    gaps = np.diff(values[: k_max + 1])[k_min - 1 : k_max]
    # The most clusters whose eigengap is near the largest: a third voice close to one of two
    # others opens a smaller gap than the first split. Clusters of one voice are joined again by
    # `merge_same_voice`.
    big = np.flatnonzero(gaps >= GAP_SHARE * gaps.max()) if k_max > k_min else np.array([0])
    k = k_min + int(big.max())
    log.debug("eigenvalues %s -> k=%d (bounds %d..%d)", np.round(values[: k_max + 2], 3), k, k_min, k_max)
    if k == 1:
        return np.zeros(n, dtype=int)
    emb = vectors[:, :k]
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9)
    from sklearn.cluster import KMeans

    return np.asarray(KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(emb))


def means(x: np.ndarray, labels: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Each label's weighted mean row."""
    w = np.ones(len(x)) if w is None else w
    return np.stack([(x[labels == c] * w[labels == c, None]).sum(axis=0) / max(w[labels == c].sum(), 1e-9)
                     for c in range(labels.max() + 1)])


def centres(x: np.ndarray, labels: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Each label's mean direction (unit length)."""
    return _unit(means(x, labels, w))


def _compact(labels: np.ndarray) -> np.ndarray:
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.astype(int)


def closeness(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(rows, speakers): x.c - |c|^2/2 over the means' mean length (see `viterbi`)."""
    length = np.linalg.norm(c, axis=1)
    return np.asarray((x @ c.T - length**2 / 2) / max(float(length.mean()), 1e-9))


def viterbi(x: np.ndarray, c: np.ndarray, penalty: float | np.ndarray | None = None) -> np.ndarray:
    """The best speaker sequence: closeness to each speaker's mean `c`, minus `penalty` for every
    change of speaker. Closeness is x.c - |c|^2/2 (half the squared distance, less what all share),
    over the means' mean length: for unit means, the cosine similarity. The lengths matter when one
    speaker holds most of the talk: the features are centred on the episode's mean voice, so that
    speaker's mean lies near the origin and its direction is noise; by direction alone a quarter of
    a guest's stretches went to the host whose questions were 12% of the talk.

    Every stretch counts in full, however short: a listener's 0.3 s "yeah" between two
    sentences of the other voice was nearest its own speaker 51 times in 53 on the hard eval
    cases, and scaling its evidence by its length (or smoothing short turns away afterwards)
    gave every one of them to the other voice: 1.3% of all words on the closest pair."""
    if len(c) == 1 or len(x) == 0:
        return np.zeros(len(x), dtype=int)
    return best_path(closeness(x, c), penalty)


def best_path(score: np.ndarray, penalty: float | np.ndarray | None = None) -> np.ndarray:
    """The speaker sequence with the most `score` (stretches, speakers), less `penalty` for each
    change of speaker (before each stretch, or the same everywhere)."""
    n, k = score.shape
    if k == 1 or n == 0:
        return np.zeros(n, dtype=int)
    back = np.zeros((n, k), dtype=int)
    total = score[0].copy()
    cost = np.broadcast_to(np.asarray(SWITCH_PENALTY if penalty is None else penalty, dtype=float), (n,))
    for t in range(1, n):
        options = total[:, None] - cost[t] * (1 - np.eye(k))  # from row speaker to column speaker
        back[t] = np.argmax(options, axis=0)
        total = options[back[t], np.arange(k)] + score[t]
    path = np.zeros(n, dtype=int)
    path[-1] = int(np.argmax(total))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def features(embeds: np.ndarray, timbre: np.ndarray | None, w: np.ndarray,
             supervectors: np.ndarray | None = None) -> np.ndarray:
    """Unit vectors to cluster: the voice embeddings centred on the episode's mean voice (every
    voice in one recording shares the room, the microphone and, for espeak-ng, the synthesiser,
    and that common part otherwise drowns the differences between close voices), side by side
    with the timbre statistics, standardised and whitened over the episode, at equal weight; and
    with `supervectors` (`resegment.supervectors`), whitened the same way, as a third block."""
    x = embeds - (embeds * w[:, None]).sum(axis=0) / w.sum()
    x = _unit(x)
    if timbre is None or len(x) < 4:
        return x
    blocks = [x, _whitened((timbre - timbre.mean(axis=0)) / (timbre.std(axis=0) + 1e-6), TIMBRE_DIMS)]
    if supervectors is not None:
        blocks.append(_whitened(supervectors - (supervectors * w[:, None]).sum(axis=0) / w.sum(), SUPERVECTOR_DIMS))
    return np.asarray(np.hstack(blocks) / np.sqrt(len(blocks)))


def _whitened(z: np.ndarray, dims: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    return _unit(PCA(n_components=min(dims, len(z) - 1), whiten=True, random_state=0).fit_transform(z))


def _unit(x: np.ndarray) -> np.ndarray:
    return np.asarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9))


def cluster(embeds: np.ndarray, timbre: np.ndarray | None, w: np.ndarray, k_min: int, k_max: int,
            penalty: np.ndarray | None = None, cepstra: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """A speaker label per stretch, between k_min and k_max speakers; `penalty`: what a change
    of speaker before each stretch costs (`switch_penalties`); `cepstra`: each stretch's cepstral
    frames, for the re-segmentation (`resegment`)."""
    if len(embeds) == 0:
        return np.zeros(0, dtype=int)
    x = features(embeds, timbre, w)
    path = _by_voice(x, embeds, w, k_min, k_max, penalty)
    if cepstra is None or sum(len(c) for c in cepstra) < resegment.MIN_FRAMES:
        return path
    frames = resegment.standardise(cepstra)
    k = int(path.max()) + 1
    if k == 1:
        # An interview whose page names nobody, with the host's short questions among a
        # guest's long answers, clustered as one voice: two, if their voices are apart
        # (WEAK_SPLIT) and two fit the frames better. The likelihood alone is noisy at this
        # margin: one control's split came out 0.005 worse in one run, 0.1 better in another.
        if k_max < 2 or sum(len(f) for f in frames) < PLENTY_FRAMES:
            return path
        two = _resegmented(frames, _by_voice(x, embeds, w, 2, 2, penalty), w, penalty)
        if two.max() < 1 or separation(embeds, timbre, w, two) < WEAK_SPLIT:
            return path
        gain = resegment.heldout(frames, two) - resegment.heldout(frames, path)
        log.debug("two speakers fit %.3f per frame better than one", gain)
        return two if gain >= SPLIT_GAIN else path
    path = _resegmented(frames, path, w, penalty)
    full = w >= 1.0
    if k < SUPERVECTOR_SPEAKERS or _closest(x[full], path[full]) >= WEAK_SPLIT:
        return path
    x = features(embeds, timbre, w, resegment.supervectors(frames))
    candidates = [path, _resegmented(frames, _by_voice(x, embeds, w, k, k, penalty), w, penalty)]
    fits = [resegment.heldout(frames, c) for c in candidates]
    log.debug("held-out fit of the candidate partitions: %s", np.round(fits, 3))
    return candidates[int(np.argmax(fits))]


def _by_voice(x: np.ndarray, embeds: np.ndarray, w: np.ndarray, k_min: int, k_max: int,
              penalty: np.ndarray | None) -> np.ndarray:
    """Labels from the stretches' features `x`: spectral clustering, then Viterbi passes."""
    # Short stretches are noisy: the clusters are found on the full ones (an even sample of them
    # in a long episode: the affinity matrix grows with the square), then all join in.
    n = len(x)
    fit = np.flatnonzero(w >= 1.0) if (w >= 1.0).sum() >= max(3, k_max + 1) else np.arange(n)
    fit = fit[:: max(1, int(np.ceil(len(fit) / MAX_CLUSTERED)))]
    labels = _compact(spectral(x[fit], k_min, k_max))
    labels = merge_same_voice(embeds[fit], labels, w[fit], k_min)
    k = int(labels.max()) + 1
    if 2 <= k <= REGROUP_MAX_SPEAKERS and _closest(x[fit], labels) < WEAK_SPLIT:
        labels = regroup(x[fit], w[fit], labels)
    path = viterbi(x, means(x[fit], labels, w[fit]), penalty)
    for _ in range(REFINE_PASSES):
        if path.max() + 1 < k:
            break
        path = viterbi(x, means(x, path, w), penalty)
    return path


def _resegmented(frames: Sequence[np.ndarray], labels: np.ndarray, w: np.ndarray,
                 penalty: np.ndarray | None) -> np.ndarray:
    """`labels` after RESEGMENT_PASSES of Viterbi over the speakers' mixtures' likelihoods, each
    pass's mixtures trained on the labels of the pass before; a pass that loses a speaker ends it."""
    k = int(labels.max()) + 1
    for _ in range(RESEGMENT_PASSES):
        if k < 2 or not resegment.enough(frames, labels):
            break
        new = best_path(resegment.likelihoods(frames, labels, w), penalty)
        if int(new.max()) + 1 < k or np.array_equal(new, labels):
            break
        labels = new
    return labels


def _apart(a: np.ndarray, b: np.ndarray) -> float:
    """Squared distance between the means of two groups of rows over their pooled spread."""
    spread = (((a - a.mean(axis=0)) ** 2).sum() + ((b - b.mean(axis=0)) ** 2).sum()) / (len(a) + len(b))
    return float(((a.mean(axis=0) - b.mean(axis=0)) ** 2).sum() / max(spread, 1e-12))


def _closest(x: np.ndarray, labels: np.ndarray) -> float:
    """`_apart` of the closest two labels."""
    groups = [x[labels == c] for c in range(int(labels.max()) + 1)]
    return min((_apart(a, b) for i, a in enumerate(groups) for b in groups[i + 1 :]), default=float("inf"))


def _groupings(n: int, k: int) -> Iterator[np.ndarray]:
    """Every way to put n labelled clusters into k non-empty groups, once each."""
    seen: set[tuple[int, ...]] = set()
    for assign in itertools.product(range(k), repeat=n):
        order: dict[int, int] = {}
        canon = tuple(order.setdefault(a, len(order)) for a in assign)
        if len(order) == k and canon not in seen:
            seen.add(canon)
            yield np.array(canon)


def regroup(x: np.ndarray, w: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """`labels`, or the grouping of a finer spectral clustering into as many speakers whose two
    closest speakers are furthest apart (`_apart`), each big enough to be a person."""
    k = int(labels.max()) + 1
    finer = min(k + REGROUP_EXTRA, len(x) // MIN_SPLIT_STRETCHES)
    if finer <= k:
        return labels
    fine = _compact(spectral(x, finer, finer))
    best, best_apart = labels, _closest(x, labels)
    for grouping in _groupings(int(fine.max()) + 1, k):
        candidate = grouping[fine]
        counts = np.bincount(candidate, minlength=k)
        mass = np.bincount(candidate, weights=w, minlength=k)
        if counts.min() < MIN_SPLIT_STRETCHES or mass.min() < MIN_SPEAKER_SHARE * mass.sum():
            continue
        apart = _closest(x, candidate)
        if apart > best_apart:
            best, best_apart = candidate, apart
    log.debug("regrouped %d speakers: closest pair %.3f -> %.3f", k, _closest(x, labels), best_apart)
    return best


def separation(embeds: np.ndarray, timbre: np.ndarray | None, w: np.ndarray, labels: np.ndarray) -> float:
    """How far apart the closest two speakers are (see WEAK_SPLIT), over the full stretches of
    speakers with at least MIN_SPLIT_STRETCHES of them; infinite when fewer than two have (a
    short clip), but 0 when a speaker of an episode with plenty of talk has fewer: a voice split
    in two for the count the show notes asked for left one "speaker" a few stretches."""
    full = w >= 1.0
    x = features(embeds, timbre, w)[full]
    labels = np.asarray(labels)[full]
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, dtype=int)
    if len(x) >= PLENTY_STRETCHES and 0 < sizes[sizes > 0].min() < MIN_SPLIT_STRETCHES:
        return 0.0
    groups = [x[labels == k] for k in np.unique(labels) if (labels == k).sum() >= MIN_SPLIT_STRETCHES]
    return min((_apart(a, b) for i, a in enumerate(groups) for b in groups[i + 1 :]), default=float("inf"))


def doubtful_turns(x: np.ndarray, w: np.ndarray, labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(first, end, other speaker) of each turn, a run of stretches [first, end) of one label,
    whose voice is within DOUBTFUL_MARGIN of the other speaker's (`x`: `features`)."""
    k = int(labels.max()) + 1 if len(labels) else 0
    if k < 2:
        return []
    sim = closeness(x, means(x, labels, w))
    rows = np.arange(len(x))
    own = sim[rows, labels]
    sim[rows, labels] = -np.inf
    other = np.argmax(sim, axis=1)
    margin = own - sim[rows, other]
    seconds = np.maximum(w, 0.05)
    out = []
    first = 0
    for end in range(1, len(x) + 1):
        if end < len(x) and labels[end] == labels[first]:
            continue
        span = slice(first, end)
        if float((margin[span] * seconds[span]).sum() / seconds[span].sum()) < DOUBTFUL_MARGIN:
            votes = np.bincount(other[span], weights=seconds[span], minlength=k)
            out.append((first, end, int(np.argmax(votes))))
        first = end
    return out


def switch_penalties(words: Sequence[Word], items: Sequence[Stretch]) -> np.ndarray:
    """What a change of speaker costs before each stretch: SWITCH_PENALTY, or MID_SENTENCE_PENALTY
    where the stretch carries on the sentence before it: that one ran to at least three words
    without ending ("I'm Kim Porter,"), this one opens in lower case ("and today I'm talking
    to ...") within MID_SENTENCE_GAP_S. People hand over at sentence ends; a one- or two-word
    "Yeah," that Whisper joined to the next sentence is left free to change."""
    out = np.full(len(items), SWITCH_PENALTY)
    for i in range(1, len(items)):
        before, here = items[i - 1], items[i]
        if (not words[before.end - 1].text.rstrip().endswith((".", "?", "!"))
                and words[here.first].text.strip()[:1].islower()
                and before.end - before.first >= 3
                and here.start - before.stop < MID_SENTENCE_GAP_S):
            out[i] = MID_SENTENCE_PENALTY
    return out


def same_voice(mass: float) -> float:
    """The similarity above which two clusters are one voice, the smaller holding `mass` full
    stretches of talk."""
    return SAME_VOICE_STABLE if mass >= STABLE_MASS else SAME_VOICE


def merge_same_voice(embeds: np.ndarray, labels: np.ndarray, w: np.ndarray, k_min: int) -> np.ndarray:
    """Join clusters too small to be a person into their nearest, then the two whose
    (uncentred) voices are most alike while they sound like one person, down to k_min: the
    eigengap over-counts on short or far-field recordings."""
    while labels.max() + 1 > max(1, k_min):
        c = centres(embeds, labels, w)
        sim = c @ c.T
        np.fill_diagonal(sim, -1.0)
        mass = np.bincount(labels, weights=w)
        small = int(np.argmin(mass))
        if mass[small] < max(MIN_SPEAKER_WEIGHT, MIN_SPEAKER_SHARE * mass.sum()):
            i, j = small, int(np.argmax(sim[small]))  # too little talk to be a person
        else:
            i, j = (int(k) for k in np.unravel_index(int(np.argmax(sim)), sim.shape))
            if sim[i, j] < same_voice(min(mass[i], mass[j])):
                break
        log.debug("merging clusters %d and %d (similarity %.3f)", i, j, sim[i, j])
        labels = _compact(np.where(labels == max(i, j), min(i, j), labels))
    return labels
