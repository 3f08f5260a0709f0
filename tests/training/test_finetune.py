"""fine_tune: a shipped checkpoint continues on new reader labels; everything else comes from the checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssb_core.bridge import BridgeConfig
from ssb_core.candidates import SamplingConfig
from ssb_core.checkpoint import SSBCheckpoint, load_checkpoint, save_checkpoint
from ssb_core.pipeline import SSBPipeline
from ssb_core.training import fine_tune
from tests.training._helpers import lidc64_slices


def test_fine_tune_on_collected_samples(tmp_path, random_tiny_network):
    original = SSBCheckpoint(
        network=random_tiny_network.config,
        bridge=BridgeConfig(num_timesteps=100),
        sampling=SamplingConfig(num_candidates=2, nfe=2),
        state_dict=random_tiny_network.state_dict(),
        readers=["ann_a", "ann_b", "ann_c", "ann_d"],
        data={"intensity": {"kind": "zscore"}, "roi_size": [64, 64]},
        loss={"gamma": 0.5, "p_uncond": 0.2},
    )
    path = save_checkpoint(original, tmp_path / "shipped.pt")
    data = lidc64_slices("train", 6)
    # what the annotation app collects: plain dicts, here with only two reader slots labelled
    samples = []
    for i in range(len(data)):
        s = data[i]
        samples.append({"image": np.asarray(s["image"]), "masks": np.asarray(s["masks"])[:2], "reader_present": np.array([True, True]),
                        "case_id": f"new{i}", "patient_id": "p_new"})
    result = fine_tune(path, samples, output_dir=tmp_path / "ft", steps=3, batch_size=2, num_threads=1, device="cpu")
    assert result.steps == 3 and result.checkpoint_path.name == "ssb_finetuned.pt"
    tuned = load_checkpoint(result.checkpoint_path)
    assert tuned.readers == original.readers and tuned.bridge == original.bridge and tuned.network == original.network
    assert tuned.loss == {"gamma": 0.5, "p_uncond": 0.2, "dice_clamp": "inward", "dice_empty": "all",
                          "fn_weight": 0.5}  # the current defaults where the checkpoint has none
    assert tuned.data["intensity"] == {"kind": "zscore"} and "fine_tuned_from" in tuned.data
    changed = [k for k, v in tuned.state_dict.items() if not torch.equal(v, original.state_dict[k])]
    assert changed, "fine-tuning left every weight unchanged"
    probs = SSBPipeline(tuned).sample(torch.as_tensor(samples[0]["image"])[None], seed=0)
    assert probs.shape == (1, 2, 1, 64, 64)


def _shipped(tmp_path, net) -> SSBCheckpoint:
    return SSBCheckpoint(network=net.config, bridge=BridgeConfig(num_timesteps=100), sampling=SamplingConfig(num_candidates=2, nfe=2),
                         state_dict=net.state_dict(), readers=["ann_a", "ann_b", "ann_c", "ann_d"],
                         data={"intensity": {"kind": "zscore"}, "roi_size": [64, 64]}, loss={"gamma": 0.5, "p_uncond": 0.2})


def _one_reader_samples(slot: int, count: int = 4) -> list[dict]:
    data = lidc64_slices("train", count)
    out = []
    for i in range(count):
        s = data[i]
        present = np.zeros(4, bool)
        present[slot] = True
        masks = np.zeros((4, 64, 64), np.uint8)
        masks[slot] = np.asarray(s["masks"])[np.flatnonzero(np.asarray(s["reader_present"]))[0]]
        out.append({"image": np.asarray(s["image"]), "masks": masks, "reader_present": present, "case_id": f"c{i}", "patient_id": f"p{i}"})
    return out


@pytest.mark.parametrize("scope", ["readers", "readers+tail"])
def test_reader_scoped_fine_tuning_changes_only_that_readers_row_and_the_named_layers(tmp_path, random_tiny_network, scope):
    from ssb_core.network import SSBNetwork
    from ssb_core.training.trainable import tail_prefixes

    original = _shipped(tmp_path, random_tiny_network)
    result = fine_tune(original, _one_reader_samples(2), output_dir=tmp_path / "ft", steps=3, lr=1e-2, batch_size=2, num_threads=1,
                       device="cpu", trainable=scope, train_readers=["ann_c"])
    tuned = load_checkpoint(result.checkpoint_path)
    changed = {k for k, v in tuned.state_dict.items() if not torch.equal(v, original.state_dict[k])}
    key = SSBNetwork.READER_EMBEDDING
    assert key in changed
    rows = [r for r in range(5) if not torch.equal(tuned.state_dict[key][r], original.state_dict[key][r])]
    assert rows == [2]  # ann_c's row only: the other readers and the null label answer exactly as before
    others = changed - {key}
    if scope == "readers":
        assert others == set()
    else:
        assert others and all(k.startswith(tail_prefixes(list(original.state_dict))) for k in others), others


def test_reader_rows_are_adopted_alone_and_only_from_a_row_only_fine_tuning(tmp_path, random_tiny_network):
    from ssb_core.checkpoint import CheckpointError, add_readers, adopt_reader_rows
    from ssb_core.network import SSBNetwork

    served = _shipped(tmp_path, random_tiny_network)
    start = add_readers(served, ["alice", "bob"])
    key = SSBNetwork.READER_EMBEDDING
    weight = start.state_dict[key].clone()
    weight[4] += 1.0  # alice's row learned something
    weight[5] -= 1.0  # and bob's
    candidate = SSBCheckpoint(**{**start.__dict__, "state_dict": {**start.state_dict, key: weight}})
    promoted = adopt_reader_rows(served, candidate, ["alice"])
    assert promoted.readers == ["ann_a", "ann_b", "ann_c", "ann_d", "alice"]
    assert torch.equal(promoted.state_dict[key][4], weight[4]) and torch.equal(promoted.state_dict[key][5], served.state_dict[key][4])
    assert torch.equal(promoted.state_dict[key][:4], served.state_dict[key][:4])  # readers 0-3 and (at the end) the null label kept
    shared = {k: v + 1 if k.endswith("out.2.conv.bias") else v for k, v in candidate.state_dict.items()}
    with pytest.raises(CheckpointError, match="differs outside the reader embedding"):
        adopt_reader_rows(served, SSBCheckpoint(**{**start.__dict__, "state_dict": shared}), ["alice"])
    with pytest.raises(CheckpointError, match="not in the source"):
        adopt_reader_rows(served, candidate, ["carol"])


def test_partial_training_refuses_weight_decay_and_unknown_scopes():
    from ssb_core.training import ConfigError
    from ssb_core.training.config import OptimConfig

    with pytest.raises(ConfigError, match="weight_decay must be 0"):
        OptimConfig(trainable="readers", weight_decay=0.01)
    with pytest.raises(ConfigError, match="optim.trainable must be"):
        OptimConfig(trainable="decoder")


def test_the_summary_of_a_fine_tuning_in_this_process(tmp_path, random_tiny_network):
    from ssb_core.training.launch import fine_tune_summary

    summary = fine_tune_summary(device="cpu", checkpoint=_shipped(tmp_path, random_tiny_network), samples=_one_reader_samples(1, 2),
                                output_dir=tmp_path / "ft", name="candidate", steps=2, batch_size=2, num_threads=1, trainable="readers",
                                train_readers=["ann_b"])
    assert summary["steps"] == 2 and summary["world_size"] == 1 and summary["stopped"] == "max_steps"
    assert load_checkpoint(summary["checkpoint_path"]).readers == ["ann_a", "ann_b", "ann_c", "ann_d"]
