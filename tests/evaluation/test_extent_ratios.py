"""ssb_core.evaluation.whole_scan.extent_ratios: a volume difference told apart along z and in plane."""

from __future__ import annotations

import math

import numpy as np

from ssb_core.evaluation.whole_scan import extent_ratios


def _box(z: int, side: int) -> np.ndarray:
    """(1, 10, 12, 12) a side x side square on the first z axial slices."""
    m = np.zeros((1, 10, 12, 12), dtype=bool)
    m[0, :z, :side, :side] = True
    return m


def test_a_shorter_candidate_and_a_narrower_one_are_told_apart():
    readers = np.concatenate([_box(6, 4), _box(4, 4), _box(4, 6)])  # medians: 4 slices, 16 px widest
    shorter = np.concatenate([_box(2, 4), _box(2, 4), np.zeros_like(_box(1, 1))])  # the empty one is left out
    narrower = np.concatenate([_box(4, 2), _box(4, 2)])
    assert extent_ratios(shorter, readers) == {"z_extent_ratio": 0.5, "widest_area_ratio": 1.0}
    assert extent_ratios(narrower, readers) == {"z_extent_ratio": 1.0, "widest_area_ratio": 0.25}
    nothing = extent_ratios(np.zeros_like(readers), readers)
    assert math.isnan(nothing["z_extent_ratio"]) and math.isnan(nothing["widest_area_ratio"])
