"""MONAI Label's local datastore, made safe for radiologists' labels.

What :class:`SafeLocalDatastore` adds to ``LocalDatastore`` (monailabel 0.8.5):

- image ids and label tags are checked by :func:`lib.safety.names.check_name` (HTTP 400, nothing written);
- a label the viewers submit without a tag (``final``) is stored under its reader's name when one is known
  (:func:`lib.label_saves.reader_for_save`: signed-in user, ``reader`` or Slicer's ``client_id``);
- a reader's label (every tag :func:`lib.readers.is_reader_tag` accepts) is saved through the app's one label
  service (:mod:`lib.labels.service`, attribute ``labels``): read as lesions on the image's grid, added to or
  replacing the reader's lesions (an empty label is refused, HTTP 400), stored as one labelmap per reader
  (value = lesion) with the lesions' records in its info; a label for an image not in the datastore is HTTP 404
  (MONAI Label answers 500);
- an uploaded image must be one the app can segment (:func:`lib.imageio.read_image`), and must not replace
  an image of the same id (HTTP 409: delete it first);
- every label, image and ``datastore_v2.json`` write is atomic (:mod:`lib.safety.atomic`); the index is
  re-read under the datastore's file lock before it is changed, so a label saved by another process (the
  training subprocess re-creates the app) is not dropped by a stale copy;
- temporary files a crash left behind are removed when the server starts;
- an image counts as labelled (``completed`` in ``/datastore/?output=stats``, the viewers' "Annotated") once any
  reader saved a label for it, not only one tagged ``final``: readers save under their own names here.

Each tag's label lives in ``labels/<tag>/<image id><ext>``: readers with their own tag never share a file.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

from filelock import FileLock
from monailabel.datastore.local import DataModel, ImageLabelModel, LocalDatastore, LocalDatastoreModel

from lib.errors import bad_request, conflict, not_found
from lib.imageio import ImageReadError, read_image
from lib.label_saves import reader_for_save, record_saved
from lib.labels.service import LabelService, LocalLabelCopies
from lib.readers import is_reader_tag
from lib.safety.atomic import atomic_copy, atomic_write_text, sweep_temporaries
from lib.safety.names import UnsafeNameError, check_name

__all__ = ["SafeLocalDatastore"]

logger = logging.getLogger(__name__)


class SafeLocalDatastore(LocalLabelCopies, LocalDatastore):
    """``LocalDatastore`` with checked names and contents and atomic writes (see the module docstring)."""

    def __init__(self, datastore_path: str, **kwargs: Any) -> None:
        # Only the server process sweeps: a training subprocess re-creating the app while the server writes a
        # label must not remove that label's temporary file. The server imports monailabel.app, nothing else does.
        if os.path.isdir(datastore_path) and "monailabel.app" in sys.modules:
            sweep_temporaries(datastore_path)
        super().__init__(datastore_path, **kwargs)
        self.labels = LabelService(self)

    # --- the index file -------------------------------------------------------------------------------------
    def _reload_unlocked(self) -> None:
        """Re-read ``datastore_v2.json`` if another process changed it (the caller holds the lock)."""
        path = self._datastore_config_path
        if os.path.exists(path) and os.stat(path).st_mtime != self._config_ts:
            with open(path) as fp:
                self._datastore = LocalDatastoreModel.model_validate_json(fp.read())
            self._datastore.base_path = self._datastore_path
            self._config_ts = os.stat(path).st_mtime

    def _update_datastore_file(self, lock: bool = True) -> None:
        def write() -> None:
            self._ignore_event_config = True
            atomic_write_text(self._datastore_config_path,
                              json.dumps(self._datastore.model_dump(exclude={"base_path"}), indent=2, default=str))
            self._config_ts = os.stat(self._datastore_config_path).st_mtime

        if lock:
            with FileLock(self._lock_file):
                write()
        else:
            write()

    # --- what counts as labelled --------------------------------------------------------------------------
    def get_labeled_images(self, label_tag: str | None = None, labels: list[str] | None = None) -> list[str]:
        """Images with at least one reader's label (any tag :func:`lib.readers.is_reader_tag` accepts)."""
        return [k for k, v in self._datastore.objects.items() if any(is_reader_tag(t) for t in v.labels)]

    def get_unlabeled_images(self, label_tag: str | None = None, labels: list[str] | None = None) -> list[str]:
        labelled = set(self.get_labeled_images())
        return [k for k in self._datastore.objects if k not in labelled]

    # --- writes ---------------------------------------------------------------------------------------------
    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any]) -> str:
        if label_info is not None and not isinstance(label_info, dict):
            raise bad_request(f"the params form field must be a JSON object, got {label_info!r}")
        label_tag = reader_for_save(label_tag, label_info)
        try:
            check_name("image id", image_id)
            check_name("label tag", label_tag)
        except UnsafeNameError as exc:
            raise bad_request(str(exc)) from None
        if not self.get_image_uri(image_id):
            raise not_found(f"unknown image {image_id!r}: not in the datastore (GET /datastore/?output=all lists the images)")
        if not is_reader_tag(label_tag):
            self._store_label(image_id, label_tag, label_filename, dict(label_info or {}))
            record_saved(image_id, {"reader": None, "tag": label_tag})
            return image_id
        return self.labels.save_upload(image_id, label_tag, label_filename, label_info)

    # --- the label service's store (lib.labels.service.ReaderLabelStore; reads: LocalLabelCopies) ---------------

    def write_reader_label(self, image_id: str, reader: str, path: str, info: dict, lesions: list, image: Any) -> dict:
        self._store_label(image_id, reader, path, info)
        return {}

    def delete_reader_label(self, image_id: str, reader: str) -> None:
        with FileLock(self._lock_file):
            self._reload_unlocked()
            obj = self._datastore.objects.get(image_id)
            label = obj.labels.pop(reader, None) if obj is not None else None
            if label is not None:
                path = os.path.join(self._datastore.label_path(reader), self._filename(image_id, label.ext))
                if os.path.exists(path):
                    os.unlink(path)
                self._update_datastore_file(lock=False)

    def _store_label(self, image_id: str, tag: str, label_filename: str, label_info: dict[str, Any]) -> None:
        """Write one tag's label file and its index entry atomically (a reader's: the service's whole labelmap)."""
        _, ext = self._to_id(os.path.basename(label_filename))
        name = self._filename(image_id, ext)
        folder = self._datastore.label_path(tag)
        with FileLock(self._lock_file):
            self._reload_unlocked()
            obj = self._datastore.objects.get(image_id)
            if obj is None:
                raise not_found(f"image {image_id!r} was removed from the datastore meanwhile")
            old = obj.labels.get(tag)
            atomic_copy(label_filename, os.path.join(folder, name))
            if old is not None and old.ext != ext:  # a label stored before in another format
                stale = os.path.join(folder, self._filename(image_id, old.ext))
                if os.path.exists(stale):
                    os.unlink(stale)
            info = dict(label_info, ts=int(time.time()), name=name)
            obj.labels[tag] = DataModel(info=info, ext=ext)
            self._update_datastore_file(lock=False)
        logger.info("saved label %s for image %s (tag %s)", name, image_id, tag)

    def add_image(self, image_id: str, image_filename: str, image_info: dict[str, Any]) -> str:
        stem, ext = self._to_id(os.path.basename(image_filename))
        image_id = image_id or stem
        try:
            check_name("image id", image_id)
            read_image(image_filename)
        except (UnsafeNameError, ImageReadError) as exc:
            raise bad_request(str(exc)) from None
        name = self._filename(image_id, ext)
        with FileLock(self._lock_file):
            self._reload_unlocked()
            if image_id in self._datastore.objects:
                raise conflict(f"image {image_id!r} is already in the datastore; remove it first (DELETE /datastore/image)")
            atomic_copy(image_filename, os.path.join(self._datastore.image_path(), name))
            info = dict(image_info or {}, ts=int(time.time()), name=name)
            self._datastore.objects[image_id] = ImageLabelModel(image=DataModel(info=info, ext=ext))
            self._update_datastore_file(lock=False)
        logger.info("added image %s", image_id)
        return image_id
