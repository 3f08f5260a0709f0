"""The bridge between the evaluation loop and :mod:`ssb_core.metrics` (no metric is computed here).

- :class:`CaseScorer` scores one image at a time with :class:`ssb_core.metrics.MetricsAccumulator` (every
  metric), or, when only GED and/or D_max are asked (the cheap validation during training), with the metrics
  package's functions for those two alone.
- :func:`inter_reader_scores` is the readers' leave-one-out reference (:func:`ssb_core.metrics.inter_reader_image`).
- :func:`metric_conventions` states the conventions the numbers were computed under (written to the JSON), and
  :data:`SHAPE_CONVENTIONS` those of the optional shape figures (:mod:`ssb_core.metrics.shape`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ssb_core.metrics import METRIC_NAMES, MetricsAccumulator, as_mask_set, generalized_energy_distance, inter_reader_image, max_dice_matching, select_readers

__all__ = ["ABSENT_READER_CONVENTIONS", "CaseScorer", "SHAPE_CONVENTIONS", "inter_reader_scores", "metric_conventions"]

ABSENT_READER_CONVENTIONS = ("exclude", "empty")
_CHEAP = {"ged": generalized_energy_distance, "d_max": max_dice_matching}

SHAPE_CONVENTIONS = (
    "one_region: share of an image's non-empty candidates that are one region (8-connected) without holes (background "
    "not connected to the bounding box's border), NaN when all are empty; empty: share of empty candidates; "
    "area_ratio: median area of the non-empty candidates / median area of the present readers' non-empty masks, NaN "
    "when either has none; each averaged over the images where defined; the readers' row: one_region and empty of "
    "the present readers' masks on its images (two readers or more)"
)


class CaseScorer:
    """Accumulate per-image metrics (the rows of a :class:`ssb_core.metrics.DatasetMetrics`).

    Args:
        metric_names: the metrics to keep (None = all of :data:`ssb_core.metrics.METRIC_NAMES`).
        absent_reader: ``exclude`` or ``empty`` (see :func:`ssb_core.metrics.image_metrics`).
    """

    def __init__(self, metric_names: Sequence[str] | None, absent_reader: str) -> None:
        names = tuple(metric_names) if metric_names is not None else METRIC_NAMES
        unknown = sorted(set(names) - set(METRIC_NAMES))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; expected names from {METRIC_NAMES}")
        self.names = names
        self.absent_reader = absent_reader
        self.cheap = set(names) <= set(_CHEAP)
        self.accumulator = MetricsAccumulator("evaluation", absent_readers=absent_reader)
        self.per_case: list[dict[str, Any]] = []

    def add(self, candidates: np.ndarray, masks: np.ndarray, present: np.ndarray) -> dict[str, Any]:
        """Score one image: ``candidates`` (N, H, W) bool, ``masks`` (R, H, W) {0,1}, ``present`` (R,) bool.

        Returns the record appended to ``per_case``: the asked metrics plus ``num_samples`` and ``num_readers``
        (M after the absent-reader convention).
        """
        if self.cheap:
            s = as_mask_set(candidates, "candidates")
            y = select_readers(as_mask_set(masks, "readers"), present, self.absent_reader)
            record: dict[str, Any] = {name: float(_CHEAP[name](s, y)) for name in self.names}
            record.update(num_samples=int(s.shape[0]), num_readers=int(y.shape[0]))
        else:
            full = self.accumulator.add(candidates, masks, present).to_dict()
            record = {name: float(full[name]) for name in self.names}
            record.update(num_samples=full["num_samples"], num_readers=full["num_readers"])
        self.per_case.append(record)
        return record


def inter_reader_scores(masks: np.ndarray, present: np.ndarray, absent_reader: str) -> dict[str, Any] | None:
    """Leave-one-reader-out metrics of one image; None with fewer than two readers.

    ``exclude``: the readers present on the image; ``empty``: the present readers play the model, and the
    reference keeps the absent slots as empty masks (see :func:`ssb_core.metrics.inter_reader_image`).
    """
    row = inter_reader_image(masks, present, absent_readers=absent_reader)
    if row is None:
        return None
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in row.items()}


def metric_conventions(absent_reader: str) -> dict[str, str]:
    """The conventions behind the numbers, for the JSON and the markdown notes."""
    return {
        "absent_reader": absent_reader
        + (" (absent readers left out)" if absent_reader == "exclude" else " (absent readers = empty masks, Kohl et al. 2018)"),
        "ged": "squared energy distance with d = 1 - IoU, biased form (full N x N and M x M means), as PhiSeg/CCDM tabulate it",
        "empty_masks": "Dice(empty, empty) = IoU(empty, empty) = 1",
        "ci": "CIMD's 3 S_c D_max D_A / (S_c + D_max + D_A); ci_hm is the true harmonic mean",
        "readers_row": "each reader against the others (leave-one-reader-out); D_DDI with the readers as samples",
    }
