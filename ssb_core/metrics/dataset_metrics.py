"""Metrics over a dataset: accumulate per image, then mean, std and per-image values, as JSON or a table row."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from ssb_core.metrics.image_metrics import METRIC_NAMES, ImageMetrics, image_metrics

__all__ = ["DatasetMetrics", "MetricsAccumulator", "markdown_header"]

_TABLE_NAMES = {"ged": "GED ↓", "d_max": "D_max ↑", "s_c": "S_c ↑", "d_a": "D_A ↑", "ci": "CI ↑", "ci_hm": "CI (HM) ↑",
                "ddi_exp": "D_DDI^exp", "ddi_gen": "D_DDI^gen", "hm_iou": "HM-IoU ↑"}


@dataclass
class DatasetMetrics:
    """Per-image metrics of one method on one dataset, with the conventions they were computed under.

    Attributes:
        method: a name for the table.
        settings: conventions and sampling settings (``absent_readers``, ``ged_unbiased``, ``threshold``, N, NFE, ...).
        per_image: one dict per image (the :class:`ImageMetrics` fields plus ``case_id``).
    """

    method: str
    settings: dict = field(default_factory=dict)
    per_image: list[dict] = field(default_factory=list)

    def values(self, name: str) -> np.ndarray:
        return np.array([row[name] for row in self.per_image], dtype=np.float64)

    def mean(self, name: str) -> float:
        """Mean over images, ignoring NaN (D_DDI is NaN for images with fewer than two readers)."""
        v = self.values(name)
        v = v[~np.isnan(v)]
        return float(v.mean()) if v.size else float("nan")

    def std(self, name: str) -> float:
        v = self.values(name)
        v = v[~np.isnan(v)]
        return float(v.std()) if v.size else float("nan")

    def summary(self) -> dict:
        """``{metric: {"mean", "std", "n"}}`` for every metric."""
        return {
            name: {"mean": self.mean(name), "std": self.std(name), "n": int((~np.isnan(self.values(name))).sum())}
            for name in METRIC_NAMES
        }

    def to_json(self, **kwargs: object) -> str:
        """JSON with the method, settings, summary and per-image values (NaN written as null)."""

        def clean(x: object) -> object:
            if isinstance(x, float) and math.isnan(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list):
                return [clean(v) for v in x]
            return x

        doc = {"method": self.method, "settings": self.settings, "summary": self.summary(), "per_image": self.per_image}
        return json.dumps(clean(doc), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> "DatasetMetrics":
        doc = json.loads(text)
        rows = [{k: (float("nan") if v is None else v) for k, v in row.items()} for row in doc["per_image"]]
        return cls(method=doc["method"], settings=doc.get("settings", {}), per_image=rows)

    def markdown_row(self, extra: dict | None = None, metrics: tuple[str, ...] = METRIC_NAMES) -> str:
        """``| method | extra... | mean ± std ... |``; pair it with :func:`markdown_header` (same ``extra`` keys)."""
        cells = [self.method, *[str(v) for v in (extra or {}).values()]]
        for name in metrics:
            m, s = self.mean(name), self.std(name)
            cells.append("–" if math.isnan(m) else f"{m:.3f} ± {s:.3f}")
        return "| " + " | ".join(cells) + " |"


def markdown_header(extra: tuple[str, ...] = (), metrics: tuple[str, ...] = METRIC_NAMES) -> str:
    """Header and separator lines of the table :meth:`DatasetMetrics.markdown_row` fills."""
    names = ["method", *extra, *[_TABLE_NAMES[m] for m in metrics]]
    return "| " + " | ".join(names) + " |\n|" + "---|" * len(names)


class MetricsAccumulator:
    """Add images one by one; ``result()`` gives the :class:`DatasetMetrics`.

    Args:
        method: the table name.
        absent_readers: ``"exclude"`` or ``"empty"`` (recorded in the result).
        threshold: binarisation threshold for probabilities (None = inputs must be binary).
        ged_unbiased: GED's within-set means over i != j.
        settings: anything else to record (N, NFE, seed, ...).
    """

    def __init__(self, method: str, absent_readers: str = "exclude", threshold: float | None = None,
                 ged_unbiased: bool = False, settings: dict | None = None) -> None:
        if absent_readers not in ("exclude", "empty"):
            raise ValueError(f"absent_readers must be 'exclude' or 'empty', got {absent_readers!r}")
        self._kwargs = {"absent_readers": absent_readers, "threshold": threshold, "ged_unbiased": ged_unbiased}
        self._result = DatasetMetrics(method=method, settings={**self._kwargs, **(settings or {})})

    def add(self, samples: object, readers: object, reader_present: object | None = None, case_id: str | None = None) -> ImageMetrics:
        """Score one image (see :func:`~ssb_core.metrics.image_metrics.image_metrics`) and keep its values."""
        metrics = image_metrics(samples, readers, reader_present, **self._kwargs)
        row = {"case_id": case_id if case_id is not None else str(len(self._result.per_image)), **metrics.to_dict()}
        self._result.per_image.append(row)
        return metrics

    def result(self) -> DatasetMetrics:
        return self._result
