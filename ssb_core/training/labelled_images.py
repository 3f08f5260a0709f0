"""Readers' labelled images for adapting a model: the split by image, who can take part, and each reader's samples.

A :class:`LabelledImage` holds the training samples of one image (``ssb_core.volume.scan_training_samples``: one
sample per ROI slice, ``masks`` (M, H, W) with one slot per reader the model knows, ``reader_present`` (M,) bool)
and the readers who labelled it. The image is the unit everywhere here: the held-out set is a set of images, and a
reader's decision is made over images (:mod:`ssb_core.evaluation.reader_gate`), because slices of one image are
not independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ssb_core.data.splits import grouped_split

__all__ = ["LabelledImage", "split_images", "label_counts", "readers_taking_part", "samples_of", "too_few_reason"]


@dataclass
class LabelledImage:
    """The samples of one image and the readers who labelled it."""

    image_id: str
    readers: list[str]
    samples: list[dict] = field(default_factory=list)


def split_images(images: list[LabelledImage], val_fraction: float, seed: int = 0) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """(train, held out) by image with :func:`ssb_core.data.splits.grouped_split` (images are the groups; the same
    split every time for the same images and seed).

    At least one image on each side when there are two or more; with one image, the held-out set is empty.
    """
    if len(images) < 2:
        return list(images), []
    train, val = grouped_split([i.image_id for i in images], [1.0 - val_fraction, val_fraction], seed=seed, balance="groups")
    return [images[i] for i in train], [images[i] for i in val]


def label_counts(train: list[LabelledImage], val: list[LabelledImage]) -> dict[str, dict[str, int]]:
    """``{reader: {"train_images": n, "held_out_images": m}}`` for every reader with a label."""
    readers = sorted({r for i in [*train, *val] for r in i.readers})
    return {r: {"train_images": sum(r in i.readers for i in train), "held_out_images": sum(r in i.readers for i in val)} for r in readers}


def readers_taking_part(counts: dict[str, dict[str, int]], min_val_images: int) -> list[str]:
    """The readers of ``counts`` (:func:`label_counts`) with a training image and at least ``min_val_images`` held out:
    a paired comparison on fewer images cannot tell an improvement from chance (4 wins out of 4 happen once in 16)."""
    return [r for r, c in counts.items() if c["train_images"] >= 1 and c["held_out_images"] >= min_val_images]


def samples_of(images: list[LabelledImage], slots: list[str], readers: list[str] | None = None) -> list[dict]:
    """The samples of ``images``; with ``readers``, only those readers' masks are kept present (slices holding none of
    them are left out: with only their embedding rows training, another reader's pair would teach nothing).

    ``slots``: the reader name of each mask slot (the model's readers, in order).
    """
    samples = [x for i in images for x in i.samples]
    if readers is None:
        return samples
    keep = np.isin(np.asarray(slots), readers)
    out = []
    for x in samples:
        present = np.asarray(x["reader_present"], bool) & keep
        if present.any():
            out.append({**x, "reader_present": present})
    return out


def too_few_reason(counts: dict[str, dict[str, int]], min_val_images: int, val_fraction: float) -> str:
    """Why no reader can take part: each reader's labelled and held-out images, and how many labels are needed."""
    per_reader = ", ".join(f"{r} {c['train_images'] + c['held_out_images']} labelled image(s), {c['held_out_images']} held out"
                           for r, c in counts.items())
    needed = math.ceil(min_val_images / val_fraction)
    return (f"too few labels for a sound decision: {per_reader}; a reader needs at least {min_val_images} held-out images "
            f"(about {needed} labelled images at val_fraction {val_fraction}) before a run can tell an improvement from noise. "
            "Nothing was trained")
