"""The ``ssb`` train task: adapt the served model to the readers' labels, promote a reader only when measurably better.

One run (``POST /train/ssb``, or started by :mod:`lib.retrain`; MONAI Label runs it in a subprocess):

1. every reader tag in the datastore; readers the model does not know yet get a new label-embedding row
   (initialised from the null label, :func:`ssb_core.checkpoint.add_readers`);
2. the labelled images (:mod:`lib.trainers.dataset`) split by image into training and held-out sets
   (:mod:`ssb_core.training.labelled_images`); a reader
   takes part only with at least ``min_val_images`` held-out images (a paired comparison on fewer means
   nothing: even 4 improvements out of 4 happen by chance once in 16). When no reader has that many, the run is
   skipped before training and says how many labels are missing;
3. fine-tuning from the served weights (:func:`ssb_core.training.launch.fine_tune_summary`, one process or one per
   GPU): by default only the embedding rows of
   the readers taking part (``trainable: readers``; the recipe and its measurement: ``docs/finetuning.md``), so
   every other reader's output stays bit-identical;
4. the gate, per reader (:mod:`ssb_core.evaluation.reader_gate`): served and candidate model scored on that reader's held-out masks (candidates
   conditioned on the reader, ``val_seeds`` seeds; the candidate with the ``reader_guidance`` weight (1) it will
   serve the reader with by default: classifier-free guidance amplifying the reader's new row), the mean paired Dice difference with its
   ``confidence`` bootstrap interval over images. A reader is promoted only when the interval's lower end lies
   above ``min_gain`` (0.02 Dice: readers without a consistent style gained up to that much from a row of their
   own, ``docs/finetuning.md``);
   with ``trainable: readers`` exactly those readers' rows replace theirs in the served model
   (:func:`ssb_core.checkpoint.adopt_reader_rows`); with ``all`` / ``readers+tail`` the whole candidate replaces
   the served model only when at least one reader is better, none is worse, and every reader the model serves
   was judged (``allow_unchecked`` lifts the last rule). Atomically (:mod:`ssb_core.model_versions`), the previous model
   kept as ``<stem>.prev.pt``; the run and every reader's numbers appended to ``<stem>.history.json`` either way.

Request parameters (defaults from ``--conf train_<name>``, listed in ``/info/`` under ``trainers``):
``steps``, ``lr`` (0: the scope's measured rate, :data:`ssb_core.training.trainable.RECIPE_LR`), ``batch_size``, ``ema_decay``, ``trainable``,
``val_fraction``, ``val_candidates``, ``val_nfe``, ``val_seeds``, ``min_val_images``, ``min_gain``, ``confidence``,
``allow_unchecked``, ``reader_guidance``, ``seed``, ``max_minutes``, ``num_threads``, ``keep_runs`` (run folders kept besides the promoted
ones, :func:`ssb_core.model_versions.prune_runs`), and MONAI Label's ``multi_gpu`` / ``gpus``
(DistributedDataParallel, one process per listed GPU; two Gloo processes on a server without CUDA).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from typing import Any, Callable

from monailabel.interfaces.tasks.train import TrainTask

from ssb_core.checkpoint import add_readers, load_checkpoint, save_checkpoint
from ssb_core.evaluation.reader_gate import decide_promotion, judge_readers, promoted_model, served_accuracy
from ssb_core.model_versions import append_history, json_safe, promote, prune_runs, read_history
from ssb_core.training.labelled_images import label_counts, readers_taking_part, samples_of, split_images, too_few_reason
from ssb_core.training.launch import fine_tune_summary
from ssb_core.training.trainable import RECIPE_LR, TRAINABLE_SCOPES

from lib.model_store import ModelStore
from lib.readers import reader_tags
from lib.trainers.dataset import collect_labelled
from lib.trainers.status import RunMarker, train_stats
from lib.values import parse_bool

__all__ = ["SSBTrain", "TrainSettings"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """Settings of one training run (each a request parameter and a ``--conf train_<name>`` default)."""

    steps: int = 200  # optimiser steps of the fine-tuning
    lr: float = 0.0  # 0: the measured learning rate of the scope (RECIPE_LR)
    batch_size: int = 8  # slices per step (per process with multi_gpu)
    ema_decay: float = 0.0  # 0: the candidate holds the raw weights
    trainable: str = "readers"  # what changes: readers | readers+tail | all (ssb_core.training.trainable)
    val_fraction: float = 0.25  # share of the labelled images held out for the gate
    val_candidates: int = 4  # candidates per held-out image and seed, for both models
    val_nfe: int = 2  # network evaluations per candidate when judging
    val_seeds: int = 2  # seeds per held-out image (the same for both models)
    min_val_images: int = 5  # held-out images a reader needs to take part
    min_gain: float = 0.02  # Dice the interval's lower end must clear for "better"
    confidence: float = 0.95  # of the paired bootstrap interval
    allow_unchecked: bool = False  # whole-network scopes: promote although some served reader could not be judged
    reader_guidance: float = 1.0  # the guidance weight an adapted reader is served with by default (docs/finetuning.md)
    seed: int = 0  # of the split, the fine-tuning and the first judging seed
    max_minutes: float = 10.0  # the fine-tuning stops cleanly after this long (0: no limit)
    num_threads: int = 0  # torch threads (0: torch's default)
    multi_gpu: bool = False  # one process per GPU of gpus (two Gloo processes without CUDA)
    gpus: str = "all"  # "all" or CUDA indices "0,1"
    keep_runs: int = 3  # run folders kept besides the promoted ones

    def __post_init__(self) -> None:
        checks = {"steps": self.steps >= 1, "lr": self.lr >= 0, "ema_decay": 0 <= self.ema_decay < 1, "batch_size": self.batch_size >= 1,
                  "val_fraction": 0 < self.val_fraction < 1, "val_candidates": self.val_candidates >= 1,
                  "val_nfe": self.val_nfe >= 1, "val_seeds": self.val_seeds >= 1, "min_val_images": self.min_val_images >= 1,
                  "min_gain": 0 <= self.min_gain < 1, "reader_guidance": 0 <= self.reader_guidance <= 10,
                  "confidence": 0 < self.confidence < 1, "trainable": self.trainable in TRAINABLE_SCOPES, "max_minutes": self.max_minutes >= 0,
                  "num_threads": self.num_threads >= 0, "keep_runs": self.keep_runs >= 0}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training setting(s) {({k: getattr(self, k) for k in bad})}")

    @classmethod
    def from_conf(cls, conf: dict, conf_value: Callable[[dict, str, Any, type], Any]) -> "TrainSettings":
        return cls(**{f.name: conf_value(conf, f"train_{f.name}", f.default, type(f.default)) for f in fields(cls)})

    CLIENT_KEYS = ("model", "client_id")  # added by MONAI Label and MONAILabelClient (the Slicer plugin's client)

    def check_request(self, request: object) -> "TrainSettings":
        """The settings of a ``POST /train/{model}`` body, checked before the run starts (the server answers 400).

        Raises:
            ValueError: not a JSON object, an unknown key (naming the known ones) or a value out of range.
        """
        if request is None:
            return self
        if not isinstance(request, dict):
            raise ValueError(f"the train request body must be a JSON object, got {request!r}")
        known = [f.name for f in fields(self)]
        unknown = sorted(k for k in request if k not in known and k not in self.CLIENT_KEYS)
        if unknown:
            raise ValueError(f"unknown train parameter(s) {unknown}; the parameters of this trainer are {known}")
        return self.override(request)

    def override(self, request: dict) -> "TrainSettings":
        """A copy with the request's values (strings from viewers are converted); unknown keys are ignored."""
        changes = {}
        for f in fields(self):
            if request.get(f.name) not in (None, ""):
                try:
                    changes[f.name] = parse_bool(request[f.name]) if isinstance(f.default, bool) else type(f.default)(request[f.name])
                except (TypeError, ValueError):
                    raise ValueError(f"train parameter {f.name} must be {type(f.default).__name__}, got {request[f.name]!r}") from None
        return replace(self, **changes)


