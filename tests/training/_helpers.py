"""Shared by the training tests: a tiny recipe and a handful of real lidc64 slices."""

from __future__ import annotations

from torch.utils.data import Subset

from ssb_core.training.config import TrainConfig
from tests.conftest import shared_data

TINY_NETWORK = {"channels": [8, 16], "attention_levels": [False, False], "norm_num_groups": 4, "num_head_channels": 8, "num_readers": 4}


def lidc64_config(split: str) -> dict:
    """The ``build_dataset`` config of a lidc64 split (skips the test when ../shared/data is absent)."""
    return {"format": "lidc64", "path": str(shared_data("lidc64", f"{split}.npz"))}


def lidc64_slices(split: str, n: int):
    """The first ``n`` slices of a lidc64 split, via the data package."""
    from ssb_core.data import build_dataset

    return Subset(build_dataset(lidc64_config(split)), list(range(n)))


def tiny_recipe(output_dir, **sections) -> TrainConfig:
    """A recipe that trains in about a second: tiny network, T = 100, batch 4, no validation."""
    raw = {
        "seed": 0,
        "output_dir": str(output_dir),
        "name": "tiny",
        "network": dict(TINY_NETWORK),
        "bridge": {"num_timesteps": 100},
        "sampling": {"num_candidates": 2, "nfe": 2},
        "optim": {"warmup_steps": 2},
        "train": {"max_steps": 6, "batch_size": 4, "log_every": 1, "val_every": 0, "ckpt_every": 0, "progress": "off", "device": "cpu", "ema_decay": 0.9},
        "validation": {"num_images": 2, "num_candidates": 2, "nfe": 2},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values) if isinstance(values, dict) else raw.__setitem__(name, values)
    return TrainConfig.from_dict(raw)
