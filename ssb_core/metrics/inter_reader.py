"""What disagreement between radiologists looks like, in the same metrics: readers scored against each other.

Per image with M >= 2 readers who annotated:

- **leave-one-reader-out** (GED, D_max, S_c, D_A, CI, HM-IoU): each reader i in turn plays a "model" with one
  sample (N = 1), scored against the other M - 1 readers; the values are averaged over i. This is the score a
  method would get by always answering like one real radiologist.
- **readers as samples** (D_DDI^exp, D_DDI^gen): the readers' own Dice matrix (N = M, samples = readers), i.e.
  the D_DDI of a method whose candidates were exactly the readers' masks. (Leave-one-out gives N = 1, where the
  expert distributions are single points and D_DDI^exp is always 0, so it would say nothing.)

Images with fewer than two readers are skipped (there is no disagreement to measure).
"""

from __future__ import annotations

import logging

import numpy as np

from ssb_core.metrics.dataset_metrics import DatasetMetrics
from ssb_core.metrics.image_metrics import METRIC_NAMES, image_metrics

__all__ = ["inter_reader_image", "inter_reader_dataset"]

logger = logging.getLogger(__name__)


def inter_reader_image(readers: object, reader_present: object | None = None) -> dict | None:
    """Inter-reader metrics of one image (see the module docstring); None when fewer than 2 readers annotated.

    Args:
        readers: (M, H, W[, D]) binary reader masks.
        reader_present: bool (M,); None = all present.
    """
    masks = np.asarray(readers)
    present = np.ones(masks.shape[0], bool) if reader_present is None else np.asarray(reader_present, bool)
    if present.shape != (masks.shape[0],):
        raise ValueError(f"reader_present must have shape ({masks.shape[0]},), got {present.shape}")
    masks = masks[present]
    m = masks.shape[0]
    if m < 2:
        return None
    loo = [image_metrics(masks[i : i + 1], np.delete(masks, i, axis=0)).to_dict() for i in range(m)]
    row = {name: float(np.mean([r[name] for r in loo])) for name in METRIC_NAMES}
    as_samples = image_metrics(masks, masks)
    row["ddi_exp"], row["ddi_gen"] = as_samples.ddi_exp, as_samples.ddi_gen
    row["num_samples"], row["num_readers"] = 1, m - 1
    return row


def inter_reader_dataset(masks: np.ndarray, reader_present: np.ndarray | None = None, case_ids: list[str] | None = None,
                         method: str = "readers vs readers") -> DatasetMetrics:
    """:func:`inter_reader_image` over a dataset: ``masks`` (S, R, H, W), ``reader_present`` (S, R)."""
    result = DatasetMetrics(method=method, settings={"protocol": "leave-one-reader-out; D_DDI with readers as samples",
                                                     "absent_readers": "exclude", "ged_unbiased": False})
    skipped = 0
    for k in range(masks.shape[0]):
        row = inter_reader_image(masks[k], None if reader_present is None else reader_present[k])
        if row is None:
            skipped += 1
            continue
        result.per_image.append({"case_id": case_ids[k] if case_ids else str(k), **row})
    if skipped:
        logger.info("inter-reader: skipped %d image(s) with fewer than two readers", skipped)
    return result
