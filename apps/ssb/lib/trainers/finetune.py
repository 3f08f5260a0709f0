"""Fine-tuning and validating a candidate model: the app's only contact with the training and metrics code.

- :func:`fine_tune_candidate` calls :func:`ssb_core.training.fine_tune` (L_SSB with reader-label dropout,
  the "guidance dropout" of classifier-free guidance, EMA weights), starting from the served model;
- :func:`judge_readers` scores the served and the candidate model on each reader's held-out masks
  (:mod:`ssb_core.evaluation.reader_fidelity`: candidates conditioned on that reader, the same seeds for both
  models so that they are compared on the same noise paths) and decides per reader with a paired bootstrap.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from ssb_core.checkpoint import SSBCheckpoint, served_as
from ssb_core.evaluation.reader_fidelity import ReaderDecision
from ssb_core.pipeline import SSBPipeline

__all__ = ["FineTuneResult", "fine_tune_candidate", "judge_readers"]

logger = logging.getLogger(__name__)


@dataclass
class FineTuneResult:
    checkpoint_path: Path
    steps: int
    elapsed_s: float
    stopped: str
    world_size: int = 1


def fine_tune_candidate(
    ckpt: SSBCheckpoint,
    samples: list[dict],
    output_dir: Path,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    ema_decay: float = 0.0,
    seed: int,
    max_minutes: float,
    num_threads: int,
    device: str,
    multi_gpu: bool = False,
    gpus: str = "all",
    trainable: str = "readers",
    train_readers: list[str] | None = None,
) -> FineTuneResult:
    """Continue training ``ckpt`` on ``samples`` (see :mod:`lib.trainers.dataset`); writes ``candidate.pt``.

    ``multi_gpu``: DistributedDataParallel over the GPUs listed in ``gpus`` (``"all"`` or ``"0,1"``), one
    process each (:func:`ssb_core.training.launch.fine_tune_multiprocess`); on a server without CUDA, two
    CPU processes with Gloo. ``batch_size`` is then per process. ``trainable`` / ``train_readers``: what changes
    (:mod:`ssb_core.training.trainable`).
    """
    kwargs = dict(checkpoint=ckpt, samples=samples, output_dir=output_dir, steps=steps, lr=lr, batch_size=min(batch_size, len(samples)),
                  ema_decay=ema_decay, seed=seed, max_minutes=max_minutes, num_threads=num_threads, name="candidate", trainable=trainable,
                  train_readers=list(train_readers or ()))
    if multi_gpu:
        from ssb_core.training.launch import fine_tune_multiprocess

        summary = fine_tune_multiprocess(gpus=gpus, **kwargs)
        return FineTuneResult(Path(summary["checkpoint_path"]), int(summary["steps"]), float(summary["elapsed_s"]), str(summary["stopped"]),
                              world_size=int(summary["world_size"]))
    from ssb_core.training import fine_tune

    result = fine_tune(device=device, **kwargs)
    return FineTuneResult(Path(result.checkpoint_path), int(result.steps), float(result.elapsed_s), str(result.stopped))


def judge_readers(served: SSBCheckpoint, candidate: SSBCheckpoint, samples: list[dict], readers: list[str], slots: list[str], *,
                  num_candidates: int, nfe: int, seeds: list[int], min_images: int, min_gain: float, confidence: float,
                  device: str, candidate_guidance: float = 0.0) -> dict[str, ReaderDecision]:
    """One :class:`~ssb_core.evaluation.reader_fidelity.ReaderDecision` per reader of ``readers``: the served and the
    candidate model scored on that reader's held-out masks (slot ``slots.index(reader)`` of ``samples``) with the
    same seeds, each as it would serve the reader (:func:`ssb_core.checkpoint.served_as`), the candidate with
    ``candidate_guidance``.

    A candidate that cannot be sampled (NaN/Inf weights after a diverged run) is ``worse`` for every reader.
    """
    from ssb_core.evaluation.reader_fidelity import decide_reader, reader_fidelity

    models = {"served": SSBPipeline(served, device=device), "candidate": SSBPipeline(candidate, device=device)}
    out = {}
    for reader in readers:
        scores = {}
        for which, pipe in models.items():
            label, guidance = served_as(pipe.checkpoint, reader)
            if which == "candidate":
                guidance = candidate_guidance
            try:
                scores[which] = reader_fidelity(pipe, samples, slots.index(reader), label, num_candidates=num_candidates, nfe=nfe,
                                                seeds=seeds, guidance_weight=guidance)
            except ValueError as exc:  # NaN/Inf inside the sampler
                if which == "served":
                    raise
                logger.warning("the candidate cannot be sampled: %s", exc)
                scores[which] = None
        if scores["candidate"] is None:
            s = scores["served"].summary()
            out[reader] = ReaderDecision(reader, "worse", len(scores["served"].image_ids), s["dice"], math.nan, math.nan, (math.nan, math.nan),
                                         s["volume_bias"], math.nan)
        else:
            out[reader] = decide_reader(reader, scores["served"], scores["candidate"], min_images=min_images, min_gain=min_gain,
                                        confidence=confidence)
        logger.info("gate %s", out[reader].describe())
    return out
