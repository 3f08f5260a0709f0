"""The lidc64 format: LIDC-IDRI 64x64 nodule crops with 2-4 reader masks, one ``{split}.npz`` per split.

Arrays in each file (N slices):

- ``images`` float32 (N, 64, 64): CT, z-normalised per 64x64 crop by the source (every crop has mean 0 and
  std 1; intensity convention ``zscore``, applied per sample, i.e. per window: a no-op on these crops);
- ``masks`` uint8 (N, 4, 64, 64) in {0, 1}; slots beyond the readers who annotated are zero;
- ``reader_present`` bool (N, 4); ``patient_id`` str (N,); ``nodule`` int (N,); ``slice_index`` int (N,).

``case_id = f"{patient}_n{nodule}_s{slice}"``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ssb_core.data.base import ArraySampleDataset
from ssb_core.data.errors import DatasetError, read_npz
from ssb_core.data.intensity import LIDC64, IntensityConvention

__all__ = ["Lidc64Dataset", "resolve_lidc64_path", "SPLITS", "REQUIRED_KEYS"]

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
REQUIRED_KEYS = ("images", "masks", "reader_present", "patient_id", "nodule", "slice_index")


def resolve_lidc64_path(path_or_dir: str | Path, split: str | None = None) -> Path:
    """The npz file: ``path_or_dir`` itself when it is a file (or ends in .npz), else ``path_or_dir/{split}.npz``."""
    p = Path(path_or_dir).expanduser()
    if p.suffix == ".npz" or p.is_file():
        return p
    if split is None:
        raise DatasetError.for_file(p, "is a directory but no split was given", f"one of {SPLITS} or a path to an .npz file")
    return p / f"{split}.npz"


def _load(path: Path) -> dict[str, np.ndarray]:
    return read_npz(path, REQUIRED_KEYS, "lidc64 npz")


def _validate(path: Path, a: dict[str, np.ndarray]) -> None:
    images, masks, present = a["images"], a["masks"], a["reader_present"]
    if images.ndim != 3:
        raise DatasetError.for_file(path, f"'images' has shape {images.shape}", "(N, H, W)")
    n, h, w = images.shape
    if masks.ndim != 4 or masks.shape[0] != n or masks.shape[2:] != (h, w):
        raise DatasetError.for_file(path, f"'masks' has shape {masks.shape} for images {images.shape}", f"({n}, R, {h}, {w})")
    r = masks.shape[1]
    if present.shape != (n, r):
        raise DatasetError.for_file(path, f"'reader_present' has shape {present.shape}", f"({n}, {r})")
    for k in ("patient_id", "nodule", "slice_index"):
        if a[k].shape != (n,):
            raise DatasetError.for_file(path, f"'{k}' has shape {a[k].shape}", f"({n},)")
    if not np.issubdtype(images.dtype, np.floating) and not np.issubdtype(images.dtype, np.integer):
        raise DatasetError.for_file(path, f"'images' has dtype {images.dtype}", "a numeric dtype (float32)")
    if masks.size and int(masks.max()) > 1:
        raise DatasetError.for_file(path, f"'masks' holds values up to {int(masks.max())}", "binary masks in {0, 1}")
    stray = masks.reshape(n, r, -1).any(axis=2) & ~present.astype(bool)
    if stray.any():
        logger.warning("%s: %d reader slots marked absent hold a non-empty mask; they are zeroed", path, int(stray.sum()))


class Lidc64Dataset(ArraySampleDataset):
    """One split of lidc64 as sample dicts (``image`` (1, 64, 64), ``masks`` (4, 64, 64), ...).

    Args:
        path_or_dir: the ``.npz`` file, or the directory holding ``{split}.npz``.
        split: ``train`` / ``val`` / ``test`` (needed when ``path_or_dir`` is a directory).
        intensity: defaults to ``zscore`` per crop (what the source did; see the module docstring).

    Attributes:
        path: the npz read. patient_ids: N strings (for patient-grouped splits).

    Raises:
        DatasetError: missing, corrupt or malformed file (the message names it).
    """

    def __init__(self, path_or_dir: str | Path, split: str | None = None, intensity: IntensityConvention | None = None) -> None:
        path = resolve_lidc64_path(path_or_dir, split)
        a = _load(path)
        _validate(path, a)
        self.path = path
        self.split = split if split is not None else path.stem
        patients = [str(p) for p in a["patient_id"]]
        nodules = [int(x) for x in a["nodule"]]
        slices = [int(x) for x in a["slice_index"]]
        case_ids = [f"{p}_n{nd}_s{s}" for p, nd, s in zip(patients, nodules, slices)]
        metas = [{"source": str(path), "index": i, "nodule": nd, "slice_index": s, "spacing": None}
                 for i, (nd, s) in enumerate(zip(nodules, slices))]
        super().__init__(a["images"].astype(np.float32, copy=False), a["masks"], a["reader_present"].astype(bool),
                         case_ids, patients, metas, intensity or LIDC64)
        logger.info("lidc64 %s: %d slices, %d patients from %s", self.split, len(self), len(set(patients)), path)
