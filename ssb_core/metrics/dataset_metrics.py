"""Metrics over a dataset: per-image values with their conventions; mean, std, JSON and a markdown table row.

A :class:`DatasetMetrics` holds one method's per-image :class:`~ssb_core.metrics.image_metrics.ImageMetrics`
rows and the conventions they share (absent readers, GED estimator, threshold). Means and standard deviations
run over the images and skip NaN (D_DDI is undefined for images with fewer than two readers or samples);
:meth:`DatasetMetrics.summary` says how many images entered each mean. The standard deviation is the
population one (ddof = 0) over images.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ssb_core.metrics.image_metrics import HIGHER_IS_BETTER, METRIC_NAMES, ImageMetrics
from ssb_core.metrics.masks import DEFAULT_ABSENT_READERS, check_absent_readers, check_threshold

__all__ = ["DatasetMetrics", "JSON_FORMAT", "TABLE_NAMES", "markdown_header"]

JSON_FORMAT = "ssb_core.metrics.DatasetMetrics/1"

TABLE_NAMES = {
    "ged": "GED", "d_max": "D_max", "s_c": "S_c", "d_a": "D_A", "ci": "CI", "ci_hm": "CI (HM)",
    "ddi_exp": "D_DDI^exp", "ddi_gen": "D_DDI^gen", "hm_iou": "HM-IoU",
}
"""Column titles of the markdown table (an arrow for the better direction is appended)."""


def _check_metric_names(metrics: Sequence[str]) -> tuple[str, ...]:
    unknown = [m for m in metrics if m not in METRIC_NAMES]
    if unknown:
        raise ValueError(f"metrics: expected names from {METRIC_NAMES}, got {unknown}")
    return tuple(metrics)


def markdown_header(extra_columns: Sequence[str] = (), metrics: Sequence[str] = METRIC_NAMES) -> str:
    """Header and separator lines of the table that :meth:`DatasetMetrics.markdown_row` fills.

    Columns: ``method``, then ``extra_columns`` (e.g. ``("N", "NFE")``), then one per metric with ↑/↓.
    """
    metrics = _check_metric_names(metrics)
    names = ["method", *extra_columns, *[f"{TABLE_NAMES[m]} {'↑' if HIGHER_IS_BETTER[m] else '↓'}" for m in metrics]]
    return "| " + " | ".join(names) + " |\n|" + "---|" * len(names)


def _nan_to_none(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_nan_to_none(v) for v in x]
    return x


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


@dataclass
class DatasetMetrics:
    """Per-image metrics of one method on one dataset, with the conventions they were computed under.

    Attributes:
        method: the method's name (the first column of the table).
        absent_readers: ``"exclude"`` or ``"empty"``: how readers who did not annotate were treated.
        ged_unbiased: False = biased GED (full N×N and M×M means), True = means over i != j.
        threshold: the binarisation threshold of the inputs (None = they were binary).
        settings: anything else worth recording (N, NFE, seed, checkpoint, protocol, ...).
        per_image: one dict per image: ``case_id`` and the :class:`ImageMetrics` fields.
    """

    method: str
    absent_readers: str = DEFAULT_ABSENT_READERS
    ged_unbiased: bool = False
    threshold: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    per_image: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or not self.method:
            raise ValueError(f"method: expected a non-empty name, got {self.method!r}")
        check_absent_readers(self.absent_readers)
        self.threshold = check_threshold(self.threshold)
        if not isinstance(self.ged_unbiased, bool):
            raise TypeError(f"ged_unbiased: expected a bool, got {type(self.ged_unbiased).__name__}")

    def __len__(self) -> int:
        return len(self.per_image)

    def append(self, metrics: ImageMetrics, case_id: str | None = None) -> None:
        """Add one image's metrics; their conventions must be this result's (mixing would make the mean meaningless)."""
        if metrics.absent_readers != self.absent_readers or metrics.ged_unbiased != self.ged_unbiased:
            raise ValueError(
                f"expected metrics computed with absent_readers={self.absent_readers!r}, ged_unbiased={self.ged_unbiased}, "
                f"got absent_readers={metrics.absent_readers!r}, ged_unbiased={metrics.ged_unbiased}"
            )
        row_id = str(len(self.per_image)) if case_id is None else str(case_id)
        self.per_image.append({"case_id": row_id, **metrics.to_dict()})

    # ---- statistics ------------------------------------------------------------------------------------------
    def values(self, name: str) -> np.ndarray:
        """Per-image values of one metric, (num_images,) float64, NaN kept."""
        _check_metric_names([name])
        return np.array([row[name] for row in self.per_image], dtype=np.float64)

    def count(self, name: str) -> int:
        """Images whose value of ``name`` is defined (not NaN)."""
        return int((~np.isnan(self.values(name))).sum())

    def mean(self, name: str) -> float:
        """Mean over images, NaN skipped; NaN when no image has a value."""
        v = self.values(name)
        v = v[~np.isnan(v)]
        return float(v.mean()) if v.size else float("nan")

    def median(self, name: str) -> float:
        """Median over images, NaN skipped (D_DDI's per-image values are heavy-tailed: report both)."""
        v = self.values(name)
        v = v[~np.isnan(v)]
        return float(np.median(v)) if v.size else float("nan")

    def std(self, name: str) -> float:
        """Population standard deviation (ddof = 0) over images, NaN skipped."""
        v = self.values(name)
        v = v[~np.isnan(v)]
        return float(v.std()) if v.size else float("nan")

    def summary(self) -> dict[str, dict[str, float | int]]:
        """``{metric: {"mean", "std", "n"}}`` for every metric (``n`` = images that entered the mean)."""
        return {name: {"mean": self.mean(name), "std": self.std(name), "n": self.count(name)} for name in METRIC_NAMES}

    def conventions(self) -> dict[str, Any]:
        """The conventions behind the numbers, as recorded in the JSON."""
        return {"absent_readers": self.absent_readers, "ged_unbiased": self.ged_unbiased, "threshold": self.threshold}

    def describe_conventions(self) -> str:
        """One line for a table caption, e.g. ``absent readers excluded; GED biased (full matrices), d = 1 - IoU``."""
        readers = "absent readers excluded" if self.absent_readers == "exclude" else "absent readers = empty masks (Kohl et al. 2018)"
        ged = "GED unbiased (i != j)" if self.ged_unbiased else "GED biased (full matrices, PhiSeg/CCDM)"
        thr = "" if self.threshold is None else f"; masks = p > {self.threshold:g}"
        return f"{readers}; {ged}, d = 1 - IoU, reported without square root{thr}"

    # ---- serialisation ---------------------------------------------------------------------------------------
    def to_json(self, **json_kwargs: Any) -> str:
        """JSON with the method, conventions, settings, summary and per-image values (NaN written as null)."""
        doc = {
            "format": JSON_FORMAT,
            "method": self.method,
            "conventions": self.conventions(),
            "settings": self.settings,
            "summary": self.summary(),
            "per_image": self.per_image,
        }
        return json.dumps(_nan_to_none(doc), default=_json_default, **json_kwargs)

    @classmethod
    def from_json(cls, text: str) -> DatasetMetrics:
        """Inverse of :meth:`to_json` (null metric values come back as NaN)."""
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("format") != JSON_FORMAT:
            got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
            raise ValueError(f"expected a JSON document with format {JSON_FORMAT!r}, got {got!r}")
        rows = [{k: (float("nan") if v is None and k in METRIC_NAMES else v) for k, v in row.items()} for row in doc["per_image"]]
        conv = doc["conventions"]
        return cls(
            method=doc["method"],
            absent_readers=conv["absent_readers"],
            ged_unbiased=conv["ged_unbiased"],
            threshold=conv["threshold"],
            settings=doc.get("settings", {}),
            per_image=rows,
        )

    def copy(self) -> DatasetMetrics:
        return copy.deepcopy(self)

    # ---- table -----------------------------------------------------------------------------------------------
    @staticmethod
    def markdown_header(extra_columns: Sequence[str] = (), metrics: Sequence[str] = METRIC_NAMES) -> str:
        """Same as the module-level :func:`markdown_header`."""
        return markdown_header(extra_columns, metrics)

    def markdown_row(
        self,
        method_name: str | None = None,
        extra_columns: Mapping[str, object] | Sequence[object] | None = None,
        metrics: Sequence[str] = METRIC_NAMES,
        digits: int = 3,
    ) -> str:
        """``| method | extra... | mean ± std | ... |``, to go under :func:`markdown_header`.

        Args:
            method_name: the first cell (default: :attr:`method`).
            extra_columns: the values of the header's extra columns, in order (a mapping's values, or a sequence).
            metrics: which metric columns (must match the header's).
            digits: decimals. Undefined means (no image with a value) are written ``–``.
        """
        metrics = _check_metric_names(metrics)
        extras = list(extra_columns.values()) if isinstance(extra_columns, Mapping) else list(extra_columns or ())
        cells = [method_name if method_name is not None else self.method, *[str(v) for v in extras]]
        for name in metrics:
            m, s = self.mean(name), self.std(name)
            cells.append("–" if math.isnan(m) else f"{m:.{digits}f} ± {s:.{digits}f}")
        return "| " + " | ".join(cells) + " |"
