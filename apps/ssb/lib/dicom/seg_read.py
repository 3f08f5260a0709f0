"""A DICOM SEG read back (highdicom): segment labels, who made it, and the masks per source instance.

The masks come back on the source series' instances (``(instances, rows, cols)`` per segment, in the order of
the ``source_uids`` given), the inverse of :func:`lib.dicom.seg_write.write_seg`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lib.dicom._compat  # noqa: F401  (before highdicom's SEG code runs)
import highdicom as hd
import numpy as np
import pydicom

__all__ = ["SegContents", "read_seg"]


@dataclass(frozen=True)
class SegContents:
    """``labels[s]`` is segment ``s + 1``'s label; ``masks`` ``(S, instances, rows, cols)`` bool."""

    labels: list[str]
    descriptions: list[str]
    creator: str | None
    series_description: str
    content_label: str
    referenced_series: str
    masks: np.ndarray


def read_seg(source: str | Path | bytes | pydicom.Dataset, source_uids: list[str]) -> SegContents:
    """Read a SEG (file path, bytes or dataset) and its masks on the instances ``source_uids``."""
    if isinstance(source, bytes):
        import io

        source = pydicom.dcmread(io.BytesIO(source))
        source.filename = None  # not a file: highdicom copies the dataset, and a buffer cannot be copied
    ds = source if isinstance(source, pydicom.Dataset) else pydicom.dcmread(str(source))
    if not isinstance(ds.filename, (str, type(None))):  # read from a buffer (e.g. a WADO-RS answer)
        ds.filename = None
    seg = hd.seg.Segmentation.from_dataset(ds)
    numbers = list(seg.get_segment_numbers())
    pixels = seg.get_pixels_by_source_instance(source_uids, segment_numbers=numbers, assert_missing_frames_are_empty=True)
    descs = [seg.get_segment_description(n) for n in numbers]
    creator = ds.get("ContentCreatorName")
    return SegContents(
        labels=[str(d.SegmentLabel) for d in descs],
        descriptions=[str(d.get("SegmentDescription", "")) for d in descs],
        creator=str(creator) if creator else None,
        series_description=str(ds.get("SeriesDescription", "")),
        content_label=str(ds.get("ContentLabel", "")),
        referenced_series=str(ds.ReferencedSeriesSequence[0].SeriesInstanceUID),
        masks=np.moveaxis(pixels, -1, 0).astype(bool),
    )
