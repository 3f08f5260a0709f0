"""MONAI Label's DICOMweb datastore, storing every reader's lesions back to the PACS as a DICOM SEG (highdicom).

What :class:`SSBDicomWebDatastore` changes in ``DICOMWebDatastore`` (monailabel 0.8.5):

- a label saved under a reader's tag (``PUT /datastore/label?image=<SeriesInstanceUID>&tag=<reader>``; every
  tag :func:`lib.readers.is_reader_tag` accepts; a viewer's untagged ``final`` is first given its reader's name
  by :func:`lib.label_saves.reader_for_save`) goes through the app's one label service (:mod:`lib.labels.service`):
  its lesions are added to or replace the reader's lesions on that series; then the reader's whole label is
  written as a DICOM SEG over the image's series, **one segment per lesion**, and stored to the PACS (STOW-RS),
  identifying
  - the reader: ``ContentCreatorName`` = the tag, and in ``SeriesDescription`` (``SSB 2 lesions by alice``);
  - each lesion's origin in its segment (``lesion 2 (alice)``, described ``candidate 3, edited by alice (seed 0,
    model ...)``); ``SegmentAlgorithmType`` is ``SEMIAUTOMATIC`` when a lesion is an accepted candidate, else
    ``MANUAL``;
- the label is also kept in the local cache under its tag (for training and for the next save's merge), with the
  SEG's series UID in its info; a reader's label (``final`` included) is always read from that copy, never
  fetched from the PACS as a SEG series (MONAI Label's ``final`` handling would read the image series instead);
- MONAI Label would write ``final`` with dcmqi (downloaded at start-up); nothing is downloaded here;
- an unknown or malformed series id is HTTP 404 / 400 before anything is fetched or written, and
  ``/datastore/?output=all`` lists the PACS's series (:mod:`lib.dicom.pacs_series`).

A label not on the series' grid, or an empty one, is HTTP 400 and nothing is stored.
"""

from __future__ import annotations

import logging
from typing import Any

from monailabel.config import settings
from monailabel.datastore.dicom import DICOMWebDatastore
from monailabel.datastore.local import LocalDatastore

import numpy as np
import SimpleITK as sitk

from lib.dicom.label_files import read_label_file
from lib.dicom.pacs_series import PacsSeries
from lib.dicom.seg_write import Segment, SegIdentity, write_seg
from lib.dicom.series import SeriesError, read_series_headers, series_dir_of
from lib.errors import bad_request
from lib.label_saves import reader_for_save
from lib.labels.lesion_map import Lesion
from lib.labels.service import LabelService, LocalLabelCopies
from lib.readers import is_reader_tag

__all__ = ["SSBDicomWebDatastore", "lesion_segment", "reader_seg_identity"]

logger = logging.getLogger(__name__)


def reader_seg_identity(reader: str, lesions: list[Lesion]) -> SegIdentity:
    """The SEG header of ``reader``'s label: who made it, how many lesions, whether candidates were accepted."""
    accepted = [r for r in lesions if r.candidate is not None]
    what = f"SSB {len(lesions)} lesion{'s' if len(lesions) != 1 else ''} by {reader}"[:64]
    detail = "; ".join(f"lesion {r.id}: {r.source}" for r in lesions)[:64] or f"reader {reader}"
    models = sorted({str(r.model) for r in accepted if r.model})
    return SegIdentity(series_description=what, content_label="SSB_READER", content_description=detail,
                       content_creator=reader, algorithm_type="SEMIAUTOMATIC" if accepted else "MANUAL",
                       algorithm_version=",".join(models)[:64] or "unknown")


def lesion_segment(reader: str, lesion: Lesion) -> Segment:
    """Lesion ``lesion.id`` of ``reader`` as one segment: named by the lesion, described by where it came from."""
    detail = lesion.source + (f" (seed {lesion.seed}, model {lesion.model})" if lesion.candidate is not None else "")
    return Segment(label=f"lesion {lesion.id} ({reader})", description=detail[:64], color=(0.3, 0.8, 0.3))


