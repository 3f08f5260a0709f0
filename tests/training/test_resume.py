"""Exact resume: k steps, save, resume to 2k == 2k steps straight (every parameter, the EMA, the optimiser)."""

from __future__ import annotations

import json

import torch

from ssb_core.checkpoint import load_checkpoint
from ssb_core.training import train
from ssb_core.training.state import load_resume
from tests.training._helpers import lidc64_slices, tiny_recipe


def _assert_same_tensors(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for key in a:
        assert torch.equal(a[key], b[key]), f"{what}: {key} differs"


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    slices = lidc64_slices("train", 12)  # 3 batches per epoch: the 6 steps cross an epoch boundary
    straight = train(tiny_recipe(tmp_path / "straight", train={"max_steps": 6}), train_dataset=slices)
    first = train(tiny_recipe(tmp_path / "split", train={"max_steps": 6}), train_dataset=slices, stop_after_steps=4)
    assert first.steps == 4 and first.stopped == "stop_after_steps"
    second = train(tiny_recipe(tmp_path / "split", train={"max_steps": 6}), train_dataset=slices, resume=True)
    assert second.steps == 6 and second.stopped == "max_steps"

    a, b = load_resume(straight.resume_path), load_resume(second.resume_path)
    _assert_same_tensors(a["model"], b["model"], "model")
    _assert_same_tensors(a["ema"], b["ema"], "ema")
    assert torch.equal(a["rng"][0]["generator"], b["rng"][0]["generator"])
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        _assert_same_tensors(sa, sb, "optimizer")
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 6
    # the shipped checkpoint holds the EMA weights
    _assert_same_tensors(load_checkpoint(straight.checkpoint_path).state_dict, load_checkpoint(second.checkpoint_path).state_dict, "checkpoint")
    # one log record per step, none duplicated by the resume
    steps = [json.loads(line)["step"] for line in second.log_path.read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_a_different_network_refuses_to_resume(tmp_path):
    import pytest

    from ssb_core.training.state import ResumeError

    slices = lidc64_slices("train", 4)
    train(tiny_recipe(tmp_path, train={"max_steps": 1}), train_dataset=slices)
    other = tiny_recipe(tmp_path, train={"max_steps": 2}, network={"channels": [8, 8]})
    with pytest.raises(ResumeError, match="network settings differ"):
        train(other, train_dataset=slices, resume=True)


def test_a_second_stage_starts_from_the_weights_it_names(tmp_path):
    import pytest

    from ssb_core.hashing import file_sha256
    from ssb_core.training.config import ConfigError

    slices = lidc64_slices("train", 4)
    first = train(tiny_recipe(tmp_path / "first", train={"max_steps": 2}), train_dataset=slices)
    weights, digest = str(first.checkpoint_path), file_sha256(first.checkpoint_path)
    # no training step (lr 0 is refused; a zero-step run is not): the second stage's EMA and checkpoint are its start
    second = tiny_recipe(tmp_path / "second", seed=1, train={"max_steps": 1, "init_from": weights, "init_sha256": digest}, optim={"lr": 1e-12})
    result = train(second, train_dataset=slices)
    start, after = load_checkpoint(first.checkpoint_path).state_dict, load_checkpoint(result.checkpoint_path).state_dict
    for key in start:
        assert torch.allclose(start[key].float(), after[key].float(), atol=1e-6), key
    assert load_checkpoint(result.checkpoint_path).provenance["training"]["recipe"]["train"]["init_sha256"] == digest

    with pytest.raises(ConfigError, match="has SHA-256"):
        train(tiny_recipe(tmp_path / "bad", train={"max_steps": 1, "init_from": weights, "init_sha256": "0" * 64}), train_dataset=slices)
    with pytest.raises(ConfigError, match="differs from the recipe's"):
        train(tiny_recipe(tmp_path / "other", train={"max_steps": 1, "init_from": weights}, network={"channels": [8, 8]}), train_dataset=slices)
    with pytest.raises(ConfigError, match="no checkpoint at"):
        train(tiny_recipe(tmp_path / "none", train={"max_steps": 1, "init_from": str(tmp_path / "missing.pt")}), train_dataset=slices)
