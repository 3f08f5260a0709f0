"""The bridge's network: MONAI's DiffusionModelUNet fed [x_n, image] and a reader label.

The network predicts ``eps = (x_n - x0) / sigma_n`` (see :mod:`ssb_core.bridge`). The reader whose style to
imitate enters through MONAI's class embedding (``num_class_embeds = num_readers + 1``): labels
``0 .. num_readers - 1`` are readers, label ``num_readers`` is the null label of classifier-free guidance
(Ho & Salimans 2022). The image is concatenated to x_n as a second input channel at every step
(I2SB "cond-x1"), so the same module serves 2D (``(B, 1, H, W)``) and 3D (``(B, 1, H, W, D)``) inputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from monai.networks.nets import DiffusionModelUNet
from torch import nn

from ssb_core.validation import check_image_batch, check_labels

__all__ = ["NetworkConfig", "SSBNetwork"]


@dataclass(frozen=True)
class NetworkConfig:
    """Hyperparameters that rebuild the network (stored in every checkpoint).

    Attributes:
        spatial_dims: 2 for slices, 3 for volumes.
        num_readers: readers the label embedding knows; one more index is the null label.
        image_channels: channels of the image (conditioning) input.
        mask_channels: channels of x_n and of the output (1 for a binary lesion mask).
        channels: feature channels per resolution level (each level halves the spatial size).
        attention_levels: self-attention per level (same length as ``channels``).
        num_res_blocks: residual blocks per level.
        num_head_channels: channels per attention head.
        norm_num_groups: GroupNorm groups; must divide every entry of ``channels``.
    """

    spatial_dims: int = 2
    num_readers: int = 4
    image_channels: int = 1
    mask_channels: int = 1
    channels: tuple[int, ...] = (32, 64, 64)
    attention_levels: tuple[bool, ...] = (False, False, True)
    num_res_blocks: int = 1
    num_head_channels: int = 32
    norm_num_groups: int = 16

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "attention_levels", tuple(bool(a) for a in self.attention_levels))
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {self.spatial_dims!r}")
        if self.num_readers < 1:
            raise ValueError(f"num_readers must be >= 1, got {self.num_readers!r}")
        if len(self.channels) != len(self.attention_levels):
            raise ValueError(
                f"attention_levels must have one entry per level ({len(self.channels)}), got {len(self.attention_levels)}"
            )
        heads = [c for c, a in zip(self.channels, self.attention_levels) if a] + [self.channels[-1]]  # + middle block
        if any(c % self.num_head_channels for c in heads):
            raise ValueError(
                f"num_head_channels={self.num_head_channels} must divide the channels of every attention level and "
                f"of the last level (the middle block always attends), got {self.channels}"
            )
        if any(c % self.norm_num_groups for c in self.channels):
            raise ValueError(f"norm_num_groups={self.norm_num_groups} must divide every channel count, got {self.channels}")

    @property
    def null_label(self) -> int:
        """The label index meaning "no reader" (classifier-free guidance's unconditional branch)."""
        return self.num_readers

    @property
    def size_multiple(self) -> int:
        """Spatial sizes must be multiples of this (one halving per level after the first)."""
        return 2 ** (len(self.channels) - 1)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        d["attention_levels"] = list(self.attention_levels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkConfig":
        return cls(**d)


class SSBNetwork(nn.Module):
    """eps_theta(x_n, image, n, reader label), a thin wrapper over MONAI's DiffusionModelUNet."""

    READER_EMBEDDING = "unet.class_embedding.weight"  # (num_readers + 1, embed): rows 0..R-1 readers, row R null

    @classmethod
    def grow_readers(cls, state_dict: dict[str, torch.Tensor], count: int) -> dict[str, torch.Tensor]:
        """A copy of ``state_dict`` whose reader embedding has ``count`` more readers.

        The new rows go after the existing readers and before the null row, each a copy of the null row: a new
        reader starts exactly where classifier-free guidance's "no reader" is, and every existing label keeps its
        index and its row. Load the result into an :class:`SSBNetwork` built with ``num_readers + count``.
        """
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        weight = state_dict[cls.READER_EMBEDDING]
        null = weight[-1:]
        out = dict(state_dict)
        out[cls.READER_EMBEDDING] = torch.cat([weight[:-1], null.repeat(count, 1), null]).clone()
        return out

    def __init__(self, config: NetworkConfig | None = None) -> None:
        super().__init__()
        self.config = config or NetworkConfig()
        c = self.config
        self.unet = DiffusionModelUNet(
            spatial_dims=c.spatial_dims,
            in_channels=c.mask_channels + c.image_channels,
            out_channels=c.mask_channels,
            num_res_blocks=c.num_res_blocks,
            channels=c.channels,
            attention_levels=c.attention_levels,
            norm_num_groups=c.norm_num_groups,
            num_head_channels=c.num_head_channels,
            num_class_embeds=c.num_readers + 1,
        )

    def forward(self, x_n: torch.Tensor, image: torch.Tensor, timesteps: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Predict eps.

        Args:
            x_n: (B, mask_channels, *spatial) bridge state.
            image: (B, image_channels, *spatial) normalised image (the bridge's x1).
            timesteps: (B,) steps n in [1, T] (float or int).
            labels: (B,) int64 reader labels in [0, num_readers] (num_readers = null).

        Returns:
            (B, mask_channels, *spatial) eps prediction.
        """
        c = self.config
        check_image_batch("x_n", x_n, c.spatial_dims, c.mask_channels)
        check_image_batch("image", image, c.spatial_dims, c.image_channels)
        if x_n.shape[0] != image.shape[0] or x_n.shape[2:] != image.shape[2:]:
            raise ValueError(f"x_n and image must share batch and spatial size, got {tuple(x_n.shape)} and {tuple(image.shape)}")
        bad = [s for s in x_n.shape[2:] if s % c.size_multiple]
        if bad:
            raise ValueError(f"spatial size must be a multiple of {c.size_multiple}, got {tuple(x_n.shape[2:])}")
        check_labels(labels, x_n.shape[0], c.num_readers + 1)
        timesteps = torch.as_tensor(timesteps, device=x_n.device).reshape(-1).float()
        if timesteps.numel() == 1:
            timesteps = timesteps.expand(x_n.shape[0])
        return self.unet(torch.cat([x_n, image], dim=1), timesteps=timesteps, class_labels=labels.to(x_n.device))
