"""The model's data conventions, read ONCE from the checkpoint and shared by infer, train and scoring.

A checkpoint's ``data`` dict (written by :mod:`ssb_core.training`) says how the images it was trained on
were prepared; this module turns it into the three things the app needs:

- ``roi_size`` (H, W): the model's input size in model pixels (``data["roi_size"]``);
- ``spacing_mm`` (row, col): the physical size of a model pixel (``data["spacing"]``); checkpoints trained on
  crops without a recorded spacing (the LIDC-IDRI 64x64 crops) use ``--conf model_spacing``;
- ``normalise(image)``: :class:`ssb_core.data.IntensityConvention` (the training code's own definition) built
  from ``data["intensity"]``, or from ``--conf intensity`` when the datastore's images are stored differently
  from the training images. The shipped LIDC model records ``none`` because its crops were stored already
  z-normalised per scan; raw scans in a datastore then need ``--conf intensity zscore``.

The train task writes the conventions it used into the fine-tuned checkpoint (:meth:`ModelConventions.record`),
so a promoted model describes its inputs exactly. Nothing else in the app knows about intensities, ROI
sizes or spacings.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ssb_core.checkpoint import SSBCheckpoint
from ssb_core.data import IntensityConvention

__all__ = ["ModelConventions", "ConventionError", "parse_intensity"]

logger = logging.getLogger(__name__)


class ConventionError(ValueError):
    """The checkpoint's or the ``--conf`` data conventions cannot be used."""


def parse_intensity(text: str) -> IntensityConvention:
    """``--conf intensity``: a kind (``zscore``, ``none``) or a JSON dict (``{"kind": "window", "a_min": -1000, ...}``)."""
    text = text.strip()
    try:
        return IntensityConvention.from_dict(json.loads(text) if text.startswith("{") else text)
    except ValueError as exc:
        raise ConventionError(f"--conf intensity: {exc}") from None


@dataclass(frozen=True)
class ModelConventions:
    """How an image must be prepared for the model (one definition for infer, train and scoring).

    Attributes:
        roi_size: (H, W) model input in pixels, each a multiple of the network's ``size_multiple``.
        spacing_mm: (row, col) millimetres per model pixel; spacing_source: ``checkpoint`` or ``conf``.
        intensity: the normalisation applied; intensity_source: ``checkpoint`` or ``conf``.
    """

    roi_size: tuple[int, int]
    spacing_mm: tuple[float, float]
    spacing_source: str
    intensity: IntensityConvention
    intensity_source: str

    @classmethod
    def from_checkpoint(cls, ckpt: SSBCheckpoint, fallback_spacing_mm: float, intensity: str | None = None) -> "ModelConventions":
        """Read ``ckpt.data``; ``intensity`` (``--conf intensity``) replaces the checkpoint's convention.

        Raises:
            ConventionError: no usable ``roi_size``, or an intensity convention that cannot be built.
        """
        data = ckpt.data or {}
        roi = data.get("roi_size")
        if not isinstance(roi, (list, tuple)) or len(roi) != 2:
            raise ConventionError(f"checkpoint data['roi_size'] must be [H, W] (the 2D model's input size), got {roi!r}")
        roi_size = (int(roi[0]), int(roi[1]))
        mult = ckpt.network.size_multiple
        if any(s % mult for s in roi_size):
            raise ConventionError(f"roi_size {roi_size} is not a multiple of the network's {mult}")
        spacing = data.get("spacing")
        spacing = [spacing, spacing] if isinstance(spacing, (int, float)) else spacing
        if isinstance(spacing, (list, tuple)) and len(spacing) >= 2 and all(float(s) > 0 for s in spacing[-2:]):
            spacing_mm, s_source = (float(spacing[-2]), float(spacing[-1])), "checkpoint"
        else:
            spacing_mm, s_source = (float(fallback_spacing_mm),) * 2, "conf model_spacing"
        if intensity:
            conv, i_source = parse_intensity(intensity), "conf intensity"
        else:
            try:
                conv, i_source = IntensityConvention.from_dict(data.get("intensity", "none")), "checkpoint"
            except ValueError as exc:
                raise ConventionError(f"checkpoint intensity convention {data.get('intensity')!r}: {exc}; pass --conf intensity") from None
            if conv.kind == "none":
                logger.warning("the checkpoint's intensity convention is 'none' (its training images were stored already "
                               "normalised): datastore images are used as they are; for raw scans pass --conf intensity zscore")
        return cls(roi_size, spacing_mm, s_source, conv, i_source)

    def normalise(self, image: np.ndarray) -> np.ndarray:
        """The whole image (any shape) normalised as the model's training images were: float32."""
        return self.intensity.apply(image)

    def record(self) -> dict[str, Any]:
        """The ``data`` entries a checkpoint fine-tuned by the app stores (what its inputs really were)."""
        return {"intensity": self.intensity.to_dict(), "spacing": list(self.spacing_mm), "roi_size": list(self.roi_size)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "roi_size": list(self.roi_size),
            "spacing_mm": list(self.spacing_mm),
            "spacing_source": self.spacing_source,
            "intensity": self.intensity.to_dict(),
            "intensity_source": self.intensity_source,
        }
