"""From the data package's multi-reader samples to training pairs (image, mask of reader l, l).

The datasets themselves come from :func:`ssb_core.data.build_dataset` (a sample is a dict with ``image``
(1, H, W) float32, ``masks`` (R, H, W) uint8, ``reader_present`` (R,) bool, ``case_id``, ``patient_id``,
``meta``). This module only:

- lists each epoch's batches deterministically (:class:`EpochBatches`: the permutation of epoch ``e`` is
  seeded ``seed + e``, split across DDP ranks like ``DistributedSampler``), so a resumed run can skip the
  batches it has already seen without any sampler state;
- draws the training pair (:func:`draw_pairs`) from a batch stacked by :func:`ssb_core.data.collate_samples`:
  reader ``l`` uniformly among the readers PRESENT on that slice, using the run's seeded generator;
- augments pairs on the batch (:func:`augment_pairs`): random flips, 90-degree rotations and a mild
  intensity scale/shift, image and mask together, from the same generator (so resume stays exact).

Patient-grouped splits and batching are the data package's (:func:`ssb_core.data.split_dataset`,
:func:`ssb_core.data.collate_samples`).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch.utils.data import DistributedSampler

__all__ = ["EpochBatches", "draw_pairs", "augment_pairs"]

logger = logging.getLogger(__name__)


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
