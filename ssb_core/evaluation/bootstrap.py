"""Paired bootstrap confidence intervals for the difference between two rows of a results table.

Two methods scored on the same images give one value per image each; the difference of their means is
resampled over images (the same resampled images for both, hence "paired"): percentile interval of
``mean(a[i] - b[i])`` over ``num_resamples`` draws of the image indices with replacement. Images where either
value is NaN (e.g. D_DDI with fewer than two readers) are left out of that metric's comparison.

A claim "A is better than B on metric m" is supported when the interval of ``A - B`` excludes 0 on the
metric's better side (:func:`supports`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ssb_core.metrics import HIGHER_IS_BETTER, SHAPE_HIGHER_IS_BETTER, SHAPE_METRIC_NAMES, DatasetMetrics

__all__ = ["PairedDifference", "paired_bootstrap", "compare_rows", "supports", "LOWER_IS_BETTER", "NO_BETTER_SIDE"]

LOWER_IS_BETTER = frozenset(m for m, higher in {**HIGHER_IS_BETTER, **SHAPE_HIGHER_IS_BETTER}.items() if not higher)
"""The metrics whose smaller value is better, read from :data:`ssb_core.metrics.HIGHER_IS_BETTER` and
:data:`~ssb_core.metrics.SHAPE_HIGHER_IS_BETTER` (any other metric counts as higher-is-better in :func:`supports`,
except those of :data:`NO_BETTER_SIDE`)."""
NO_BETTER_SIDE = frozenset(SHAPE_METRIC_NAMES) - set(SHAPE_HIGHER_IS_BETTER)
"""Shape figures without a better side (``empty``: right where the readers saw nothing; ``area_ratio``: best at 1):
:func:`supports` never claims on them."""


@dataclass(frozen=True)
class PairedDifference:
    """``mean(a - b)`` over ``n`` paired images with its ``confidence`` percentile interval [low, high]."""

    metric: str
    mean: float
    low: float
    high: float
    n: int
    confidence: float


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, metric: str = "", num_resamples: int = 10000,
                     confidence: float = 0.95, seed: int = 0) -> PairedDifference:
    """Interval of the mean paired difference ``a - b`` (arrays over the same images, in the same order)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"a and b must be 1-D and paired, got shapes {x.shape} and {y.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    keep = ~(np.isnan(x) | np.isnan(y))
    d = x[keep] - y[keep]
    if d.size == 0:
        return PairedDifference(metric, float("nan"), float("nan"), float("nan"), 0, confidence)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(num_resamples, d.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return PairedDifference(metric, float(d.mean()), float(low), float(high), int(d.size), confidence)


def compare_rows(a: DatasetMetrics, b: DatasetMetrics, metrics: Sequence[str] = ("ged", "d_max"),
                 **kwargs: object) -> list[PairedDifference]:
    """Paired differences ``a - b`` per metric, pairing the images by ``case_id`` (both rows must hold the same
    images under the same absent-reader convention)."""
    if a.absent_reader != b.absent_reader:
        raise ValueError(f"cannot pair rows scored under different absent-reader conventions ({a.absent_reader} vs {b.absent_reader})")
    by_case = {r["case_id"]: r for r in b.per_case}
    if len(by_case) != len(b.per_case) or {r["case_id"] for r in a.per_case} != set(by_case):
        raise ValueError(f"rows {a.name!r} and {b.name!r} do not hold the same images (paired by case_id)")
    out = []
    for m in metrics:
        x = [float(r.get(m, np.nan)) for r in a.per_case]
        y = [float(by_case[r["case_id"]].get(m, np.nan)) for r in a.per_case]
        out.append(paired_bootstrap(x, y, metric=m, **kwargs))  # type: ignore[arg-type]
    return out


def supports(diff: PairedDifference) -> bool:
    """Whether the interval of ``a - b`` says a is better than b on ``diff.metric`` (excludes 0 on the good side)."""
    if diff.n == 0 or diff.metric in NO_BETTER_SIDE:
        return False
    return diff.high < 0.0 if diff.metric in LOWER_IS_BETTER else diff.low > 0.0