class SSBTrain(TrainTask):
    def __init__(self, store: ModelStore, settings: TrainSettings, max_slices: int = 64) -> None:
        super().__init__("Adapt the SSB model to each reader's labels; promote a reader only when measurably better")
        self.store = store
        self.settings = settings
        self.max_slices = max_slices

    def config(self) -> dict:
        return asdict(self.settings)

    def stats(self) -> dict:
        """``train_stats`` for the viewers: progress, status and best metric (:mod:`lib.trainers.status`)."""
        return train_stats(read_history(self.store.sidecar("history.json")), RunMarker(self.store.sidecar("training.json")))

    def __call__(self, request: dict, datastore: Any) -> dict:
        marker = RunMarker(self.store.sidecar("training.json"))
        try:
            return self._run(request, datastore, marker)
        finally:
            marker.finish()

    def _run(self, request: dict, datastore: Any, marker: RunMarker) -> dict:
        s = self.settings.override(request)
        t0 = time.perf_counter()
        model = self.store.get()
        served = model.pipeline.checkpoint
        run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
        run_dir = self.store.sidecar("runs") / run_id
        record: dict[str, Any] = {"run_id": run_id, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                  "settings": asdict(s), "served_sha256": model.sha256[:16]}
        marker.start(run_id, s.steps, run_dir)
        tags = sorted({t for i in datastore.list_images() for t in reader_tags(datastore, i)})
        new = [t for t in tags if t not in served.readers]
        start = add_readers(served, new)
        start = replace(start, data={**start.data, **model.conventions.record()})  # what the samples below really are
        images = collect_labelled(datastore, model.conventions, list(start.readers), self.max_slices)
        train, val = split_images(images, s.val_fraction, s.seed)
        counts = label_counts(train, val)
        record.update(readers=list(start.readers), new_readers=new, train_images=[i.image_id for i in train],
                      val_images=[i.image_id for i in val], label_counts=counts)
        if not val:
            return self._finish(record, "skipped", t0, reason=f"needs at least 2 labelled images (1 held out), found {len(images)}")
        taking_part = readers_taking_part(counts, s.min_val_images)
        if not taking_part:
            return self._finish(record, "skipped", t0, reason=too_few_reason(counts, s.min_val_images, s.val_fraction))
        rows = taking_part if s.trainable != "all" else None  # the embedding rows that train (None: the whole network)
        train_samples = samples_of(train, list(start.readers), rows)
        val_samples = [x for i in val for x in i.samples]
        lr = s.lr or RECIPE_LR[s.trainable]
        ft = fine_tune_summary(multi_gpu=s.multi_gpu, gpus=s.gpus, device=str(self.store.device), checkpoint=start, samples=train_samples,
                               output_dir=run_dir, name="candidate", steps=s.steps, lr=lr, batch_size=min(s.batch_size, len(train_samples)),
                               ema_decay=s.ema_decay, seed=s.seed, max_minutes=s.max_minutes, num_threads=s.num_threads,
                               trainable=s.trainable, train_readers=list(rows or ()))
        candidate = load_checkpoint(ft["checkpoint_path"])
        decisions = judge_readers(served, candidate, val_samples, taking_part, list(start.readers), num_candidates=s.val_candidates,
                                  nfe=s.val_nfe, seeds=[s.seed + k for k in range(s.val_seeds)], min_images=s.min_val_images,
                                  min_gain=s.min_gain, confidence=s.confidence, device=str(self.store.device),
                                  candidate_guidance=s.reader_guidance)
        better, why_not = decide_promotion(decisions, s.trainable, list(served.readers), s.min_gain, s.allow_unchecked)
        record.update(train_slices=len(train_samples), val_slices=len(val_samples), steps=ft["steps"], lr=lr, train_s=round(ft["elapsed_s"], 2),
                      world_size=ft["world_size"], candidate_path=ft["checkpoint_path"], gate={r: d.to_dict() for r, d in decisions.items()},
                      promoted_readers=[], accuracy=served_accuracy(decisions, s.trainable, better))
        verdicts = "; ".join(d.describe() for d in decisions.values())
        if why_not:
            return self._finish(record, "not promoted", t0, reason=f"{why_not}: {verdicts}")
        promoted = promoted_model(served, candidate, s.trainable, better, s.reader_guidance)
        source = save_checkpoint(promoted, run_dir / "promoted.pt")
        record.update(promoted_readers=better, previous_model=str(promote(source, self.store.path)))
        self.store.readers.set_trained(list(promoted.readers))
        return self._finish(record, "promoted", t0, reason=f"better for {better}: {verdicts}")

    def _finish(self, record: dict, status: str, t0: float, reason: str | None = None) -> dict:
        record.update(status=status, elapsed_s=round(time.perf_counter() - t0, 2),
                      finished=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        if reason:
            record["reason"] = reason
        history = append_history(self.store.sidecar("history.json"), record)
        prune_runs(self.store.sidecar("runs"), history, int(record["settings"]["keep_runs"]), protect=(record["run_id"],))
        logger.info("training run %s: %s%s", record["run_id"], status, f" ({reason})" if reason else "")
        return json_safe(record)  # type: ignore[return-value]
