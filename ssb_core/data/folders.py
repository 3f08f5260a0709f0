"""The lidc128-jpg folders (CIMD repository framing of the LIDC-IDRI benchmark crops).

Layout: ``<root>/{training,testing}/<id>/image_<n>.jpg`` (grey 128x128) and ``label0_.jpg`` ... ``label3_.jpg``.
JPEG is lossy, so masks are thresholded (``> 127``). The source does not distinguish an absent reader from an
empty mask: every reader is marked present and ``meta["absent_unknown"] = True``. The case directory name is
both ``case_id`` and ``patient_id`` (the source keeps no patient identifier).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from ssb_core.data.base import ArraySampleDataset
from ssb_core.data.errors import DatasetError, describe
from ssb_core.data.intensity import JPG_UNIT, IntensityConvention

__all__ = ["JpgFoldersDataset", "read_gray", "SPLITS", "NUM_READERS"]

logger = logging.getLogger(__name__)

SPLITS = ("training", "testing")
NUM_READERS = 4


def read_gray(path: Path) -> np.ndarray:
    """A greyscale image as uint8 (H, W); DatasetError naming the file when it is missing or not an image."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise DatasetError.for_file(path, "image file not found", "a greyscale JPEG")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise DatasetError.for_file(path, f"cannot decode ({describe(exc)}); the file is corrupt or truncated", "a greyscale JPEG") from exc


def _sort_key(p: Path) -> tuple[int, str]:
    return (int(p.name), p.name) if p.name.isdigit() else (10**9, p.name)


def _case_dirs(root: Path, split: str | None) -> list[Path]:
    if not root.is_dir():
        raise DatasetError.for_file(root, "directory not found", f"a lidc128-jpg root with {SPLITS} or a split directory")
    base = root
    if split is not None:
        if split not in SPLITS:
            raise ValueError(f"folders split must be one of {SPLITS}, got {split!r}")
        base = root / split
        if not base.is_dir():
            raise DatasetError.for_file(base, "split directory not found", f"<root>/{split}/<id>/image_<n>.jpg")
    elif any((root / s).is_dir() for s in SPLITS):
        return [d for s in SPLITS if (root / s).is_dir() for d in sorted((root / s).iterdir(), key=_sort_key) if d.is_dir()]
    return [d for d in sorted(base.iterdir(), key=_sort_key) if d.is_dir()]


class JpgFoldersDataset(ArraySampleDataset):
    """lidc128-jpg cases as sample dicts (``image`` (1, 128, 128), ``masks`` (4, 128, 128)).

    Args:
        root: the lidc128-jpg directory (or a split directory holding case directories).
        split: ``training`` / ``testing``; None reads both when ``root`` holds them.
        intensity: defaults to :data:`~ssb_core.data.intensity.JPG_UNIT`.
        threshold: a mask pixel is 1 when its grey value is above this.
    """

    def __init__(self, root: str | Path, split: str | None = None, intensity: IntensityConvention | None = None, threshold: int = 127) -> None:
        root = Path(root).expanduser()
        dirs = _case_dirs(root, split)
        if not dirs:
            raise DatasetError.for_file(root / (split or ""), "holds no case directories", "<id>/image_<n>.jpg + label0_.jpg ... label3_.jpg")
        images, masks, ids, metas = [], [], [], []
        for d in dirs:
            imgs = sorted(p for p in d.glob("image_*.jpg") if re.fullmatch(r"image_\d+\.jpg", p.name))
            if len(imgs) != 1:
                raise DatasetError.for_file(d, f"holds {len(imgs)} image_<n>.jpg files", "exactly one image_<n>.jpg per case")
            img = read_gray(imgs[0])
            labels = []
            for r in range(NUM_READERS):
                lab = read_gray(d / f"label{r}_.jpg")
                if lab.shape != img.shape:
                    raise DatasetError.for_file(d / f"label{r}_.jpg", f"has shape {lab.shape}", f"the image's shape {img.shape}")
                labels.append((lab > threshold).astype(np.uint8))
            images.append(img.astype(np.float32))
            masks.append(np.stack(labels))
            ids.append(d.name)
            meta: dict[str, Any] = {"source": str(imgs[0]), "split": d.parent.name, "absent_unknown": True, "spacing": None,
                                    "nonempty_readers": int(sum(int(m.any()) for m in labels))}
            metas.append(meta)
        self.root = root
        self.split = split
        n = len(ids)
        super().__init__(images, masks, np.ones((n, NUM_READERS), dtype=bool), ids, ids, metas, intensity or JPG_UNIT)
        logger.info("lidc128-jpg %s: %d cases from %s", split or "all", n, root)
