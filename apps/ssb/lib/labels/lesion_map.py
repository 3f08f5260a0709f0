"""A reader's label of one image as lesions: one labelmap value per lesion, and what is known of each.

A radiologist annotates several lesions per scan. Their label of an image is a ``(Z, Y, X)`` uint8 labelmap on
the image's grid where value ``v > 0`` is their lesion ``v``, plus one :class:`Lesion` record per value (when and
from what it was saved). Lesions of one reader never overlap (a voxel belongs to at most one of their lesions).

The rules of a save (:func:`merge`), which every way of saving goes through (:mod:`lib.labels.service`):

- each submitted lesion mask **adds** a lesion (a new value) when it touches none of the reader's lesions, and
  **replaces** the one lesion it overlaps (same value: the lesion keeps its identity, its old voxels are cleared);
- a mask overlapping two or more of the reader's lesions is refused (which one would it replace?);
- an empty mask is refused: saving nothing never erases a lesion. Removing a lesion is its own, explicit action
  (:func:`remove`).

A file submitted by a viewer (:func:`lesions_of_labelmap`) may hold several lesions: one per label value, or one
per segment of a ``.seg.nrrd``. Values that touch each other are refused (an agreement or variability map, whose
levels nest, is not several lesions).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["MAX_LESIONS", "Lesion", "LesionRefused", "Saved", "lesions_of_labelmap", "merge", "remove", "lesion_records"]

MAX_LESIONS = 255  # the stored labelmap is uint8


class LesionRefused(ValueError):
    """A save or removal that would lose or confuse a reader's work; the message says why and what to do."""


@dataclass
class Lesion:
    """One lesion of a reader's label.

    Attributes:
        id: its value in the reader's labelmap (1..255).
        saved: unix time of the last save. voxels: its size. centre_ijk: its centre of mass (voxel indices i, j, k).
        source: what was saved, in words ("candidate 3", "candidate 3, edited by alice", "label file").
        candidate, seed, model, context: the candidate it came from (None for a drawn or uploaded label).
        edited: True when the reader changed the candidate before saving.
    """

    id: int
    saved: int
    voxels: int
    centre_ijk: list[float]
    source: str = "label file"
    candidate: int | None = None
    seed: int | None = None
    model: str | None = None
    context: str | None = None
    edited: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Lesion":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class Saved:
    """What one save did: ``lesion`` the lesion's id, ``action`` ``added`` or ``replaced``."""

    lesion: int
    action: str
    voxels: int
    replaced_voxels: int = 0
    extra: dict = field(default_factory=dict)


def _centre(mask_zyx: np.ndarray) -> list[float]:
    z, y, x = ndimage.center_of_mass(mask_zyx)
    return [round(float(x), 2), round(float(y), 2), round(float(z), 2)]


def lesions_of_labelmap(labelmap: np.ndarray) -> list[np.ndarray]:
    """The lesions of a submitted labelmap: one bool mask per non-zero value, in increasing value order.

    Raises:
        LesionRefused: no lesion voxel at all, or two values whose regions touch (face or edge neighbours).
    """
    arr = np.asarray(labelmap)
    values = [int(v) for v in np.unique(arr) if v != 0]
    if not values:
        raise LesionRefused("the label is empty (no lesion voxel): nothing was saved. Saving an empty mask would erase "
                            "your lesion; to remove a saved lesion, remove it explicitly")
    masks = [arr == v for v in values]
    if len(masks) > 1:
        grown = [ndimage.binary_dilation(m, structure=np.ones((3,) * arr.ndim, bool)) for m in masks]
        for a in range(len(masks)):
            for b in range(a + 1, len(masks)):
                if (grown[a] & masks[b]).any():
                    raise LesionRefused(f"label values {values[a]} and {values[b]} touch each other: a file with several "
                                        "values is read as one lesion per value, and lesions do not touch (an agreement or "
                                        "variability map is not a reader's label: save the one lesion you drew, as 0/1)")
    return masks


