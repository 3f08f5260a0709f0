"""From the data package's multi-reader samples to training pairs (image, mask of reader l, l).

The datasets themselves come from :func:`ssb_core.data.build_dataset` (a sample is a dict with ``image``
(1, H, W) float32, ``masks`` (R, H, W) uint8, ``reader_present`` (R,) bool, ``case_id``, ``patient_id``,
``meta``). This module only:

- lists each epoch's batches deterministically (:class:`EpochBatches`: the permutation of epoch ``e`` is
  seeded ``seed + e``, split across DDP ranks like ``DistributedSampler``), so a resumed run can skip the
  batches it has already seen without any sampler state;
- draws the training pair (:func:`draw_pairs`) from a batch stacked by :func:`ssb_core.data.collate_samples`:
  reader ``l`` uniformly among the readers PRESENT on that slice (``absent_readers="exclude"``), or among all
  reader slots with an absent reader's mask taken as empty (``"empty"``, the Kohl et al. 2018 convention:
  a reader who drew nothing on a slice said "no nodule here"), using the run's seeded generator;
- augments pairs on the batch (:func:`augment_pairs`): random flips, 90-degree rotations, off-centre windows
  (:func:`off_centre_pairs`) and a mild intensity scale/shift, image and mask together, from the same
  generator (so resume stays exact).

Off-centre windows are the negative evidence the lidc64 crops hold: each crop is centred on a nodule, so a
model trained on them alone draws a nodule at the centre of ANY window, including a window on empty lung or
on the slice above a nodule's end. Shifting the crop (reflecting at its border, which keeps the crop's own
texture) and keeping as target only the reader's lesion that still covers the centre teaches the model what
a click means: segment the lesion under the centre of the window, or nothing.

Patient-grouped splits and batching are the data package's (:func:`ssb_core.data.split_dataset`,
:func:`ssb_core.data.collate_samples`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch.utils.data import DistributedSampler

__all__ = ["EpochBatches", "ABSENT_READERS", "draw_pairs", "augment_pairs", "off_centre_pairs"]

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


ABSENT_READERS = ("exclude", "empty")


def draw_pairs(batch: dict[str, Any], generator: torch.Generator,
               absent_readers: str = "exclude") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training pair per sample: reader ``l`` drawn uniformly among the readers present on it
    (``absent_readers="exclude"``) or among all reader slots, an absent reader's slot being an empty mask
    (``"empty"``).

    Returns:
        images (B, 1, H, W) float32, masks (B, 1, H, W) float32 in {0, 1}, labels (B,) int64 (the slot index).

    Raises:
        ValueError: a sample has no reader present (names its case_id).
    """
    if absent_readers not in ABSENT_READERS:
        raise ValueError(f"absent_readers must be one of {ABSENT_READERS}, got {absent_readers!r}")
    present = batch["reader_present"]
    empty = ~present.any(dim=1)
    if empty.any():
        cases = [batch["case_id"][i] for i in torch.nonzero(empty).flatten().tolist()]
        raise ValueError(f"samples without any reader mask cannot be trained on: {cases}")
    weights = present.float() if absent_readers == "exclude" else torch.ones_like(present, dtype=torch.float32)
    labels = torch.multinomial(weights, 1, generator=generator).squeeze(1)
    masks = batch["masks"][torch.arange(len(labels)), labels].unsqueeze(1).float()
    masks = masks * present[torch.arange(len(labels)), labels].float()[:, None, None, None]
    return batch["image"].float(), masks, labels.long()


def _cut(t: torch.Tensor, top: int, left: int, h: int, w: int) -> torch.Tensor:
    """(1, C, S, Sw) -> (C, h, w): rows ``top .. top+h-1``, columns ``left .. left+w-1``, reflected past the border."""
    s, sw = t.shape[-2:]
    pad = (max(0, -left), max(0, left + w - sw), max(0, -top), max(0, top + h - s))
    if any(pad):
        t = F.pad(t, pad, mode="reflect")
    top, left = top + pad[2], left + pad[0]
    return t[0, :, top : top + h, left : left + w]


