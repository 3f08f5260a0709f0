"""The presence head: for each reader slot, the probability that this reader marks the lesion in the window at all.

Why a head of its own. lidc128's slot k is the k-th reader who outlined a nodule: slot 1 marked 99% of the
slices' nodules, slot 4 44%. A bridge trained with an absent reader as an empty mask must learn, in one
conditional, both *whether* slot k marks the lesion and *how* it outlines it; at the low start perturbation it is
sampled with, it cannot draw "a whole outline half of the time and nothing the other half" and draws a shrunk mask
instead (docs/lidc128.md). With presence predicted here, the bridge draws outlines (given the reader marks it) and
a candidate of slot k is kept with this head's probability for slot k (:mod:`ssb_core.presence.sampling`).

The head is a small convolutional classifier (MONAI's ``Classifier``) on the model's window, normalised as the
bridge sees it: (B, 1, H, W) float32 -> (B, R) logits, one per reader slot, trained with binary cross-entropy on
``reader_present`` (:mod:`ssb_core.presence.training`). It is stored inside the SSB checkpoint (key ``presence``:
:meth:`PresenceHead.to_dict`), so one file and one hash carry both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from monai.networks.nets import Classifier
from torch import nn

__all__ = ["PresenceConfig", "PresenceHead", "PRESENCE_FORMAT"]

PRESENCE_FORMAT = "ssb-presence/1"


@dataclass
class PresenceConfig:
    """How the head is built.

    Attributes:
        num_readers: R, one output per reader slot (the bridge's reader labels, same order).
        window: (H, W) of the window it reads: the bridge's window.
        channels: channels of the convolutional stages, each halving the resolution.
        dropout: before the last layer (the head overfits quickly: presence is weakly visible in one slice).
    """

    num_readers: int = 4
    window: tuple[int, int] = (64, 64)
    channels: tuple[int, ...] = (16, 32, 64, 64)
    dropout: float = 0.1

    def __post_init__(self) -> None:
        self.window = tuple(int(s) for s in self.window)  # type: ignore[assignment]
        self.channels = tuple(int(c) for c in self.channels)
        if self.num_readers < 1:
            raise ValueError(f"num_readers must be >= 1, got {self.num_readers}")
        if len(self.window) != 2 or min(self.window) < 2 ** len(self.channels):
            raise ValueError(f"window must be (H, W) of at least {2 ** len(self.channels)} pixels, got {self.window}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["window"], d["channels"] = list(self.window), list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PresenceConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class PresenceHead(nn.Module):
    """(B, 1, H, W) normalised windows -> (B, R) logits; :meth:`probabilities` gives them as probabilities."""

    def __init__(self, config: PresenceConfig, metrics: dict | None = None) -> None:
        super().__init__()
        self.config = config
        self.metrics: dict = dict(metrics or {})  # how it was trained and how it did on validation (plain data)
        self.net = Classifier(in_shape=(1, *config.window), classes=config.num_readers, channels=config.channels,
                              strides=(2,) * len(config.channels), num_res_units=1, dropout=config.dropout)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 1 or tuple(images.shape[-2:]) != self.config.window:
            raise ValueError(f"expected windows (B, 1, {self.config.window[0]}, {self.config.window[1]}), got {tuple(images.shape)}")
        return self.net(images)

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> (B, R) float32 in [0, 1], in eval mode (the head's mode is restored after)."""
        was_training = self.training
        self.eval()
        try:
            return torch.sigmoid(self(images.float())).float()
        finally:
            self.train(was_training)

    def to_dict(self) -> dict:
        """Plain data for a checkpoint (``weights_only`` loadable)."""
        return {"format": PRESENCE_FORMAT, "config": self.config.to_dict(), "metrics": dict(self.metrics),
                "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()}}

    @classmethod
    def from_dict(cls, d: dict, device: str | torch.device = "cpu") -> "PresenceHead":
        """The head stored by :meth:`to_dict`, in eval mode on ``device``."""
        if d.get("format") != PRESENCE_FORMAT:
            raise ValueError(f"not a presence head: format {d.get('format')!r}, expected {PRESENCE_FORMAT!r}")
        head = cls(PresenceConfig.from_dict(d["config"]), d.get("metrics"))
        head.load_state_dict(d["state_dict"])
        return head.to(device).eval()
