"""How raw image intensities become the model's input: ONE definition shared by training and the app.

A checkpoint stores ``IntensityConvention.to_dict()``; the annotation app rebuilds it with
:meth:`IntensityConvention.from_dict` and calls :meth:`IntensityConvention.apply`, so that an image is
normalised exactly as the training images were.

Kinds (``params`` in brackets):

- ``"none"``: identity (cast to float32).
- ``"zscore"`` (``eps``=1e-6): ``(x - mean) / std`` over the array it is applied to. The lidc64 source applied
  it to each 64x64 crop on its own (every crop has mean 0 and std 1), NOT to the scan: a model trained on them
  expects every model-sized window z-scored on its own. Applied by a dataset it acts per sample; on whole
  scans :class:`ssb_core.preprocessing.Preprocessing` applies it per window (its ``intensity_scope``).
- ``"unit"`` (``scale``=255, ``mean``=0, ``std``=1): ``(x / scale - mean) / std``. The jpg crops
  (lidc128-jpg, [0, 255]) are mapped to [0, 1] and then with a fixed mean/std to a z-score-like range; the
  Kohl et al. crops pickle is already in [0, 1] (``scale=1``).
- ``"window"`` (``a_min``, ``a_max``, ``b_min``=0, ``b_max``=1, ``clip``=True): linear map of
  ``[a_min, a_max]`` to ``[b_min, b_max]``, clipped. CT volumes in HU use e.g. the lung window
  -1000 ... 400 HU mapped to -1.5 ... 4.5 (:data:`LUNG_WINDOW`), about the lidc64 range.

``to_dict()`` is flat: ``{"kind": ..., **params}`` (``"method"`` is accepted as an alias of ``"kind"`` by
``from_dict``, which also reads the ``{"kind": ..., "params": {...}}`` nesting). :meth:`IntensityConvention.parse`
reads one from a line of text (a command-line or server option): a kind, or that dict as JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["IntensityConvention", "normalise", "KINDS", "LIDC64", "LUNG_WINDOW", "JPG_UNIT", "CROPS_UNIT"]

KINDS = ("none", "zscore", "unit", "window")

_DEFAULTS: dict[str, dict[str, Any]] = {
    "none": {},
    "zscore": {"eps": 1e-6},
    "unit": {"scale": 255.0, "mean": 0.0, "std": 1.0},
    "window": {"b_min": 0.0, "b_max": 1.0, "clip": True},
}
_REQUIRED: dict[str, tuple[str, ...]] = {"none": (), "zscore": (), "unit": (), "window": ("a_min", "a_max")}
_ALIASES = {"identity": "none", "z-score": "zscore", "z_score": "zscore", "per_scan_zscore": "zscore", "range": "window",
            "scale_intensity_range": "window", "ct_window": "window"}


@dataclass(frozen=True)
class IntensityConvention:
    """A named intensity normalisation with its parameters.

    Attributes:
        kind: one of ``"none"``, ``"zscore"``, ``"unit"``, ``"window"``.
        params: the kind's parameters (defaults filled in by :meth:`create` / :meth:`from_dict`).
    """

    kind: str = "none"
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        kind = _ALIASES.get(str(self.kind).lower(), str(self.kind).lower())
        if kind not in KINDS:
            raise ValueError(f"unknown intensity convention kind {self.kind!r}: expected one of {KINDS}")
        params = {**_DEFAULTS[kind], **dict(self.params)}
        missing = [k for k in _REQUIRED[kind] if k not in params]
        if missing:
            raise ValueError(f"intensity convention {kind!r} needs parameters {missing}")
        if kind == "window" and not float(params["a_max"]) > float(params["a_min"]):
            raise ValueError(f"intensity window needs a_max > a_min, got {params['a_min']}, {params['a_max']}")
        if kind == "unit" and (float(params["scale"]) == 0 or float(params["std"]) == 0):
            raise ValueError(f"intensity convention 'unit' needs non-zero scale and std, got {params}")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "params", params)

    @classmethod
    def create(cls, kind: str, **params: Any) -> "IntensityConvention":
        """``IntensityConvention.create("window", a_min=-1000, a_max=400)``."""
        return cls(kind, params)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able flat description ``{"kind": ..., **params}`` (stored in checkpoints)."""
        out: dict[str, Any] = {"kind": self.kind}
        for k, v in self.params.items():
            out[k] = v.item() if isinstance(v, np.generic) else v
        return out

    @classmethod
    def from_dict(cls, desc: Mapping[str, Any] | str) -> "IntensityConvention":
        """Inverse of :meth:`to_dict`; also accepts a bare kind string, ``method`` for ``kind`` and a nested
        ``params`` dict. Raises ValueError for an unknown kind or missing parameters."""
        if isinstance(desc, str):
            return cls(desc, {})
        if not isinstance(desc, Mapping):
            raise ValueError(f"an intensity convention is a dict or a kind string, got {type(desc).__name__}")
        d = dict(desc)
        kind = d.pop("kind", d.pop("method", None))
        if kind is None:
            raise ValueError(f"intensity convention {desc!r} has no 'kind'")
        d.pop("method", None)
        nested = d.pop("params", None) or {}
        return cls(str(kind), {**d, **dict(nested)})

    @classmethod
    def parse(cls, text: str) -> "IntensityConvention":
        """A kind (``zscore``, ``none``) or a JSON dict (``{"kind": "window", "a_min": -1000, ...}``); surrounding
        blanks are ignored. Raises ValueError for text that is neither, or a convention that cannot be built."""
        text = text.strip()
        return cls.from_dict(json.loads(text) if text.startswith("{") else text)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Normalise ``image`` (any shape) and return float32 of the same shape."""
        x = np.asarray(image, dtype=np.float32)
        p = self.params
        if self.kind == "none":
            return x.copy() if x is image else x
        if self.kind == "zscore":
            std = float(x.std()) if x.size else 1.0
            mean = float(x.mean()) if x.size else 0.0
            return ((x - mean) / max(std, float(p["eps"]))).astype(np.float32)
        if self.kind == "unit":
            return ((x / float(p["scale"]) - float(p["mean"])) / float(p["std"])).astype(np.float32)
        a_min, a_max = float(p["a_min"]), float(p["a_max"])
        b_min, b_max = float(p["b_min"]), float(p["b_max"])
        y = (x - a_min) / (a_max - a_min) * (b_max - b_min) + b_min
        if p.get("clip", True):
            y = np.clip(y, min(b_min, b_max), max(b_min, b_max))
        return y.astype(np.float32)

    __call__ = apply

    def describe(self) -> str:
        """Human-readable one-liner, e.g. ``window[-1000, 400] -> [-1.5, 4.5]``."""
        p = self.params
        if self.kind == "window":
            return f"window[{p['a_min']}, {p['a_max']}] -> [{p['b_min']}, {p['b_max']}]"
        if self.kind == "unit":
            return f"(x / {p['scale']} - {p['mean']}) / {p['std']}"
        return self.kind

    def is_finite(self) -> bool:
        """True when every numeric parameter is finite."""
        return all(math.isfinite(float(v)) for v in self.params.values() if isinstance(v, (int, float)) and not isinstance(v, bool))


def normalise(image: np.ndarray, convention: IntensityConvention | Mapping[str, Any] | str) -> np.ndarray:
    """Map a raw image (any shape) to the model's input range with ``convention``: an
    :class:`IntensityConvention`, or its ``to_dict()`` as a checkpoint stores it, or a kind string.
    Returns float32 of the image's shape."""
    conv = convention if isinstance(convention, IntensityConvention) else IntensityConvention.from_dict(convention)
    return conv.apply(image)


#: lidc64: each 64x64 crop z-scored on its own (by the source already; applying it again changes < 1e-6).
LIDC64 = IntensityConvention("zscore")
#: CT in HU: lung window mapped to about the lidc64 range.
LUNG_WINDOW = IntensityConvention.create("window", a_min=-1000.0, a_max=400.0, b_min=-1.5, b_max=4.5, clip=True)
#: lidc128-jpg: [0, 255] -> [0, 1] -> z-score-like (mean 0.14 / std 0.15: measured over the 28 lidc128-jpg images).
JPG_UNIT = IntensityConvention.create("unit", scale=255.0, mean=0.14, std=0.15)
#: Kohl et al. crops pickle: already [0, 1] -> same z-score-like range as the jpg crops.
CROPS_UNIT = IntensityConvention.create("unit", scale=1.0, mean=0.14, std=0.15)
