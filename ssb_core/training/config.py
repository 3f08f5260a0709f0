"""The training recipe: one nested dataclass, read from YAML/JSON, with dotted command-line overrides.

A recipe file holds these sections (every key optional; unknown keys are rejected with the list of valid ones):

- ``data``: ``train`` / ``val`` / ``test`` dataset configs handed verbatim to
  :func:`ssb_core.data.build_dataset`; ``val_fraction`` (a patient-grouped split of ``train`` when no ``val``
  is given); ``augment`` (``true``/``false`` or a dict for the data package's augmentation); ``readers``.
- ``network``, ``bridge``, ``loss``, ``sampling``: :class:`~ssb_core.network.NetworkConfig`,
  :class:`~ssb_core.bridge.BridgeConfig`, :class:`~ssb_core.loss.LossConfig`,
  :class:`~ssb_core.candidates.SamplingConfig` (the sampling defaults stored in the checkpoint).
- ``optim``: :class:`OptimConfig`; ``train``: :class:`RunConfig`; ``validation``: :class:`ValidationConfig`.
- ``method`` (top level: ``ssb``, ``gaussian`` or ``prob_unet``) and the baselines' sections ``gaussian``
  (:class:`~ssb_core.baselines.gaussian.GaussianDiffusionConfig`) and ``prob_unet``
  (:class:`~ssb_core.baselines.prob_unet.ProbUNetConfig`).

Overrides are ``section.key=value`` strings (``train.max_steps=200``, ``network.channels=[8,16]``); the value
is parsed as YAML, so numbers, booleans, lists and null read naturally.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ssb_core.baselines.gaussian import GaussianDiffusionConfig
from ssb_core.baselines.prob_unet import ProbUNetConfig
from ssb_core.bridge import BridgeConfig
from ssb_core.candidates import SamplingConfig
from ssb_core.loss import LossConfig
from ssb_core.network import NetworkConfig
from ssb_core.training.trainable import TRAINABLE_SCOPES

__all__ = [
    "ConfigError",
    "DataConfig",
    "OptimConfig",
    "RunConfig",
    "ValidationConfig",
    "TrainConfig",
    "load_config",
    "apply_overrides",
    "parse_override",
]


class ConfigError(ValueError):
    """A recipe file or an override is malformed or names an unknown key."""


class _RecipeLoader(yaml.SafeLoader):
    """YAML with two YAML-1.1 surprises removed: ``1e-4`` is a float (not a string) and only
    ``true``/``false`` are booleans (``on``, ``off``, ``yes``, ``no`` stay strings, e.g. ``progress: off``)."""


_RecipeLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def yaml_load(text: str) -> Any:
    """Parse recipe YAML (see :class:`_RecipeLoader` for the two differences from ``yaml.safe_load``)."""
    return yaml.load(text, Loader=_RecipeLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass
class DataConfig:
    """Where the data comes from.

    Attributes:
        train: dataset config for :func:`ssb_core.data.build_dataset` (e.g. ``{format: lidc64, path: ...}``).
        val: the same for validation; when None, ``val_fraction`` of the train patients are held out.
        test: optional, for evaluation after training.
        val_fraction: share of patients (grouped by ``patient_id``) held out when ``val`` is None; 0 = none.
        augment: random flips / 90-degree rotations / intensity jitter on the training pairs (bool or a dict
            of options for the data package's augmentation).
        readers: reader names in label order; empty = ``reader0 .. reader{R-1}``.
        absent_readers: ``exclude`` (a training pair's reader is drawn among the readers present on the slice)
            or ``empty`` (among all reader slots, an absent reader's mask being empty: Kohl et al. 2018).
        spacing_mm: [row, col] mm per pixel of the training windows when the dataset does not record it (the
            lidc64 crops: 0.7); stored in the checkpoint's preprocessing so whole scans are resampled to it.
        num_workers: DataLoader workers (0 keeps data loading in the main process; exact resume either way).
    """

    train: dict | None = None
    val: dict | None = None
    test: dict | None = None
    val_fraction: float = 0.0
    augment: bool | dict = True
    readers: list[str] = field(default_factory=list)
    absent_readers: str = "exclude"
    spacing_mm: list[float] | None = None
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.absent_readers not in ("exclude", "empty"):
            raise ConfigError(f"data.absent_readers must be 'exclude' or 'empty', got {self.absent_readers!r}")


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then cosine (or constant) decay.

    Attributes:
        lr: peak learning rate. weight_decay, betas: AdamW's. warmup_steps: linear warm-up length.
        schedule: ``cosine`` (to ``min_lr_ratio * lr`` at ``max_steps``) or ``constant``.
        grad_clip: max global gradient norm (0 = off).
        trainable: what the optimiser changes (:mod:`ssb_core.training.trainable`): ``all`` the whole network;
            ``readers`` only rows of the reader label embedding; ``readers+tail`` those rows, the last decoder
            block and the output layer.
        train_readers: the embedding rows (reader label indices) that ``readers`` / ``readers+tail`` train; empty =
            every reader row (the null label's row is trained only when listed).
    """

    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 100
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    trainable: str = "all"
    train_readers: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        self.train_readers = [int(i) for i in self.train_readers]
        if self.trainable not in TRAINABLE_SCOPES:
            raise ConfigError(f"optim.trainable must be one of {list(TRAINABLE_SCOPES)}, got {self.trainable!r}")
        if self.trainable != "all" and self.weight_decay > 0:
            raise ConfigError("optim.weight_decay must be 0 when only part of the network trains (AdamW would decay the frozen rows)")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"optim.schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if not self.lr > 0:
            raise ConfigError(f"optim.lr must be > 0, got {self.lr!r}")


@dataclass
class RunConfig:
    """The loop itself.

    Attributes:
        max_steps: optimiser steps in total (the run stops earlier when ``max_minutes`` is reached).
        batch_size: pairs per step and per process (the global batch is ``batch_size * world_size``).
        ema_decay: EMA of the weights (0 = no EMA; the checkpoint then holds the raw weights).
        amp: ``auto`` (bf16 on CUDA if supported, else fp16; off on CPU), ``bf16``, ``fp16`` or ``off``.
        num_threads: ``torch.set_num_threads`` (0 = leave torch's default).
        log_every, val_every, ckpt_every: in steps (0 = never; a final checkpoint is always written).
        max_minutes: wall-clock bound (0 = none); the run saves and stops cleanly when it is reached.
        progress: tqdm bars: ``auto`` (only on a TTY), ``on`` or ``off``.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:i]``.
        init_from: a checkpoint (``.pt``) whose weights a new run starts from (a second training stage);
            empty = random initialisation. Ignored when the run resumes (its own state holds the weights).
        init_sha256: the SHA-256 that ``init_from`` must have, so that the recipe reproduces only from the
            weights it names (empty = not checked).
    """

    max_steps: int = 1000
    batch_size: int = 16
    ema_decay: float = 0.999
    amp: str = "auto"
    num_threads: int = 0
    log_every: int = 10
    val_every: int = 500
    ckpt_every: int = 250
    max_minutes: float = 0.0
    progress: str = "auto"
    device: str = "auto"
    init_from: str = ""
    init_sha256: str = ""

    def __post_init__(self) -> None:
        if self.init_sha256 and not self.init_from:
            raise ConfigError("train.init_sha256 is set but train.init_from is empty")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise ConfigError(f"train.amp must be one of auto, bf16, fp16, off; got {self.amp!r}")
        if self.progress not in ("auto", "on", "off"):
            raise ConfigError(f"train.progress must be auto, on or off; got {self.progress!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must lie in [0, 1), got {self.ema_decay!r}")
        if self.max_steps < 1 or self.batch_size < 1:
            raise ConfigError(f"train.max_steps and train.batch_size must be >= 1, got {self.max_steps}, {self.batch_size}")


@dataclass
class ValidationConfig:
    """Periodic validation: GED and D_max on a few validation images, few candidates, low NFE."""

    num_images: int = 16
    num_candidates: int = 4
    nfe: int = 5
    seed: int = 1234


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "network": NetworkConfig,
    "bridge": BridgeConfig,
    "loss": LossConfig,
    "sampling": SamplingConfig,
    "optim": OptimConfig,
    "train": RunConfig,
    "validation": ValidationConfig,
    "gaussian": GaussianDiffusionConfig,
    "prob_unet": ProbUNetConfig,
}
_TOP_LEVEL = ("seed", "output_dir", "name", "method")
_METHODS = ("ssb", "gaussian", "prob_unet")


@dataclass
class TrainConfig:
    """A full recipe. ``seed`` seeds everything; ``output_dir`` receives checkpoints and the JSONL log.

    ``method`` picks what is trained (:mod:`ssb_core.training.methods`): ``ssb`` (default), or a baseline,
    ``gaussian`` (settings in the ``gaussian`` section, the network in ``network``) or ``prob_unet``
    (settings in the ``prob_unet`` section); every other section applies to all three.
    """

    seed: int = 0
    output_dir: str = "runs/ssb"
    name: str = "ssb"
    method: str = "ssb"
    data: DataConfig = field(default_factory=DataConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: RunConfig = field(default_factory=RunConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    gaussian: GaussianDiffusionConfig = field(default_factory=GaussianDiffusionConfig)
    prob_unet: ProbUNetConfig = field(default_factory=ProbUNetConfig)

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ConfigError(f"method must be one of {list(_METHODS)}, got {self.method!r}")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrainConfig":
        """Build and validate a recipe from plain data; unknown sections or keys raise :class:`ConfigError`."""
        if not isinstance(raw, dict):
            raise ConfigError(f"a recipe must be a mapping of sections, got {type(raw).__name__}")
        unknown = sorted(set(raw) - set(_SECTIONS) - set(_TOP_LEVEL))
        if unknown:
            raise ConfigError(f"unknown recipe key(s) {unknown}; expected {sorted(_TOP_LEVEL + tuple(_SECTIONS))}")
        kwargs: dict[str, Any] = {k: raw[k] for k in _TOP_LEVEL if k in raw}
        for name, klass in _SECTIONS.items():
            section = raw.get(name) or {}
            if not isinstance(section, dict):
                raise ConfigError(f"section {name!r} must be a mapping, got {type(section).__name__}")
            valid = [f.name for f in fields(klass)]
            bad = sorted(set(section) - set(valid))
            if bad:
                raise ConfigError(f"unknown key(s) {[f'{name}.{b}' for b in bad]}; valid keys of {name!r}: {valid}")
            try:
                kwargs[name] = klass(**section)
            except ConfigError:
                raise
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"invalid {name!r} settings: {exc}") from exc
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/YAML-serialisable), the inverse of :meth:`from_dict`."""
        d = {k: getattr(self, k) for k in _TOP_LEVEL}
        for name in _SECTIONS:
            section = getattr(self, name)
            d[name] = section.to_dict() if hasattr(section, "to_dict") else asdict(section)
        d["optim"]["betas"] = list(self.optim.betas)
        return json.loads(json.dumps(d))


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"a.b.c=value"`` into (["a", "b", "c"], parsed YAML value)."""
    if "=" not in text:
        raise ConfigError(f"an override must look like section.key=value, got {text!r}")
    key, value = text.split("=", 1)
    path = [p for p in key.strip().split(".")]
    if not key.strip() or any(not p for p in path):
        raise ConfigError(f"an override must look like section.key=value, got {text!r}")
    try:
        parsed = yaml_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse the value of override {text!r}: {exc}") from exc
    return path, parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with every ``section.key=value`` override applied.

    Keys under ``data.train`` / ``data.val`` / ``data.test`` are free-form (dataset configs); elsewhere a key
    must exist in the schema, which :meth:`TrainConfig.from_dict` checks afterwards.
    """
    out = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        if len(path) == 1 and path[0] not in _TOP_LEVEL:
            raise ConfigError(f"override {text!r} must name section.key (sections: {sorted(_SECTIONS)}) or one of {list(_TOP_LEVEL)}")
        if path[0] not in _SECTIONS and path[0] not in _TOP_LEVEL:
            raise ConfigError(f"unknown section {path[0]!r} in override {text!r}; expected one of {sorted(_SECTIONS)}")
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {part!r} is not a section")
            node = child
        node[path[-1]] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML or JSON recipe (or the defaults when ``path`` is None), apply overrides, validate.

    A recipe may start with ``extends: other.yaml`` (relative to its own folder): the other recipe's values
    are the base, and this recipe's keys replace them section by section (a second training stage names only
    what it changes).
    """
    raw = _read_recipe(Path(path), ()) if path is not None else {}
    return TrainConfig.from_dict(apply_overrides(raw, list(overrides or [])))


def _read_recipe(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"recipe file not found: {path}")
    if path.resolve() in chain:
        raise ConfigError(f"recipe {path} extends itself (through {[str(p) for p in chain]})")
    try:
        text = path.read_text()
        raw = json.loads(text) if path.suffix == ".json" else (yaml_load(text) or {})
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read recipe {path}: {exc}") from exc
    base = raw.pop("extends", None)
    if base is None:
        return raw
    merged = _read_recipe(path.parent / str(base), (*chain, path.resolve()))
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged
