"""The served model's :class:`ssb_core.preprocessing.Preprocessing`, read ONCE from its checkpoint.

What the model sees (window size, pixel size, intensity normalisation and its scope) is defined in
:mod:`ssb_core.preprocessing` and written in the checkpoint by training; infer, fine-tuning and active
learning all prepare images with it. Two ``--conf`` settings exist for checkpoints that do not describe
themselves fully (:meth:`ssb_core.preprocessing.Preprocessing.from_checkpoint` reads them with these):

- ``model_spacing`` (mm): the model pixel size of a checkpoint written before ``data["preprocessing"]``
  existed (its ``data["spacing"]`` is empty);
- ``intensity``: a kind (``zscore``, ``none``) or a JSON dict that replaces the checkpoint's intensity
  convention (its scope stays the checkpoint's), for a datastore whose images are stored differently.

The train task writes the preprocessing it used into the fine-tuned checkpoint (:meth:`ModelConventions.record`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ssb_core.checkpoint import SSBCheckpoint
from ssb_core.data import IntensityConvention
from ssb_core.preprocessing import LegacyIntensityError, Preprocessing, PreprocessingError

__all__ = ["ModelConventions", "ConventionError"]


class ConventionError(ValueError):
    """The checkpoint's or the ``--conf`` data conventions cannot be used."""


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
        try:
            override = IntensityConvention.parse(intensity) if intensity else None
        except ValueError as exc:
            raise ConventionError(f"--conf intensity: {exc}") from None
        try:
            pre = Preprocessing.from_checkpoint(ckpt, fallback_spacing_mm, override)
        except LegacyIntensityError as exc:
            raise ConventionError(f"{exc}; pass --conf intensity") from None
        except PreprocessingError as exc:
            raise ConventionError(str(exc)) from None
        source = "checkpoint" if Preprocessing.is_recorded(ckpt.data or {}) else "checkpoint (legacy) + conf model_spacing"
        return cls(pre, f"{source} + conf intensity" if override is not None else source)

    @property
    def roi_size(self) -> tuple[int, int]:
        return self.preprocessing.roi_size

    @property
    def spacing_mm(self) -> tuple[float, float]:
        return self.preprocessing.spacing_mm

    def record(self) -> dict[str, Any]:
        """The ``data`` entries a checkpoint fine-tuned by the app stores (what its inputs really were)."""
        return self.preprocessing.checkpoint_data()

    def to_dict(self) -> dict[str, Any]:
        return {**self.preprocessing.to_dict(), "source": self.source}
