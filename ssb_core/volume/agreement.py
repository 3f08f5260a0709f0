"""How far the candidates of one lesion agree: agreement labels, variability levels, disagreement, per-candidate figures.

Masks are ``(N, ...)`` binary candidates on one grid; for a lesion ``(N, S, ny, nx)`` on the ROI box
(:class:`ssb_core.volume.LesionCandidates`). With f the share of the N candidates covering a voxel
(:func:`ssb_core.metrics.variability.vote_fraction`):

Agreement labelmap (uint8, names in :data:`AGREEMENT_LABELS`):

- 0: no candidate covers the voxel;
- 1 ``some candidates``: 0 < f < 1/2;
- 2 ``consensus``: 1/2 <= f < 1 (the consensus mask is f >= 1/2, i.e. labels 2 and 3);
- 3 ``all candidates``: f = 1;
- 4 ``chosen candidate``: one candidate shown alone (its mask times 4).

Variability ``v = 4 f (1 - f)`` in [0, 1] (its one definition: :mod:`ssb_core.metrics.variability`); its levels
1..L are ``ceil(L v)``, 0 where the candidates agree. The disagreement score of a whole ROI is the mean of v over
the voxels covered by at least one candidate (0 when no candidate covers anything).

:class:`CandidateSummary`: each candidate's size, its Dice to the consensus and its rank (1 = the most typical, the
highest Dice to the consensus), and D_DDI^gen (:func:`ssb_core.metrics.diversity_divergence_index`) of the set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssb_core.metrics import diversity_divergence_index, pairwise_dice
from ssb_core.metrics.variability import vote_fraction, vote_variability

__all__ = ["AGREEMENT_LABELS", "CandidateSummary", "agreement_labels", "consensus", "disagreement_score",
           "variability_levels"]

#: label name -> value of the agreement labelmap (see the module docstring)
AGREEMENT_LABELS = {"some candidates": 1, "consensus": 2, "all candidates": 3, "chosen candidate": 4}


def consensus(masks: np.ndarray) -> np.ndarray:
    """``(N, ...)`` binary masks -> ``(...)`` bool, covered by at least half of the candidates (f >= 1/2)."""
    return vote_fraction(masks) >= 0.5


def agreement_labels(masks: np.ndarray) -> np.ndarray:
    """``(N, ...)`` binary masks -> ``(...)`` uint8 agreement labels 0..3 (see the module docstring)."""
    f = vote_fraction(masks)
    out = np.zeros(f.shape, dtype=np.uint8)
    out[f > 0] = AGREEMENT_LABELS["some candidates"]
    out[f >= 0.5] = AGREEMENT_LABELS["consensus"]
    out[f >= 1.0] = AGREEMENT_LABELS["all candidates"]
    return out


def variability_levels(masks: np.ndarray, levels: int) -> np.ndarray:
    """``(N, ...)`` binary masks -> ``(...)`` uint8 level ``ceil(levels * v)`` of the variability, 0 where v = 0."""
    if int(levels) < 1:
        raise ValueError(f"levels must be at least 1, got {levels!r}")
    v = vote_variability(masks)
    return np.where(v > 0, np.ceil(v * levels), 0).astype(np.uint8)


def disagreement_score(masks: np.ndarray) -> float:
    """Mean variability over the elements covered by at least one of the ``(N, ...)`` masks (0 when none is)."""
    union = np.asarray(masks).astype(bool).any(axis=0)
    return float(vote_variability(masks)[union].mean()) if union.any() else 0.0


@dataclass(frozen=True)
class CandidateSummary:
    """The figures of N candidates (see the module docstring); sizes in voxels.

    Attributes:
        voxels: (N,) voxels of each candidate. dice_to_consensus: (N,) Dice of each candidate to the consensus
            (``Dice(empty, empty) = 1``). ranking: the candidate indices, most typical first (ties: lower index
            first). ranks: (N,) rank of each candidate, 1 = ``ranking[0]``.
        consensus_voxels, union_voxels: voxels of the consensus and of the union of the candidates.
        ddi_gen: D_DDI^gen of the candidates against the reference set; NaN where undefined.
        num_references: reader masks D_DDI^gen was computed against; 0 = the candidates against each other.
        disagreement: :func:`disagreement_score`.
    """

    voxels: tuple[int, ...]
    dice_to_consensus: tuple[float, ...]
    ranking: tuple[int, ...]
    ranks: tuple[int, ...]
    consensus_voxels: int
    union_voxels: int
    ddi_gen: float
    num_references: int
    disagreement: float

    @classmethod
    def of(cls, masks: np.ndarray, readers: np.ndarray | None = None) -> "CandidateSummary":
        """Figures of ``masks`` (N, ...) bool; ``readers`` (M, ...) bool reader masks on the same grid, when there
        are any, are the reference set of D_DDI^gen (the paper's definition), else the candidates themselves are."""
        masks = np.asarray(masks, dtype=bool)
        n = masks.shape[0]
        cons = consensus(masks)
        dice = pairwise_dice(masks, cons[None])[:, 0]
        order = tuple(int(k) for k in np.argsort(-dice, kind="stable"))
        ranks = [0] * n
        for r, k in enumerate(order):
            ranks[k] = r + 1
        with_readers = readers is not None and readers.shape[0] >= 1
        _, ddi_gen = diversity_divergence_index(masks, readers if with_readers else masks)
        return cls(
            voxels=tuple(int(v) for v in masks.reshape(n, -1).sum(axis=1)),
            dice_to_consensus=tuple(float(d) for d in dice),
            ranking=order,
            ranks=tuple(ranks),
            consensus_voxels=int(cons.sum()),
            union_voxels=int(masks.any(axis=0).sum()),
            ddi_gen=float(ddi_gen),
            num_references=int(readers.shape[0]) if with_readers else 0,
            disagreement=disagreement_score(masks),
        )
