"""Training SSB networks: recipes, the loop (EMA, AMP, DDP, exact resume) and fine-tuning.

Public API:

- :func:`train` (``train(config, ...) -> TrainResult``), the loop behind ``ssb-train``;
- :func:`fine_tune` (``fine_tune(checkpoint, samples, ...) -> TrainResult``), for new reader labels;
- :func:`load_config` / :class:`TrainConfig`, the recipe with ``section.key=value`` overrides.

See ``docs/training.md``.
"""

from __future__ import annotations

from ssb_core.training.config import ConfigError, TrainConfig, apply_overrides, load_config
from ssb_core.training.finetune import fine_tune
from ssb_core.training.state import ResumeError
from ssb_core.training.trainer import TrainResult, train

__all__ = ["train", "fine_tune", "TrainResult", "TrainConfig", "load_config", "apply_overrides", "ConfigError", "ResumeError"]