def merge(labelmap: np.ndarray | None, records: list[Lesion], mask: np.ndarray, info: dict[str, Any],
          lesion: int | None = None) -> tuple[np.ndarray, list[Lesion], Saved]:
    """A reader's label with ``mask`` saved as one lesion (see the module docstring).

    Args:
        labelmap: (Z, Y, X) uint8 stored labelmap, or None when the reader has no label on this image yet.
        records: the stored :class:`Lesion` records (one per value present).
        mask: (Z, Y, X) bool, the submitted lesion on the same grid.
        info: the new record's fields (``source``, ``candidate``, ``seed``, ``model``, ``context``, ``edited``).
        lesion: replace this lesion (its id) whatever the mask overlaps; None = by overlap.

    Returns:
        (new labelmap, new records, what was done). The inputs are not modified.

    Raises:
        LesionRefused: an empty mask, a mask overlapping several lesions, an unknown ``lesion``, or no value left.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise LesionRefused("the mask is empty (0 voxels): nothing was saved. Saving an empty mask would erase your "
                            "lesion; pick a candidate that draws the lesion, or remove a saved lesion explicitly")
    out = np.zeros(mask.shape, np.uint8) if labelmap is None else np.array(labelmap, dtype=np.uint8, copy=True)
    if out.shape != mask.shape:
        raise LesionRefused(f"the mask has shape {mask.shape}, the reader's label {out.shape}: not the same image grid")
    by_id = {r.id: r for r in records}
    if lesion is not None:
        if lesion not in by_id:
            raise LesionRefused(f"lesion {lesion} is not one of the reader's lesions on this image ({sorted(by_id) or 'none'})")
        target = lesion
    else:
        hit = sorted(int(v) for v in np.unique(out[mask]) if v != 0)
        if len(hit) > 1:
            raise LesionRefused(f"the mask overlaps {len(hit)} of your saved lesions ({', '.join(map(str, hit))}): save it "
                                "in place of one of them (lesion=<id>) or remove the others first")
        target = hit[0] if hit else None
    others = (out != 0) & (out != (target or 0)) & mask
    if others.any():
        ids = sorted(int(v) for v in np.unique(out[others]))
        raise LesionRefused(f"the mask overlaps your lesion(s) {ids} besides lesion {target}: remove them first")
    if target is None:
        free = sorted(set(range(1, MAX_LESIONS + 1)) - set(by_id) - {int(v) for v in np.unique(out)})
        if not free:
            raise LesionRefused(f"{MAX_LESIONS} lesions are saved for this reader on this image: remove one first")
        target, action, before = free[0], "added", 0
    else:
        action, before = "replaced", int((out == target).sum())
        out[out == target] = 0
    out[mask] = target
    record = Lesion(id=target, saved=int(time.time()), voxels=int(mask.sum()), centre_ijk=_centre(mask),
                    **{k: info[k] for k in ("source", "candidate", "seed", "model", "context", "edited") if k in info})
    new_records = sorted([r for r in records if r.id != target] + [record], key=lambda r: r.id)
    return out, new_records, Saved(target, action, record.voxels, before)


def remove(labelmap: np.ndarray, records: list[Lesion], lesion: int) -> tuple[np.ndarray, list[Lesion], int]:
    """The label without ``lesion``: (labelmap, records, voxels removed).

    Raises:
        LesionRefused: ``lesion`` is not one of the records.
    """
    if lesion not in {r.id for r in records}:
        raise LesionRefused(f"lesion {lesion} is not one of the reader's lesions on this image ({sorted(r.id for r in records) or 'none'})")
    out = np.array(labelmap, dtype=np.uint8, copy=True)
    gone = int((out == lesion).sum())
    out[out == lesion] = 0
    return out, [r for r in records if r.id != lesion], gone


def lesion_records(labelmap: np.ndarray, info: dict[str, Any] | None) -> list[Lesion]:
    """The :class:`Lesion` records of a stored label: its info's ``lesions`` for the values present, and a record
    made from the voxels for a value the info does not describe (a label stored before lesions existed: value 1, or
    a viewer's candidate as value 4)."""
    described = {int(d["id"]): Lesion.from_dict(d) for d in (info or {}).get("lesions", []) if isinstance(d, dict) and "id" in d}
    saved = int((info or {}).get("ts", 0))
    out = []
    for v in (int(v) for v in np.unique(labelmap) if v != 0):
        m = labelmap == v
        out.append(described.get(v) or Lesion(id=v, saved=saved, voxels=int(m.sum()), centre_ijk=_centre(m), source="label file"))
    return out
