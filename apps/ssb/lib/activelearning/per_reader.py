"""Next Sample per reader: each reader is served the next image THEY have not labelled yet.

MONAI Label's ``POST /activelearning/{strategy}`` hands a strategy the request (the viewer's params; the 3D Slicer
plugin adds its ``client_id``) and the app's datastore, and the strategy picks among the images the datastore
calls unlabelled. Stock MONAI Label calls an image labelled as soon as any label exists for it (in DICOMweb mode:
as soon as any SEG on the PACS refers to it), so once one reader saved a label the image is done for everyone.

:class:`PerReader` wraps every strategy the app offers (``SSBApp.init_strategies``); the wrapped strategy sees the
datastore through :class:`ReaderView`, whose ``get_unlabeled_images`` / ``get_labeled_images`` are the asking
reader's. Conventions:

- the reader (:func:`request_reader`) is found as for a save, by :func:`lib.label_saves.reader_of`: the
  signed-in user when authentication is on, else ``reader`` in the params, else ``client_id`` (not the Slicer
  plugin's placeholder ``user-xyz``);
- a reader's labelled images are those with a label under the reader's tag (:func:`lib.readers.reader_tags`);
- an unknown reader (none of the above; also the name ``final``, which is what a save without a known reader is
  stored under) is served the images no reader has labelled, as before;
- nothing left for the reader: the strategy returns None and MONAI Label answers ``{}`` (the Slicer plugin then
  says that no unlabelled image is left).
"""

from __future__ import annotations

import logging
from typing import Any

from monailabel.interfaces.datastore import DefaultLabelTag
from monailabel.interfaces.tasks.strategy import Strategy

from lib.label_saves import reader_of
from lib.readers import reader_tags

__all__ = ["PerReader", "ReaderView", "request_reader", "unread_images"]

logger = logging.getLogger(__name__)

UNKNOWN = DefaultLabelTag.FINAL.value  # what reader_of answers when no reader is known


def request_reader(request: dict) -> str | None:
    """The reader asking for a sample (see the module docstring); None when unknown."""
    reader = reader_of(UNKNOWN, request if isinstance(request, dict) else None)
    return None if reader == UNKNOWN else reader


def unread_images(datastore: Any, reader: str | None) -> list[str]:
    """The datastore's images (sorted) without a label under ``reader``'s tag; ``reader`` None: without any
    reader's label."""
    def unread(image_id: str) -> bool:
        tags = reader_tags(datastore, image_id)
        return reader not in tags if reader is not None else not tags

    return sorted(i for i in datastore.list_images() if unread(i))


class ReaderView:
    """``datastore`` as one reader sees it for active learning: unlabelled = not labelled by ``reader`` (None: by
    nobody). Every other attribute is the datastore's own."""

    def __init__(self, datastore: Any, reader: str | None) -> None:
        self._datastore, self.reader = datastore, reader

    def get_unlabeled_images(self, label_tag: str | None = None, labels: list[str] | None = None) -> list[str]:
        return unread_images(self._datastore, self.reader)

    def get_labeled_images(self, label_tag: str | None = None, labels: list[str] | None = None) -> list[str]:
        unread = set(self.get_unlabeled_images())
        return sorted(i for i in self._datastore.list_images() if i not in unread)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._datastore, name)


class PerReader(Strategy):
    """``strategy`` run on the asking reader's :class:`ReaderView` of the datastore."""

    def __init__(self, strategy: Strategy) -> None:
        super().__init__(strategy.description)
        self.strategy = strategy

    def info(self) -> dict:
        return self.strategy.info()

    def __call__(self, request: dict, datastore: Any) -> dict | None:
        reader = request_reader(request)
        picked = self.strategy(request, ReaderView(datastore, reader))
        who = f"reader {reader!r}" if reader else "an unknown reader (images nobody labelled)"
        logger.info("next sample for %s: %s", who, (picked or {}).get("id", "none left"))
        return picked
