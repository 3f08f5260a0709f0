"""Metrics for ambiguous segmentation: N generated masks (N, H, W[, D]) against M reader masks (M, H, W[, D]).

| name | meaning | reference | range |
| --- | --- | --- | --- |
| ``ged`` | generalised energy distance, d = 1 − IoU, the value the field tabulates (squared form), biased by default | Kohl 2018, PhiSeg 2019, CCDM 2023 | [0, 2], lower better |
| ``d_max`` | mean over readers of the best Dice among the samples | CIMD 2023 | [0, 1] |
| ``s_c`` | sensitivity of the samples' union to the readers' union | CIMD 2023 | [0, 1] |
| ``d_a`` | diversity agreement (pairwise-difference variances) | CIMD 2023 | [0, 1] |
| ``ci`` / ``ci_hm`` | CIMD's combined score / the true harmonic mean | CIMD 2023 | [0, 1] |
| ``ddi_exp`` / ``ddi_gen`` | Diversity Divergence Index, eqs. 6–7 verbatim | SSB paper | [0, 6] |
| ``hm_iou`` | Hungarian-matched IoU over lcm(N, M) copies | CCDM 2023 | [0, 1] |

Optional shape figures (:mod:`.shape`): ``one_region`` (share of non-empty candidates that are one region without
holes), ``empty`` (share of empty candidates), ``area_ratio`` (median candidate area / median reader area).

Conventions: Dice(empty, empty) = IoU(empty, empty) = 1; readers who did not annotate are dropped
(``absent_readers="exclude"``, the default) or counted as empty masks (``"empty"``, Kohl et al. 2018), and every
result records which. ``docs/metrics.md`` has the formulas in full and the inter-reader reference figures.

Modules: :mod:`.masks` (input checks, conventions), :mod:`.overlap` (pairwise Dice/IoU), :mod:`.ged`,
:mod:`.cimd`, :mod:`.ddi`, :mod:`.hm_iou` (one metric family each), :mod:`.shape` (does a mask look like a reader's), :mod:`.image_metrics` (all of them for one
image), :mod:`.dataset_metrics` and :mod:`.accumulator` (over a dataset), :mod:`.inter_reader` (the readers'
own disagreement).
"""

from __future__ import annotations

from ssb_core.metrics.accumulator import MetricsAccumulator
from ssb_core.metrics.cimd import ci_score, combined_sensitivity, diversity_agreement, harmonic_mean3, max_dice_matching
from ssb_core.metrics.dataset_metrics import ROW_METRIC_NAMES, DatasetMetrics
from ssb_core.metrics.ddi import DDI, ddi_from_dice_matrix, diversity_divergence_index
from ssb_core.metrics.ged import GEDTerms, ged_terms, generalized_energy_distance
from ssb_core.metrics.hm_iou import hungarian_matched_iou
from ssb_core.metrics.image_metrics import HIGHER_IS_BETTER, METRIC_NAMES, ImageMetrics, image_metrics
from ssb_core.metrics.inter_reader import INTER_READER_PROTOCOL, inter_reader_dataset, inter_reader_image
from ssb_core.metrics.masks import ABSENT_READER_CONVENTIONS, as_mask_set, as_reader_present, select_readers
from ssb_core.metrics.overlap import PairwiseOverlaps, pairwise_dice, pairwise_iou, pairwise_overlaps
from ssb_core.metrics.shape import (
    SHAPE_HIGHER_IS_BETTER,
    SHAPE_METRIC_NAMES,
    MaskSetShape,
    count_regions,
    has_holes,
    mask_set_shape,
    one_region_without_holes,
    reader_shape_metrics,
    shape_metrics,
    size_ratio,
)

__all__ = [
    "ABSENT_READER_CONVENTIONS", "DDI", "DatasetMetrics", "GEDTerms", "HIGHER_IS_BETTER", "INTER_READER_PROTOCOL",
    "ImageMetrics", "METRIC_NAMES", "MaskSetShape", "MetricsAccumulator", "PairwiseOverlaps", "ROW_METRIC_NAMES",
    "SHAPE_HIGHER_IS_BETTER", "SHAPE_METRIC_NAMES", "as_mask_set", "as_reader_present",
    "ci_score", "combined_sensitivity", "count_regions", "ddi_from_dice_matrix", "diversity_agreement",
    "diversity_divergence_index", "ged_terms", "generalized_energy_distance", "harmonic_mean3", "has_holes",
    "hungarian_matched_iou", "image_metrics", "inter_reader_dataset", "inter_reader_image", "mask_set_shape",
    "max_dice_matching", "one_region_without_holes", "pairwise_dice", "pairwise_iou", "pairwise_overlaps",
    "reader_shape_metrics", "select_readers", "shape_metrics", "size_ratio",
]
