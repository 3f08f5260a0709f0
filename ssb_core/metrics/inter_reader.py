"""What disagreement between radiologists looks like, in the same metrics: the readers scored against each other.

A model's numbers mean little without the human reference: how far apart are the radiologists themselves? For
one image with readers ``Y_1..Y_M`` (at least two of whom annotated), two protocols, each chosen for what it
can measure:

- **Leave-one-reader-out** (GED, D_max, S_c, D_A, CI, CI_HM, HM-IoU). Each present reader i in turn plays a
  "model" with a single sample, ``samples = {Y_i}``, scored against the reference ``readers = the others``;
  the values are averaged over i. This is the score of a method that always answers exactly like one real
  radiologist (N = 1): the floor a single "radiologist-like" answer reaches. It is *not* the best possible
  model score: a method that reproduces the whole distribution of readers does better on GED (it also earns
  the diversity term ``E[d(S, S')]``, which N = 1 cannot) and on D_max.
- **Readers as samples** (D_DDI^exp, D_DDI^gen). With N = 1 every expert distribution is a single point and
  D_DDI^exp is always 0, so leave-one-out says nothing. Instead ``samples = the present readers`` and
  ``readers = the reference set``: the D_DDI of a method whose candidates were exactly the readers' masks,
  i.e. the value a perfect reproduction of the readers would score. (With ``"exclude"`` the Dice matrix is
  then symmetric, so D_DDI^exp = D_DDI^gen.)

Absent readers (``reader_present`` false):

- ``"exclude"``: they take no part; the reference for reader i is the other present readers (M - 1 masks).
- ``"empty"`` (Kohl et al. 2018): the absent slots stay in the *reference* as empty masks, but only present
  readers play the model (an absent reader has no answer to give). The reference for reader i is then the other
  R - 1 slots of the image.

Images with fewer than two present readers are skipped (``None``): there is no disagreement to measure.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ssb_core.metrics.dataset_metrics import DatasetMetrics
from ssb_core.metrics.image_metrics import METRIC_NAMES, image_metrics
from ssb_core.metrics.masks import DEFAULT_ABSENT_READERS, as_mask_set, as_reader_present, check_absent_readers

__all__ = ["INTER_READER_PROTOCOL", "inter_reader_dataset", "inter_reader_image"]

logger = logging.getLogger(__name__)

INTER_READER_PROTOCOL = (
    "leave-one-reader-out (each present reader as a 1-sample model against the other readers, averaged) for "
    "GED, D_max, S_c, D_A, CI, CI_HM, HM-IoU; readers as samples (N = present readers) for D_DDI"
)

_LOO_METRICS = tuple(m for m in METRIC_NAMES if m not in ("ddi_exp", "ddi_gen"))


def inter_reader_image(
    readers: object,
    reader_present: object | None = None,
    absent_readers: str = DEFAULT_ABSENT_READERS,
    ged_unbiased: bool = False,
) -> dict[str, Any] | None:
    """Inter-reader metrics of one image (see the module docstring); None when fewer than 2 readers annotated.

    Args:
        readers: (R, H, W[, D]) binary reader masks (numpy or torch).
        reader_present: bool (R,); None = all present.
        absent_readers: ``"exclude"`` or ``"empty"``.
        ged_unbiased: GED estimator (biased by default).

    Returns:
        ``{metric: value}`` for every name of :data:`~ssb_core.metrics.METRIC_NAMES`, plus ``num_samples`` (1),
        ``num_readers`` (the reference size in leave-one-out), ``num_readers_present``, ``absent_readers`` and
        ``ged_unbiased``.
    """
    absent_readers = check_absent_readers(absent_readers)
    masks = as_mask_set(readers, "readers")
    present = as_reader_present(reader_present, masks.shape[0])
    present_idx = np.flatnonzero(present)
    if present_idx.size < 2:
        return None
    if absent_readers == "empty":
        reference = masks.copy()
        reference[~present] = False
    else:
        reference = masks[present]
        present_idx = np.arange(reference.shape[0])
    loo = []
    for i in present_idx:
        others = np.delete(reference, i, axis=0)
        loo.append(image_metrics(reference[i : i + 1], others, ged_unbiased=ged_unbiased))
    row: dict[str, Any] = {name: float(np.mean([m[name] for m in loo])) for name in _LOO_METRICS}
    as_samples = image_metrics(reference[present_idx], reference, ged_unbiased=ged_unbiased)
    row["ddi_exp"], row["ddi_gen"] = as_samples.ddi_exp, as_samples.ddi_gen
    row = {name: row[name] for name in METRIC_NAMES}
    row.update(
        num_samples=1,
        num_readers=int(reference.shape[0] - 1),
        num_readers_present=int(present.sum()),
        absent_readers=absent_readers,
        ged_unbiased=ged_unbiased,
    )
    return row


def inter_reader_dataset(
    masks: object,
    reader_present: object | None = None,
    case_ids: list[str] | None = None,
    method: str = "readers vs readers",
    absent_readers: str = DEFAULT_ABSENT_READERS,
    ged_unbiased: bool = False,
) -> DatasetMetrics:
    """:func:`inter_reader_image` over a dataset.

    Args:
        masks: (S, R, H, W[, D]) reader masks of S images.
        reader_present: (S, R) bool, None = all present.
        case_ids: S identifiers (default: the index).
        method: the table name.
        absent_readers, ged_unbiased: as in :func:`inter_reader_image`; recorded in the result.

    Returns:
        A :class:`DatasetMetrics` whose ``settings["protocol"]`` describes the protocol and
        ``settings["skipped_images"]`` counts the images with fewer than two present readers.
    """
    stack = np.asarray(masks.detach().cpu().numpy() if hasattr(masks, "detach") else masks)  # type: ignore[union-attr]
    if stack.ndim not in (4, 5):
        raise ValueError(f"masks: expected shape (S, R, H, W) or (S, R, H, W, D), got {tuple(stack.shape)}")
    present = None if reader_present is None else np.asarray(reader_present)
    if present is not None and present.shape != stack.shape[:2]:
        raise ValueError(f"reader_present: expected shape {tuple(stack.shape[:2])}, got {tuple(present.shape)}")
    if case_ids is not None and len(case_ids) != stack.shape[0]:
        raise ValueError(f"case_ids: expected {stack.shape[0]} identifiers, got {len(case_ids)}")
    result = DatasetMetrics(
        name=method,
        absent_reader=absent_readers,
        ged_unbiased=ged_unbiased,
        settings={"protocol": INTER_READER_PROTOCOL},
    )
    skipped = 0
    for k in range(stack.shape[0]):
        row = inter_reader_image(stack[k], None if present is None else present[k], absent_readers, ged_unbiased)
        if row is None:
            skipped += 1
            continue
        result.per_case.append({"case_id": str(case_ids[k]) if case_ids is not None else str(k), **row})
    result.settings["skipped_images"] = skipped
    if skipped:
        logger.info("inter-reader: skipped %d image(s) with fewer than two present readers", skipped)
    return result
