"""Two-process DistributedDataParallel on the CPU (gloo, env://): identical weights on both ranks, one writer."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from tests.training._helpers import lidc64_config, tiny_recipe


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, out_dir: str, data_config: dict) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from torch.utils.data import Subset

    from ssb_core.data import build_dataset
    from ssb_core.training import train

    slices = Subset(build_dataset(data_config), list(range(16)))
    result = train(tiny_recipe(out_dir, train={"max_steps": 3, "ckpt_every": 2}), train_dataset=slices)
    weights = {"model": result.model.state_dict(), "ema": result.ema_model.state_dict(), "steps": result.steps}
    torch.save(weights, os.path.join(out_dir, f"rank{rank}_weights.pt"))


@pytest.mark.slow  # two fresh interpreters importing torch + MONAI: about 20-25 s on 2 shared cores
def test_two_process_gloo_run_keeps_ranks_identical(tmp_path):
    data_config = lidc64_config("train")
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), data_config), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0_weights.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1_weights.pt", weights_only=True)
    assert r0["steps"] == r1["steps"] == 3
    for part in ("model", "ema"):
        for key, value in r0[part].items():
            assert torch.equal(value, r1[part][key]), f"{part}.{key} differs between ranks"
    # rank 0 alone wrote the checkpoint, the resume state (one RNG state per rank) and the log
    assert (tmp_path / "tiny.pt").is_file() and (tmp_path / "metrics.jsonl").is_file()
    resume = torch.load(tmp_path / "resume.pt", weights_only=True)
    assert resume["step"] == 3 and len(resume["rng"]) == 2
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary files left
