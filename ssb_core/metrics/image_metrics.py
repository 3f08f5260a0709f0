"""Every metric for one image: N generated masks against M reader masks.

:func:`image_metrics` is the single entry point the evaluation, the benchmarks and the annotation app use. It
validates the inputs once, computes the three overlap matrices (samples × readers, samples × samples,
readers × readers) once, and derives every metric from them:

| field | metric | module | range |
| --- | --- | --- | --- |
| ``ged`` | GED (the field's value, i.e. the squared energy distance), d = 1 − IoU | :mod:`.ged` | [0, 2] biased, lower better |
| ``d_max`` | D_max | :mod:`.cimd` | [0, 1] |
| ``s_c`` | S_c | :mod:`.cimd` | [0, 1] |
| ``d_a`` | D_A | :mod:`.cimd` | [0, 1] |
| ``ci`` | CI, CIMD's formula 3abc/(a+b+c) | :mod:`.cimd` | [0, 1] |
| ``ci_hm`` | the true harmonic mean of S_c, D_max, D_A | :mod:`.cimd` | [0, 1] |
| ``ddi_exp`` / ``ddi_gen`` | D_DDI, SSB paper eqs. 6–7 verbatim | :mod:`.ddi` | [0, 6]; NaN if M / N < 2 |
| ``hm_iou`` | HM-IoU (CCDM) | :mod:`.hm_iou` | [0, 1] |

Empty masks: ``Dice(empty, empty) = IoU(empty, empty) = 1``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ssb_core.metrics.cimd import ci_score, combined_sensitivity, d_a_from_overlaps, d_max_from_dice, harmonic_mean3
from ssb_core.metrics.ddi import ddi_from_dice_matrix
from ssb_core.metrics.ged import ged_from_iou
from ssb_core.metrics.hm_iou import hm_iou_from_iou
from ssb_core.metrics.masks import (
    DEFAULT_ABSENT_READERS,
    as_mask_set,
    as_reader_present,
    check_absent_readers,
    check_same_spatial_shape,
    check_threshold,
    select_readers,
)
from ssb_core.metrics.overlap import pairwise_overlaps

__all__ = ["HIGHER_IS_BETTER", "METRIC_NAMES", "ImageMetrics", "image_metrics"]

METRIC_NAMES = ("ged", "d_max", "s_c", "d_a", "ci", "ci_hm", "ddi_exp", "ddi_gen", "hm_iou")
"""Metric fields of :class:`ImageMetrics`, in table order."""

HIGHER_IS_BETTER = {
    "ged": False, "d_max": True, "s_c": True, "d_a": True, "ci": True, "ci_hm": True,
    "ddi_exp": True, "ddi_gen": True, "hm_iou": True,
}
"""Direction of each metric (D_DDI: as the SSB paper's Table 1 marks it); the one definition, which the paired
bootstrap's ``LOWER_IS_BETTER`` is derived from."""


@dataclass(frozen=True)
class ImageMetrics(Mapping[str, Any]):
    """The metrics of one image, with the conventions they were computed under.

    A frozen dataclass that also reads as a mapping: ``m.ged``, ``m["ged"]``, ``dict(m)`` and ``m.to_dict()``
    all work. See :mod:`ssb_core.metrics.image_metrics` for the table of fields and ranges.

    Attributes:
        ged: GED as the field tabulates it (the squared energy distance ``2E[d(S,Y)] - E[d(S,S')] - E[d(Y,Y')]``),
            with the estimator named by ``ged_unbiased``.
        d_max, s_c, d_a: CIMD's D_max, S_c, D_A.
        ci: CIMD's CI formula; ci_hm: the true harmonic mean of S_c, D_max, D_A.
        ddi_exp, ddi_gen: D_DDI^exp and D_DDI^gen (NaN with fewer than two readers / samples).
        hm_iou: Hungarian-matched IoU.
        num_samples: N.
        num_readers: M after the absent-reader convention (present readers, or all slots with ``"empty"``).
        num_readers_present: readers who annotated.
        absent_readers: ``"exclude"`` or ``"empty"``.
        ged_unbiased: False = biased GED (full matrices), True = within-set means over i != j.
    """

    ged: float
    d_max: float
    s_c: float
    d_a: float
    ci: float
    ci_hm: float
    ddi_exp: float
    ddi_gen: float
    hm_iou: float
    num_samples: int
    num_readers: int
    num_readers_present: int
    absent_readers: str
    ged_unbiased: bool

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    @classmethod
    def _keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def metrics(self) -> dict[str, float]:
        """Only the metric values, ``{name: value}`` in :data:`METRIC_NAMES` order."""
        return {name: getattr(self, name) for name in METRIC_NAMES}

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (metric values, counts and conventions)."""
        return asdict(self)

    def isclose(self, other: ImageMetrics, abs_tol: float = 1e-12) -> bool:
        """Same conventions and counts, and every metric equal within ``abs_tol`` (NaN equals NaN)."""
        for key in self._keys():
            a, b = self[key], other[key]
            if isinstance(a, float) and isinstance(b, float):
                if not (math.isclose(a, b, rel_tol=0.0, abs_tol=abs_tol) or (math.isnan(a) and math.isnan(b))):
                    return False
            elif a != b:
                return False
        return True


def image_metrics(
    samples: object,
    readers: object,
    reader_present: object | None = None,
    absent_readers: str = DEFAULT_ABSENT_READERS,
    threshold: float | None = None,
    ged_unbiased: bool = False,
) -> ImageMetrics:
    """All metrics for one image.

    Args:
        samples: generated masks (N, H, W) or (N, H, W, D); numpy array or torch tensor; binary (0/1 or bool),
            or probabilities with ``threshold``.
        readers: reader masks (M, H, W[, D]) with the same spatial shape.
        reader_present: bool (M,), which readers annotated this image (None = all of them).
        absent_readers: ``"exclude"`` (default: drop the readers who did not annotate) or ``"empty"`` (count
            them as empty masks, the Kohl et al. 2018 LIDC benchmark convention). Recorded in the result.
        threshold: binarise both sets with ``> threshold`` (required for non-binary inputs), in [0, 1).
        ged_unbiased: GED's within-set means over i != j instead of the full matrices (default: biased,
            as PhiSeg / CCDM). Recorded in the result.

    Raises:
        TypeError / ValueError: see :func:`~ssb_core.metrics.masks.as_mask_set` and
            :func:`~ssb_core.metrics.masks.select_readers`; every message names what was expected and what came.
    """
    absent_readers = check_absent_readers(absent_readers)
    threshold = check_threshold(threshold)
    if not isinstance(ged_unbiased, bool):
        raise TypeError(f"ged_unbiased: expected a bool, got {type(ged_unbiased).__name__}")
    s = as_mask_set(samples, "samples", threshold)
    y_all = as_mask_set(readers, "readers", threshold)
    check_same_spatial_shape(s, y_all)
    present = as_reader_present(reader_present, y_all.shape[0])
    y = select_readers(y_all, present, absent_readers)

    sy, ss, yy = pairwise_overlaps(s, y), pairwise_overlaps(s, s), pairwise_overlaps(y, y)
    iou_sy = sy.iou()
    dice_ys = sy.dice().T
    d_max = d_max_from_dice(dice_ys)
    s_c = combined_sensitivity(s, y)
    d_a = d_a_from_overlaps(ss, yy)
    ddi = ddi_from_dice_matrix(dice_ys)
    return ImageMetrics(
        ged=ged_from_iou(iou_sy, ss.iou(), yy.iou(), ged_unbiased).ged,
        d_max=d_max,
        s_c=s_c,
        d_a=d_a,
        ci=ci_score(s_c, d_max, d_a),
        ci_hm=harmonic_mean3(s_c, d_max, d_a),
        ddi_exp=ddi.exp,
        ddi_gen=ddi.gen,
        hm_iou=hm_iou_from_iou(iou_sy),
        num_samples=int(s.shape[0]),
        num_readers=int(y.shape[0]),
        num_readers_present=int(present.sum()),
        absent_readers=absent_readers,
        ged_unbiased=ged_unbiased,
    )
