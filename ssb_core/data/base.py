"""Shared pieces of the readers: the in-memory multi-reader dataset and sample checks.

:class:`ArraySampleDataset` holds every sample's arrays in memory (the 2D datasets are small) and builds the
sample dicts documented in :mod:`ssb_core.data`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from ssb_core.data.intensity import IntensityConvention

__all__ = ["ArraySampleDataset", "make_sample"]


def make_sample(image: np.ndarray, masks: np.ndarray, present: np.ndarray, case_id: str, patient_id: str,
                meta: dict[str, Any]) -> dict[str, Any]:
    """One sample dict: ``image`` float32 (1, H, W[, D]), ``masks`` uint8 (R, H, W[, D]) in {0, 1} with absent
    readers zeroed, ``reader_present`` bool (R,)."""
    present = np.asarray(present, dtype=bool).copy()
    masks = (np.asarray(masks) > 0).astype(np.uint8)
    if (~present).any():
        masks[~present] = 0
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == masks.ndim - 1:
        image = image[None]
    return {"image": image, "masks": masks, "reader_present": present, "case_id": str(case_id),
            "patient_id": str(patient_id), "meta": dict(meta)}


class ArraySampleDataset(Dataset):
    """Samples held as stacked arrays.

    Args:
        images: (N, H, W[, D]) raw intensities (``intensity`` is applied on access).
        masks: (N, R, H, W[, D]) {0, 1}.
        reader_present: (N, R) bool.
        case_ids, patient_ids: N strings each.
        metas: N dicts (copied into each sample's ``meta``).
        intensity: the :class:`IntensityConvention` applied to each image.
        normalised: True when ``images`` are already normalised with ``intensity`` (then it is only recorded).
    """

    def __init__(self, images: np.ndarray | Sequence[np.ndarray], masks: np.ndarray | Sequence[np.ndarray],
                 reader_present: np.ndarray, case_ids: Sequence[str], patient_ids: Sequence[str],
                 metas: Sequence[dict[str, Any]], intensity: IntensityConvention, normalised: bool = False) -> None:
        n = len(case_ids)
        if not (len(images) == len(masks) == len(reader_present) == len(patient_ids) == len(metas) == n):
            raise ValueError("images, masks, reader_present, case_ids, patient_ids and metas must have equal length")
        self.images = images
        self.masks = masks
        self.reader_present = np.asarray(reader_present, dtype=bool)
        self.case_ids = [str(c) for c in case_ids]
        self.patient_ids = [str(p) for p in patient_ids]
        self.metas = list(metas)
        self.intensity = intensity
        self.normalised = bool(normalised)

    @property
    def num_readers(self) -> int:
        """R, the reader slots."""
        return int(self.reader_present.shape[1]) if self.reader_present.ndim == 2 else 0

    def __len__(self) -> int:
        return len(self.case_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} samples")
        meta = {**self.metas[index], "intensity": self.intensity.to_dict()}
        image = self.images[index] if self.normalised else self.intensity.apply(self.images[index])
        return make_sample(image, self.masks[index], self.reader_present[index],
                           self.case_ids[index], self.patient_ids[index], meta)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={len(self)}, patients={len(set(self.patient_ids))}, readers={self.num_readers})"
