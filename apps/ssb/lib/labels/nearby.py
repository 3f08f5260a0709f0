"""Which saved lesions a new click falls on or near: what the viewers say before a reader saves over one.

A reader who clicks a lesion they (or a colleague) already saved should know it before saving: their save will
replace their own lesion there (:mod:`lib.labels.lesion_map`), a colleague's is theirs. :func:`lesions_near` lists
the saved lesions that the new candidates overlap or that lie within ``radius_mm`` of the click, on the infer
task's ROI box.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ssb_core.volume import RoiPlan

from lib.labels.lesion_map import Lesion

__all__ = ["NEAR_MM", "lesions_near"]

NEAR_MM = 5.0


def lesions_near(crops: Mapping[str, np.ndarray], records: Mapping[str, Sequence[Lesion]], plan: RoiPlan,
                 clicks_ijk: np.ndarray, spacing_xyz: Sequence[float], candidates_union: np.ndarray,
                 radius_mm: float = NEAR_MM) -> list[dict]:
    """The saved lesions at this click, nearest first.

    Args:
        crops: reader -> (B, ny, nx) uint8 labelmap cropped to the plan's box (value = lesion id).
        records: reader -> that reader's :class:`Lesion` records.
        clicks_ijk: (C, 3) the clicks in voxel indices (i, j, k). candidates_union: (B, ny, nx) bool.

    Returns:
        ``[{"reader", "lesion", "distance_mm", "overlaps_candidates", "source", "saved"}]`` for every lesion whose voxels
        come within ``radius_mm`` of a click or overlap the candidates.
    """
    ks = np.asarray(plan.slices, dtype=float)
    sx, sy, sz = (float(s) for s in spacing_xyz)
    out = []
    for reader, crop in crops.items():
        by_id = {r.id: r for r in records.get(reader, [])}
        for v in (int(v) for v in np.unique(crop) if v != 0):
            b, y, x = np.nonzero(crop == v)
            pts = np.stack([(x + plan.x0) * sx, (y + plan.y0) * sy, ks[b] * sz], axis=1)
            clicks = np.asarray(clicks_ijk, dtype=float)[:, :3] * np.array([sx, sy, sz])
            distance = float(np.sqrt(((pts[:, None, :] - clicks[None]) ** 2).sum(-1)).min())
            overlaps = bool(candidates_union[b, y, x].any())
            if distance <= radius_mm or overlaps:
                rec = by_id.get(v)
                out.append({"reader": reader, "lesion": v, "distance_mm": round(distance, 1), "overlaps_candidates": overlaps,
                            "source": rec.source if rec else "label file", "saved": rec.saved if rec else None})
    return sorted(out, key=lambda d: d["distance_mm"])
