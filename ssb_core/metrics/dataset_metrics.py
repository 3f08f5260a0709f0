"""One method's results over a dataset: per-image values with their conventions and provenance; statistics.

A :class:`DatasetMetrics` is the one results container of the project: the metrics package's accumulator and
inter-reader helper fill it, the evaluation loop (:mod:`ssb_core.evaluation.runner`) returns one per method x
NFE x absent-reader convention, ``results.json`` stores its :meth:`~DatasetMetrics.to_dict` per row, and the
tables (:mod:`ssb_core.evaluation.report`) render it. Means and standard deviations run over the images and
skip NaN (D_DDI is undefined for images with fewer than two readers or samples); :meth:`DatasetMetrics.count`
says how many images entered a mean. The standard deviation is the population one (ddof = 0) over images.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ssb_core.metrics.image_metrics import METRIC_NAMES, ImageMetrics
from ssb_core.metrics.masks import DEFAULT_ABSENT_READERS, check_absent_readers, check_threshold
from ssb_core.metrics.shape import SHAPE_METRIC_NAMES

__all__ = ["DatasetMetrics", "TIME_KEY", "ROW_METRIC_NAMES", "PRESENCE_KEY"]

TIME_KEY = "time_per_image_s"
"""The summary key of the mean sampling time, the mean of the per-image ``time_s`` values."""

PRESENCE_KEY = "marked"
"""The per-image share of candidates whose reader marks the lesion, for a method that predicts presence apart
(:mod:`ssb_core.presence`); 1 minus it is the share emptied for that."""

ROW_METRIC_NAMES = METRIC_NAMES + SHAPE_METRIC_NAMES + (PRESENCE_KEY,)
"""What a row's images may hold: the overlap metrics (:data:`METRIC_NAMES`), then the optional shape figures
(:data:`~ssb_core.metrics.shape.SHAPE_METRIC_NAMES`) and :data:`PRESENCE_KEY`, in table order."""


def _check_metric_names(metrics: Sequence[str]) -> tuple[str, ...]:
    unknown = [m for m in metrics if m not in ROW_METRIC_NAMES]
    if unknown:
        raise ValueError(f"metrics: expected names from {ROW_METRIC_NAMES}, got {unknown}")
    return tuple(metrics)


def _nan_stat(values: np.ndarray, stat: Any) -> float:
    v = values[~np.isnan(values)]
    return float(stat(v)) if v.size else float("nan")


@dataclass
class DatasetMetrics:
    """Per-image metrics of one method on one dataset, with the conventions and provenance of the numbers.

    The field names are those of a ``results.json`` row (:meth:`to_dict` / :meth:`from_dict`).

    Attributes:
        name: the method's name (the first column of the tables).
        nfe, num_candidates, seed: what was sampled (None where it does not apply, e.g. the readers' row).
        absent_reader: ``"exclude"`` or ``"empty"``: how readers who did not annotate were treated.
        per_case: one dict per image: ``case_id``, the metrics (a subset of ``METRIC_NAMES`` when only some were
            asked, and the shape figures when asked: :data:`ROW_METRIC_NAMES`), and whatever the producer records
            (``patient_id``, ``num_readers``, sampling ``time_s`` ...).
        settings: anything else worth recording (sampler settings, protocol, ...).
        checkpoint_sha256, dataset_sha256: SHA-256 of the weights and of the data file (None where unknown).
        ged_unbiased: False = biased GED (full N×N and M×M means), True = means over i != j.
        threshold: the binarisation threshold of the candidates (None = they were binary).
    """

    name: str
    nfe: int | None = None
    num_candidates: int | None = None
    seed: int | None = None
    absent_reader: str = DEFAULT_ABSENT_READERS
    per_case: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    checkpoint_sha256: str | None = None
    dataset_sha256: str | None = None
    ged_unbiased: bool = False
    threshold: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: expected a non-empty method name, got {self.name!r}")
        check_absent_readers(self.absent_reader)
        self.threshold = check_threshold(self.threshold)
        if not isinstance(self.ged_unbiased, bool):
            raise TypeError(f"ged_unbiased: expected a bool, got {type(self.ged_unbiased).__name__}")

    def __len__(self) -> int:
        return len(self.per_case)

    def append(self, metrics: ImageMetrics, case_id: str | None = None, **extra: Any) -> dict[str, Any]:
        """Add one image's metrics (plus ``extra`` fields); their conventions must be this result's (mixing would
        make the mean meaningless). Returns the row appended to :attr:`per_case`."""
        if metrics.absent_readers != self.absent_reader or metrics.ged_unbiased != self.ged_unbiased:
            raise ValueError(
                f"expected metrics computed with absent_readers={self.absent_reader!r}, ged_unbiased={self.ged_unbiased}, "
                f"got absent_readers={metrics.absent_readers!r}, ged_unbiased={metrics.ged_unbiased}"
            )
        row_id = str(len(self.per_case)) if case_id is None else str(case_id)
        self.per_case.append({"case_id": row_id, **metrics.to_dict(), **extra})
        return self.per_case[-1]

    # ---- statistics ------------------------------------------------------------------------------------------
    def _column(self, key: str) -> np.ndarray:
        return np.array([row.get(key, np.nan) for row in self.per_case], dtype=np.float64)

    def values(self, name: str) -> np.ndarray:
        """Per-image values of one metric, (num_images,) float64, NaN kept (and where an image lacks it)."""
        _check_metric_names([name])
        return self._column(name)

    def count(self, name: str) -> int:
        """Images whose value of ``name`` is defined (not NaN)."""
        return int((~np.isnan(self.values(name))).sum())

    def mean(self, name: str) -> float:
        """Mean over images, NaN skipped; NaN when no image has a value."""
        return _nan_stat(self.values(name), np.mean)

    def median(self, name: str) -> float:
        """Median over images, NaN skipped (D_DDI's per-image values are heavy-tailed: report both)."""
        return _nan_stat(self.values(name), np.median)

    def std(self, name: str) -> float:
        """Population standard deviation (ddof = 0) over images, NaN skipped."""
        return _nan_stat(self.values(name), np.std)

    @property
    def summary(self) -> dict[str, float]:
        """The mean of every metric some image has (in :data:`ROW_METRIC_NAMES` order), then :data:`TIME_KEY` when timed."""
        keys = {k for row in self.per_case for k in row}
        out = {name: self.mean(name) for name in ROW_METRIC_NAMES if name in keys}
        if "time_s" in keys:
            out[TIME_KEY] = _nan_stat(self._column("time_s"), np.mean)
        return out

    def conventions(self) -> dict[str, Any]:
        """The conventions behind the numbers."""
        return {"absent_readers": self.absent_reader, "ged_unbiased": self.ged_unbiased, "threshold": self.threshold}

    def describe_conventions(self) -> str:
        """One line for a table caption, e.g. ``absent readers excluded; GED biased (full matrices), d = 1 - IoU``."""
        readers = "absent readers excluded" if self.absent_reader == "exclude" else "absent readers = empty masks (Kohl et al. 2018)"
        ged = "GED unbiased (i != j)" if self.ged_unbiased else "GED biased (full matrices, PhiSeg/CCDM)"
        thr = "" if self.threshold is None else f"; masks = p > {self.threshold:g}"
        return f"{readers}; {ged}, d = 1 - IoU, reported without square root{thr}"

    # ---- serialisation ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A ``results.json`` row: the fields, plus the :attr:`summary` (written for readers of the file)."""
        return {**asdict(self), "summary": self.summary}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> DatasetMetrics:
        """Inverse of :meth:`to_dict` (the stored summary is recomputed from ``per_case``; null values read as NaN)."""
        fields = {k: v for k, v in row.items() if k != "summary"}
        fields["per_case"] = [{k: (float("nan") if v is None and k in ROW_METRIC_NAMES else v) for k, v in r.items()}
                              for r in fields.get("per_case", [])]
        return cls(**fields)

    def copy(self) -> DatasetMetrics:
        return copy.deepcopy(self)
