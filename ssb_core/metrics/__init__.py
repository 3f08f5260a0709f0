"""Metrics for ambiguous segmentation: generated masks (N, H, W[, D]) against reader masks (M, H, W[, D]).

| name | meaning | reference | range |
| --- | --- | --- | --- |
| ``ged`` | generalised energy distance, d = 1 - IoU (biased by default) | Kohl 2018, PhiSeg 2019 | [0, 2], lower better |
| ``d_max`` | mean over readers of the best Dice among the samples | CIMD 2023 | [0, 1] |
| ``s_c`` | sensitivity of the samples' union to the readers' union | CIMD 2023 | [0, 1] |
| ``d_a`` | diversity agreement (pairwise-difference variances) | CIMD 2023 | [0, 1] |
| ``ci`` / ``ci_hm`` | CIMD's combined score / the true harmonic mean | CIMD 2023 | [0, 1] |
| ``ddi_exp`` / ``ddi_gen`` | Diversity Divergence Index, eqs. 6–7 verbatim | SSB paper | [0, 6] |
| ``hm_iou`` | Hungarian-matched IoU over lcm(N, M) copies | CCDM 2023 | [0, 1] |

Conventions: Dice(empty, empty) = IoU(empty, empty) = 1; readers who did not annotate are dropped
(``absent_readers="exclude"``) or counted as empty masks (``"empty"``), and every result records which.
``docs/metrics.md`` has the formulas in full.
"""

from __future__ import annotations

from ssb_core.metrics.cimd import ci_score, combined_sensitivity, diversity_agreement, harmonic_mean3, max_dice_matching
from ssb_core.metrics.dataset_metrics import DatasetMetrics, MetricsAccumulator, markdown_header
from ssb_core.metrics.ddi import ddi_from_dice_matrix, diversity_divergence_index
from ssb_core.metrics.image_metrics import HIGHER_IS_BETTER, METRIC_NAMES, ImageMetrics, image_metrics
from ssb_core.metrics.inter_reader import inter_reader_dataset, inter_reader_image
from ssb_core.metrics.iou_based import generalized_energy_distance, hungarian_matched_iou
from ssb_core.metrics.masks import as_mask_set, pairwise_dice, pairwise_iou, select_readers

__all__ = [
    "DatasetMetrics", "HIGHER_IS_BETTER", "ImageMetrics", "METRIC_NAMES", "MetricsAccumulator", "as_mask_set",
    "ci_score", "combined_sensitivity", "ddi_from_dice_matrix", "diversity_agreement", "diversity_divergence_index",
    "generalized_energy_distance", "harmonic_mean3", "hungarian_matched_iou", "image_metrics", "inter_reader_dataset",
    "inter_reader_image", "markdown_header", "max_dice_matching", "pairwise_dice", "pairwise_iou", "select_readers",
]
