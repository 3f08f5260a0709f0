"""Score a dataset image by image: :class:`MetricsAccumulator`.

    acc = MetricsAccumulator("SSB, NFE 50", absent_readers="exclude", settings={"N": 16, "nfe": 50})
    for samples, readers, present, case_id in data:
        acc.add(samples, readers, present, case_id=case_id)
    res = acc.result()              # DatasetMetrics
    print(results_table([res], spread=True))   # ssb_core.evaluation.report

The conventions (absent readers, GED estimator, threshold) are fixed when the accumulator is built, checked
there, applied to every image and recorded in the result.
"""

from __future__ import annotations

import logging
from typing import Any

from ssb_core.metrics.dataset_metrics import DatasetMetrics
from ssb_core.metrics.image_metrics import ImageMetrics, image_metrics
from ssb_core.metrics.masks import DEFAULT_ABSENT_READERS

__all__ = ["MetricsAccumulator"]

logger = logging.getLogger(__name__)

_RESERVED = ("absent_readers", "ged_unbiased", "threshold")


class MetricsAccumulator:
    """Add images one by one; :meth:`result` gives the :class:`DatasetMetrics`.

    Args:
        method: the name for the table.
        absent_readers: ``"exclude"`` (default) or ``"empty"`` (see :mod:`ssb_core.metrics.masks`).
        threshold: binarisation threshold for probabilities, in [0, 1) (None = inputs must be binary).
        ged_unbiased: GED's within-set means over i != j (default False: the biased PhiSeg/CCDM form).
        settings: anything else to record (N, NFE, seed, ...); it may not restate the three conventions above.

    Raises:
        ValueError / TypeError: an unknown convention, a bad threshold, or ``settings`` that restate a convention.
    """

    def __init__(
        self,
        method: str = "method",
        absent_readers: str = DEFAULT_ABSENT_READERS,
        threshold: float | None = None,
        ged_unbiased: bool = False,
        settings: dict[str, Any] | None = None,
    ) -> None:
        clashes = [k for k in _RESERVED if k in (settings or {})]
        if clashes:
            raise ValueError(f"settings: expected no key among {_RESERVED} (pass them as arguments), got {clashes}")
        self._result = DatasetMetrics(
            name=method,
            absent_reader=absent_readers,
            ged_unbiased=ged_unbiased,
            threshold=threshold,
            settings=dict(settings or {}),
        )

    def __len__(self) -> int:
        return len(self._result)

    @property
    def absent_readers(self) -> str:
        return self._result.absent_reader

    def add(self, samples: object, readers: object, reader_present: object | None = None, case_id: str | None = None) -> ImageMetrics:
        """Score one image (see :func:`~ssb_core.metrics.image_metrics.image_metrics`), keep and return its metrics.

        Args:
            samples: generated masks (N, H, W[, D]).
            readers: reader masks (M, H, W[, D]).
            reader_present: bool (M,), None = all readers annotated.
            case_id: an identifier for the per-image table (default: the running index).
        """
        r = self._result
        metrics = image_metrics(samples, readers, reader_present, r.absent_reader, r.threshold, r.ged_unbiased)
        r.append(metrics, case_id)
        logger.debug("%s: image %s: %s", r.name, r.per_case[-1]["case_id"], metrics.metrics())
        return metrics

    def result(self) -> DatasetMetrics:
        """A snapshot of the results so far (later :meth:`add` calls do not change it)."""
        return self._result.copy()
