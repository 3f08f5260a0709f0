"""3D volumes in the layout the MONAI Label server collects, with one label folder per reader.

Layout::

    <root>/<name>.nii.gz | .nii | .nrrd                 the images
    <root>/labels/<reader_tag>/<name>.nii.gz | .nrrd    reader ``reader_tag``'s mask of image <name>

Files are read with SimpleITK. Array layout: SimpleITK's numpy array is (z, y, x); samples here use
(H, W, D) = (y, x, z), so the axial slice ``k`` is ``array[..., k]`` (the last numpy axis is z).

``meta`` of a volume: ``source``, ``labels`` ({tag: file}), ``spacing`` in the sample's array order
(y, x, z) mm, and SimpleITK's own ``sitk_spacing`` (x, y, z), ``origin``, ``direction`` (row-major 3x3)
so that a prediction can be written back with the image's geometry. A 2D slice's ``spacing`` is (row, col).

Each label must have its image's size, spacing, origin and direction (DatasetError otherwise). Reader tags
map to slots through ``readers`` (tag ``readers[i]`` -> slot ``i``); label folders with other tags raise a
DatasetError naming them, or are skipped (with a warning) when ``strict=False``. An image without a label
of reader ``i`` has a zero mask there and ``reader_present[i]`` False.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from ssb_core.data.base import ArraySampleDataset, make_sample
from ssb_core.data.errors import DatasetError, describe
from ssb_core.data.intensity import IntensityConvention

__all__ = ["VolumeDataset", "SliceDataset", "VolumeEntry", "read_volume", "EXTENSIONS"]

logger = logging.getLogger(__name__)

EXTENSIONS = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")
#: the default for volumes: per-volume z-score (modality agnostic; use LUNG_WINDOW for CT in HU).
DEFAULT_INTENSITY = IntensityConvention("zscore")


def _stem(path: Path) -> str | None:
    name = path.name
    for ext in EXTENSIONS:
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return None


@dataclass(frozen=True)
class Geometry:
    """SimpleITK geometry: size (x, y, z), spacing (x, y, z) mm, origin mm, direction (row-major)."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    def mismatch(self, other: "Geometry", tol: float = 1e-4) -> list[str]:
        """Names of the fields that differ from ``other`` (beyond ``tol`` relative / absolute)."""
        out = []
        if self.size != other.size:
            out.append(f"size {other.size} vs {self.size}")
        for name in ("spacing", "origin", "direction"):
            a, b = np.asarray(getattr(self, name)), np.asarray(getattr(other, name))
            if a.shape != b.shape or not np.allclose(a, b, rtol=tol, atol=tol):
                out.append(f"{name} {tuple(b.tolist())} vs {tuple(a.tolist())}")
        return out


def _sitk():
    import SimpleITK as sitk

    return sitk


def read_geometry(path: Path) -> Geometry:
    """The header of an image file (no voxel data); DatasetError naming the file when unreadable."""
    sitk = _sitk()
    if not path.is_file():
        raise DatasetError.for_file(path, "volume file not found", f"an image file ({', '.join(EXTENSIONS)})")
    try:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        return Geometry(tuple(reader.GetSize()), tuple(reader.GetSpacing()), tuple(reader.GetOrigin()), tuple(reader.GetDirection()))
    except RuntimeError as exc:
        raise DatasetError.for_file(path, f"cannot read the header ({describe(exc).splitlines()[0]})", "a NIfTI / NRRD image SimpleITK can read") from exc


def read_volume(path: Path) -> tuple[np.ndarray, Geometry]:
    """``(array (H, W, D) = (y, x, z), geometry)`` of a 3D image; DatasetError naming the file on failure."""
    sitk = _sitk()
    if not path.is_file():
        raise DatasetError.for_file(path, "volume file not found", f"an image file ({', '.join(EXTENSIONS)})")
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise DatasetError.for_file(path, f"cannot read ({describe(exc).splitlines()[0]}); the file is corrupt or truncated",
                                    "a NIfTI / NRRD image SimpleITK can read") from exc
    if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
        raise DatasetError.for_file(path, f"is a {img.GetDimension()}D image with {img.GetNumberOfComponentsPerPixel()} components",
                                    "a 3D scalar volume")
    geo = Geometry(tuple(img.GetSize()), tuple(img.GetSpacing()), tuple(img.GetOrigin()), tuple(img.GetDirection()))
    return np.transpose(sitk.GetArrayFromImage(img), (1, 2, 0)), geo


@dataclass
class VolumeEntry:
    """One image and its reader labels (``labels[slot]`` is the file of reader ``readers[slot]``)."""

    name: str
    image: Path
    labels: dict[int, Path] = field(default_factory=dict)
    geometry: Geometry | None = None


class SliceDataset(ArraySampleDataset):
    """2D slices cut from volumes (already normalised per volume): ``image`` (1, H, W), ``masks`` (R, H, W)."""


