"""Checkpoints: self-describing, loaded with weights_only, identical samples in a new process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from ssb_core.bridge import BridgeConfig
from ssb_core.candidates import SamplingConfig
from ssb_core.checkpoint import CheckpointError, SSBCheckpoint, load_checkpoint, save_checkpoint
from ssb_core.pipeline import SSBPipeline
from tests.conftest import REPO_ROOT

_SAMPLE_IN_NEW_PROCESS = """
import sys, torch
torch.set_num_threads(int(sys.argv[3]))  # the same float reduction order as the parent process
from ssb_core.pipeline import SSBPipeline
pipe = SSBPipeline.from_checkpoint(sys.argv[1])
image = torch.linspace(-1, 2, 64).reshape(1, 1, 8, 8)
torch.save(pipe.sample(image, seed=7), sys.argv[2])
"""


def _checkpoint(net, **kw) -> SSBCheckpoint:
    return SSBCheckpoint(
        network=net.config,
        bridge=BridgeConfig(num_timesteps=200),
        sampling=SamplingConfig(num_candidates=3, nfe=4, guidance_weight=0.5),
        state_dict=net.state_dict(),
        readers=["ann_a", "ann_b", "ann_c", "ann_d"],
        data={"intensity": {"kind": "zscore"}, "roi_size": [64, 64]},
        provenance={"note": "test"},
        **kw,
    )


def test_round_trip_in_a_new_process_gives_identical_samples(tmp_path, random_tiny_network):
    path = save_checkpoint(_checkpoint(random_tiny_network), tmp_path / "model.pt")
    image = torch.linspace(-1, 2, 64).reshape(1, 1, 8, 8)
    here = SSBPipeline.from_checkpoint(path).sample(image, seed=7)
    out = tmp_path / "samples.pt"
    subprocess.run([sys.executable, "-c", _SAMPLE_IN_NEW_PROCESS, str(path), str(out), str(torch.get_num_threads())], check=True, cwd=REPO_ROOT)
    there = torch.load(out, weights_only=True)
    assert there.shape == (1, 3, 1, 8, 8)
    assert torch.equal(here, there)


def test_checkpoint_describes_itself(tmp_path, random_tiny_network):
    path = save_checkpoint(_checkpoint(random_tiny_network), tmp_path / "m.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "ssb-checkpoint/1"
    json.dumps({k: v for k, v in raw.items() if k != "state_dict"})  # all settings are plain data
    ckpt = load_checkpoint(path)
    assert ckpt.network == random_tiny_network.config
    assert ckpt.bridge.num_timesteps == 200 and ckpt.sampling.nfe == 4
    assert ckpt.reader_label("ann_c") == 2 and ckpt.reader_label("none") == 4 and ckpt.reader_label(None) is None
    with pytest.raises(ValueError, match="unknown reader 'ann_z'"):
        ckpt.reader_label("ann_z")
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    with pytest.raises(CheckpointError, match="not an SSB checkpoint"):
        load_checkpoint(foreign)


def test_reader_names_must_match_the_network(random_tiny_network):
    with pytest.raises(CheckpointError, match="expected 4 reader names"):
        SSBCheckpoint(network=random_tiny_network.config, bridge=BridgeConfig(), sampling=SamplingConfig(), state_dict={}, readers=["a"])


def test_adding_readers_keeps_every_known_label_and_starts_new_ones_at_the_null_label(random_tiny_network):
    """``add_readers``: the grown network answers exactly as before for the trained readers and the null label
    (now one index further), and a new reader answers exactly like the null label until it is trained."""
    from ssb_core.checkpoint import add_readers
    from ssb_core.network import SSBNetwork

    ckpt = _checkpoint(random_tiny_network)
    grown = add_readers(ckpt, ["ann_b", "erin", "frank", "erin"])  # known and repeated names are skipped
    assert grown.readers == ["ann_a", "ann_b", "ann_c", "ann_d", "erin", "frank"]
    assert grown.network.num_readers == 6 and grown.provenance["readers_added"] == ["erin", "frank"]
    assert add_readers(ckpt, ["ann_a"]) is ckpt
    net = SSBNetwork(grown.network).eval()
    net.load_state_dict(grown.state_dict)  # strict: the embedding has the new size
    torch.manual_seed(1)
    x, image, n = torch.randn(2, 1, 16, 16), torch.randn(2, 1, 16, 16), torch.tensor([50, 50])
    with torch.no_grad():
        def before(label):
            return random_tiny_network(x, image, n, torch.tensor([label, label]))

        def after(label):
            return net(x, image, n, torch.tensor([label, label]))

        for k in range(4):
            torch.testing.assert_close(after(k), before(k))
        torch.testing.assert_close(after(6), before(4))  # the null label moved from 4 to 6
        torch.testing.assert_close(after(4), before(4))  # erin starts as the null label
        torch.testing.assert_close(after(5), before(4))
    with pytest.raises(ValueError, match="count must be >= 0"):
        SSBNetwork.grow_readers(ckpt.state_dict, -1)
