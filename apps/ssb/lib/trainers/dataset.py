"""Training samples from the datastore: every reader's label of every labelled image, prepared exactly as
the infer task prepares its input (the served model's :class:`ssb_core.preprocessing.Preprocessing`).

Per labelled image: the ROI is the one an annotator would get by drawing a box around the union of the
readers' labels (centred on it, at the model's physical scale, over the slices the labels touch; the image
centre when every reader left the image empty). Each ROI slice becomes one sample dict in the
``ssb_core.data`` convention that :func:`ssb_core.training.fine_tune` takes:

- ``image`` (1, H, W) float32, normalised; ``masks`` (R, H, W) uint8, slot i = reader ``readers[i]``
  (the label resampled like the image, then thresholded at 1/2); ``reader_present`` (R,) bool;
- ``case_id`` ``<image id>:k<slice>``; ``patient_id`` the image id (images are the unit of the validation split).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ssb_core.volume import plan_roi

from lib.conventions import ModelConventions
from lib.imageio import ImageReadError, read_image, read_mask_like
from lib.readers import reader_tags

__all__ = ["LabelledImage", "collect_labelled", "split_images"]

logger = logging.getLogger(__name__)


@dataclass
class LabelledImage:
    """The samples of one datastore image and the readers who labelled it."""

    image_id: str
    readers: list[str]
    samples: list[dict] = field(default_factory=list)


def _union_box(union: np.ndarray) -> list[list[int]] | None:
    """[[i0, i1], [j0, j1], [k0, k1]] around a (Z, Y, X) mask; None when it is empty."""
    if not union.any():
        return None
    zs, ys, xs = np.nonzero(union)
    return [[int(xs.min()), int(xs.max())], [int(ys.min()), int(ys.max())], [int(zs.min()), int(zs.max())]]


def image_samples(image_id: str, image_path: str, label_paths: dict[str, str], readers: list[str], conv: ModelConventions,
                  max_slices: int) -> LabelledImage:
    """The samples of one image whose readers' labels are ``label_paths`` (``reader -> file``)."""
    image = read_image(image_path)
    masks = {r: read_mask_like(p, image) for r, p in label_paths.items()}
    box = _union_box(np.any(np.stack(list(masks.values())), axis=0))
    pre = conv.preprocessing
    click = plan_roi(image.array.shape, image.spacing_xyz, pre, roi=box)
    k_lo, k_hi = click.k_range
    centre = int(round(click.box.centre_ijk[2]))
    k_lo = max(k_lo, min(centre - max_slices // 2, k_hi - max_slices + 1))
    plan = click.box.with_slices(range(k_lo, min(k_hi, k_lo + max_slices - 1) + 1))
    where = (plan.slices, plan.y0, plan.x0, plan.ny, plan.nx)
    x = pre.model_input(image.array, *where)[:, 0].numpy()
    slots = np.zeros((x.shape[0], len(readers), *conv.roi_size), dtype=np.uint8)
    present = np.zeros(len(readers), dtype=bool)
    for r, m in masks.items():
        slot = readers.index(r)
        slots[:, slot] = (pre.resample_boxes(m.astype(np.float32), *where)[:, 0].numpy() > 0.5).astype(np.uint8)
        present[slot] = True
    samples = [
        {"image": x[b][None].astype(np.float32), "masks": slots[b], "reader_present": present.copy(),
         "case_id": f"{image_id}:k{k}", "patient_id": image_id}
        for b, k in enumerate(plan.slices)
    ]
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


def split_images(images: list[LabelledImage], val_fraction: float) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """(train, validation) by image, deterministic (ordered by a hash of the image id).

    At least one image on each side when there are two or more; with one image, validation is empty.
    """
    ordered = sorted(images, key=lambda i: hashlib.sha1(i.image_id.encode()).hexdigest())
    if len(ordered) < 2:
        return ordered, []
    n_val = min(len(ordered) - 1, max(1, int(round(val_fraction * len(ordered)))))
    return ordered[n_val:], ordered[:n_val]
