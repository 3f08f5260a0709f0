"""What the label values of an infer result file mean, kept for the DICOM SEG conversion of the same request.

MONAI Label turns an infer result into a DICOM SEG (``output=dicom_seg``) from the result file and the request's
``label_info`` alone, so the names and colours the infer task gave a labelmap's values (the variability levels,
a chosen candidate's name and colour) would be lost and the agreement names used instead. The infer task records
them here under the result file's path (:func:`remember`); the conversion (:mod:`lib.dicom.monailabel_hooks`)
reads them back (:func:`recall`) in the same request. Only the last :data:`KEEP` results are kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["KEEP", "LabelMeaning", "recall", "remember"]

KEEP = 64
LabelMeaning = dict[int, tuple[str, tuple[float, float, float]]]
"""label value -> (segment name, RGB colour in [0, 1])."""

_KNOWN: OrderedDict[str, LabelMeaning] = OrderedDict()
_LOCK = threading.Lock()


def remember(path: str, meaning: LabelMeaning) -> None:
    with _LOCK:
        _KNOWN[str(path)] = dict(meaning)
        while len(_KNOWN) > KEEP:
            _KNOWN.popitem(last=False)


def recall(path: str) -> LabelMeaning | None:
    with _LOCK:
        return _KNOWN.get(str(path))
