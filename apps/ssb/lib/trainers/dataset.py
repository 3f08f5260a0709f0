"""Training samples from the datastore: every reader's label of every labelled image.

The datastore is read here (images, reader tags, label files); the samples themselves are made by
:func:`ssb_core.volume.scan_training_samples`, exactly as the infer task prepares a click with the served model's
:class:`ssb_core.preprocessing.Preprocessing` (the ROI around the union of the readers' labels; one sample per
ROI slice; ``patient_id`` = the image id, the unit of the validation split).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ssb_core.data.splits import grouped_split
from ssb_core.volume import scan_training_samples

from lib.conventions import ModelConventions
from lib.imageio import ImageReadError, read_image, read_mask_like
from lib.readers import reader_tags

__all__ = ["LabelledImage", "collect_labelled", "split_images", "label_counts", "samples_of", "too_few_reason"]

logger = logging.getLogger(__name__)


@dataclass
class LabelledImage:
    """The samples of one datastore image and the readers who labelled it."""

    image_id: str
    readers: list[str]
    samples: list[dict] = field(default_factory=list)


def image_samples(image_id: str, image_path: str, label_paths: dict[str, str], readers: list[str], conv: ModelConventions,
                  max_slices: int) -> LabelledImage:
    """The samples of one image whose readers' labels are ``label_paths`` (``reader -> file``)."""
    image = read_image(image_path)
    masks = {r: read_mask_like(p, image) for r, p in label_paths.items()}
    samples = scan_training_samples(image_id, image.array, image.spacing_xyz, masks, readers, conv.preprocessing, max_slices)
    return LabelledImage(image_id, sorted(masks), samples)


def collect_labelled(datastore: Any, conv: ModelConventions, readers: list[str], max_slices: int = 64) -> list[LabelledImage]:
    """Every datastore image with at least one reader label (unreadable images are skipped with a warning).

    ``readers`` fixes the mask slots; every reader tag found must be in it (the caller first adds new readers).
    """
    out = []
    for image_id in sorted(datastore.list_images()):
        tags = reader_tags(datastore, image_id)
        if not tags:
            continue
        missing = [t for t in tags if t not in readers]
        if missing:
            raise ValueError(f"reader(s) {missing} of image {image_id} have no slot in {readers}")
        try:
            labels = {t: datastore.get_label_uri(image_id, t) for t in tags}
            out.append(image_samples(image_id, datastore.get_image_uri(image_id), labels, readers, conv, max_slices))
        except (ImageReadError, RuntimeError, OSError) as exc:
            logger.warning("skipping %s: %s", image_id, exc)
    logger.info("%d labelled images, %d slices", len(out), sum(len(i.samples) for i in out))
    return out


def split_images(images: list[LabelledImage], val_fraction: float, seed: int = 0) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """(train, validation) by image with :func:`ssb_core.data.splits.grouped_split` (images are the groups; the
    same split every time for the same images and seed).

    At least one image on each side when there are two or more; with one image, validation is empty.
    """
    if len(images) < 2:
        return list(images), []
    train, val = grouped_split([i.image_id for i in images], [1.0 - val_fraction, val_fraction], seed=seed, balance="groups")
    return [images[i] for i in train], [images[i] for i in val]


def label_counts(train: list[LabelledImage], val: list[LabelledImage]) -> dict[str, dict[str, int]]:
    """``{reader: {"train_images": n, "held_out_images": m}}`` for every reader with a label."""
    readers = sorted({r for i in [*train, *val] for r in i.readers})
    return {r: {"train_images": sum(r in i.readers for i in train), "held_out_images": sum(r in i.readers for i in val)} for r in readers}


def samples_of(images: list[LabelledImage], slots: list[str], readers: list[str] | None = None) -> list[dict]:
    """The samples of ``images``; with ``readers``, only those readers' masks are kept present (slices holding none of
    them are left out: with only their embedding rows training, another reader's pair would teach nothing)."""
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
    """Why no reader can take part in a run: each reader's labelled and held-out images, and what is needed."""
    per_reader = ", ".join(f"{r} {c['train_images'] + c['held_out_images']} labelled image(s), {c['held_out_images']} held out"
                           for r, c in counts.items())
    needed = math.ceil(min_val_images / val_fraction)
    return (f"too few labels for a sound decision: {per_reader}; a reader needs at least {min_val_images} held-out images "
            f"(about {needed} labelled images at val_fraction {val_fraction}) before a run can tell an improvement from noise. "
            "Nothing was trained")
