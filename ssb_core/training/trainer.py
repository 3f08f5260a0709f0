"""The training loop: L_SSB (or a baseline's loss) with label dropout, EMA, AMP, DDP, periodic validation, exact resume.

``train(config)`` is the one entry point (the CLI ``ssb-train`` and :func:`ssb_core.training.fine_tune` call
it). Per step, on every rank:

1. the batch of this step (epoch permutation seeded ``seed + epoch``, see :class:`EpochBatches`);
2. one pair per sample, reader ``l`` uniform among the readers present; augmentation; all random draws
   (reader, augmentation, step n, noise, label dropout) from the run's generator, seeded ``seed + 100003 * rank``;
3. ``L_SSB`` (:class:`ssb_core.loss.SSBLoss`) under autocast, backward (scaled for fp16), clip, AdamW, LR
   schedule, EMA update.

Only rank 0 validates, logs and writes files: ``<output_dir>/<name>.pt`` (the model checkpoint, EMA weights,
:mod:`ssb_core.checkpoint`), ``resume.pt`` (exact-resume state, :mod:`ssb_core.training.state`) and
``metrics.jsonl``.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from torch import nn

from ssb_core.training.artifacts import checkpoint_provenance, run_validation
from ssb_core.training.config import ConfigError, TrainConfig
from ssb_core.data import collate_samples
from ssb_core.training.data import EpochBatches, augment_pairs, draw_pairs
from ssb_core.training.distributed import DistInfo, cleanup_distributed, init_distributed, resolve_device
from ssb_core.training.ema import ModelEMA
from ssb_core.training.methods import build_method
from ssb_core.training.optim import build_optimizer, build_scheduler, resolve_amp
from ssb_core.training.setup import (MetricsLog, build_datasets, data_conventions, dataset_num_readers, initial_weights, model_window,
                                     window_normaliser)
from ssb_core.training.state import ResumeError, capture_rng_state, load_resume, restore_rng_state, save_resume
from ssb_core.training.trainable import restrict_trainable

__all__ = ["TrainResult", "train"]

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a run left behind.

    Attributes:
        checkpoint_path: the model checkpoint (EMA weights), loadable with ``SSBPipeline.from_checkpoint``.
        resume_path: the exact-resume state. log_path: the JSONL metrics log.
        steps: optimiser steps done in total (including those before a resume).
        elapsed_s: training wall time in total (including before a resume).
        stopped: ``max_steps``, ``time_limit`` or ``stop_after_steps``.
        last_validation: the last validation record (empty when none ran).
        model: the trained network (raw weights); ema_model: its EMA (None without EMA). In memory, on the
            training device; the checkpoint holds ``ema_model``'s weights when there is one.
    """

    checkpoint_path: Path
    resume_path: Path
    log_path: Path
    steps: int
    elapsed_s: float
    stopped: str
    last_validation: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = field(default=None, repr=False)
    ema_model: nn.Module | None = field(default=None, repr=False)


def _resume_source(resume: bool | str | Path, output_dir: Path) -> Path | None:
    if resume is False or resume is None:
        return None
    if resume is True:
        path = output_dir / "resume.pt"
        return path if path.is_file() else None
    return Path(resume)


def _check_compatible(saved: dict, config: TrainConfig) -> None:
    now = config.to_dict()
    if saved.get("method", "ssb") != now["method"]:
        raise ResumeError(f"cannot resume: the saved run trained {saved.get('method', 'ssb')!r}, the recipe says {now['method']!r}")
    for section in ("network", "bridge", "gaussian", "prob_unet"):
        if saved.get(section) != now[section]:
            raise ResumeError(f"cannot resume: the recipe's {section} settings differ from the saved run's ({saved.get(section)} vs {now[section]})")


