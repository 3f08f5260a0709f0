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

__all__ = ["box_mask_json", "geometry_json", "masks_json", "mask_from_json"]


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def geometry_json(image: LoadedImage) -> dict:
    """``geometry`` of the module docstring: where voxel (i, j, k) of ``image`` lies in patient coordinates."""
    ref = image.reference
    dim = ref.GetDimension()
    direction = np.eye(3)
    direction[:dim, :dim] = np.asarray(ref.GetDirection(), dtype=float).reshape(dim, dim)
    origin = [*ref.GetOrigin(), 0.0][:3]
    return {"origin": [float(o) for o in origin], "spacing": [float(s) for s in image.spacing_xyz], "direction": direction.tolist()}


def box_mask_json(mask_zyx: np.ndarray) -> dict:
    """One (Z, Y, X) bool mask as ``{"box_ijk", "bits"}``: its bounding box and the packed bits of the box (the
    encoding of ``candidates`` above, for one mask); an empty mask gives an empty box."""
    if not mask_zyx.any():
        return {"box_ijk": {"i0": 0, "j0": 0, "k0": 0, "ni": 0, "nj": 0, "nk": 0}, "bits": ""}
    zs, ys, xs = (np.flatnonzero(mask_zyx.any(axis=a)) for a in ((1, 2), (0, 2), (0, 1)))
    box = mask_zyx[zs[0] : zs[-1] + 1, ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]
    return {"box_ijk": {"i0": int(xs[0]), "j0": int(ys[0]), "k0": int(zs[0]), "ni": int(box.shape[2]), "nj": int(box.shape[1]),
                        "nk": int(box.shape[0])}, "bits": _b64(np.packbits(box, axis=None))}


def mask_from_json(entry: dict, shape_zyx: tuple[int, int, int]) -> np.ndarray:
    """The inverse of :func:`box_mask_json` on an image of ``shape_zyx``: (Z, Y, X) bool.

    Raises:
        ValueError: a malformed entry, or a box outside the image.
    """
    try:
        b = {k: int(entry["box_ijk"][k]) for k in ("i0", "j0", "k0", "ni", "nj", "nk")}
        raw = np.frombuffer(base64.b64decode(str(entry["bits"]), validate=True), dtype=np.uint8)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"a mask is {{'box_ijk': {{i0, j0, k0, ni, nj, nk}}, 'bits': base64 of packed bits}}: {exc}") from None
    z, y, x = shape_zyx
    if min(b.values()) < 0 or b["k0"] + b["nk"] > z or b["j0"] + b["nj"] > y or b["i0"] + b["ni"] > x:
        raise ValueError(f"the mask's box {b} lies outside the image (i, j, k sizes {x}, {y}, {z})")
    count = b["ni"] * b["nj"] * b["nk"]
    if raw.size * 8 < count or raw.size > (count + 7) // 8:
        raise ValueError(f"the mask's bits hold {raw.size * 8} values for a box of {count} voxels")
    out = np.zeros(shape_zyx, dtype=bool)
    out[b["k0"] : b["k0"] + b["nk"], b["j0"] : b["j0"] + b["nj"], b["i0"] : b["i0"] + b["ni"]] = (
        np.unpackbits(raw, count=count).reshape(b["nk"], b["nj"], b["ni"]).astype(bool))
    return out


def masks_json(cands: LesionCandidates, image: LoadedImage, levels: int) -> dict:
    """The ``masks`` entry of an answer (see the module docstring)."""
    plan = cands.plan
    rows, cols = box_valid(plan, image.array.shape)
    masks = cands.masks[:, :, rows, cols]
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
        "geometry": geometry_json(image),
    }