class SSBDicomWebDatastore(LocalLabelCopies, PacsSeries, DICOMWebDatastore):
    """``DICOMWebDatastore`` whose reader labels go back to the PACS as DICOM SEG (see the module docstring); image ids
    checked on the PACS before anything is fetched, every series listed (:class:`lib.dicom.pacs_series.PacsSeries`)."""

    @classmethod
    def like(cls, base: DICOMWebDatastore) -> "SSBDicomWebDatastore":
        """The same PACS client, search filter and cache settings as MONAI Label's own datastore ``base``."""
        cache = (settings.MONAI_LABEL_DICOMWEB_CACHE_PATH or "").strip()
        return cls(client=base._client, search_filter=base._search_filter, cache_path=cache or None,
                   fetch_by_frame=base._fetch_by_frame, convert_to_nifti=base._convert_to_nifti)

    @property
    def labels(self) -> LabelService:
        """The app's one label service over this datastore (made on first use)."""
        if getattr(self, "_label_service", None) is None:
            self._label_service = LabelService(self)
        return self._label_service

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any],
                   label_id: str = "") -> str:
        label_tag = reader_for_save(label_tag, label_info)
        if not is_reader_tag(label_tag):
            return LocalDatastore.save_label(self, image_id, label_filename, label_tag, label_info)
        return self.labels.save_upload(image_id, label_tag, label_filename, label_info)

    def get_label_uri(self, label_id: str, label_tag: str, image_id: str = "") -> str:
        """A reader's label (``final`` included) is the local copy the label service keeps (MONAI Label would read the
        image's own series from the PACS as if it were a SEG: ``final`` then broke every later request)."""
        if is_reader_tag(label_tag):
            return LocalDatastore.get_label_uri(self, label_id, label_tag)
        return super().get_label_uri(label_id, label_tag, image_id)

    # --- the label service's store (lib.labels.service.ReaderLabelStore; reads: LocalLabelCopies) ---------------
    def write_reader_label(self, image_id: str, reader: str, path: str, info: dict, lesions: list[Lesion], image: Any) -> dict:
        """The reader's lesions to the PACS (one SEG series, one segment per lesion), then the local copy."""
        image_uri = self.get_image_uri(image_id)
        seg_uid = self._store_seg(image_uri, path, reader, info, lesions)
        image_info = self.get_image_info(image_id)
        info = {**info, "SeriesInstanceUID": seg_uid, "reader": reader, "StudyInstanceUID": image_info.get("StudyInstanceUID"),
                "PatientID": image_info.get("PatientID"), "Modality": "SEG"}
        LocalDatastore.save_label(self, image_id, path, reader, info)
        return {"seg_series": seg_uid}

    def delete_reader_label(self, image_id: str, reader: str) -> None:
        """The local copy goes; the PACS keeps the SEG series stored before (a PACS keeps its history)."""
        LocalDatastore.remove_label(self, image_id, reader)

    def _store_seg(self, image_uri: str, label_file: str, reader: str, info: dict, lesions: list[Lesion]) -> str:
        """Write the reader's SEG over the image's series, STOW it; its SeriesInstanceUID."""
        try:
            arr = sitk.GetArrayFromImage(sitk.ReadImage(label_file))
            arr = arr[None] if arr.ndim == 2 else arr
            _, _, reference = read_label_file(label_file)
            masks = np.stack([arr == r.id for r in lesions])
            identity = reader_seg_identity(reader, lesions)
            segments = [lesion_segment(reader, r) for r in lesions]
            seg = write_seg(masks, reference, read_series_headers(series_dir_of(image_uri)), segments, identity)
        except (ValueError, SeriesError) as exc:
            raise bad_request(f"label of {reader} cannot be stored as DICOM SEG: {exc}") from None
        self._client.store_instances(datasets=[seg])
        logger.info("stored %s (%s, %d lesions) to the PACS as SEG series %s", identity.series_description, reader, len(lesions),
                    seg.SeriesInstanceUID)
        return str(seg.SeriesInstanceUID)
