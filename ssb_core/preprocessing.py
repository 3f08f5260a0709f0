"""What the model sees, defined once (nnU-Net's "plans"): written in the checkpoint, applied by one function.

A 2D SSB model looks at one axial slice at a time through a square window. :class:`Preprocessing` says

- ``roi_size`` (H, W): the window in model pixels;
- ``spacing_mm`` (row, col): the physical size of a model pixel, so the window covers ``roi_size * spacing_mm``
  millimetres of the patient whatever the scan's own pixel size;
- ``intensity``: the :class:`~ssb_core.data.IntensityConvention` that maps raw values to the model's range;
- ``intensity_scope``: where that convention takes its statistics: ``"window"`` (each model-sized window on
  its own, after resampling: what the lidc64 crops are, every crop has mean 0 and std 1) or ``"image"`` (the
  whole image at once; only meaningful for conventions without statistics, e.g. a fixed HU window);
- ``slice_axis``: ``"axial"``: volumes are numpy ``(Z, Y, X)`` arrays and the model sees ``(Y, X)`` planes.

Training applies the convention per sample (a training sample IS one model-sized window); the annotation app,
the volume inference (:mod:`ssb_core.volume`) and the benchmarks call :meth:`Preprocessing.model_input`, which
cuts the same windows out of a whole scan and normalises them the same way.

In a checkpoint (:meth:`Preprocessing.checkpoint_data`): :meth:`Preprocessing.to_dict` under
``data["preprocessing"]``, plus the older flat entries ``intensity``, ``spacing`` and ``roi_size``.
:meth:`Preprocessing.from_checkpoint` reads it back; a checkpoint written before ``data["preprocessing"]``
existed (*legacy*) is read from those flat entries, with a caller's fallback pixel size when ``spacing`` is
empty and the intensity convention applied to the whole image (scope ``"image"``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ssb_core.data.intensity import IntensityConvention

if TYPE_CHECKING:
    from ssb_core.checkpoint import SSBCheckpoint

__all__ = ["Preprocessing", "PreprocessingError", "LegacyIntensityError", "SCOPES", "LIDC64_PREPROCESSING"]

logger = logging.getLogger(__name__)

SCOPES = ("window", "image")


class PreprocessingError(ValueError):
    """A checkpoint's preprocessing description is missing or cannot be used."""


class LegacyIntensityError(PreprocessingError):
    """A legacy checkpoint's intensity convention cannot be built: the caller must supply one."""