def train(
    config: TrainConfig,
    *,
    train_dataset: Dataset | None = None,
    val_dataset: Dataset | None = None,
    resume: bool | str | Path = False,
    init_state_dict: dict[str, torch.Tensor] | None = None,
    readers: list[str] | None = None,
    conventions: dict[str, Any] | None = None,
    stop_after_steps: int | None = None,
) -> TrainResult:
    """Train (or continue training) an SSB network.

    Args:
        config: the recipe (:func:`ssb_core.training.config.load_config`).
        train_dataset, val_dataset: datasets of sample dicts that replace ``config.data`` (e.g. a list of
            samples collected by the annotation app).
        resume: True = continue from ``<output_dir>/resume.pt`` when it exists; a path = from that file.
        init_state_dict: starting weights (fine-tuning); ignored when resuming. Default: the recipe's
            ``train.init_from`` checkpoint, or random weights.
        readers: reader names in label order (default ``config.data.readers`` or ``reader0..``).
        conventions: data conventions to record instead of those derived from the dataset.
        stop_after_steps: stop (saving resume state) once this global step is reached, as an interruption
            would; the LR schedule still spans ``train.max_steps``.

    Returns:
        a :class:`TrainResult`. Under DDP every rank returns one; only rank 0 wrote the files.
    """
    run = config.train
    if run.num_threads > 0:
        torch.set_num_threads(run.num_threads)
    device = resolve_device(run.device)
    info = init_distributed(device)
    if info.is_distributed and device.type == "cuda":
        device = torch.device(f"cuda:{info.local_rank}")
    try:
        return _Loop(config, info, device).run(train_dataset, val_dataset, resume, init_state_dict, readers, conventions, stop_after_steps)
    finally:
        cleanup_distributed(info)


