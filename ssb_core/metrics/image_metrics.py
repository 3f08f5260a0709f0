"""Every metric for one image: generated masks against reader masks.

:func:`image_metrics` is the single entry point the evaluation, the benchmarks and the annotation app use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ssb_core.metrics.cimd import ci_score, combined_sensitivity, diversity_agreement, harmonic_mean3, max_dice_matching
from ssb_core.metrics.ddi import diversity_divergence_index
from ssb_core.metrics.iou_based import generalized_energy_distance, hungarian_matched_iou
from ssb_core.metrics.masks import as_mask_set, select_readers

__all__ = ["ImageMetrics", "image_metrics", "METRIC_NAMES", "HIGHER_IS_BETTER"]

METRIC_NAMES = ("ged", "d_max", "s_c", "d_a", "ci", "ci_hm", "ddi_exp", "ddi_gen", "hm_iou")
"""Metric fields in table order."""

HIGHER_IS_BETTER = {"ged": False, "d_max": True, "s_c": True, "d_a": True, "ci": True, "ci_hm": True, "ddi_exp": True, "ddi_gen": True, "hm_iou": True}


@dataclass(frozen=True)
class ImageMetrics:
    """The metrics of one image (see each function's docstring for formula, reference and range).

    ``ged`` is the value the field tabulates as GED (the squared energy distance); ``ci`` is CIMD's formula and
    ``ci_hm`` the true harmonic mean; ``ddi_*`` are NaN when fewer than two readers / samples exist.
    ``num_samples`` / ``num_readers`` are N and M after applying ``absent_readers``.
    """

    ged: float
    d_max: float
    s_c: float
    d_a: float
    ci: float
    ci_hm: float
    ddi_exp: float
    ddi_gen: float
    hm_iou: float
    num_samples: int
    num_readers: int

    def to_dict(self) -> dict:
        return asdict(self)


def image_metrics(
    samples: object,
    readers: object,
    reader_present: object | None = None,
    absent_readers: str = "exclude",
    threshold: float | None = None,
    ged_unbiased: bool = False,
) -> ImageMetrics:
    """All metrics for one image.

    Args:
        samples: generated masks (N, H, W[, D]); numpy or torch; binary, or probabilities with ``threshold``.
        readers: reader masks (M, H, W[, D]), same spatial shape.
        reader_present: bool (M,), which readers annotated (None = all).
        absent_readers: ``"exclude"`` (drop readers who did not annotate) or ``"empty"`` (count them as empty
            masks, the Kohl et al. 2018 LIDC convention).
        threshold: binarise both sets with ``> threshold`` (required for non-binary inputs).
        ged_unbiased: within-set GED means over i != j instead of the full matrices.
    """
    s = as_mask_set(samples, "samples", threshold)
    y = as_mask_set(readers, "readers", threshold)
    if s.shape[1:] != y.shape[1:]:
        raise ValueError(f"samples and readers must share their spatial shape, got {tuple(s.shape)} and {tuple(y.shape)}")
    y = select_readers(y, reader_present, absent_readers)
    d_max = max_dice_matching(s, y)
    s_c = combined_sensitivity(s, y)
    d_a = diversity_agreement(s, y)
    ddi_exp, ddi_gen = diversity_divergence_index(s, y)
    return ImageMetrics(
        ged=generalized_energy_distance(s, y, unbiased=ged_unbiased),
        d_max=d_max,
        s_c=s_c,
        d_a=d_a,
        ci=ci_score(s_c, d_max, d_a),
        ci_hm=harmonic_mean3(s_c, d_max, d_a),
        ddi_exp=ddi_exp,
        ddi_gen=ddi_gen,
        hm_iou=hungarian_matched_iou(s, y),
        num_samples=int(s.shape[0]),
        num_readers=int(y.shape[0]),
    )
