"""Which series the PACS holds: the DICOMweb datastore's images checked and listed before anything is fetched.

In DICOMweb mode an image id is a SeriesInstanceUID. MONAI Label's ``DICOMWebDatastore`` (monailabel 0.8.5) fetches a
series it has not cached with ``dicom_web_download_series``, which ends in an ``IndexError`` (HTTP 500) when the PACS
has no such series; its ``/datastore/?output=all`` lists only what it already cached (nothing on a fresh server).
:class:`PacsSeries`, a mixin placed before ``DICOMWebDatastore``, changes this:

- ``get_image_uri(id)`` (infer, ``GET`` / ``HEAD /datastore/image``, a reader's ``PUT /datastore/label``) checks
  the id before anything is fetched or written: not a UID -> HTTP 400, no such series on the PACS -> HTTP 404, both
  naming the id; a series already in the cache is not looked up again;
- ``json()`` (``/datastore/?output=all``) lists every series the datastore's QIDO search filter finds, each with what
  the cache holds for it (info, every reader's label), then the other series in the cache (e.g. inferred on by id).

A UID is what DICOM's UI value representation allows (PS3.5 6.2): digits and dots, 1 to 64 characters. Stricter
rules (no leading zero in a component) are not enforced: older devices wrote such UIDs and PACS keep them.
A series exists when a QIDO search by its SeriesInstanceUID returns it (any modality, whatever the search filter:
a viewer may open any series of the PACS).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from lib.errors import bad_request, not_found

__all__ = ["PacsSeries", "check_uid"]

logger = logging.getLogger(__name__)

_UID = re.compile(r"[0-9.]{1,64}")


def check_uid(kind: str, value: object) -> str:
    """``value`` when it can be a DICOM UID; else HTTP 400 naming ``kind`` ("image id") and the value."""
    if not isinstance(value, str) or not _UID.fullmatch(value):
        raise bad_request(f"{kind} must be a DICOM SeriesInstanceUID (digits and dots, at most 64 characters), "
                          f"got {value!r}")
    return value


class PacsSeries:
    """Mixin for a ``DICOMWebDatastore`` subclass: ids checked on the PACS first, every series listed (module docstring)."""

    _client: Any
    _datastore: Any

    def series_exists(self, uid: str) -> bool:
        """Whether the PACS holds a series with SeriesInstanceUID ``uid`` (one QIDO search)."""
        found = self._client.search_for_series(search_filters={"SeriesInstanceUID": uid})
        return any(s.get("0020000E", {}).get("Value") == [uid] for s in found)

    def get_image_uri(self, image_id: str) -> str:
        """MONAI Label's (the series fetched into the cache once), after HTTP 400 / 404 for an id that is not a UID or
        not a series of the PACS."""
        check_uid("image id", image_id)
        cached = os.path.join(self._datastore.image_path(), image_id)
        if not (os.path.isdir(cached) and os.listdir(cached)) and not self.series_exists(image_id):
            raise not_found(f"unknown image id {image_id!r}: the PACS has no series with this SeriesInstanceUID "
                            "(GET /datastore/?output=all lists the images)")
        return super().get_image_uri(image_id)  # type: ignore[misc]

    def json(self) -> dict:
        """MONAI Label's ``output=all`` answer, every series of the search filter in ``objects`` (module docstring)."""
        data = super().json()  # type: ignore[misc]
        listed = {uid: {"image": {"ext": "", "info": {"SeriesInstanceUID": uid}}, "labels": {}}
                  for uid in self.list_images()}  # type: ignore[attr-defined]
        data["objects"] = {**listed, **(data.get("objects") or {})}  # a cached series: what the cache holds
        return data
