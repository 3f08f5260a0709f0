"""From the data package's multi-reader samples to training pairs (image, mask of reader l, l).

The datasets themselves come from :func:`ssb_core.data.build_dataset` (a sample is a dict with ``image``
(1, H, W) float32, ``masks`` (R, H, W) uint8, ``reader_present`` (R,) bool, ``case_id``, ``patient_id``,
``meta``). This module only:

- holds out a patient-grouped validation split (:func:`patient_grouped_split`);
- lists each epoch's batches deterministically (:class:`EpochBatches`: the permutation of epoch ``e`` is
  seeded ``seed + e``, split across DDP ranks like ``DistributedSampler``), so a resumed run can skip the
  batches it has already seen without any sampler state;
- stacks samples (:func:`collate_samples`) and draws the training pair (:func:`draw_pairs`): reader ``l``
  uniformly among the readers PRESENT on that slice, using the run's seeded generator;
- augments pairs on the batch (:func:`augment_pairs`): random flips, 90-degree rotations and a mild
  intensity scale/shift, image and mask together, from the same generator (so resume stays exact).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Subset

__all__ = ["patient_grouped_split", "EpochBatches", "collate_samples", "draw_pairs", "augment_pairs", "patient_ids_of"]

logger = logging.getLogger(__name__)


def patient_ids_of(dataset: Dataset) -> list[str]:
    """The ``patient_id`` of every sample (from a ``patient_ids`` attribute when the dataset offers one)."""
    ids = getattr(dataset, "patient_ids", None)
    if ids is not None:
        return [str(p) for p in ids]
    return [str(dataset[i]["patient_id"]) for i in range(len(dataset))]  # type: ignore[arg-type]


def patient_grouped_split(dataset: Dataset, val_fraction: float, seed: int) -> tuple[Subset, Subset]:
    """Split ``dataset`` so that no patient is in both parts; about ``val_fraction`` of the patients go to val."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
    ids = patient_ids_of(dataset)
    patients = sorted(set(ids))
    if len(patients) < 2:
        raise ValueError(f"a patient-grouped split needs at least 2 patients, got {len(patients)}")
    order = np.random.default_rng(seed).permutation(len(patients))
    n_val = min(len(patients) - 1, max(1, math.ceil(val_fraction * len(patients))))
    val_patients = {patients[i] for i in order[:n_val]}
    val_idx = [i for i, p in enumerate(ids) if p in val_patients]
    train_idx = [i for i, p in enumerate(ids) if p not in val_patients]
    logger.info("patient-grouped split: %d train / %d val slices (%d val patients)", len(train_idx), len(val_idx), n_val)
    return Subset(dataset, train_idx), Subset(dataset, val_idx)


class EpochBatches:
    """This rank's batches (lists of dataset indices) for each epoch, reproducible from ``(seed, epoch)``.

    Args:
        size: dataset length. batch_size: per rank. rank, world_size: as in DistributedSampler (which pads
            so that every rank gets the same number of batches). seed: the run's seed.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if size < 1:
            raise ValueError("the training dataset is empty")
        self.sampler = DistributedSampler(range(size), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False)  # type: ignore[arg-type]
        self.batch_size = int(batch_size)
        per_rank = len(self.sampler)
        self.steps_per_epoch = max(1, per_rank // self.batch_size)

    def __call__(self, epoch: int, skip: int = 0) -> list[list[int]]:
        """The batches of ``epoch`` after the first ``skip`` (the incomplete tail batch is dropped)."""
        self.sampler.set_epoch(epoch)
        idx = list(self.sampler)
        bs = min(self.batch_size, len(idx))
        batches = [idx[i * bs : (i + 1) * bs] for i in range(self.steps_per_epoch)]
        return batches[skip:]


def _as_tensor(x: Any, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(dtype)


def collate_samples(samples: Sequence[dict]) -> dict[str, Any]:
    """Stack sample dicts: ``image`` (B, 1, H, W) float32, ``masks`` (B, R, H, W) uint8,
    ``reader_present`` (B, R) bool; ``case_id`` / ``patient_id`` as lists. ``meta`` is dropped."""
    return {
        "image": torch.stack([_as_tensor(s["image"], torch.float32) for s in samples]),
        "masks": torch.stack([_as_tensor(s["masks"], torch.uint8) for s in samples]),
        "reader_present": torch.stack([_as_tensor(s["reader_present"], torch.bool) for s in samples]),
        "case_id": [str(s.get("case_id", "")) for s in samples],
        "patient_id": [str(s.get("patient_id", "")) for s in samples],
    }


def draw_pairs(batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training pair per sample: reader ``l`` drawn uniformly among the readers present on it.

    Returns:
        images (B, 1, H, W) float32, masks (B, 1, H, W) float32 in {0, 1}, labels (B,) int64 (the slot index).

    Raises:
        ValueError: a sample has no reader present (names its case_id).
    """
    present = batch["reader_present"]
    empty = ~present.any(dim=1)
    if empty.any():
        cases = [batch["case_id"][i] for i in torch.nonzero(empty).flatten().tolist()]
        raise ValueError(f"samples without any reader mask cannot be trained on: {cases}")
    labels = torch.multinomial(present.float(), 1, generator=generator).squeeze(1)
    masks = batch["masks"][torch.arange(len(labels)), labels].unsqueeze(1).float()
    return batch["image"].float(), masks, labels.long()


def augment_pairs(
    images: torch.Tensor,
    masks: torch.Tensor,
    generator: torch.Generator,
    flips: bool = True,
    rot90: bool = True,
    intensity: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flips / 90-degree rotations (joint on image and mask) and intensity ``x * (1 + a) + b`` with
    ``a, b ~ U(-intensity, intensity)`` (image only), per sample. Shapes (B, 1, H, W); square H = W for rot90."""
    B = images.shape[0]
    draws = torch.rand((B, 5), generator=generator)
    rot_k = torch.randint(0, 4, (B,), generator=generator)
    out_i, out_m = [], []
    for b in range(B):
        img, msk = images[b], masks[b]
        if flips and draws[b, 0] < 0.5:
            img, msk = img.flip(-1), msk.flip(-1)
        if flips and draws[b, 1] < 0.5:
            img, msk = img.flip(-2), msk.flip(-2)
        if rot90 and img.shape[-1] == img.shape[-2] and int(rot_k[b]):
            img, msk = torch.rot90(img, int(rot_k[b]), (-2, -1)), torch.rot90(msk, int(rot_k[b]), (-2, -1))
        if intensity > 0:
            scale = 1.0 + (2 * float(draws[b, 2]) - 1) * intensity
            shift = (2 * float(draws[b, 3]) - 1) * intensity
            img = img * scale + shift
        out_i.append(img)
        out_m.append(msk)
    return torch.stack(out_i).contiguous(), torch.stack(out_m).contiguous()
