"""Which candidates' readers mark the lesion: the presence head's probabilities turned into a keep mask.

A candidate set of N imitates reader slots ``labels`` (N,) (candidate k: slot ``labels[k]``; the null label R
imitates no reader and is always kept). Of the n candidates of slot r, a share p_r (the head's probability that
slot r marks this lesion) is kept, the rest are emptied: the set then holds an empty mask as often as the readers
would leave the lesion unmarked, rather than a shrunk one.

Stratified, not independent: of slot r's n candidates exactly floor(n p_r) are kept, plus one more with
probability n p_r - floor(n p_r), and which ones is a random permutation. The expected share is p_r either way;
stratified, a set of 16 does not come out all-empty or all-full by chance. Random numbers come from
(seed, image key), so an image's keep mask does not depend on the batch it came in (:mod:`ssb_core.seeding`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["marked_candidates"]


def marked_candidates(probabilities: torch.Tensor | np.ndarray, labels: Sequence[int], seed: int,
                      keys: Sequence[int]) -> np.ndarray:
    """(B, R) presence probabilities, N candidate labels -> (B, N) bool: candidate k's reader marks the lesion.

    Args:
        probabilities: per image, per reader slot, in [0, 1].
        labels: each candidate's reader slot, 0 .. R (R: the null label, always kept).
        seed: the sampling seed. keys: one int per image (:func:`ssb_core.seeding.image_key`).
    """
    p = np.asarray(probabilities.detach().cpu() if isinstance(probabilities, torch.Tensor) else probabilities, np.float64)
    labels = np.asarray(labels, np.int64)
    if p.ndim != 2 or len(keys) != len(p):
        raise ValueError(f"expected probabilities (B, R) and B keys, got {p.shape} and {len(keys)} keys")
    if labels.ndim != 1 or labels.min(initial=0) < 0 or labels.max(initial=0) > p.shape[1]:
        raise ValueError(f"labels must be reader slots in [0, {p.shape[1]}], got {labels.tolist()}")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError("presence probabilities must lie in [0, 1]")
    keep = np.ones((len(p), len(labels)), bool)
    for b, key in enumerate(keys):
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(key) & 0xFFFFFFFF, 0x5EED])
        for r in range(p.shape[1]):
            members = np.nonzero(labels == r)[0]
            if not len(members):
                continue
            expected = len(members) * p[b, r]
            count = int(np.floor(expected)) + int(rng.random() < expected - np.floor(expected))
            chosen = rng.permutation(members)[:count]
            keep[b, members] = False
            keep[b, chosen] = True
    return keep
