"""Training the presence head (:mod:`ssb_core.presence.head`) on multi-reader windows.

Inputs are the bridge's own centred windows, as a dataset of the data package yields them for evaluation (``image``
(1, H, W) normalised, ``reader_present`` (R,) bool: slot k outlined this lesion). The target of output k is
``reader_present[k]``; the loss is binary cross-entropy. Augmentation: the dihedral group (flips, 90-degree
rotations: a lesion's look does not depend on them) and a mild intensity scale and shift, like the bridge's.
Everything is drawn from one seeded generator: the same data and settings give the same head.

What is reported (:func:`presence_report`, on validation windows): the mean cross-entropy against that of the
training split's per-slot rates (the prior, what a head that ignores the image scores), and per slot the
reliability of its probabilities (windows binned by predicted probability: count, mean predicted, observed rate).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ssb_core.presence.head import PresenceConfig, PresenceHead

__all__ = ["PresenceTraining", "presence_arrays", "train_presence_head", "presence_report"]

logger = logging.getLogger(__name__)


@dataclass
class PresenceTraining:
    """Settings of one training run (defaults: measured on lidc128, docs/lidc128.md "Presence and shape apart").

    Attributes:
        epochs: passes over the training windows (one-cycle learning-rate schedule over all of them).
        batch_size: windows per step. lr: peak learning rate (AdamW). weight_decay: AdamW's.
        intensity: standard deviation of the random scale (1 + s) and shift (s) of each window.
        seed: the generator of the order, the augmentation and the initial weights.
    """

    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    intensity: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


def presence_arrays(dataset: Any, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A dataset's windows and presence: (M, 1, H, W) float32 and (M, R) bool."""
    images, present = [], []
    for i in tqdm(range(len(dataset)), desc="windows", disable=not progress, leave=False):
        sample = dataset[i]
        images.append(np.asarray(sample["image"], np.float32))
        present.append(np.asarray(sample["reader_present"], bool))
    if not images:
        raise ValueError("the dataset is empty")
    return np.stack(images), np.stack(present)


def _augment(x: torch.Tensor, generator: torch.Generator, intensity: float) -> torch.Tensor:
    """One random element of the dihedral group for the whole batch, then a per-window intensity scale and shift."""
    k = int(torch.randint(4, (1,), generator=generator))
    x = torch.rot90(x, k, (2, 3))
    if torch.rand(1, generator=generator) < 0.5:
        x = x.flip(3)
    if intensity > 0:
        scale = 1 + intensity * torch.randn(len(x), 1, 1, 1, generator=generator)
        shift = intensity * torch.randn(len(x), 1, 1, 1, generator=generator)
        x = x * scale + shift
    return x


def train_presence_head(images: np.ndarray, present: np.ndarray, config: PresenceConfig | None = None,
                        settings: PresenceTraining | None = None, progress: bool = False) -> PresenceHead:
    """Train a head on (M, 1, H, W) windows and their (M, R) presence; returns it in eval mode.

    ``config`` defaults to the windows' size and the presence's number of slots."""
    settings = settings or PresenceTraining()
    if images.ndim != 4 or images.shape[1] != 1 or present.ndim != 2 or len(images) != len(present):
        raise ValueError(f"expected images (M, 1, H, W) and present (M, R) of the same M, got {images.shape} and {present.shape}")
    config = config or PresenceConfig(num_readers=present.shape[1], window=tuple(images.shape[-2:]))
    if config.num_readers != present.shape[1]:
        raise ValueError(f"the head has {config.num_readers} reader slots, the data {present.shape[1]}")
    torch.manual_seed(settings.seed)
    head = PresenceHead(config)
    head.train()
    generator = torch.Generator().manual_seed(settings.seed)
    x_all, y_all = torch.from_numpy(np.ascontiguousarray(images, np.float32)), torch.from_numpy(present.astype(np.float32))
    batch = min(settings.batch_size, len(x_all))
    per_epoch = len(x_all) // batch
    opt = torch.optim.AdamW(head.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, settings.lr, total_steps=settings.epochs * per_epoch)
    bar = tqdm(total=settings.epochs * per_epoch, desc="presence head", disable=not progress)
    for epoch in range(settings.epochs):
        order = torch.randperm(len(x_all), generator=generator)
        total = 0.0
        for step in range(per_epoch):
            idx = order[step * batch : (step + 1) * batch]
            loss = F.binary_cross_entropy_with_logits(head(_augment(x_all[idx], generator, settings.intensity)), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
            bar.update(1)
        logger.info("presence head: epoch %d of %d, training cross-entropy %.4f", epoch + 1, settings.epochs, total / per_epoch)
    bar.close()
    head.metrics = {"training": {**asdict(settings), "windows": int(len(x_all)),
                                 "prior": [round(float(r), 4) for r in present.mean(axis=0)]}}
    return head.eval()


def _cross_entropy(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def presence_report(head: PresenceHead, images: np.ndarray, present: np.ndarray, prior: np.ndarray,
                    bins: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)) -> dict:
    """How the head does on held-out windows: cross-entropy against the prior's, and per-slot reliability rows
    ``[count, mean predicted, observed rate]`` of the windows binned by predicted probability (plain data)."""
    probs = np.concatenate([head.probabilities(torch.from_numpy(images[i : i + 256])).numpy() for i in range(0, len(images), 256)])
    y = present.astype(np.float64)
    report = {"windows": int(len(images)), "cross_entropy": round(_cross_entropy(probs, y), 4),
              "prior_cross_entropy": round(_cross_entropy(np.broadcast_to(prior, y.shape), y), 4),
              "observed_rate": [round(float(r), 4) for r in y.mean(axis=0)],
              "mean_predicted": [round(float(r), 4) for r in probs.mean(axis=0)], "reliability": []}
    for k in range(probs.shape[1]):
        which = np.digitize(probs[:, k], bins)
        rows = [[int((which == b).sum()), round(float(probs[which == b, k].mean()), 3), round(float(y[which == b, k].mean()), 3)]
                for b in range(len(bins) + 1) if (which == b).any()]
        report["reliability"].append(rows)
    if not math.isfinite(report["cross_entropy"]):
        raise ValueError("the head's cross-entropy is not finite")
    return report
