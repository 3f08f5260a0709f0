"""The candidates of one lesion summarised for the viewers (agreement, variability, per-candidate figures).

The candidates themselves come from :func:`ssb_core.volume.segment_lesion` (the clicked lesion, followed
through the slices it spans); :meth:`CandidateSet.from_lesion` wraps its result.

Agreement labelmap (uint8; names in ``/info/``): with f = the fraction of candidates covering a voxel,

- 1 ``some candidates``: 0 < f < 1/2;
- 2 ``consensus``: 1/2 <= f < 1 (the consensus mask is f >= 1/2, i.e. labels 2 and 3);
- 3 ``all candidates``: f = 1;
- 4 ``chosen candidate``: used alone when one candidate is returned (``candidate=k``).

Variability: ``v = 4 f (1 - f)`` in [0, 1] (the Bernoulli variance of the candidates' vote, scaled so that an
even split is 1 and agreement is 0; the one definition is :mod:`ssb_core.metrics.variability`). The disagreement score of a whole ROI is the mean of v over the voxels
covered by at least one candidate (0 when no candidate covers anything).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ssb_core.metrics import diversity_divergence_index, pairwise_dice
from ssb_core.metrics.variability import vote_fraction, vote_variability
from ssb_core.volume import LesionCandidates, RoiPlan

__all__ = ["AGREEMENT_LABELS", "CandidateSet", "candidate_name", "disagreement_score", "variability_level_segments"]

logger = logging.getLogger(__name__)

AGREEMENT_LABELS = {"some candidates": 1, "consensus": 2, "all candidates": 3, "chosen candidate": 4}


@dataclass
class CandidateSet:
    """N binary candidates on the ROI's box grid.

    Attributes:
        masks: (N, B, ny, nx) bool, candidate n on the plan's slices, in input voxels.
        plan: the ROI they live in. valid: (row, col) slices of the box inside the image.
    """

    masks: np.ndarray
    plan: RoiPlan
    valid: tuple[slice, slice]

    @classmethod
    def from_lesion(cls, lesion: LesionCandidates) -> "CandidateSet":
        """The lesion candidates of :func:`ssb_core.volume.segment_lesion` (already cleared outside the image)."""
        return cls(lesion.masks, lesion.plan, lesion.valid)

    @property
    def n(self) -> int:
        return int(self.masks.shape[0])

    def fraction(self) -> np.ndarray:
        """(B, ny, nx) float32 share of candidates covering each voxel."""
        return vote_fraction(self.masks)

    def consensus(self) -> np.ndarray:
        return self.fraction() >= 0.5

    def agreement(self) -> np.ndarray:
        """(B, ny, nx) uint8 agreement labels 0..3 (see the module docstring)."""
        f = self.fraction()
        out = np.zeros(f.shape, dtype=np.uint8)
        out[f > 0] = 1
        out[f >= 0.5] = 2
        out[f >= 1.0] = 3
        return out

    def variability(self) -> np.ndarray:
        """(B, ny, nx) float32 v = 4 f (1 - f) in [0, 1] (:func:`ssb_core.metrics.variability.vote_variability`)."""
        return vote_variability(self.masks)

    def variability_levels(self, levels: int) -> np.ndarray:
        """(B, ny, nx) uint8 level ``ceil(levels * v)`` of the variability, 0 where the candidates agree."""
        v = self.variability()
        return np.where(v > 0, np.ceil(v * levels), 0).astype(np.uint8)

    def disagreement(self) -> float:
        return disagreement_score(self.variability(), self.masks.any(axis=0))

    def summary(self, voxel_volume: float, unit: str, readers: np.ndarray | None, seed: int, reader_names: Sequence[str]) -> dict:
        """Per-candidate size, Dice to the consensus, ranking (most typical first) and D_DDI^gen of the set.

        ``readers``: (M, B, ny, nx) bool reader masks of this image when the datastore has any (D_DDI^gen is
        then computed against them, the paper's definition); otherwise the candidates themselves serve as the
        reference set (D_DDI^gen of the candidates against each other), and ``ddi_gen_reference`` says which.
        """
        flat = self.masks.reshape(self.n, -1)
        cons = self.consensus()[None]
        dice = pairwise_dice(self.masks, cons)[:, 0]
        order = [int(k) for k in np.argsort(-dice, kind="stable")]
        rank = {k: r + 1 for r, k in enumerate(order)}
        if readers is not None and readers.shape[0] >= 1:
            _, ddi_gen = diversity_divergence_index(self.masks, readers)
            reference = f"{readers.shape[0]} reader label(s) of this image in the datastore"
        else:
            _, ddi_gen = diversity_divergence_index(self.masks, self.masks)
            reference = "the candidates themselves (no reader label in the datastore)"
        per = [
            {
                "index": k,
                "seed": int(seed),  # candidate k of this seed: the same again with (seed, candidate=k)
                "reader": reader_names[k] if k < len(reader_names) else None,
                unit: round(float(flat[k].sum()) * voxel_volume, 3),
                "dice_to_consensus": round(float(dice[k]), 4),
                "rank": rank[k],
            }
            for k in range(self.n)
        ]
        for c in per:
            c["name"] = candidate_name(c, unit)
        return {
            "candidates": per,
            "ranking": order,
            f"consensus_{unit}": round(float(cons.sum()) * voxel_volume, 3),
            f"union_{unit}": round(float(flat.any(axis=0).sum()) * voxel_volume, 3),
            "ddi_gen": None if not np.isfinite(ddi_gen) else round(float(ddi_gen), 4),
            "ddi_gen_reference": reference,
            "disagreement": round(self.disagreement(), 4),
        }


def candidate_name(c: dict, unit: str) -> str:
    """``candidate 2 (rank 1, 412 mm3)``: index, rank (1 = closest to the consensus) and size of a summary entry; the
    name every viewer shows (the Slicer segments, the OHIF panel's list)."""
    size = float(c[unit])
    if unit == "area_mm2":
        text = f"{size:.0f} mm2"
    else:
        text = f"{size / 1000:.2f} ml" if size >= 1000 else f"{size:.0f} mm3"
    return f"candidate {c['index']} (rank {c['rank']}, {text})"


VARIABILITY_COLOUR_STOPS = ((0.0, (0.15, 0.35, 1.0)), (0.5, (1.0, 0.9, 0.1)), (1.0, (0.9, 0.05, 0.05)))  # blue, yellow, red


def _scale_colour(t: float) -> tuple[float, float, float]:
    """The cold-to-hot colour scale at t in [0, 1] (RGB in [0, 1])."""
    stops = VARIABILITY_COLOUR_STOPS
    t = min(1.0, max(0.0, t))
    for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
        if t <= t1:
            w = (t - t0) / (t1 - t0)
            return tuple(round(a + w * (b - a), 4) for a, b in zip(c0, c1, strict=True))  # type: ignore[return-value]
    return stops[-1][1]


def variability_level_segments(levels: int) -> list[tuple[str, int, tuple[float, float, float]]]:
    """(name, value, RGB colour in [0, 1]) of the levels 1..L of :meth:`CandidateSet.variability_levels`:
    ``variability <= 0.10`` ... ``variability <= 1.00``, coloured from blue (few candidates differ) to red (an even
    split); the Slicer ``.seg.nrrd`` and the OHIF panel show the same names and colours."""
    return [(f"variability <= {lvl / levels:.2f}", lvl, _scale_colour((lvl - 1) / max(1, levels - 1)))
            for lvl in range(1, levels + 1)]


def disagreement_score(variability: np.ndarray, union: np.ndarray) -> float:
    """Mean variability over the voxels covered by at least one candidate (0 when none is)."""
    return float(variability[union].mean()) if union.any() else 0.0