class VolumeDataset(Dataset):
    """Multi-reader 3D volumes as sample dicts (``image`` (1, H, W, D), ``masks`` (R, H, W, D)), loaded on access.

    Args:
        root: the folder holding the images and ``labels/<reader_tag>/``.
        readers: reader tags; tag ``readers[i]`` fills slot ``i`` (R = len(readers)).
        strict: unknown reader tags raise a DatasetError (True) or are skipped with a warning (False).
        intensity: applied per volume; default per-volume z-score.

    Raises:
        DatasetError: missing root, unknown tags (strict), labels whose geometry differs from their image,
            labels without an image, unreadable files (the message names the file).
    """

    def __init__(self, root: str | Path, readers: Sequence[str], strict: bool = True, intensity: IntensityConvention | None = None) -> None:
        self.root = Path(root).expanduser()
        self.readers = [str(r) for r in readers]
        if not self.readers or len(set(self.readers)) != len(self.readers):
            raise ValueError(f"readers must be a non-empty list of distinct tags, got {list(readers)}")
        self.intensity = intensity or DEFAULT_INTENSITY
        if not self.root.is_dir():
            raise DatasetError.for_file(self.root, "volume folder not found", "<root>/<name>.nii.gz|.nrrd and <root>/labels/<reader>/")
        images = {s: p for p in sorted(self.root.iterdir()) if p.is_file() and (s := _stem(p)) is not None}
        if not images:
            raise DatasetError.for_file(self.root, "holds no image files", f"<name>{'|'.join(EXTENSIONS)}")
        self.entries = [VolumeEntry(name, path) for name, path in images.items()]
        by_name = {e.name: e for e in self.entries}
        labels_dir = self.root / "labels"
        tags = sorted(d.name for d in labels_dir.iterdir() if d.is_dir()) if labels_dir.is_dir() else []
        unknown = [t for t in tags if t not in self.readers]
        if unknown:
            if strict:
                raise DatasetError.for_file(labels_dir, f"has label folders of unknown readers {unknown}", f"reader tags among {self.readers}")
            logger.warning("%s: skipping label folders of unknown readers %s (readers: %s)", labels_dir, unknown, self.readers)
        for tag in tags:
            if tag not in self.readers:
                continue
            slot = self.readers.index(tag)
            for lab in sorted((labels_dir / tag).iterdir()):
                name = _stem(lab)
                if name is None or not lab.is_file():
                    continue
                if name not in by_name:
                    raise DatasetError.for_file(lab, f"label of reader {tag!r} has no image {name!r} in {self.root}", "a label per existing image")
                by_name[name].labels[slot] = lab
        for e in self.entries:
            e.geometry = read_geometry(e.image)
            if len(e.geometry.size) != 3:
                raise DatasetError.for_file(e.image, f"is {len(e.geometry.size)}D", "a 3D volume")
            for slot, lab in e.labels.items():
                bad = e.geometry.mismatch(read_geometry(lab))
                if bad:
                    raise DatasetError.for_file(lab, f"label geometry differs from its image {e.image.name}: {'; '.join(bad)}",
                                                "the image's size, spacing, origin and direction")
        self.patient_ids = [e.name for e in self.entries]
        logger.info("volumes: %d images, readers %s, %d labels from %s", len(self.entries), self.readers,
                    sum(len(e.labels) for e in self.entries), self.root)

    def __len__(self) -> int:
        return len(self.entries)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        e = self.entries[index]
        vol, geo = read_volume(e.image)
        masks = np.zeros((len(self.readers), *vol.shape), dtype=np.uint8)
        present = np.zeros(len(self.readers), dtype=bool)
        for slot, lab in e.labels.items():
            arr, _ = read_volume(lab)
            masks[slot] = arr > 0
            present[slot] = True
        sx, sy, sz = geo.spacing
        meta = {"source": str(e.image), "labels": {self.readers[s]: str(p) for s, p in e.labels.items()},
                "spacing": (sy, sx, sz), "sitk_spacing": geo.spacing, "origin": geo.origin, "direction": geo.direction,
                "intensity": self.intensity.to_dict()}
        return self.intensity.apply(vol), masks, present, meta

    def __getitem__(self, index: int) -> dict[str, Any]:
        image, masks, present, meta = self._load(index)
        e = self.entries[index]
        return make_sample(image, masks, present, e.name, e.name, meta)

    def slices(self, axis: int = -1, lesion_only: bool = False) -> SliceDataset:
        """2D slices along ``axis`` of the (H, W, D) arrays (default -1: axial, z), normalised per volume.

        ``case_id`` is ``f"{name}_z{k}"``; ``meta["slice_index"] = k``, ``meta["spacing"]`` the slice's (row, col).
        """
        if axis not in (-1, 0, 1, 2):
            raise ValueError(f"axis must be -1, 0, 1 or 2, got {axis}")
        imgs, msks, pres, ids, pats, metas = [], [], [], [], [], []
        for i, e in enumerate(self.entries):
            vol, masks, present, meta = self._load(i)
            vol, masks = np.moveaxis(vol, axis, -1), np.moveaxis(masks, axis if axis < 0 else axis + 1, -1)
            spacing = list(meta["spacing"])
            sp_slice = spacing.pop(axis)
            keep = np.flatnonzero(masks.reshape(-1, masks.shape[-1]).any(axis=0)) if lesion_only else range(vol.shape[-1])
            for k in keep:
                imgs.append(np.ascontiguousarray(vol[..., k]))
                msks.append(np.ascontiguousarray(masks[..., k]))
                pres.append(present)
                ids.append(f"{e.name}_z{int(k)}")
                pats.append(e.name)
                metas.append({**{m: v for m, v in meta.items() if m != "spacing"}, "slice_index": int(k), "axis": axis,
                              "spacing": tuple(spacing), "slice_spacing": sp_slice})
        if not ids:
            raise DatasetError.for_file(self.root, "yields no slices" + (" with a lesion" if lesion_only else ""), "at least one labelled voxel")
        out = SliceDataset(imgs, msks, np.asarray(pres, dtype=bool).reshape(len(ids), len(self.readers)), ids, pats, metas,
                           self.intensity, normalised=True)
        logger.info("volumes: %d %s slices from %d volumes", len(out), "lesion" if lesion_only else "", len(self.entries))
        return out

    def slices_with_lesion(self, axis: int = -1) -> SliceDataset:
        """The 2D slices (along ``axis``, default axial) where any reader marked a voxel (for the 2D model)."""
        return self.slices(axis=axis, lesion_only=True)
