"""What a run is built from: its datasets, the data conventions it records, and the JSONL metrics log.

Datasets come from :func:`ssb_core.data.build_dataset` (imported lazily, so a caller that hands in its own
samples, like :func:`ssb_core.training.fine_tune`, needs no dataset files at all).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ssb_core.checkpoint import load_checkpoint
from ssb_core.data.intensity import IntensityConvention
from ssb_core.hashing import file_sha256
from ssb_core.preprocessing import Preprocessing
from ssb_core.training.config import ConfigError, TrainConfig

__all__ = ["build_datasets", "build_from_config", "data_conventions", "initial_weights", "MetricsLog", "dataset_num_readers",
           "model_window", "window_normaliser"]

logger = logging.getLogger(__name__)


def build_datasets(config: TrainConfig, train_dataset: Dataset | None = None, val_dataset: Dataset | None = None) -> tuple[Dataset, Dataset | None]:
    """The training and validation datasets of a recipe (given ones take precedence).

    ``data.val`` is built when given; otherwise ``data.val_fraction > 0`` holds out a patient-grouped share of
    ``data.train``. Dataset errors (``ssb_core.data.DatasetError``, naming the file) propagate unchanged.
    """
    if train_dataset is None:
        if not config.data.train:
            raise ConfigError("no training data: set data.train in the recipe (a dataset config for ssb_core.data.build_dataset)")
        train_dataset = build_from_config(config.data.train, "data.train")
        if val_dataset is None and config.data.val:
            val_dataset = build_from_config(config.data.val, "data.val")
    if val_dataset is None and config.data.val_fraction > 0:
        from ssb_core.data import split_dataset

        f = float(config.data.val_fraction)
        if not 0.0 < f < 1.0:
            raise ConfigError(f"data.val_fraction must lie in (0, 1), got {f!r}")
        parts = split_dataset(train_dataset, {"train": 1.0 - f, "val": f}, seed=config.seed)
        train_dataset, val_dataset = parts["train"], parts["val"]
        logger.info("patient-grouped split: %d train / %d val slices", len(train_dataset), len(val_dataset))
    if len(train_dataset) == 0:  # type: ignore[arg-type]
        raise ValueError("the training dataset is empty")
    return train_dataset, val_dataset


def build_from_config(data_config: dict, where: str) -> Dataset:
    """:func:`ssb_core.data.build_dataset`; a malformed config (unknown format or key) becomes a
    :class:`ConfigError` naming ``where``; ``DatasetError`` (a file problem, naming the file) passes unchanged."""
    from ssb_core.data import DatasetError, build_dataset

    try:
        return build_dataset(dict(data_config))
    except DatasetError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def dataset_num_readers(dataset: Dataset) -> int:
    """R, the reader slots of the first sample's ``masks`` (R, H, W)."""
    return int(dataset[0]["masks"].shape[0])  # type: ignore[index]


def _unwrap(dataset: Dataset) -> Dataset:
    while hasattr(dataset, "dataset") and not hasattr(dataset, "intensity"):
        dataset = dataset.dataset  # torch Subset
    return dataset


def window_normaliser(dataset: Dataset) -> Callable[[np.ndarray], np.ndarray] | None:
    """The dataset's intensity convention as applied to one sample (one model-sized window), for windows the
    augmentation cuts anew (:func:`ssb_core.training.data.off_centre_pairs`); None when the dataset has none."""
    intensity = getattr(_unwrap(dataset), "intensity", None)
    return intensity.apply if isinstance(intensity, IntensityConvention) else None


def model_window(dataset: Dataset) -> tuple[int, int] | None:
    """The model's window (H, W) when the dataset's samples are a larger context the training cuts it from
    (``window_size``, e.g. lidc128 with ``context``); None when each sample is one window."""
    size = getattr(_unwrap(dataset), "window_size", None)
    return (int(size[0]), int(size[1])) if size is not None else None


def _window_shape(dataset: Dataset, first: dict) -> tuple[int, ...]:
    return model_window(dataset) or tuple(int(s) for s in first["image"].shape[1:])


