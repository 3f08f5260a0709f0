"""The lidc128 format: the full LIDC-IDRI nodule crops (128x128 at each scan's native pixel size, four readers).

One ``{split}.npz`` per split (patient-disjoint: train 605 patients, val 69, test 104). Arrays (N slices):

- ``images`` uint8 (N, 128, 128): the CT at its native pixel size, HU scaled linearly to 0..255 per crop. A
  per-window z-score of these values equals the z-score of the HU (the scaling is affine), so the model's own
  per-window normalisation applies unchanged;
- ``masks`` uint8 (N, 4, 128, 128) in {0, 1}: reader slot k's mask (slot k is not the same person across nodules);
- ``reader_present`` bool (N, 4): slot k outlined this nodule on at least one of its slices. A present reader
  with an empty mask saw no nodule on this slice (LIDC readers outline every slice they see it on): real
  negative evidence at a nodule's ends. Readers who never outlined the nodule are absent;
- ``pixel_spacing_mm`` float32 (N,), ``slice_thickness_mm`` float32 (N,): per patient;
- ``patient_id`` str, ``nodule`` int (per patient), ``slice_index`` int (ordinal within the nodule).

What a sample is. Each crop is resampled **by its own pixel spacing** to the model's pixel size with
:meth:`ssb_core.preprocessing.Preprocessing.resample_boxes` (bilinear, antialiased when shrinking; masks through
the same resampling, then > 1/2), exactly as a whole scan is resampled at a click, and cut around the crop's
centre (the nodule): never assuming that the crop's pixels are the model's.

- ``context == window`` (the default): the sample is the model's window (e.g. 64 x 64 pixels of 0.7 mm = 44.8 mm)
  centred on the nodule, normalised on its own: what evaluation scores and the model sees at a click;
- ``context > window``: a larger square around the nodule (e.g. 96 pixels = 67 mm), normalised as a whole, from
  which training cuts its windows (centred, off-centre and hard negatives, each re-normalised on its own:
  :func:`ssb_core.training.data.cut_windows`), so that off-centre windows show real anatomy instead of a
  reflection of the crop. Where a crop of fine pixels does not reach that far, its edge pixels are repeated, as
  past the border of a scan.

``case_id = f"{patient}_n{nodule}_s{slice}"``; ``meta["spacing"]`` is the model's pixel size (what the sample
is at), ``meta["native_spacing_mm"]`` the crop's own.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ssb_core.data.base import ArraySampleDataset
from ssb_core.data.errors import DatasetError, read_npz
from ssb_core.data.intensity import LIDC64, IntensityConvention
from ssb_core.data.lidc64 import resolve_lidc64_path

__all__ = ["Lidc128Dataset", "REQUIRED_KEYS", "resample_crops"]

logger = logging.getLogger(__name__)

REQUIRED_KEYS = ("images", "masks", "reader_present", "patient_id", "nodule", "slice_index", "pixel_spacing_mm")


def validate_arrays(path: Path, a: dict[str, np.ndarray]) -> None:
    """Raise :class:`DatasetError` naming ``path`` when the lidc128 arrays ``a`` are malformed (shapes, values)."""
    images, masks, present, spacing = a["images"], a["masks"], a["reader_present"], a["pixel_spacing_mm"]
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise DatasetError.for_file(path, f"'images' has shape {images.shape}", "(N, S, S) square crops")
    n, s, _ = images.shape
    if masks.shape[0] != n or masks.ndim != 4 or masks.shape[2:] != (s, s):
        raise DatasetError.for_file(path, f"'masks' has shape {masks.shape} for images {images.shape}", f"({n}, R, {s}, {s})")
    if present.shape != masks.shape[:2]:
        raise DatasetError.for_file(path, f"'reader_present' has shape {present.shape}", f"{masks.shape[:2]}")
    for k in ("patient_id", "nodule", "slice_index", "pixel_spacing_mm"):
        if a[k].shape != (n,):
            raise DatasetError.for_file(path, f"'{k}' has shape {a[k].shape}", f"({n},)")
    if n and not (np.isfinite(spacing).all() and (spacing > 0.1).all() and (spacing < 5).all()):
        raise DatasetError.for_file(path, f"'pixel_spacing_mm' ranges {spacing.min()}..{spacing.max()}",
                                    "in-plane pixel sizes in millimetres (LIDC-IDRI: 0.46-0.98)")
    if masks.size and int(masks.max()) > 1:
        raise DatasetError.for_file(path, f"'masks' holds values up to {int(masks.max())}", "binary masks in {0, 1}")


def resample_crops(images: np.ndarray, masks: np.ndarray, spacing_mm: np.ndarray, size: int,
                   model_spacing_mm: float, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Square crops at their own pixel sizes -> ``size`` x ``size`` pixels of ``model_spacing_mm`` around each
    crop's centre, through :meth:`Preprocessing.resample_boxes` (the one resampling a whole scan goes through).

    Args:
        images: (N, S, S) raw intensities. masks: (N, R, S, S) {0, 1}. spacing_mm: (N,) each crop's pixel size.
        size: output pixels per side. model_spacing_mm: the output pixel size.

    Returns:
        images float32 (N, size, size), values unchanged otherwise (not normalised); masks uint8 (N, R, size, size).
    """
    from ssb_core.preprocessing import Preprocessing

    n, s = images.shape[0], images.shape[-1]
    r = masks.shape[1]
    pre = Preprocessing((size, size), (model_spacing_mm, model_spacing_mm), LIDC64, "window")
    out_i = np.empty((n, size, size), dtype=np.float32)
    out_m = np.empty((n, r, size, size), dtype=np.uint8)
    boxes = np.array([pre.box_size((float(p), float(p)))[0] for p in spacing_mm], dtype=int)
    for box in np.unique(boxes):  # crops with the same box in native pixels resample together
        idx = np.flatnonzero(boxes == box)
        start = (s - int(box)) // 2  # centred: the box's centre is the crop's, up to half a native pixel
        for b in range(0, idx.size, batch):
            part = idx[b : b + batch]
            stack = np.concatenate([images[part][:, None], masks[part].astype(np.float32)], axis=1)  # (B, 1+R, S, S)
            flat = stack.reshape(-1, s, s)
            with torch.no_grad():
                res = pre.resample_boxes(flat, range(flat.shape[0]), start, start, int(box), int(box))[:, 0].numpy()
            res = res.reshape(part.size, 1 + r, size, size)
            out_i[part] = res[:, 0]
            out_m[part] = res[:, 1:] > 0.5
    return out_i, out_m


