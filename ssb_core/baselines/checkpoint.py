"""Baseline checkpoints: a trained Gaussian-start diffusion or Probabilistic U-Net, self-describing.

Same conventions as SSB's checkpoints (:mod:`ssb_core.checkpoint`): a ``torch.save`` of a plain dict, loaded
with ``weights_only=True``, written atomically. Keys:

- ``format``: ``"ssb-baseline/1"``; ``method``: ``"gaussian"`` or ``"prob_unet"``;
- ``config``: the method's settings (:class:`~ssb_core.baselines.gaussian.GaussianDiffusionConfig` or
  :class:`~ssb_core.baselines.prob_unet.ProbUNetConfig` as a dict);
- ``network``: the :class:`~ssb_core.network.NetworkConfig` dict (``gaussian`` only: the SSB network is reused);
- ``readers``, ``data``, ``provenance``, ``state_dict``: as in an SSB checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ssb_core.checkpoint import CheckpointError, atomic_torch_save

__all__ = ["BASELINE_FORMAT", "BASELINE_METHODS", "BaselineCheckpoint", "save_baseline", "load_baseline", "checkpoint_format"]

BASELINE_FORMAT = "ssb-baseline/1"
BASELINE_METHODS = ("gaussian", "prob_unet")


@dataclass
class BaselineCheckpoint:
    """A trained baseline. ``build_model()`` returns the network (eval mode) with its weights."""

    method: str
    config: dict
    state_dict: dict[str, torch.Tensor]
    network: dict | None = None
    readers: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in BASELINE_METHODS:
            raise CheckpointError(f"unknown baseline method {self.method!r}; expected one of {list(BASELINE_METHODS)}")
        if self.method == "gaussian" and self.network is None:
            raise CheckpointError("a 'gaussian' baseline checkpoint needs its network settings")

    def build_model(self, device: str | torch.device = "cpu") -> nn.Module:
        if self.method == "gaussian":
            from ssb_core.network import NetworkConfig, SSBNetwork

            model: nn.Module = SSBNetwork(NetworkConfig.from_dict(self.network))
        else:
            from ssb_core.baselines.prob_unet import ProbUNet, ProbUNetConfig

            model = ProbUNet(ProbUNetConfig.from_dict(self.config))
        model.load_state_dict(self.state_dict)
        return model.to(device).eval()

    def to_dict(self) -> dict:
        return {
            "format": BASELINE_FORMAT,
            "method": self.method,
            "config": dict(self.config),
            "network": dict(self.network) if self.network is not None else None,
            "readers": list(self.readers),
            "data": dict(self.data),
            "provenance": dict(self.provenance),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()},
        }


def save_baseline(checkpoint: BaselineCheckpoint, path: str | Path) -> Path:
    """Write atomically (temporary file + rename)."""
    return atomic_torch_save(checkpoint.to_dict(), path)


def _read(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt / foreign files
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(raw, dict) or "format" not in raw:
        raise CheckpointError(f"{path} is not an SSB or baseline checkpoint (no 'format' key)")
    return raw


def checkpoint_format(path: str | Path) -> str:
    """The ``format`` string of a checkpoint file (``ssb-checkpoint/1`` or ``ssb-baseline/1``)."""
    return str(_read(Path(path))["format"])


def load_baseline(path: str | Path) -> BaselineCheckpoint:
    """Load a baseline checkpoint (``weights_only=True``); :class:`CheckpointError` names the file on failure."""
    path = Path(path)
    raw = _read(path)
    if raw["format"] != BASELINE_FORMAT:
        raise CheckpointError(f"{path}: format {raw['format']!r} is not a baseline checkpoint ({BASELINE_FORMAT!r})")
    missing = [k for k in ("method", "config", "state_dict") if k not in raw]
    if missing:
        raise CheckpointError(f"{path}: baseline checkpoint lacks {missing}")
    return BaselineCheckpoint(
        method=str(raw["method"]), config=dict(raw["config"]), state_dict=raw["state_dict"], network=raw.get("network"),
        readers=list(raw.get("readers", [])), data=dict(raw.get("data", {})), provenance=dict(raw.get("provenance", {})),
    )