def _preprocessing(dataset: Dataset, first: dict, config: TrainConfig) -> dict[str, Any] | None:
    """:class:`ssb_core.preprocessing.Preprocessing` of a 2D training set: each sample is one window, normalised
    on its own by the dataset's convention; the pixel size comes from the samples or from ``data.spacing_mm``."""
    intensity = getattr(_unwrap(dataset), "intensity", None)
    spacing = config.data.spacing_mm or (first.get("meta") or {}).get("spacing")
    if first["image"].ndim != 3 or not isinstance(intensity, IntensityConvention) or not spacing:
        return None
    spacing = [float(spacing)] * 2 if isinstance(spacing, (int, float)) else [float(s) for s in list(spacing)[-2:]]
    return Preprocessing(_window_shape(dataset, first), tuple(spacing), intensity, "window").to_dict()


def data_conventions(dataset: Dataset, config: TrainConfig) -> dict[str, Any]:
    """The data conventions stored in the checkpoint: intensity normalisation, ROI size, mask encoding,
    absent-reader convention and the dataset configs; ``preprocessing`` is what the model sees
    (:mod:`ssb_core.preprocessing`, nnU-Net's "plans"), which the annotation app applies to whole scans."""
    first = dataset[0]  # type: ignore[index]
    base = _unwrap(dataset)
    intensity: Any = getattr(base, "intensity", None) or getattr(base, "intensity_convention", None)
    if intensity is not None and hasattr(intensity, "to_dict"):
        intensity = intensity.to_dict()
    elif intensity is not None and not isinstance(intensity, (dict, str)):
        intensity = str(intensity)
    meta = first.get("meta") or {}
    conventions = {
        "intensity": intensity if intensity is not None else meta.get("intensity", "as produced by ssb_core.data"),
        "roi_size": list(_window_shape(dataset, first)),
        "spacing": meta.get("spacing"),
        "image_channels": int(first["image"].shape[0]),
        "mask": "binary {0,1}; the bridge's x0 = 2 * mask - 1",
        "reader_slots": int(first["masks"].shape[0]),
        "training_pair": ("reader l drawn uniformly among the readers present on the slice"
                          if config.data.absent_readers == "exclude" else
                          "reader l drawn uniformly among all reader slots; an absent reader's mask is empty (Kohl et al.)"),
        "absent_readers": config.data.absent_readers,
        "preprocessing": _preprocessing(dataset, first, config),
        "datasets": {k: v for k, v in (("train", config.data.train), ("val", config.data.val)) if v},
    }
    return json.loads(json.dumps(conventions, default=str))


def initial_weights(config: TrainConfig) -> dict[str, torch.Tensor] | None:
    """The weights ``train.init_from`` names (a second training stage), checked against the recipe.

    Returns:
        the checkpoint's state dict, or None when the recipe starts from random weights.

    Raises:
        ConfigError: the file is missing, its SHA-256 is not ``train.init_sha256``, it is not an SSB checkpoint,
            or its network differs from the recipe's ``network`` section.
    """
    source = config.train.init_from
    if not source:
        return None
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"train.init_from: no checkpoint at {path}")
    if config.method != "ssb":
        raise ConfigError(f"train.init_from starts SSB runs only, not method {config.method!r}")
    digest = file_sha256(path)
    if config.train.init_sha256 and digest != config.train.init_sha256:
        raise ConfigError(f"train.init_from {path} has SHA-256 {digest}, the recipe names {config.train.init_sha256}")
    ckpt = load_checkpoint(path)
    if ckpt.network.to_dict() != config.network.to_dict():
        raise ConfigError(f"train.init_from {path}: its network {ckpt.network.to_dict()} differs from the recipe's {config.network.to_dict()}")
    logger.info("starting from the weights of %s (SHA-256 %s)", path, digest)
    return ckpt.state_dict


class MetricsLog:
    """Append-only JSONL log, one record per line (only the main process writes).

    On resume, records from steps after the resumed step are dropped, so a log never has two records for
    the same step.
    """

    def __init__(self, path: Path, enabled: bool, resume_step: int | None = None) -> None:
        self.path = Path(path)
        self.enabled = enabled
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            self.path.write_text("")
        elif self.path.exists():
            kept = [line for line in self.path.read_text().splitlines() if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            self.path.write_text("".join(line + "\n" for line in kept))

    def last_validation(self, step: int) -> dict[str, Any]:
        """The validation record already logged at ``step`` (empty when none), e.g. after a no-op resume."""
        if not self.enabled or not self.path.exists():
            return {}
        for line in reversed(self.path.read_text().splitlines()):
            record = json.loads(line) if line.strip() else {}
            if record.get("step") == step and any(k.startswith("val/") for k in record):
                return record
        return {}

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record, default=float) + "\n")