class Lidc128Dataset(ArraySampleDataset):
    """One split of lidc128 as sample dicts: ``image`` (1, C, C) and ``masks`` (4, C, C) at the model's pixel size.

    Args:
        path_or_dir: the ``.npz`` file, or the directory holding ``{split}.npz``.
        split: ``train`` / ``val`` / ``test`` (needed when ``path_or_dir`` is a directory).
        window: the model's window in pixels (64 for the shipped models).
        spacing_mm: the model's pixel size in mm (0.7 for the shipped models).
        context: pixels per side of each sample (default ``window``); larger for training (module docstring).
        intensity: the per-window normalisation (default ``zscore``; applied to each sample as a whole).

    Attributes:
        window_size: (window, window): the model's window; what training cuts from a larger context.
        patient_ids: N strings (for patient-grouped splits).

    Raises:
        DatasetError: missing, corrupt or malformed file (the message names it); ValueError: bad sizes.
    """

    def __init__(self, path_or_dir: str | Path, split: str | None = None, window: int = 64, spacing_mm: float = 0.7,
                 context: int | None = None, intensity: IntensityConvention | None = None) -> None:
        context = int(context or window)
        if int(window) < 4 or context < int(window):
            raise ValueError(f"lidc128: window must be >= 4 pixels and context >= window, got window {window}, context {context}")
        if not 0.05 < float(spacing_mm) < 10:
            raise ValueError(f"lidc128: spacing_mm must be the model's pixel size in millimetres, got {spacing_mm!r}")
        path = resolve_lidc64_path(path_or_dir, split)
        a = read_npz(path, REQUIRED_KEYS, "lidc128 npz")
        validate_arrays(path, a)
        self.path = path
        self.split = split if split is not None else path.stem
        self.window_size = (int(window), int(window))
        self.context = context
        native = a["pixel_spacing_mm"].astype(np.float32)
        images, masks = resample_crops(a["images"], a["masks"], native, context, float(spacing_mm))
        patients = [str(p) for p in a["patient_id"]]
        nodules = [int(x) for x in a["nodule"]]
        slices = [int(x) for x in a["slice_index"]]
        case_ids = [f"{p}_n{nd}_s{s}" for p, nd, s in zip(patients, nodules, slices)]
        model_spacing = [float(spacing_mm)] * 2
        metas = [{"source": str(path), "index": i, "nodule": nd, "slice_index": s, "spacing": model_spacing,
                  "native_spacing_mm": float(sp)} for i, (nd, s, sp) in enumerate(zip(nodules, slices, native))]
        super().__init__(images, masks, a["reader_present"].astype(bool), case_ids, patients, metas, intensity or LIDC64)
        logger.info("lidc128 %s: %d slices, %d patients from %s, %d px of %.2f mm (window %d)", self.split, len(self),
                    len(set(patients)), path, context, float(spacing_mm), int(window))