def off_centre_pairs(
    images: torch.Tensor,
    masks: torch.Tensor,
    generator: torch.Generator,
    prob: float,
    max_shift: float = 0.45,
    centre_radius: int = 4,
    normalise: Callable[[np.ndarray], np.ndarray] | None = None,
    hard_negatives: float = 0.0,
    hard_margin: int = 8,
    hard_max_shift: float = 0.3,
    window: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """With probability ``prob`` per sample, shift the window by up to ``max_shift`` of its size in each axis
    (the image reflected at its border, the mask likewise) and keep as target only the mask's connected
    parts that reach within ``centre_radius`` pixels of the window centre (empty when none does).

    Hard negatives: a share ``hard_negatives`` of the shifted windows is centred on a bright pixel (above the
    window's mean + 1 std: vessel, chest wall, bone) at least ``hard_margin`` pixels from the reader's mask,
    within ``hard_max_shift`` of the window's size from its centre (so that the reflected border stays away from
    the new centre), where there is one: structures a radiologist saw and did not outline. Their target
    is empty. ``normalise`` ((H, W) -> (H, W)) re-applies the model's per-window intensity convention to a
    shifted window, as the whole-scan inference does for every window it cuts.

    ``window`` (H, W): the model's window when the samples are a larger context around the lesion (lidc128's
    training samples, (B, 1, C, C) with C > H): every window is cut from the context (centred, or shifted as
    above; the reflection then starts only past the context) and normalised on its own; an unshifted window
    keeps the reader's whole mask. None or the samples' own size: windows the size of the samples, as lidc64's.

    Returns (B, 1, H, W) images and masks."""
    B, _, S, Sw = images.shape
    H, W = window or (S, Sw)
    same = (H, W) == (S, Sw)
    draws = torch.rand((B, 5), generator=generator)
    out_i = images.clone() if same else images.new_empty((B, 1, H, W))
    out_m = masks.clone() if same else masks.new_empty((B, 1, H, W))
    yy, xx = np.mgrid[0:H, 0:W]
    cy, cx = (H - 1) / 2.0, (W - 1) / 2.0
    centre = (yy - cy) ** 2 + (xx - cx) ** 2 <= centre_radius**2
    syy, sxx = np.mgrid[0:S, 0:Sw]
    scy, scx = (S - 1) / 2.0, (Sw - 1) / 2.0
    reach = (np.abs(syy - scy) <= hard_max_shift * H) & (np.abs(sxx - scx) <= hard_max_shift * W)
    for b in range(B):
        shifted = float(draws[b, 0]) < prob
        if not shifted and same:
            continue
        dy = int(round((2 * float(draws[b, 1]) - 1) * max_shift * H)) if shifted else 0
        dx = int(round((2 * float(draws[b, 2]) - 1) * max_shift * W)) if shifted else 0
        if shifted and float(draws[b, 3]) < hard_negatives:
            image = images[b, 0].numpy()
            far = ndimage.distance_transform_edt(masks[b, 0].numpy() <= 0.5) >= hard_margin
            ys, xs = np.nonzero((image > image.mean() + image.std()) & far & reach)
            if ys.size:
                pick = min(ys.size - 1, int(float(draws[b, 4]) * ys.size))
                dy, dx = int(round(ys[pick] - scy)), int(round(xs[pick] - scx))
        top, left = (S - H) // 2 + dy, (Sw - W) // 2 + dx
        img = _cut(images[b : b + 1], top, left, H, W)
        msk = _cut(masks[b : b + 1], top, left, H, W)
        m = msk[0].numpy() > 0.5
        if shifted:
            labels, count = ndimage.label(m, structure=np.ones((3, 3), dtype=bool))
            hit = np.unique(labels[centre & m])
            m = np.isin(labels, hit[hit > 0]) if count else m
        if normalise is not None:
            img = torch.from_numpy(normalise(img[0].numpy()))[None]
        out_i[b], out_m[b] = img, torch.from_numpy(m.astype(np.float32))[None]
    return out_i.contiguous(), out_m.contiguous()


def augment_pairs(
    images: torch.Tensor,
    masks: torch.Tensor,
    generator: torch.Generator,
    flips: bool = True,
    rot90: bool = True,
    intensity: float = 0.1,
    off_centre: float = 0.0,
    max_shift: float = 0.45,
    centre_radius: int = 4,
    normalise: Callable[[np.ndarray], np.ndarray] | None = None,
    hard_negatives: float = 0.0,
    window: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flips / 90-degree rotations (joint on image and mask), off-centre windows with probability
    ``off_centre`` (a share ``hard_negatives`` of them centred on bright structures away from the lesion;
    :func:`off_centre_pairs`) and intensity ``x * (1 + a) + b`` with
    ``a, b ~ U(-intensity, intensity)`` (image only), per sample. Shapes (B, 1, H, W); square H = W for rot90.
    ``window``: the model's window when the samples are a larger context (:func:`off_centre_pairs`); the result
    is then (B, 1, *window)."""
    if off_centre > 0 or (window is not None and tuple(window) != tuple(images.shape[-2:])):
        images, masks = off_centre_pairs(images, masks, generator, off_centre, max_shift, centre_radius, normalise,
                                         hard_negatives, window=window)
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
