"""The served model's :class:`ssb_core.preprocessing.Preprocessing`, read ONCE from its checkpoint.

What the model sees (window size, pixel size, intensity normalisation and its scope) is defined in
:mod:`ssb_core.preprocessing` and written in the checkpoint by training; infer, fine-tuning and active
learning all prepare images with it. Two ``--conf`` settings exist for checkpoints that do not describe
themselves fully:

- ``model_spacing`` (mm): the model pixel size of a checkpoint written before ``data["preprocessing"]``
  existed (its ``data["spacing"]`` is empty);
- ``intensity``: a kind (``zscore``, ``none``) or a JSON dict that replaces the checkpoint's intensity
  convention (its scope stays the checkpoint's), for a datastore whose images are stored differently.

The train task writes the preprocessing it used into the fine-tuned checkpoint (:meth:`ModelConventions.record`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from ssb_core.checkpoint import SSBCheckpoint
from ssb_core.data import IntensityConvention
from ssb_core.preprocessing import Preprocessing, PreprocessingError

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


def _legacy(ckpt: SSBCheckpoint, fallback_spacing_mm: float) -> Preprocessing:
    """A checkpoint without ``data["preprocessing"]``: its roi_size, spacing (or ``model_spacing``) and intensity."""
    data = ckpt.data or {}
    roi = data.get("roi_size")
    if not isinstance(roi, (list, tuple)) or len(roi) != 2:
        raise ConventionError(f"checkpoint data['roi_size'] must be [H, W] (the 2D model's input size), got {roi!r}")
    spacing = data.get("spacing")
    spacing = [spacing, spacing] if isinstance(spacing, (int, float)) else spacing
    if not (isinstance(spacing, (list, tuple)) and len(spacing) >= 2 and all(float(s) > 0 for s in spacing[-2:])):
        spacing = [fallback_spacing_mm] * 2
    try:
        intensity = IntensityConvention.from_dict(data.get("intensity", "none"))
    except ValueError as exc:
        raise ConventionError(f"checkpoint intensity convention {data.get('intensity')!r}: {exc}; pass --conf intensity") from None
    logger.warning("the checkpoint has no data['preprocessing']: using roi_size %s, %s mm, intensity %s on the whole "
                   "image; record the model's real preprocessing with scripts/set_preprocessing.py", roi, spacing[-2:],
                   intensity.describe())
    return Preprocessing(tuple(roi), tuple(float(s) for s in spacing[-2:]), intensity, "image")


@dataclass(frozen=True)
class ModelConventions:
    """How an image must be prepared for the served model.

    Attributes:
        preprocessing: the definition used everywhere. source: ``checkpoint``, or what ``--conf`` changed.
    """

    preprocessing: Preprocessing
    source: str

    @classmethod
    def from_checkpoint(cls, ckpt: SSBCheckpoint, fallback_spacing_mm: float, intensity: str | None = None) -> "ModelConventions":
        """Read ``ckpt.data``; ``intensity`` (``--conf intensity``) replaces the checkpoint's convention.

        Raises:
            ConventionError: no usable description, or an intensity convention that cannot be built.
        """
        data = ckpt.data or {}
        try:
            pre, source = Preprocessing.from_checkpoint_data(data), "checkpoint"
        except PreprocessingError as exc:
            if isinstance(data.get("preprocessing"), dict):
                raise ConventionError(str(exc)) from None
            pre, source = _legacy(ckpt, fallback_spacing_mm), "checkpoint (legacy) + conf model_spacing"
        if intensity:
            pre, source = replace(pre, intensity=parse_intensity(intensity)), f"{source} + conf intensity"
        mult = ckpt.network.size_multiple
        if any(s % mult for s in pre.roi_size):
            raise ConventionError(f"roi_size {pre.roi_size} is not a multiple of the network's {mult}")
        return cls(pre, source)

    @property
    def roi_size(self) -> tuple[int, int]:
        return self.preprocessing.roi_size

    @property
    def spacing_mm(self) -> tuple[float, float]:
        return self.preprocessing.spacing_mm

    def record(self) -> dict[str, Any]:
        """The ``data`` entries a checkpoint fine-tuned by the app stores (what its inputs really were)."""
        pre = self.preprocessing
        return {"preprocessing": pre.to_dict(), "intensity": pre.intensity.to_dict(), "spacing": list(pre.spacing_mm),
                "roi_size": list(pre.roi_size)}

    def to_dict(self) -> dict[str, Any]:
        return {**self.preprocessing.to_dict(), "source": self.source}
