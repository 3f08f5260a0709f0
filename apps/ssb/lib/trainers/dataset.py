"""Training samples from the datastore: every reader's label of every labelled image.

The datastore is read here (images, reader tags, label files: one labelmap per reader, value = lesion); the samples
themselves are made by :func:`ssb_core.volume.scan_training_samples`, exactly as the infer task prepares a click
with the served model's :class:`ssb_core.preprocessing.Preprocessing`: per lesion (the lesions of several readers
that overlap are one lesion group, its ROI around them; a reader who did not outline that lesion is absent from
its samples, not "no lesion"), one sample per ROI slice; ``patient_id`` = the image id, the unit of the validation
split. What is done with them (the split,
who takes part, each reader's samples) is :mod:`ssb_core.training.labelled_images`.
"""

from __future__ import annotations

import logging
from typing import Any

from ssb_core.training.labelled_images import LabelledImage
from ssb_core.volume import scan_training_samples

from lib.conventions import ModelConventions
from lib.imageio import ImageReadError, read_image, read_labelmap_like
from lib.readers import reader_tags

__all__ = ["collect_labelled", "image_samples"]

logger = logging.getLogger(__name__)


def image_samples(image_id: str, image_path: str, label_paths: dict[str, str], readers: list[str], conv: ModelConventions,
                  max_slices: int) -> LabelledImage:
    """The samples of one image whose readers' labels are ``label_paths`` (``reader -> file``)."""
    image = read_image(image_path)
    masks = {}
    for r, p in label_paths.items():
        try:
            masks[r] = read_labelmap_like(p, image)
        except Exception as exc:  # one unreadable label leaves its reader out of this image, never the run
            logger.warning("skipping the label of %s on %s: %s", r, image_id, exc)
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
