"""The variability of a set of candidate masks: where, and how much, they disagree. One definition, used by the
annotation server (the map the viewers show and save), the evaluation montages and active learning.

With ``f`` the share of the N candidates that cover a pixel / voxel, the variability is ``4 f (1 - f)``: the
variance of the candidates' vote, scaled so that an even split is 1 and agreement (all or none) is 0. It is the
square of the scaled standard deviation ``2 * std`` of the binary candidates. ``vote_entropy`` is the binary
entropy of ``f`` (base 2), a different measure offered as an alternative view in montages.
"""

from __future__ import annotations

import numpy as np

__all__ = ["vote_fraction", "vote_variability", "vote_entropy"]


def vote_fraction(masks: np.ndarray) -> np.ndarray:
    """``(N, ...)`` binary masks -> ``(...)`` float32 share of masks covering each element."""
    masks = np.asarray(masks)
    if masks.ndim < 2 or masks.shape[0] < 1:
        raise ValueError(f"masks must have shape (N, ...) with N >= 1, got {masks.shape}")
    return masks.astype(bool).mean(axis=0, dtype=np.float32)


def vote_variability(masks: np.ndarray) -> np.ndarray:
    """``(N, ...)`` binary masks -> ``(...)`` float32 ``4 f (1 - f)`` in [0, 1] (see the module docstring)."""
    f = vote_fraction(masks)
    return (4.0 * f * (1.0 - f)).astype(np.float32)


def vote_entropy(masks: np.ndarray) -> np.ndarray:
    """``(N, ...)`` binary masks -> ``(...)`` float32 binary entropy (base 2) of the vote share, 0 where all agree."""
    f = vote_fraction(masks)
    p = f.clip(1e-7, 1 - 1e-7)
    h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    return np.where((f == 0) | (f == 1), 0.0, h).astype(np.float32)
