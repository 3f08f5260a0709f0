"""What the label values of an infer result file mean, written into the file itself.

MONAI Label turns an infer result into a DICOM SEG (``output=dicom_seg``) from the result file and the request's
``label_info`` alone, so the names and colours the infer task gave a labelmap's values (the variability levels,
a chosen candidate's name and colour) must travel with the file. :func:`write_meaning` stores them as JSON in the
file: a metadata field ``ssb_label_meaning`` of a NRRD or MetaImage header, a NIfTI header extension (code 6,
comment) holding ``{"ssb_label_meaning": ...}``. :func:`read_meaning` reads them back wherever the file goes
(the conversion in :mod:`lib.dicom.monailabel_hooks`, a client that keeps the file).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

__all__ = ["FIELD", "LabelMeaning", "read_meaning", "write_meaning"]

logger = logging.getLogger(__name__)

FIELD = "ssb_label_meaning"
NIFTI_COMMENT = 6
LabelMeaning = dict[int, tuple[str, tuple[float, float, float]]]
"""label value -> (segment name, RGB colour in [0, 1])."""


def _is_nifti(path: str) -> bool:
    return path.endswith((".nii", ".nii.gz"))


def _encode(meaning: LabelMeaning) -> str:
    return json.dumps({str(int(v)): [name, [round(float(c), 4) for c in colour]] for v, (name, colour) in meaning.items()})


def _decode(text: str) -> LabelMeaning | None:
    try:
        raw = json.loads(text)
        return {int(v): (str(name), tuple(float(c) for c in colour)) for v, (name, colour) in raw.items()}  # type: ignore[misc]
    except (ValueError, TypeError, AttributeError):
        logger.warning("ignoring an unreadable %s field", FIELD)
        return None


def write_meaning(path: str | Path, meaning: LabelMeaning) -> None:
    """Add ``meaning`` to the labelmap file ``path`` (already written; NRRD, MetaImage or NIfTI)."""
    path = str(path)
    if _is_nifti(path):
        import nibabel as nib

        img = nib.load(path)
        img.header.extensions.append(nib.nifti1.Nifti1Extension(NIFTI_COMMENT, json.dumps({FIELD: json.loads(_encode(meaning))}).encode()))
        nib.save(img, path)
        return
    import SimpleITK as sitk

    img = sitk.ReadImage(path)
    img.SetMetaData(FIELD, _encode(meaning))
    sitk.WriteImage(img, path, useCompression=True)


def read_meaning(path: str | Path) -> LabelMeaning | None:
    """The meaning a result file carries, or None (a file from elsewhere)."""
    path = str(path)
    try:
        if _is_nifti(path):
            import nibabel as nib

            for ext in nib.load(path).header.extensions:
                if ext.get_code() == NIFTI_COMMENT:
                    content = json.loads(ext.get_content())
                    if isinstance(content, dict) and FIELD in content:
                        return _decode(json.dumps(content[FIELD]))
            return None
        import SimpleITK as sitk

        reader = sitk.ImageFileReader()
        reader.SetFileName(path)
        reader.ReadImageInformation()
        return _decode(reader.GetMetaData(FIELD)) if reader.HasMetaDataKey(FIELD) else None
    except (OSError, RuntimeError, ValueError) as exc:
        logger.warning("cannot read the label meaning of %s: %s", path, exc)
        return None
