"""Multi-reader segmentation datasets for the Segmentation Schrödinger Bridge.

Sample convention
-----------------
Every dataset here is a ``torch.utils.data.Dataset`` whose items are dicts:

- ``image``: float32 numpy array (1, H, W) -- or (1, H, W, D) for volumes -- ALREADY normalised with the
  dataset's :class:`IntensityConvention` (the dataset's ``intensity`` attribute; ``meta["intensity"]`` is its
  ``to_dict()``);
- ``masks``: uint8 (R, H, W[, D]) in {0, 1}, one slot per reader; R is the maximum number of readers
  (4 for LIDC);
- ``reader_present``: bool (R,). An ABSENT reader has a zero mask AND ``reader_present`` False. (The usual
  LIDC benchmark convention treats an absent reader as an empty mask: ``masks`` already is; use
  ``reader_present`` for the other convention.) Formats that cannot tell absent from empty (the jpg folders)
  mark all readers present and set ``meta["absent_unknown"] = True``;
- ``case_id``: str, unique within a dataset; ``patient_id``: str (for patient-grouped splits; datasets also
  expose a ``patient_ids`` list attribute);
- ``meta``: dict: ``source`` (file), slice index when a slice, ``spacing`` when known (None otherwise),
  and for volumes ``origin`` / ``direction``.

Arrays are numpy; batch them with :func:`collate_samples` (torch's default collate cannot stack ``meta``).
:mod:`ssb_core.data.sample` holds the full table and :func:`check_sample`, which validates a sample.

Entry point: :func:`build_dataset` (``{"format": "lidc64" | "lidc128" | "lidc_crops" | "folders" | "volumes", "path": ...}``).
Errors about files are :class:`DatasetError` (a ValueError) naming the file.
Patient-grouped splits: :func:`grouped_split` (indices from group ids) and :func:`split_dataset` (dataset views);
no patient / series ever lands in two splits, and the same seed gives the same split.
Augmentation (image and every reader mask moved together): :class:`~ssb_core.data.augment.AugmentedDataset`.
"""

from __future__ import annotations

from ssb_core.data.errors import DatasetError
from ssb_core.data.intensity import CROPS_UNIT, JPG_UNIT, LIDC64, LUNG_WINDOW, IntensityConvention, normalise
from ssb_core.data.lidc64 import Lidc64Dataset
from ssb_core.data.registry import FORMATS, build_dataset
from ssb_core.data.sample import SAMPLE_KEYS, check_sample, collate_samples, make_sample
from ssb_core.data.splits import DEFAULT_FRACTIONS, GroupSubset, grouped_split, split_dataset

__all__ = [
    "DatasetError", "IntensityConvention", "normalise", "LIDC64", "LUNG_WINDOW", "JPG_UNIT", "CROPS_UNIT",
    "Lidc64Dataset", "Lidc128Dataset", "build_dataset", "FORMATS", "SAMPLE_KEYS", "check_sample", "collate_samples", "make_sample",
    "grouped_split", "split_dataset", "GroupSubset", "DEFAULT_FRACTIONS", "AugmentedDataset", "make_augment",
    "LidcCropsDataset", "convert_crops_to_npz", "JpgFoldersDataset", "VolumeDataset", "SliceDataset",
]


def __getattr__(name: str):  # lazy: the optional readers import Pillow / SimpleITK only when used
    if name in ("LidcCropsDataset", "convert_crops_to_npz"):
        from ssb_core.data import lidc_crops

        return getattr(lidc_crops, name)
    if name == "Lidc128Dataset":
        from ssb_core.data.lidc128 import Lidc128Dataset

        return Lidc128Dataset
    if name == "JpgFoldersDataset":
        from ssb_core.data.folders import JpgFoldersDataset

        return JpgFoldersDataset
    if name in ("AugmentedDataset", "make_augment"):
        from ssb_core.data import augment

        return getattr(augment, name)
    if name in ("VolumeDataset", "SliceDataset"):
        from ssb_core.data import volumes

        return getattr(volumes, name)
    raise AttributeError(f"module 'ssb_core.data' has no attribute {name!r}")
