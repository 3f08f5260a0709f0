"""The one way a reader's label is saved: validate, merge as lesions, store (datastore and PACS), emit one event.

Every save goes through :class:`LabelService`, whatever it comes from:

- ``PUT /datastore/label`` (3D Slicer's *Submit Label*, ``MONAILabelClient.save_label``, OHIF's raw upload): the
  datastore's ``save_label`` hands the file to :meth:`LabelService.submit_file`;
- the OHIF panel's pick of a candidate, edited or not (``POST /ssb/lesions``, :mod:`lib.labels.routes`):
  :meth:`LabelService.save_mask`;
- the explicit removal of a lesion (``DELETE /ssb/lesions``): :meth:`LabelService.remove`.

Each is read as lesions (:mod:`lib.safety.labels`), merged into the reader's stored label by the rules of
:mod:`lib.labels.lesion_map` (a lesion is added or replaced, never erased by an empty mask), written through the
datastore's :class:`ReaderLabelStore` (the local folder; with a PACS also a DICOM SEG, one segment per lesion), and
announced once to the listeners (the background retraining counts these events, :mod:`lib.retrain`). A save that
is refused writes nothing.

The stored label of a reader is a uint8 labelmap on the image's grid (value = lesion id, ``.nii.gz``) with
``lesions`` (one :class:`~lib.labels.lesion_map.Lesion` record each) in the datastore's label info.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from lib.imageio import LoadedImage, read_image, read_labelmap_like, temp_path, write_like
from lib.labels.lesion_map import Lesion, LesionRefused, Saved, lesion_records, merge, remove

__all__ = ["LabelService", "LocalLabelCopies", "ReaderLabelStore", "SaveEvent"]

logger = logging.getLogger(__name__)

SaveEvent = dict
"""``{"image", "reader", "action" (added / replaced / removed), "lesion", "lesions" (the reader's count after)}``."""


class ReaderLabelStore(Protocol):
    """What a datastore offers the service (both of the app's datastores implement it)."""

    def get_image_uri(self, image_id: str) -> str: ...

    def reader_label_file(self, image_id: str, reader: str) -> tuple[str | None, dict]:
        """(the stored label file or None, its label info)."""

    def write_reader_label(self, image_id: str, reader: str, path: str, info: dict, lesions: list[Lesion],
                           image: LoadedImage) -> dict:
        """Store ``path`` (the reader's whole labelmap) with ``info``; what it stored besides (e.g. the SEG's UID)."""

    def delete_reader_label(self, image_id: str, reader: str) -> None: ...


class LocalLabelCopies:
    """How both of the app's datastores read a reader's stored label: the copy in the local folder (MONAI Label's
    ``LocalDatastore`` part; the DICOMweb datastore keeps its copy there too). Mixed into the datastore classes."""

    def reader_label_file(self, image_id: str, reader: str) -> tuple[str | None, dict]:
        from monailabel.datastore.local import LocalDatastore

        path = LocalDatastore.get_label_uri(self, image_id, reader)  # type: ignore[arg-type]
        info = LocalDatastore.get_label_info(self, image_id, reader)  # type: ignore[arg-type]
        return (path if path and os.path.isfile(path) else None), dict(info or {})


class LabelService:
    """Saves and removes readers' lesions (see the module docstring).

    Args:
        store: the datastore. listeners: called with one :data:`SaveEvent` per successful save or removal.

    Attributes:
        matcher: ``(image path, reader, lesion mask) -> save info`` tracing a submitted lesion to the candidate it came
            from (:func:`lib.labels.provenance.label_provenance`, set by the app), or None.
    """

    def __init__(self, store: ReaderLabelStore, listeners: list[Callable[[SaveEvent], Any]] | None = None) -> None:
        self.store = store
        self.listeners = list(listeners or [])
        self.matcher: Callable[[str, str, np.ndarray], dict] | None = None
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, image_id: str, reader: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((image_id, reader), threading.Lock())

    # --- reading ----------------------------------------------------------------------------------------------
    def _image(self, image_id: str) -> LoadedImage:
        return read_image(self.store.get_image_uri(image_id))

    def _stored(self, image_id: str, reader: str, image: LoadedImage) -> tuple[np.ndarray | None, list[Lesion]]:
        path, info = self.store.reader_label_file(image_id, reader)
        if not path:
            return None, []
        labelmap = read_labelmap_like(path, image)
        return labelmap, lesion_records(labelmap, info)

    def reader_lesions(self, image_id: str, reader: str, image: LoadedImage | None = None) -> tuple[np.ndarray | None, list[Lesion]]:
        """The reader's stored labelmap (None when they have none) and its lesion records."""
        return self._stored(image_id, reader, image or self._image(image_id))

    # --- writing ----------------------------------------------------------------------------------------------
    def submit_file(self, image_id: str, reader: str, upload: str, info: dict | None = None) -> dict:
        """Every lesion of an uploaded label file added or replaced (``PUT /datastore/label``).

        Raises:
            LabelError / LesionRefused: the file is refused (nothing written).
        """
        from lib.safety.labels import read_lesion_upload

        image = self._image(image_id)
        uri = self.store.get_image_uri(image_id)
        masks = read_lesion_upload(upload, uri)
        items = []
        for m in masks:  # a lesion the request does not trace to a candidate may still be one, touched up (matcher)
            said = dict(info or {})
            if _int_or_none(said.get("candidate")) is None and self.matcher is not None:
                said.update(self.matcher(uri, reader, m))
            items.append((m, _save_info(said, default_source="label file"), None))
        return self._save(image_id, reader, image, items)

    def save_upload(self, image_id: str, reader: str, upload: str, info: dict | None = None) -> str:
        """:meth:`submit_file` for a datastore's ``save_label``: a refused file is HTTP 400 (nothing written); what was
        done is recorded for the request's answer (:func:`lib.label_saves.record_saved`). Returns the image id."""
        from lib.errors import bad_request
        from lib.label_saves import record_saved
        from lib.safety.labels import LabelError

        try:
            result = self.submit_file(image_id, reader, upload, info)
        except (LabelError, LesionRefused) as exc:
            raise bad_request(f"label for image {image_id!r}, reader {reader!r}: {exc}") from None
        record_saved(image_id, result)
        return image_id

    def save_mask(self, image_id: str, reader: str, mask_zyx: np.ndarray, info: dict | None = None,
                  lesion: int | None = None, image: LoadedImage | None = None) -> dict:
        """One lesion (a picked candidate, edited or not) added or replaced."""
        image = image or self._image(image_id)
        if mask_zyx.shape != image.array.shape:
            raise LesionRefused(f"the mask has shape {mask_zyx.shape}, the image {image.array.shape}")
        return self._save(image_id, reader, image, [(np.asarray(mask_zyx, bool), _save_info(info, "mask"), lesion)])

    def remove(self, image_id: str, reader: str, lesion: int) -> dict:
        """Remove one of the reader's lesions (the explicit action; the other lesions are kept)."""
        image = self._image(image_id)
        with self._lock(image_id, reader):
            labelmap, records = self._stored(image_id, reader, image)
            if labelmap is None:
                raise LesionRefused(f"{reader} has no saved lesion on image {image_id}")
            labelmap, records, gone = remove(labelmap, records, int(lesion))
            if records:
                stored = self._write(image_id, reader, labelmap, records, image, {})
            else:
                self.store.delete_reader_label(image_id, reader)
                stored = {}
        result = {"image": image_id, "reader": reader, "lesion": int(lesion), "action": "removed", "voxels": gone,
                  "lesions": [r.id for r in records], **stored}
        result.update(self._emit({"image": image_id, "reader": reader, "action": "removed", "lesion": int(lesion),
                                  "lesions": len(records)}))
        logger.info("lesion %d of %s removed from %s (%d voxels); %d left", lesion, reader, image_id, gone, len(records))
        return result

    def _save(self, image_id: str, reader: str, image: LoadedImage, items: list[tuple[np.ndarray, dict, int | None]]) -> dict:
        with self._lock(image_id, reader):
            labelmap, records = self._stored(image_id, reader, image)
            done: list[Saved] = []
            for mask, info, lesion in items:  # all or nothing: merged in memory, written once
                labelmap, records, saved = merge(labelmap, records, mask, info, lesion)
                done.append(saved)
            stored = self._write(image_id, reader, labelmap, records, image, items[0][1])
        voxel_mm3 = image.voxel_volume
        result = {
            "image": image_id, "reader": reader,
            "saved": [{"lesion": s.lesion, "action": s.action, "voxels": s.voxels, "volume_mm3": round(s.voxels * voxel_mm3, 1)}
                      for s in done],
            "lesions": [r.id for r in records], **stored,
        }
        for s in done:
            logger.info("lesion %d of %s on %s %s (%d voxels)", s.lesion, reader, image_id, s.action, s.voxels)
        result.update(self._emit({"image": image_id, "reader": reader, "action": ",".join(s.action for s in done),
                                  "lesion": done[0].lesion, "lesions": len(records)}))
        return result

    def _write(self, image_id: str, reader: str, labelmap: np.ndarray, records: list[Lesion], image: LoadedImage,
               request_info: dict) -> dict:
        path = temp_path(".nii.gz", "ssb_label_")
        try:
            write_like(labelmap, image, path, np.uint8)
            info = {k: v for k, v in request_info.items() if k not in ("lesions", "source", "edited")}
            info.update(reader=reader, lesions=[r.to_dict() for r in records])
            return self.store.write_reader_label(image_id, reader, path, info, records, image) or {}
        finally:
            os.unlink(path)

    def _emit(self, event: SaveEvent) -> dict:
        """Tell every listener; what they answered (dicts), merged, for the save's answer."""
        out: dict = {}
        for listener in self.listeners:
            try:
                answer = listener(event)
            except Exception:  # a listener's failure never undoes a save
                logger.exception("label-saved listener failed for %s", event)
                continue
            if isinstance(answer, dict):
                out.update(answer)
        return out


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and str(value) not in ("", "-1") else None
    except (TypeError, ValueError):
        return None


def _save_info(info: dict | None, default_source: str) -> dict:
    """The lesion record's fields from a save's ``params``: ``candidate`` (and ``seed``, ``model``, ``context``) when it
    is a candidate, ``edited_by`` when the reader changed it; ``source`` says it in words."""
    info = dict(info or {})
    candidate, edited_by = _int_or_none(info.get("candidate")), info.get("edited_by")
    source = default_source if candidate is None else f"candidate {candidate}" + (f", edited by {edited_by}" if edited_by else "")
    return {**info, "source": source, "candidate": candidate, "seed": _int_or_none(info.get("seed")), "edited": bool(edited_by)}
