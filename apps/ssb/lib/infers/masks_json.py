"""The candidates of one answer as compact JSON, for a viewer that draws them itself (the OHIF SSB panel).

With ``include_masks`` the infer answer carries ``masks``: the candidates and the variability levels on the part
of the ROI box inside the image, with the image's geometry, so a browser can place every voxel by its patient
coordinates (DICOM LPS, millimetres) whatever its own volume's index order:

- ``box_ijk``: ``{"i0", "j0", "k0", "ni", "nj", "nk"}``, the voxel box (i = column, j = row, k = slice);
- ``candidates``: base64 of ``numpy.packbits`` of the ``(N, nk, nj, ni)`` bool array (C order, most significant
  bit first); ``consensus``: the same for ``(nk, nj, ni)`` (f >= 1/2), drawn in ``consensus_colour`` (RGB 0..255;
  candidate k in the ``colour`` of its entry in the answer's ``candidates``, :data:`lib.candidate_set.CANDIDATE_COLOURS`);
- ``variability``: base64 of the ``(nk, nj, ni)`` uint8 levels 0..L (``ceil(L v)``, 0 where v = 0), with ``levels`` L
  and ``level_segments``: ``[{"value", "name", "colour"}]`` per level (colour RGB 0..255), the names and colour
  scale the Slicer file carries too (:func:`lib.candidate_set.variability_level_segments`);
- ``geometry``: ``origin`` (mm, LPS), ``spacing`` (mm, i j k), ``direction`` (3 x 3, row-major; column c is
  axis c's direction), the image's ITK geometry: voxel (i, j, k) lies at origin + direction @ (spacing * ijk).
"""

from __future__ import annotations

import base64

import numpy as np

from ssb_core.volume import LesionCandidates, box_valid, consensus, variability_levels

from lib.candidate_set import CONSENSUS_COLOUR, variability_level_segments
from lib.imageio import LoadedImage

__all__ = ["masks_json"]


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def masks_json(cands: LesionCandidates, image: LoadedImage, levels: int) -> dict:
    """The ``masks`` entry of an answer (see the module docstring)."""
    plan = cands.plan
    rows, cols = box_valid(plan, image.array.shape)
    masks = cands.masks[:, :, rows, cols]
    ref = image.reference
    dim = ref.GetDimension()
    direction = np.eye(3)
    direction[:dim, :dim] = np.asarray(ref.GetDirection(), dtype=float).reshape(dim, dim)
    origin = [*ref.GetOrigin(), 0.0][:3]
    return {
        "box_ijk": {"i0": max(0, plan.x0), "j0": max(0, plan.y0), "k0": int(min(plan.slices)),
                    "ni": int(masks.shape[3]), "nj": int(masks.shape[2]), "nk": int(masks.shape[1])},
        "num_candidates": int(masks.shape[0]),
        "candidates": _b64(np.packbits(masks.astype(bool), axis=None)),
        "consensus": _b64(np.packbits(consensus(cands.masks)[:, rows, cols], axis=None)),
        "variability": _b64(variability_levels(cands.masks, levels)[:, rows, cols]),
        "consensus_colour": list(CONSENSUS_COLOUR),
        "levels": int(levels),
        "level_segments": [{"value": value, "name": name, "colour": [round(255 * c) for c in colour]}
                           for name, value, colour in variability_level_segments(levels)],
        "geometry": {"origin": [float(o) for o in origin], "spacing": [float(s) for s in image.spacing_xyz],
                     "direction": direction.tolist()},
    }
