"""Multi-process (multi-GPU) fine-tuning from inside a running program, without ``torchrun``.

The annotation server's train task (MONAI Label's ``multi_gpu`` option) calls :func:`fine_tune_multiprocess`:
it spawns ``world_size`` processes on this host with the ``env://`` variables ``torchrun`` would set
(``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR=127.0.0.1``, a free ``MASTER_PORT``), each running
:func:`ssb_core.training.fine_tune`; the training loop then joins the process group itself
(:mod:`ssb_core.training.distributed`: NCCL on CUDA, Gloo on the CPU), one GPU per process.

- GPUs: ``gpus`` lists the CUDA device indices to use (one process each); they are exposed to the children
  with ``CUDA_VISIBLE_DEVICES`` so that local rank i is the i-th listed GPU.
- On a machine without CUDA, ``world_size`` CPU processes train with Gloo (what the tests run here).

Only rank 0 writes files; its summary (checkpoint path, steps, time, stop reason, world size) comes back
through a small JSON file, since spawned processes return nothing.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp

__all__ = ["free_port", "resolve_gpus", "fine_tune_multiprocess", "fine_tune_summary"]

logger = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for ``MASTER_PORT``)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resolve_gpus(gpus: str | Sequence[int] | None) -> list[int]:
    """MONAI Label's ``gpus`` request value -> CUDA device indices: ``"all"``/None = every visible GPU,
    ``"0,2"`` or ``[0, 2]`` = those. Empty without CUDA. Raises ValueError for an unknown index."""
    if not torch.cuda.is_available():
        return []
    count = torch.cuda.device_count()
    if gpus in (None, "", "all"):
        return list(range(count))
    wanted = [int(g) for g in gpus.split(",") if g.strip()] if isinstance(gpus, str) else [int(g) for g in gpus]
    bad = [g for g in wanted if not 0 <= g < count]
    if bad:
        raise ValueError(f"unknown GPU index {bad}: this machine has {count} GPU(s) (0..{count - 1})")
    return wanted


def _worker(rank: int, world_size: int, port: int, gpus: list[int], kwargs: dict[str, Any], result_path: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from ssb_core.training.finetune import fine_tune

    result = fine_tune(**kwargs)
    if rank == 0:
        Path(result_path).write_text(json.dumps({**_summary(result, world_size), "gpus": gpus}))


def _summary(result: Any, world_size: int) -> dict[str, Any]:
    """What a fine-tuning run reports, from its :class:`~ssb_core.training.TrainResult`."""
    return {"checkpoint_path": str(result.checkpoint_path), "steps": int(result.steps), "elapsed_s": float(result.elapsed_s),
            "stopped": str(result.stopped), "world_size": world_size}


def fine_tune_multiprocess(world_size: int | None = None, gpus: str | Sequence[int] | None = "all", **fine_tune_kwargs: Any) -> dict[str, Any]:
    """Run :func:`ssb_core.training.fine_tune` in several processes with DistributedDataParallel.

    Args:
        world_size: processes; default = the number of GPUs chosen (at least 2 on the CPU).
        gpus: see :func:`resolve_gpus`; ignored without CUDA.
        fine_tune_kwargs: :func:`ssb_core.training.fine_tune`'s arguments (``checkpoint``, ``samples``,
            ``output_dir``, ``steps`` ...). ``batch_size`` is per process; ``device`` is set here.

    Returns:
        rank 0's summary: ``checkpoint_path``, ``steps``, ``elapsed_s``, ``stopped``, ``world_size``, ``gpus``.
    """
    devices = resolve_gpus(gpus)
    n = int(world_size or (len(devices) if devices else 2))
    if devices and n > len(devices):
        raise ValueError(f"{n} processes requested but only {len(devices)} GPU(s) chosen ({devices}): one GPU per process")
    if n < 1:
        raise ValueError(f"world_size must be >= 1, got {n}")
    devices = devices[:n]
    kwargs = dict(fine_tune_kwargs, device="cuda" if devices else "cpu")
    env_before = os.environ.get("CUDA_VISIBLE_DEVICES")
    if devices:
        visible = env_before.split(",") if env_before else [str(i) for i in range(torch.cuda.device_count())]
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(visible[i] for i in devices)
    fd, result_path = tempfile.mkstemp(prefix="ssb-launch-", suffix=".json")
    os.close(fd)
    try:
        logger.info("fine-tuning in %d processes (%s)", n, f"GPUs {devices}" if devices else "CPU, gloo")
        mp.start_processes(_worker, args=(n, free_port(), devices, kwargs, result_path), nprocs=n, join=True, start_method="spawn")
        text = Path(result_path).read_text()
        if not text:
            raise RuntimeError("the distributed fine-tuning ended without a result from rank 0")
        return json.loads(text)
    finally:
        Path(result_path).unlink(missing_ok=True)
        if devices:
            if env_before is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = env_before


def fine_tune_summary(*, multi_gpu: bool = False, gpus: str | Sequence[int] | None = "all", device: str = "auto",
                      **fine_tune_kwargs: Any) -> dict[str, Any]:
    """:func:`ssb_core.training.fine_tune` in this process on ``device``, or with ``multi_gpu`` in one process per
    GPU of ``gpus`` (:func:`fine_tune_multiprocess`; two Gloo processes without CUDA).

    Returns:
        the same summary either way: ``checkpoint_path`` (str), ``steps``, ``elapsed_s``, ``stopped``, ``world_size``.
    """
    if multi_gpu:
        return fine_tune_multiprocess(gpus=gpus, **fine_tune_kwargs)
    from ssb_core.training.finetune import fine_tune

    return _summary(fine_tune(device=device, **fine_tune_kwargs), world_size=1)
