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
MAX_FRAMES = 20000  # frames a mixture is trained on (200 s of speech), an even sample beyond; 10000 lost 10-15 points on two episodes
MIN_FRAMES = 20 * COMPONENTS  # a speaker with fewer is too little to model (3 s of speech)
EM_ITERATIONS = 20
HELDOUT_SEEDS = 3
HELDOUT_FRAMES = 8000  # per mixture: 20000 took 60% more time and ranked the eval's partitions alike


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


def _mixture(frames: np.ndarray, seed: int = 0, most: int = MAX_FRAMES):  # type: ignore[no-untyped-def]
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    if len(frames) > most:
        frames = frames[np.random.default_rng(seed).choice(len(frames), most, replace=False)]
    with warnings.catch_warnings():
        # EM_ITERATIONS is a cap on time: the mixtures only rank stretches, they need not converge.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(COMPONENTS, covariance_type="diag", reg_covar=1e-3, max_iter=EM_ITERATIONS,
                               init_params="random_from_data", random_state=seed).fit(frames)


def _training(frames: Sequence[np.ndarray], members: np.ndarray, full: np.ndarray) -> np.ndarray:
    """A speaker's frames from its full stretches, or from all of them when those are too few."""
    chosen = [frames[i] for i in np.flatnonzero(members & full).tolist() if len(frames[i])]
    if sum(len(c) for c in chosen) < MIN_FRAMES:
        chosen = [frames[i] for i in np.flatnonzero(members).tolist() if len(frames[i])]
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
            train = [frames[i] for i in np.flatnonzero((labels == c) & (parity != fold)).tolist() if len(frames[i])]
            test = [frames[i] for i in np.flatnonzero((labels == c) & (parity == fold)).tolist() if len(frames[i])]
            if not test:
                continue
            if sum(len(t) for t in train) < MIN_FRAMES:
                return -np.inf
            scored = _mixture(np.concatenate(train), seed, HELDOUT_FRAMES).score_samples(np.concatenate(test))
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


# --- a voice as one mixture, to tell a known voice from a stranger ---------------------------
# Raw cepstra, the level (c0) left out, not standardised: a profile's recording and an episode
# are standardised on different talk.
SAMPLE_FRAMES = 1000  # of each speaker's frames kept with the labels, to check against profiles


def _raw(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [f[:, 1:] for f in frames if len(f)]


def voice_model(frames: Sequence[np.ndarray]) -> tuple[np.ndarray, float]:
    """One voice's frames as a mixture, flattened (weights, means, variances), and how well such
    a mixture fits that voice's frames it was not trained on (mean log-likelihood per frame, the
    even stretches' mixture on the odd ones and the other way round); empty and -inf when there
    are fewer than 2 * MIN_FRAMES frames."""
    chosen = _raw(frames)
    if sum(len(c) for c in chosen) < 2 * MIN_FRAMES or len(chosen) < 2:
        return np.zeros(0, dtype=np.float32), -np.inf
    even, odd = np.concatenate(chosen[0::2]), np.concatenate(chosen[1::2])
    fit = (_mixture(even).score_samples(odd).mean() + _mixture(odd).score_samples(even).mean()) / 2
    whole = _mixture(np.concatenate(chosen))
    model = np.concatenate([whole.weights_, whole.means_.ravel(), whole.covariances_.ravel()]).astype(np.float32)
    return model, float(fit)


def frame_sample(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Up to SAMPLE_FRAMES of a speaker's raw frames, evenly spaced over the episode."""
    chosen = _raw(frames)
    if not chosen:
        return np.zeros((0, 0), dtype=np.float32)
    every = np.concatenate(chosen)
    return np.asarray(every[np.linspace(0, len(every) - 1, min(SAMPLE_FRAMES, len(every))).astype(int)], dtype=np.float32)


def model_ok(model: np.ndarray) -> bool:
    """Whether a flattened `voice_model` has a mixture's shape and positive variances."""
    k = COMPONENTS
    size = len(model) - k
    return size > 0 and size % (2 * k) == 0 and bool((model[k + size // 2 :] > 0).all())


def fit(model: np.ndarray, sample: np.ndarray) -> float:
    """Mean log-likelihood per frame of `sample` under the flattened mixture `model`."""
    k = COMPONENTS
    dims = (len(model) - k) // (2 * k)
    if sample.ndim != 2 or sample.shape[1] != dims or not len(sample):
        return -np.inf
    weight, mean, var = model[:k].astype(np.float64), model[k : k + k * dims].reshape(k, dims), model[k + k * dims :].reshape(k, dims)
    parts = (-0.5 * (((sample[:, None, :] - mean[None]) ** 2) / var[None]).sum(axis=2)
             - 0.5 * np.log(2 * np.pi * var).sum(axis=1)[None] + np.log(np.maximum(weight, 1e-12))[None])
    top = parts.max(axis=1, keepdims=True)
    return float(np.mean(top[:, 0] + np.log(np.exp(parts - top).sum(axis=1))))
