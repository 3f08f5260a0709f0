"""The ONE sample convention every reader in :mod:`ssb_core.data` yields, and a checker for it.

A sample is a dict:

============== ===================== ==================================================================
key            type / shape          meaning
============== ===================== ==================================================================
image          float32 (1, H, W)     the image, ALREADY normalised with the dataset's
               or (1, H, W, D)       :class:`~ssb_core.data.intensity.IntensityConvention` (the dataset's
                                     ``intensity`` attribute; ``meta["intensity"]`` is its ``to_dict()``).
masks          uint8 (R, H, W[, D])  one {0, 1} mask per reader slot; R = the format's maximum number of
                                     readers (4 for LIDC). Masks are NOT yet mapped to [-1, 1]: the bridge
                                     does that (``x0 = 2 * mask - 1``, see docs/method).
reader_present bool (R,)             True where the slot holds a real reader's mask. An ABSENT reader has a
                                     zero mask AND False here -- never an empty mask flagged present.
case_id        str                   unique within a dataset.
patient_id     str                   the grouping unit for splits (:func:`~ssb_core.data.splits.grouped_split`).
meta           dict                  ``source`` (the file read), ``spacing`` (mm, in the array's axis order,
                                     None when unknown), ``slice_index`` for slices; volumes add ``origin``,
                                     ``direction``, ``sitk_spacing``; formats that cannot tell an absent reader
                                     from an empty mask set ``absent_unknown`` True (and mark all present).
============== ===================== ==================================================================

Arrays are numpy (not torch) so that samples pickle cheaply into DataLoader workers. Batch them with
:func:`collate_samples` (``DataLoader(ds, collate_fn=collate_samples)``): torch's default collate cannot
stack ``meta`` (it holds None and per-format keys). MONAI dict transforms accept the arrays as they are (the
first axis is the channel axis, so every reader mask moves with the image).

Two evaluation conventions follow from ``reader_present``: the usual LIDC benchmark (Kohl et al. 2018) uses
all R masks, an absent reader counting as an empty mask (``masks`` as is); the other keeps only
``masks[reader_present]``. Say which one a number used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ssb_core.data.base import make_sample

__all__ = ["SAMPLE_KEYS", "check_sample", "collate_samples", "make_sample"]

SAMPLE_KEYS = ("image", "masks", "reader_present", "case_id", "patient_id", "meta")


def _np(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def check_sample(sample: Mapping[str, Any], num_readers: int | None = None) -> None:
    """Raise ValueError (saying what was expected and what came) unless ``sample`` follows the convention.

    Args:
        sample: a sample dict (numpy arrays or torch tensors).
        num_readers: the expected R, or None to accept any.
    """
    missing = [k for k in SAMPLE_KEYS if k not in sample]
    if missing:
        raise ValueError(f"sample lacks keys {missing}: expected {list(SAMPLE_KEYS)}, got {sorted(sample)}")
    image, masks, present = _np(sample["image"]), _np(sample["masks"]), _np(sample["reader_present"])
    if image.dtype != np.float32 or image.ndim not in (3, 4) or image.shape[0] != 1:
        raise ValueError(f"sample 'image' must be float32 (1, H, W[, D]), got {image.dtype} {image.shape}")
    if masks.dtype != np.uint8 or masks.shape[1:] != image.shape[1:]:
        raise ValueError(f"sample 'masks' must be uint8 (R, {', '.join(map(str, image.shape[1:]))}), got {masks.dtype} {masks.shape}")
    if masks.size and int(masks.max()) > 1:
        raise ValueError(f"sample 'masks' must hold {{0, 1}}, got values up to {int(masks.max())}")
    if present.dtype != np.bool_ or present.shape != (masks.shape[0],):
        raise ValueError(f"sample 'reader_present' must be bool ({masks.shape[0]},), got {present.dtype} {present.shape}")
    if num_readers is not None and masks.shape[0] != num_readers:
        raise ValueError(f"sample has {masks.shape[0]} reader slots, expected {num_readers}")
    if masks[~present].any():
        raise ValueError(f"sample {sample['case_id']!r}: reader slots {np.flatnonzero(~present).tolist()} are flagged "
                         "absent but hold a non-empty mask (absent readers must be zero)")
    for key in ("case_id", "patient_id"):
        if not isinstance(sample[key], str) or not sample[key]:
            raise ValueError(f"sample {key!r} must be a non-empty str, got {sample[key]!r}")
    if not isinstance(sample["meta"], Mapping) or "source" not in sample["meta"]:
        raise ValueError(f"sample 'meta' must be a dict with at least 'source', got {sample['meta']!r}")


def collate_samples(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Stack samples into a batch: ``image`` float32 tensor (B, 1, H, W[, D]), ``masks`` uint8 tensor
    (B, R, H, W[, D]), ``reader_present`` bool tensor (B, R); ``case_id``, ``patient_id`` and ``meta`` as lists.

    Raises:
        ValueError: no samples, or samples whose shapes differ (names the first two case ids that differ).
    """
    if not samples:
        raise ValueError("collate_samples needs at least one sample, got none")
    first = samples[0]
    for s in samples[1:]:
        for key in ("image", "masks", "reader_present"):
            if tuple(np.shape(s[key])) != tuple(np.shape(first[key])):
                raise ValueError(f"cannot batch {key!r} of shape {tuple(np.shape(s[key]))} (case {s['case_id']!r}) with "
                                 f"{tuple(np.shape(first[key]))} (case {first['case_id']!r}): expected equal shapes")

    def stack(key: str, dtype: torch.dtype) -> torch.Tensor:
        return torch.stack([torch.as_tensor(_np(s[key])).to(dtype) for s in samples])

    return {"image": stack("image", torch.float32), "masks": stack("masks", torch.uint8),
            "reader_present": stack("reader_present", torch.bool), "case_id": [str(s["case_id"]) for s in samples],
            "patient_id": [str(s["patient_id"]) for s in samples], "meta": [dict(s.get("meta", {})) for s in samples]}
