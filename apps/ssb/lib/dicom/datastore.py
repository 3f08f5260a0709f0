"""MONAI Label's DICOMweb datastore, storing every reader's label back to the PACS as a DICOM SEG (highdicom).

What :class:`SSBDicomWebDatastore` changes in ``DICOMWebDatastore`` (monailabel 0.8.5):

- a label saved under a reader's tag (``PUT /datastore/label?image=<SeriesInstanceUID>&tag=<reader>``; every
  tag :func:`lib.readers.is_reader_tag` accepts; a viewer's untagged ``final`` is first given its reader's name
  by :func:`lib.label_saves.reader_for_save`) is written as a one-segment DICOM SEG over the image's series and
  stored to the PACS (STOW-RS), identifying
  - the reader: ``ContentCreatorName`` = the tag, and in ``SeriesDescription``;
  - the candidate it came from, when ``params`` carry ``candidate`` (and ``seed``, ``model``): in
    ``SeriesDescription`` (``SSB candidate 2 accepted by alice``), ``ContentDescription`` and the segment's
    description; ``SegmentAlgorithmType`` is then ``SEMIAUTOMATIC`` (a model result a reader accepted), else
    ``MANUAL``;
- the label is also kept in the local cache under its tag (for training), with the SEG's series UID in its info;
- MONAI Label would write ``final`` with dcmqi (downloaded at start-up); nothing is downloaded here.

Any non-zero voxel of the uploaded label (a 0/1 mask, or the ``candidate=k`` result with label 4) is the mask.
A label not on the series' grid is HTTP 400.
"""

from __future__ import annotations

import logging
import os
import pathlib
from typing import Any

from monailabel.config import settings
from monailabel.datastore.dicom import DICOMWebDatastore
from monailabel.datastore.local import LocalDatastore

from lib.dicom.label_files import read_label_file
from lib.dicom.seg_write import Segment, SegIdentity, write_seg
from lib.dicom.series import SeriesError, read_series_headers, series_dir_of
from lib.errors import bad_request
from lib.label_saves import reader_for_save, record_saved
from lib.readers import is_reader_tag

__all__ = ["SSBDicomWebDatastore", "reader_seg_identity"]

logger = logging.getLogger(__name__)


def reader_seg_identity(reader: str, info: dict) -> tuple[SegIdentity, Segment]:
    """The SEG header and segment of ``reader``'s label; ``info`` may name the ``candidate``, ``seed``, ``model``."""
    candidate = info.get("candidate")
    accepted = candidate is not None and str(candidate) not in ("", "-1")
    if accepted:
        what = f"SSB candidate {candidate} accepted by {reader}"
        detail = f"candidate {candidate}, seed {info.get('seed', '?')}, model {info.get('model', '?')}; reader {reader}"
    else:
        what, detail = f"SSB label by {reader}", f"reader {reader}"
    identity = SegIdentity(series_description=what, content_label="SSB_READER", content_description=detail,
                           content_creator=reader, algorithm_type="SEMIAUTOMATIC" if accepted else "MANUAL",
                           algorithm_version=str(info.get("model", "unknown")))
    label = f"candidate {candidate} ({reader})" if accepted else f"lesion ({reader})"
    return identity, Segment(label=label, description=detail, color=(0.3, 0.8, 0.3))


class SSBDicomWebDatastore(DICOMWebDatastore):
    """``DICOMWebDatastore`` whose reader labels go back to the PACS as DICOM SEG (see the module docstring)."""

    @classmethod
    def like(cls, base: DICOMWebDatastore) -> "SSBDicomWebDatastore":
        """The same PACS client, search filter and cache settings as MONAI Label's own datastore ``base``."""
        cache = (settings.MONAI_LABEL_DICOMWEB_CACHE_PATH or "").strip()
        return cls(client=base._client, search_filter=base._search_filter, cache_path=cache or None,
                   fetch_by_frame=base._fetch_by_frame, convert_to_nifti=base._convert_to_nifti)

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any],
                   label_id: str = "") -> str:
        label_tag = reader_for_save(label_tag, label_info)
        if not is_reader_tag(label_tag):
            return LocalDatastore.save_label(self, image_id, label_filename, label_tag, label_info)
        image_uri = self.get_image_uri(image_id)
        converted = ""
        if "".join(pathlib.Path(label_filename).suffixes) == ".bin":  # OHIF's raw upload, as MONAI Label does
            from monailabel.datastore.utils.convert import binary_to_image

            label_filename = converted = binary_to_image(image_uri, label_filename)
        try:
            info = dict(label_info or {})
            reader = label_tag
            seg_uid = self._store_seg(image_uri, label_filename, reader, info)
            image_info = self.get_image_info(image_id)
            info.update({"SeriesInstanceUID": seg_uid, "reader": reader, "StudyInstanceUID": image_info.get("StudyInstanceUID"),
                         "PatientID": image_info.get("PatientID"), "Modality": "SEG"})
            saved = LocalDatastore.save_label(self, image_id, label_filename, label_tag, info)
            record_saved(image_id, label_tag)
            return saved
        finally:
            if converted:
                os.unlink(converted)

    def _store_seg(self, image_uri: str, label_file: str, reader: str, info: dict) -> str:
        """Write the reader's SEG over the image's series, STOW it; its SeriesInstanceUID."""
        try:
            masks, _, reference = read_label_file(label_file)
            identity, segment = reader_seg_identity(reader, info)
            seg = write_seg(masks.any(axis=0, keepdims=True), reference, read_series_headers(series_dir_of(image_uri)),
                            [segment], identity)
        except (ValueError, SeriesError) as exc:
            raise bad_request(f"label of {reader} cannot be stored as DICOM SEG: {exc}") from None
        self._client.store_instances(datasets=[seg])
        logger.info("stored %s (%s) to the PACS as SEG series %s", identity.series_description, reader, seg.SeriesInstanceUID)
        return str(seg.SeriesInstanceUID)
