"""Binary masks on a DICOM series' volume grid -> one DICOM SEG (highdicom), one segment per mask.

Conventions:

- ``masks`` is ``(S, Z, Y, X)`` bool/uint8 on the grid of ``reference`` (the series converted by SimpleITK, see
  :mod:`.series`): segment ``s`` (DICOM segment number ``s + 1``) is ``masks[s]``; segments may overlap
  (SEG type ``BINARY`` stores each segment in its own frames);
- frame geometry is the source instances' own (highdicom copies plane positions from them), so a viewer
  overlays the SEG on the series exactly; the SEG refers to the series (ReferencedSeriesSequence);
- who made it is in the header: ``ContentCreatorName`` (the reader, or none for the model alone),
  ``SeriesDescription`` / ``ContentDescription`` (what it is, e.g. which candidate a reader accepted), and per
  segment ``SegmentAlgorithmType`` + ``AlgorithmIdentificationSequence`` (the SSB model and its sha256).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import lib.dicom._compat  # noqa: F401  (before highdicom's SEG code runs)
import highdicom as hd
import numpy as np
import pydicom
import SimpleITK as sitk

import ssb_core
from lib.dicom.series import slice_indices

__all__ = ["Segment", "SegIdentity", "write_seg", "rgb_to_dicom_lab"]

logger = logging.getLogger(__name__)

# SNOMED CT: what every SSB segment is (a lesion, in the category "morphologically abnormal structure")
_CATEGORY = hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure")
_LESION = hd.sr.CodedConcept("52988006", "SCT", "Lesion")


@dataclass(frozen=True)
class Segment:
    """One segment: ``label`` (SegmentLabel, shown by viewers), ``description`` (SegmentDescription),
    ``color`` RGB in [0, 1] (RecommendedDisplayCIELabValue) or None."""

    label: str
    description: str = ""
    color: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class SegIdentity:
    """Who and what a SEG is.

    Attributes:
        series_description: SeriesDescription, e.g. ``SSB candidate 2 accepted by alice``.
        content_label: ContentLabel (DICOM CS: upper case, digits, ``_``; at most 16 characters).
        content_description: ContentDescription (at most 64 characters).
        content_creator: ContentCreatorName, the reader (a DICOM person name), or None.
        algorithm_type: ``AUTOMATIC`` (the model alone), ``SEMIAUTOMATIC`` (a model result a reader accepted
            or edited) or ``MANUAL``.
        algorithm_version: the model's identity (e.g. its sha256 prefix), recorded with the algorithm name.
        series_number: SeriesNumber of the new series.
    """

    series_description: str
    content_label: str = "SSB"
    content_description: str = "Segmentation Schroedinger Bridge"
    content_creator: str | None = None
    algorithm_type: str = "AUTOMATIC"
    algorithm_version: str = "unknown"
    series_number: int = 300


def rgb_to_dicom_lab(rgb: tuple[float, float, float]) -> list[int]:
    """sRGB in [0, 1] -> DICOM's encoded CIELab triplet (D65; L 0..100, a/b -128..127 scaled to 0..65535)."""
    c = np.clip(np.asarray(rgb, dtype=float), 0, 1)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])
    xyz = m @ lin / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    lab = (116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2]))
    return list(hd.color.CIELabColor(float(np.clip(lab[0], 0, 100)), float(np.clip(lab[1], -128, 127)),
                                      float(np.clip(lab[2], -128, 127))).value)


def _descriptions(segments: list[Segment], identity: SegIdentity) -> list[hd.seg.SegmentDescription]:
    algorithm = None
    if identity.algorithm_type != "MANUAL":
        algorithm = hd.AlgorithmIdentificationSequence(
            name="SSB", family=hd.sr.CodedConcept("123109", "DCM", "Machine Learning"), version=identity.algorithm_version[:64])
    out = []
    for number, seg in enumerate(segments, start=1):
        desc = hd.seg.SegmentDescription(
            segment_number=number, segment_label=seg.label[:64], segmented_property_category=_CATEGORY,
            segmented_property_type=_LESION, algorithm_type=identity.algorithm_type, algorithm_identification=algorithm)
        if seg.description:
            desc.SegmentDescription = seg.description[:64]
        if seg.color is not None:
            desc.RecommendedDisplayCIELabValue = rgb_to_dicom_lab(seg.color)
        out.append(desc)
    return out


def write_seg(masks: np.ndarray, reference: sitk.Image, sources: list[pydicom.Dataset], segments: list[Segment],
              identity: SegIdentity) -> pydicom.Dataset:
    """A DICOM SEG of ``masks`` over the series ``sources`` (headers are enough), see the module docstring.

    Raises:
        ValueError: ``masks`` not ``(S, Z, Y, X)`` on ``reference``'s grid, or not one segment per mask.
    """
    size_zyx = tuple(reversed(reference.GetSize())) if reference.GetDimension() == 3 else (1, *reversed(reference.GetSize()))
    if masks.ndim != 4 or tuple(masks.shape[1:]) != size_zyx:
        raise ValueError(f"masks must be (S, Z, Y, X) with (Z, Y, X) = {size_zyx}, got {masks.shape}")
    if len(segments) != masks.shape[0]:
        raise ValueError(f"expected one Segment per mask ({masks.shape[0]}), got {len(segments)}")
    rows, cols = int(sources[0].Rows), int(sources[0].Columns)
    if (rows, cols) != size_zyx[1:]:
        raise ValueError(f"the series has {rows} x {cols} pixels per slice, the masks {size_zyx[1:]}")
    order = slice_indices(sources, reference)
    frames = np.stack([masks[:, k] for k in order]).transpose(0, 2, 3, 1).astype(bool)  # (instances, Y, X, S)
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=_descriptions(segments, identity),
        series_instance_uid=hd.UID(),
        series_number=identity.series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="SSB annotation server (MONAI Label app)",
        manufacturer_model_name="ssb",
        software_versions=f"ssb-core {ssb_core.__version__}",
        device_serial_number="0",
        content_label=identity.content_label,
        content_description=identity.content_description[:64],
        content_creator_name=identity.content_creator,
        omit_empty_frames=bool(frames.any()),  # an all-empty result still makes a valid SEG
    )
    seg.SeriesDescription = identity.series_description[:64]
    logger.info("DICOM SEG %s: %d segment(s) over %d instance(s) of series %s", seg.SeriesInstanceUID, len(segments),
                len(sources), sources[0].SeriesInstanceUID)
    return seg
