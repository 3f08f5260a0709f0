"""The LIDC-IDRI crops of Kohl et al. 2018 (Probabilistic U-Net): one pickle of ~15,000 128x128 crops (3.4 GB).

The pickle is a dict keyed by crop id; each value a dict with:

- ``image``: 128x128 float in [0, 1];
- ``masks``: a list of four 128x128 {0, 1} arrays (one per reader; an absent reader is an empty mask, so
  the format cannot tell absent from empty -- every reader is marked present and
  ``meta["absent_unknown"] = True``);
- ``series_uid``: str, used as the patient id (crops of one scan stay on one side of a split).

SECURITY: unpickling executes code. :class:`LidcCropsDataset` calls ``pickle.load`` ONLY on the file the user
points at; prefer converting it once with :func:`convert_crops_to_npz` (the ``.npz`` loads without pickle,
faster and safely) and pointing the config at the ``.npz``.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ssb_core.data.base import ArraySampleDataset
from ssb_core.data.errors import DatasetError, describe, read_npz
from ssb_core.data.intensity import CROPS_UNIT, IntensityConvention

__all__ = ["LidcCropsDataset", "load_crops_pickle", "convert_crops_to_npz", "NUM_READERS"]

logger = logging.getLogger(__name__)

NUM_READERS = 4
_NPZ_KEYS = ("images", "masks", "crop_id", "series_uid")


def load_crops_pickle(path: str | Path) -> dict[str, np.ndarray]:
    """Read the Kohl et al. pickle into stacked arrays.

    Returns:
        ``images`` float32 (N, H, W), ``masks`` uint8 (N, 4, H, W), ``crop_id`` str (N,), ``series_uid`` str (N,),
        sorted by crop id.

    Raises:
        DatasetError: missing / unreadable file, or entries without the expected fields (names the file and crop).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError.for_file(path, "LIDC crops pickle not found", "a pickle of {crop_id: {image, masks, series_uid}}")
    logger.warning("%s: unpickling (pickles can execute code; only load files you trust, prefer the .npz conversion)", path)
    try:
        with path.open("rb") as f:
            data = pickle.load(f)  # noqa: S301 -- only the file the user points at, see the module docstring
    except Exception as exc:  # pickle raises many types on corrupt input
        raise DatasetError.for_file(path, f"cannot unpickle ({describe(exc)}); the file is corrupt or truncated",
                                    "a pickle of {crop_id: {image, masks, series_uid}}") from exc
    if not isinstance(data, dict) or not data:
        raise DatasetError.for_file(path, f"holds a {type(data).__name__} of {len(data) if hasattr(data, '__len__') else '?'} entries",
                                    "a non-empty dict keyed by crop id")
    keys = sorted(data, key=str)
    n = len(keys)
    images: np.ndarray | None = None
    masks: np.ndarray | None = None
    ids, uids = [], []
    for i, key in enumerate(keys):
        entry = data.pop(key)  # free each crop as it is copied: peak memory stays near the pickle's own size
        if not isinstance(entry, Mapping) or not {"image", "masks", "series_uid"} <= set(entry):
            raise DatasetError.for_file(path, f"crop {key!r} is not a dict with 'image', 'masks', 'series_uid'",
                                        "each value {image: (H, W) float, masks: 4 x (H, W), series_uid: str}")
        img = np.asarray(entry["image"], dtype=np.float32)
        m = np.asarray(entry["masks"])
        if images is None and img.ndim == 2:
            images = np.empty((n, *img.shape), dtype=np.float32)
            masks = np.empty((n, NUM_READERS, *img.shape), dtype=np.uint8)
        if images is None or masks is None or img.shape != images.shape[1:] or m.shape != masks.shape[1:]:
            expected = images.shape[1:] if images is not None else "(H, W)"
            raise DatasetError.for_file(path, f"crop {key!r}: image {img.shape}, masks {m.shape}",
                                        f"image {expected} and masks ({NUM_READERS}, *{expected}), as the first crop")
        images[i] = img
        masks[i] = m > 0
        ids.append(str(key))
        uids.append(str(entry["series_uid"]))
    assert images is not None and masks is not None
    return {"images": images, "masks": masks, "crop_id": np.asarray(ids), "series_uid": np.asarray(uids)}


def convert_crops_to_npz(pkl: str | Path, npz: str | Path, compress: bool = False) -> Path:
    """Convert the crops pickle once to an ``.npz`` (keys ``images``, ``masks``, ``crop_id``, ``series_uid``)
    that later runs load without pickle. Returns the npz path."""
    arrays = load_crops_pickle(pkl)
    out = Path(npz).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    (np.savez_compressed if compress else np.savez)(out, **arrays)
    logger.info("converted %d crops from %s to %s", len(arrays["crop_id"]), pkl, out)
    return out


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    a = read_npz(path, _NPZ_KEYS, "LIDC crops npz", hint="see convert_crops_to_npz")
    n = a["images"].shape[0] if a["images"].ndim == 3 else -1
    if n < 0 or a["masks"].shape != (n, NUM_READERS, *a["images"].shape[1:]) or a["crop_id"].shape != (n,) or a["series_uid"].shape != (n,):
        raise DatasetError.for_file(path, f"inconsistent shapes images {a['images'].shape}, masks {a['masks'].shape}",
                                    f"images (N, H, W), masks (N, {NUM_READERS}, H, W), crop_id and series_uid (N,)")
    return a


class LidcCropsDataset(ArraySampleDataset):
    """The Kohl et al. crops as sample dicts (``image`` (1, 128, 128), ``masks`` (4, 128, 128)).

    Args:
        path: the ``.pkl`` (unpickled: trusted files only) or its ``.npz`` conversion.
        intensity: defaults to :data:`~ssb_core.data.intensity.CROPS_UNIT` (images in [0, 1]).
        patients: keep only crops of these series uids (None: all).

    Attributes:
        patient_ids: the series uid of each crop.
    """

    def __init__(self, path: str | Path, intensity: IntensityConvention | None = None, patients: Iterable[str] | None = None) -> None:
        path = Path(path).expanduser()
        a = _load_npz(path) if path.suffix == ".npz" else load_crops_pickle(path)
        if patients is not None:
            keep = np.isin(a["series_uid"], [str(p) for p in patients])
            a = {k: v[keep] for k, v in a.items()}
        self.path = path
        n = len(a["crop_id"])
        metas: list[dict[str, Any]] = [{"source": str(path), "crop_id": str(c), "absent_unknown": True, "spacing": None} for c in a["crop_id"]]
        super().__init__(a["images"].astype(np.float32, copy=False), a["masks"], np.ones((n, NUM_READERS), dtype=bool),
                         [str(c) for c in a["crop_id"]], [str(u) for u in a["series_uid"]], metas, intensity or CROPS_UNIT)
        logger.info("LIDC crops: %d crops, %d series from %s", n, len(set(self.patient_ids)), path)
