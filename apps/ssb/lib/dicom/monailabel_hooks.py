"""MONAI Label's DICOM SEG conversion done with highdicom instead of dcmqi (no download, no network).

MONAI Label 0.8.5 answers ``POST /infer/{model}?output=dicom_seg`` by calling
``monailabel.endpoints.infer.nifti_to_dicom_seg(series_dir, result_file, label_info, use_itk=True)``, which runs
dcmqi's ``itkimage2segimage`` -- a binary the app would download from the internet at start-up.
:func:`install` points that name at :func:`result_to_seg_file`, which writes the SEG with
:mod:`lib.dicom.seg_write`: a labelmap gives one segment per label value, named and coloured as the infer task
said in the file itself (:mod:`lib.result_labels`: the variability levels, a chosen candidate), a ``.seg.nrrd`` (``output_mode
segments``) one segment per candidate plus the consensus. The endpoint still requires a ``label_info`` entry in
``params`` (``[]`` is enough: names then come from the app).
"""

from __future__ import annotations

import logging
import tempfile

from lib.dicom.label_files import read_label_file
from lib.dicom.seg_write import SegIdentity, write_seg
from lib.dicom.series import read_series_headers
from lib.result_labels import read_meaning

__all__ = ["install", "result_to_seg_file"]

logger = logging.getLogger(__name__)


def result_to_seg_file(series_dir: str, label: str, label_info: list | None = None, file_ext: str = "*",
                       use_itk: bool = True) -> str:
    """The infer result ``label`` (on the series' volume grid) as a DICOM SEG file over ``series_dir``.

    Same signature as MONAI Label's ``nifti_to_dicom_seg``; ``file_ext`` and ``use_itk`` are ignored.
    """
    masks, segments, reference = read_label_file(label, label_info, read_meaning(label))
    names = [s.label for s in segments]
    if "consensus" in names and len(names) > 1:
        description, content = "SSB candidates and consensus", "SSB_CANDIDATES"
    elif all(n.startswith("variability") for n in names):
        description, content = f"SSB variability ({len(names)} levels present)", "SSB_VARIABILITY"
    else:
        description, content = ("SSB " + ", ".join(names))[:64], "SSB_RESULT"  # LO: 64 characters at most
    identity = SegIdentity(series_description=description, content_label=content,
                           content_description="Segmentation Schroedinger Bridge: model result, not reviewed")
    seg = write_seg(masks, reference, read_series_headers(series_dir), segments, identity)
    out = tempfile.NamedTemporaryFile(suffix=".dcm", prefix="ssb_seg_", delete=False).name
    seg.save_as(out)
    return out


def install() -> None:
    """Make ``output=dicom_seg`` use :func:`result_to_seg_file` (idempotent)."""
    import monailabel.endpoints.infer as infer_endpoint

    infer_endpoint.nifti_to_dicom_seg = result_to_seg_file
    logger.info("DICOM SEG results are written with highdicom (dcmqi is not used)")
