"""Who spoke each stretch, judged again by Gaussian mixtures of each speaker's cepstral frames.

The classic re-segmentation step of LIUM and ALIZE, after the embedding clustering: a small
diagonal Gaussian mixture per speaker over the 10 ms cepstra of that speaker's stretches, and for
every stretch the mean log-likelihood of its frames under each speaker's mixture. Frame-level
mixtures see what a 1.6 s voice embedding averages away: two espeak-ng voices that differ only in
accent, which resemblyzer's embeddings hardly separate, come apart in their vowels. On the
speaker eval's close voices it took the worst two-person episodes from 96.2% and 95.6% of words
right to 99.9%, and the 60-minute one from 98.2% to 99.9% (docs/benchmarks.md, sixth session).

The same mixtures, trained on half of the stretches and scored on the other half, give a held-out
likelihood (`heldout`) that says which of two partitions of an episode fits its voices better.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np

COMPONENTS = 16  # 32 was no more accurate on the eval and twice as slow
MAX_FRAMES = 20000  # frames a mixture is trained on (200 s of speech), an even sample beyond
MIN_FRAMES = 20 * COMPONENTS  # a speaker with fewer is too little to model (3 s of speech)
EM_ITERATIONS = 20
HELDOUT_SEEDS = 3


def standardise(cepstra: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each stretch's frames on the episode's mean and spread: one room, one microphone."""
    filled = [c for c in cepstra if len(c)]
    if not filled:
        return [np.asarray(c, dtype=np.float32) for c in cepstra]
    every = np.concatenate(filled)
    mean, spread = every.mean(axis=0), every.std(axis=0) + 1e-6
    return [((c - mean) / spread).astype(np.float32) if len(c) else np.asarray(c, np.float32) for c in cepstra]


def enough(frames: Sequence[np.ndarray], labels: np.ndarray) -> bool:
    """Whether every speaker has MIN_FRAMES to train a mixture on."""
    counts = np.bincount(labels, weights=[len(f) for f in frames], minlength=int(labels.max()) + 1)
    return bool(counts.min() >= MIN_FRAMES)


def _mixture(frames: np.ndarray, seed: int = 0):  # type: ignore[no-untyped-def]
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    if len(frames) > MAX_FRAMES:
        frames = frames[np.random.default_rng(seed).choice(len(frames), MAX_FRAMES, replace=False)]
    with warnings.catch_warnings():
        # EM_ITERATIONS is a cap on time: the mixtures only rank stretches, they need not converge.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(COMPONENTS, covariance_type="diag", reg_covar=1e-3, max_iter=EM_ITERATIONS,
                               init_params="random_from_data", random_state=seed).fit(frames)


def _training(frames: Sequence[np.ndarray], members: np.ndarray, full: np.ndarray) -> np.ndarray:
    """A speaker's frames from its full stretches, or from all of them when those are too few."""
    chosen = [frames[i] for i in np.flatnonzero(members & full) if len(frames[i])]
    if sum(len(c) for c in chosen) < MIN_FRAMES:
        chosen = [frames[i] for i in np.flatnonzero(members) if len(frames[i])]
    return np.concatenate(chosen)


def likelihoods(frames: Sequence[np.ndarray], labels: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(stretches, speakers): mean log-likelihood per frame of each stretch under each speaker's
    mixture, less the stretch's mean over speakers (0 for a stretch without frames)."""
    k = int(labels.max()) + 1
    lengths = np.array([len(f) for f in frames])
    every = np.concatenate([f for f in frames if len(f)])
    offsets = np.concatenate([[0], np.cumsum(lengths[lengths > 0])[:-1]])
    out = np.zeros((len(frames), k))
    for c in range(k):
        scored = _mixture(_training(frames, labels == c, w >= 1.0)).score_samples(every)
        out[lengths > 0, c] = np.add.reduceat(scored, offsets) / lengths[lengths > 0]
    return np.asarray(out - out.mean(axis=1, keepdims=True))


def heldout(frames: Sequence[np.ndarray], labels: np.ndarray) -> float:
    """Mean log-likelihood per frame of every stretch under its speaker's mixture trained on the
    other half of that speaker's stretches (odd ones for even, even for odd), averaged over
    HELDOUT_SEEDS fits: one fit's noise (0.05-0.1 per frame) is as large as the differences
    between the partitions it is asked to rank."""
    total, count = 0.0, 0
    parity = np.arange(len(frames)) % 2
    for seed, fold in itertools.product(range(HELDOUT_SEEDS), (0, 1)):
        for c in range(int(labels.max()) + 1):
            train = [frames[i] for i in np.flatnonzero((labels == c) & (parity != fold)) if len(frames[i])]
            test = [frames[i] for i in np.flatnonzero((labels == c) & (parity == fold)) if len(frames[i])]
            if not test:
                continue
            if sum(len(t) for t in train) < MIN_FRAMES:
                return -np.inf
            scored = _mixture(np.concatenate(train), seed).score_samples(np.concatenate(test))
            total += float(scored.sum())
            count += len(scored)
    return total / max(count, 1)


def supervectors(frames: Sequence[np.ndarray], relevance: float = 16.0) -> np.ndarray:
    """Per stretch, how its frames move the episode's own mixture (a GMM supervector: the
    MAP-adapted means' shift, over the spread, by the weights' square root): the frame-level
    voice as one vector, for clustering next to the embeddings."""
    every = np.concatenate([f for f in frames if len(f)])
    ubm = _mixture(every)
    mu, spread, weight = ubm.means_, np.sqrt(ubm.covariances_), np.sqrt(ubm.weights_)[:, None]
    out = np.zeros((len(frames), mu.size))
    for i, f in enumerate(frames):
        if len(f):
            post = ubm.predict_proba(f)
            n = post.sum(axis=0)
            adapted = (post.T @ f + relevance * mu) / (n + relevance)[:, None]
            out[i] = (weight * (adapted - mu) / spread).ravel()
    return out