class _Loop:
    def __init__(self, config: TrainConfig, info: DistInfo, device: torch.device) -> None:
        self.config, self.info, self.device = config, info, device
        self.out_dir = Path(config.output_dir)
        self.amp = resolve_amp(config.train.amp, device)

    def run(self, train_ds, val_ds, resume, init_state_dict, readers, conventions, stop_after) -> TrainResult:  # noqa: ANN001
        cfg, run, info = self.config, self.config.train, self.info
        train_ds, val_ds = build_datasets(cfg, train_ds, val_ds)
        slots = dataset_num_readers(train_ds)
        if slots > cfg.network.num_readers:
            raise ConfigError(f"the data has {slots} reader slots but network.num_readers is {cfg.network.num_readers}; raise network.num_readers")
        self.readers = list(readers or cfg.data.readers or [f"reader{i}" for i in range(cfg.network.num_readers)])
        self.conventions = conventions if conventions is not None else data_conventions(train_ds, cfg)
        self.window_normalise = window_normaliser(train_ds)
        self.window = model_window(train_ds)
        self.val_ds = val_ds

        torch.manual_seed(cfg.seed)
        self.method = build_method(cfg)
        self.model = self.method.build_model().to(self.device)
        source = _resume_source(resume, self.out_dir)
        if init_state_dict is None and source is None:
            init_state_dict = initial_weights(cfg)
        if init_state_dict is not None:
            self.model.load_state_dict(init_state_dict)
        restrict_trainable(self.model, cfg.optim.trainable, cfg.optim.train_readers)
        self.ema = ModelEMA(self.model, run.ema_decay) if run.ema_decay > 0 else None
        self.net = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None) if info.is_distributed else self.model
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, run.max_steps)
        self.scaler = self.amp.scaler()
        self.generator = torch.Generator().manual_seed(cfg.seed + 100003 * info.rank)
        self.step, self.elapsed_before, self._saved_step = 0, 0.0, -1

        if source is not None:
            self._load(source)
        self.log = MetricsLog(self.out_dir / "metrics.jsonl", info.is_main, self.step if source is not None else None)
        batches = EpochBatches(len(train_ds), run.batch_size, cfg.seed, info.rank, info.world_size)
        limit = min(run.max_steps, stop_after) if stop_after else run.max_steps
        if info.is_main:
            logger.info("training %s: %d slices, %d steps/epoch, steps %d -> %d, device %s, amp %s, world %d",
                        cfg.name, len(train_ds), batches.steps_per_epoch, self.step, limit, self.device, self.amp.name, info.world_size)
        stopped, last_val = self._loop(train_ds, batches, limit)
        if stopped == "max_steps" and limit < run.max_steps:
            stopped = "stop_after_steps"
        if self._saved_step != self.step:
            self._save(final=True)
        if info.is_main and last_val.get("step") != self.step:
            last_val = self.log.last_validation(self.step) or self._validate() or last_val
        ema_model = self.ema.module if self.ema is not None else None
        return TrainResult(
            self.out_dir / f"{cfg.name}.pt", self.out_dir / "resume.pt", self.log.path, self.step, self._elapsed(), stopped, last_val, self.model, ema_model
        )

    def _elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self.t0)

    def _loop(self, train_ds: Dataset, batches: EpochBatches, limit: int) -> tuple[str, dict]:
        run, info = self.config.train, self.info
        self.t0 = time.monotonic()
        show = {"on": True, "off": False, "auto": sys.stderr.isatty()}[run.progress] and info.is_main
        bar = tqdm(total=limit, initial=self.step, disable=not show, desc=self.config.name, dynamic_ncols=True)
        acc: dict[str, float] = {}
        last_val: dict = {}
        stopped = "max_steps"
        while self.step < limit and stopped == "max_steps":
            epoch, skip = divmod(self.step, batches.steps_per_epoch)
            loader = DataLoader(train_ds, batch_sampler=batches(epoch, skip), collate_fn=collate_samples, num_workers=self.config.data.num_workers)
            for batch in loader:
                parts = self._train_step(batch)
                self.step += 1
                for k, v in parts.items():
                    acc[k] = acc.get(k, 0.0) + v
                acc["n"] = acc.get("n", 0.0) + 1
                bar.update(1)
                if run.log_every and self.step % run.log_every == 0:
                    record = {k: v / acc["n"] for k, v in acc.items() if k != "n"}
                    record.update(step=self.step, epoch=epoch, lr=self.scheduler.get_last_lr()[0], elapsed_s=round(self._elapsed(), 2))
                    self.log.write(record)
                    bar.set_postfix(loss=f"{record['loss']:.4f}")
                    acc = {}
                if run.val_every and self.step % run.val_every == 0 and info.is_main:
                    last_val = self._validate() or last_val
                if run.ckpt_every and self.step % run.ckpt_every == 0:
                    self._save()
                if self._time_up():
                    stopped = "time_limit"
                    break
                if self.step >= limit:
                    break
        bar.close()
        return stopped, last_val

    def _time_up(self) -> bool:
        minutes = self.config.train.max_minutes
        flag = torch.tensor([1.0 if minutes > 0 and self._elapsed() > 60 * minutes else 0.0])
        if self.info.is_distributed:
            flag = flag.to(self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item() > 0)

    def _train_step(self, batch: dict) -> dict[str, float]:
        cfg = self.config
        images, masks, labels = draw_pairs(batch, self.generator, cfg.data.absent_readers)
        augment = cfg.data.augment
        if augment:
            opts = augment if isinstance(augment, dict) else {}
            images, masks = augment_pairs(images, masks, self.generator, normalise=self.window_normalise, window=self.window, **opts)
        elif self.window is not None and tuple(images.shape[-2:]) != self.window:
            images, masks = augment_pairs(images, masks, self.generator, flips=False, rot90=False, intensity=0.0,
                                          normalise=self.window_normalise, window=self.window)
        images, masks, labels = images.to(self.device), masks.to(self.device), labels.to(self.device)
        self.net.train()
        with self.amp.autocast():
            loss, parts = self.method.loss(self.net, masks, images, labels, self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.optim.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        return {"loss": float(loss.detach()), **parts}

    def _eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model  # type: ignore[return-value]

    def _validate(self) -> dict:
        if self.val_ds is None or self.config.validation.num_images <= 0:
            return {}
        record = run_validation(self._eval_model(), self.method.sample_fn, self.config, self.val_ds, self.device)
        if record:
            record = {"step": self.step, "elapsed_s": round(self._elapsed(), 2), **record}
            self.log.write(record)
            logger.info("validation at step %d: %s", self.step, {k: round(v, 4) for k, v in record.items() if isinstance(v, float)})
        return record

    def _save(self, final: bool = False) -> None:
        self._saved_step = self.step
        rng = capture_rng_state(self.generator)
        if self.info.is_distributed:
            gathered: list[Any] = [None] * self.info.world_size
            dist.all_gather_object(gathered, rng)
            rngs = gathered
        else:
            rngs = [rng]
        if not self.info.is_main:
            return
        state = {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "elapsed_s": self._elapsed(),
            "rng": rngs,
            "config": self.config.to_dict(),
        }
        save_resume(self.out_dir / "resume.pt", **state)
        provenance = checkpoint_provenance(self.config, self.step, self._elapsed(), self.info, self.amp.name)
        self.method.save(self._eval_model(), self.out_dir / f"{self.config.name}.pt", self.readers, self.conventions, provenance)
        if final:
            logger.info("final checkpoint at step %d after %.1f min", self.step, self._elapsed() / 60)

    def _load(self, path: Path) -> None:
        state = load_resume(path)
        _check_compatible(state["config"], self.config)
        self.model.load_state_dict(state["model"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.elapsed_before = int(state["step"]), float(state["elapsed_s"])
        rngs = state["rng"]
        if len(rngs) == self.info.world_size:
            restore_rng_state(rngs[self.info.rank], self.generator)
        else:
            logger.warning("resume: saved with %d processes, now %d; random streams reseeded", len(rngs), self.info.world_size)
            self.generator.manual_seed(self.config.seed + 100003 * self.info.rank + self.step)
        logger.info("resumed from %s at step %d", path, self.step)