@dataclass(frozen=True)
class Preprocessing:
    """How a scan becomes the model's input (see the module docstring).

    Attributes:
        roi_size: (H, W) model pixels. spacing_mm: (row, col) mm per model pixel.
        intensity: the normalisation. intensity_scope: ``"window"`` or ``"image"``.
        slice_axis: ``"axial"`` (the only one the 2D models use).
    """

    roi_size: tuple[int, int]
    spacing_mm: tuple[float, float]
    intensity: IntensityConvention
    intensity_scope: str = "window"
    slice_axis: str = "axial"

    def __post_init__(self) -> None:
        if len(self.roi_size) != 2 or any(int(s) < 4 for s in self.roi_size):
            raise PreprocessingError(f"roi_size must be [H, W] of at least 4 pixels, got {self.roi_size!r}")
        if len(self.spacing_mm) != 2 or not all(0 < float(s) < 100 for s in self.spacing_mm):
            raise PreprocessingError(f"spacing_mm must be [row, col] millimetres in (0, 100), got {self.spacing_mm!r}")
        if self.intensity_scope not in SCOPES:
            raise PreprocessingError(f"intensity_scope must be one of {SCOPES}, got {self.intensity_scope!r}")
        if self.slice_axis != "axial":
            raise PreprocessingError(f"slice_axis must be 'axial', got {self.slice_axis!r}")
        object.__setattr__(self, "roi_size", (int(self.roi_size[0]), int(self.roi_size[1])))
        object.__setattr__(self, "spacing_mm", (float(self.spacing_mm[0]), float(self.spacing_mm[1])))

    def to_dict(self) -> dict[str, Any]:
        return {"roi_size": list(self.roi_size), "spacing_mm": list(self.spacing_mm), "intensity": self.intensity.to_dict(),
                "intensity_scope": self.intensity_scope, "slice_axis": self.slice_axis}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Preprocessing":
        try:
            return cls(tuple(d["roi_size"]), tuple(d["spacing_mm"]), IntensityConvention.from_dict(d["intensity"]),
                       str(d.get("intensity_scope", "window")), str(d.get("slice_axis", "axial")))
        except (KeyError, TypeError, ValueError) as exc:
            raise PreprocessingError(f"preprocessing {dict(d)!r}: {exc}") from None

    def checkpoint_data(self) -> dict[str, Any]:
        """The ``data`` entries a checkpoint stores (see the module docstring)."""
        return {"preprocessing": self.to_dict(), "intensity": self.intensity.to_dict(), "spacing": list(self.spacing_mm),
                "roi_size": list(self.roi_size)}

    @staticmethod
    def is_recorded(data: Mapping[str, Any]) -> bool:
        """True when a checkpoint's ``data`` has ``data["preprocessing"]``; False for a legacy checkpoint."""
        return isinstance(data.get("preprocessing"), Mapping)

    @classmethod
    def from_checkpoint_data(cls, data: Mapping[str, Any]) -> "Preprocessing":
        """The checkpoint's ``data["preprocessing"]``; raises PreprocessingError when it has none (a checkpoint
        from before this definition: write one with ``scripts/set_preprocessing.py``)."""
        desc = data.get("preprocessing")
        if not cls.is_recorded(data):
            raise PreprocessingError("the checkpoint has no data['preprocessing'] (how its inputs were prepared); "
                                     "record it with scripts/set_preprocessing.py")
        return cls.from_dict(desc)

    @classmethod
    def from_legacy_data(cls, data: Mapping[str, Any], fallback_spacing_mm: float,
                         intensity: IntensityConvention | None = None) -> "Preprocessing":
        """A legacy checkpoint's ``data``: its ``roi_size``, its ``spacing`` (``fallback_spacing_mm`` when it has
        none that is usable) and its ``intensity`` (unless ``intensity`` replaces it), scope ``"image"``.

        Raises:
            PreprocessingError: no ``roi_size`` [H, W]; LegacyIntensityError: no usable intensity convention.
        """
        roi = data.get("roi_size")
        if not isinstance(roi, (list, tuple)) or len(roi) != 2:
            raise PreprocessingError(f"checkpoint data['roi_size'] must be [H, W] (the 2D model's input size), got {roi!r}")
        spacing = data.get("spacing")
        spacing = [spacing, spacing] if isinstance(spacing, (int, float)) else spacing
        if not (isinstance(spacing, (list, tuple)) and len(spacing) >= 2 and all(float(s) > 0 for s in spacing[-2:])):
            spacing = [fallback_spacing_mm] * 2
        if intensity is None:
            try:
                intensity = IntensityConvention.from_dict(data.get("intensity", "none"))
            except ValueError as exc:
                raise LegacyIntensityError(f"checkpoint intensity convention {data.get('intensity')!r}: {exc}") from None
        logger.warning("the checkpoint has no data['preprocessing']: using roi_size %s, %s mm, intensity %s on the whole "
                       "image; record the model's real preprocessing with scripts/set_preprocessing.py", roi, spacing[-2:],
                       intensity.describe())
        return cls(tuple(roi), tuple(float(s) for s in spacing[-2:]), intensity, "image")

    @classmethod
    def from_checkpoint(cls, ckpt: "SSBCheckpoint", fallback_spacing_mm: float,
                        intensity: IntensityConvention | None = None) -> "Preprocessing":
        """How ``ckpt``'s inputs are prepared: its ``data["preprocessing"]``, or for a legacy checkpoint
        :meth:`from_legacy_data`; ``intensity`` replaces the checkpoint's convention (its scope stays the
        checkpoint's).

        Raises:
            PreprocessingError: no usable description, or a ``roi_size`` that is not a multiple of the network's
                ``size_multiple`` (LegacyIntensityError: a legacy checkpoint without a usable intensity convention).
        """
        data = ckpt.data or {}
        if cls.is_recorded(data):
            pre = cls.from_checkpoint_data(data)
        else:
            pre = cls.from_legacy_data(data, fallback_spacing_mm, intensity)
        if intensity is not None:
            pre = replace(pre, intensity=intensity)
        mult = ckpt.network.size_multiple
        if any(s % mult for s in pre.roi_size):
            raise PreprocessingError(f"roi_size {pre.roi_size} is not a multiple of the network's {mult}")
        return pre

    def zoomed(self, scale: float) -> "Preprocessing":
        """The same definition with model pixels ``scale`` times larger (a window covering ``scale`` times more)."""
        return replace(self, spacing_mm=(self.spacing_mm[0] * scale, self.spacing_mm[1] * scale))

    def normalise_windows(self, windows: np.ndarray) -> np.ndarray:
        """(..., H, W) windows already at the model's size -> float32, each window normalised on its own.

        With scope ``"image"`` the convention has no statistics to take, so this is the same as applying it once."""
        x = np.asarray(windows, dtype=np.float32)
        if self.intensity_scope == "image" or x.ndim == 2:
            return self.intensity.apply(x)
        flat = x.reshape(-1, *x.shape[-2:])
        return np.stack([self.intensity.apply(w) for w in flat]).reshape(x.shape)

    def box_size(self, spacing_xyz: Sequence[float]) -> tuple[int, int]:
        """(ny, nx) input voxels covering one window at an image's in-plane spacing ``spacing_xyz[:2]`` (mm)."""
        (h, w), (my, mx) = self.roi_size, self.spacing_mm
        return max(1, round(h * my / float(spacing_xyz[1]))), max(1, round(w * mx / float(spacing_xyz[0])))

    def resample_boxes(self, volume_zyx: np.ndarray, slices: Sequence[int], y0: int, x0: int, ny: int, nx: int) -> torch.Tensor:
        """The boxes (rows ``y0 .. y0+ny-1``, columns ``x0 .. x0+nx-1`` of ``slices``; edge voxels repeated past
        the image border) resampled to ``roi_size``, bilinear (antialiased when shrinking), values unchanged
        otherwise: (B, 1, H, W) float32. Masks go through this too (then threshold at 1/2)."""
        import torch.nn.functional as F

        z, y, x = volume_zyx.shape
        rows = np.clip(np.arange(y0, y0 + ny), 0, y - 1)
        cols = np.clip(np.arange(x0, x0 + nx), 0, x - 1)
        crop = np.asarray(volume_zyx[np.ix_(list(slices), rows, cols)], dtype=np.float32)
        t = torch.from_numpy(np.ascontiguousarray(crop))[:, None]
        if tuple(t.shape[-2:]) != self.roi_size:
            t = F.interpolate(t, size=self.roi_size, mode="bilinear", align_corners=False, antialias=True)
        return t.contiguous()

    def model_input(self, volume_zyx: np.ndarray, slices: Sequence[int], y0: int, x0: int, ny: int, nx: int) -> torch.Tensor:
        """The model's input for the boxes rows ``y0 .. y0+ny-1``, columns ``x0 .. x0+nx-1`` of ``slices``.

        Args:
            volume_zyx: (Z, Y, X) raw intensities (e.g. HU). Past the image border edge voxels are repeated.
            slices: indices along axis 0. y0, x0, ny, nx: the in-plane box in input voxels (:meth:`box_size`).

        Returns:
            (B, 1, H, W) float32, B = len(slices): each box resampled to ``roi_size`` (bilinear, antialiased when
            shrinking) and normalised with the intensity convention and its scope.
        """
        source = self.intensity.apply(volume_zyx) if self.intensity_scope == "image" else volume_zyx
        t = self.resample_boxes(source, slices, y0, x0, ny, nx)
        if self.intensity_scope == "window":
            t = torch.from_numpy(self.normalise_windows(t.numpy()))
        return t.contiguous()


#: The lidc64 crops: 64x64 windows, each z-scored on its own by the source. The crops record no pixel size;
#: 0.7 mm is LIDC-IDRI's usual in-plane spacing (the crops' nodules match the whole-scan nodules at this scale).
LIDC64_PREPROCESSING = Preprocessing((64, 64), (0.7, 0.7), IntensityConvention.create("zscore"), "window")
