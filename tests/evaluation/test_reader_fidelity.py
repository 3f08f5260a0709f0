"""Reader fidelity (candidates conditioned on a reader against that reader's masks) and the per-reader decision."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssb_core.evaluation.reader_fidelity import ReaderFidelity, decide_reader, reader_fidelity


def _scores(dice, bias=None) -> ReaderFidelity:
    dice = np.asarray(dice, float)
    return ReaderFidelity(tuple(f"img{i}" for i in range(len(dice))), dice, dice, np.zeros_like(dice) if bias is None else np.asarray(bias, float))


@pytest.mark.parametrize(("served", "candidate", "verdict"), [
    ([0.6, 0.62, 0.58, 0.61, 0.6, 0.59], [0.7, 0.71, 0.69, 0.72, 0.7, 0.68], "better"),
    ([0.7, 0.71, 0.69, 0.72, 0.7, 0.68], [0.6, 0.62, 0.58, 0.61, 0.6, 0.59], "worse"),
    ([0.6, 0.7, 0.5, 0.6, 0.7, 0.5], [0.65, 0.6, 0.55, 0.55, 0.75, 0.5], "no clear change"),
    ([0.6, 0.62, 0.58, 0.61, 0.6, 0.59], [0.61, 0.63, 0.59, 0.62, 0.61, 0.6], "slightly better"),  # +0.01 < min_gain
    ([0.5, 0.5, 0.5, 0.5], [0.9, 0.9, 0.9, 0.9], "too few images"),  # 4 wins out of 4 happen by chance once in 16
])
def test_a_reader_is_better_only_when_the_paired_interval_excludes_zero(served, candidate, verdict):
    d = decide_reader("alice", _scores(served), _scores(candidate), min_images=5, min_gain=0.02)
    assert d.verdict == verdict and d.images == len(served)
    assert d.interval[0] <= d.difference <= d.interval[1]
    assert d.to_dict()["verdict"] == verdict and d.describe().startswith(f"alice: {verdict}")


def test_the_two_models_must_be_scored_on_the_same_images():
    a = _scores([0.5] * 6)
    b = ReaderFidelity(tuple(f"other{i}" for i in range(6)), a.dice, a.d_max, a.volume_bias)
    with pytest.raises(ValueError, match="different images"):
        decide_reader("alice", a, b)


def test_fidelity_is_per_image_over_present_slices_and_bias_is_relative(random_tiny_network):
    from ssb_core.bridge import BridgeConfig
    from ssb_core.candidates import SamplingConfig
    from ssb_core.checkpoint import SSBCheckpoint
    from ssb_core.pipeline import SSBPipeline

    ckpt = SSBCheckpoint(network=random_tiny_network.config, bridge=BridgeConfig(num_timesteps=100), sampling=SamplingConfig(num_candidates=2, nfe=2),
                         state_dict=random_tiny_network.state_dict())
    rng = np.random.default_rng(0)
    samples = []
    for image, present in (("a", True), ("a", True), ("b", True), ("c", False)):
        masks = np.zeros((4, 16, 16), np.uint8)
        masks[1, 4:10, 4:10] = 1
        samples.append({"image": rng.normal(size=(1, 16, 16)).astype(np.float32), "masks": masks,
                        "reader_present": np.array([True, present, False, False]), "patient_id": image})
    scores = reader_fidelity(SSBPipeline(ckpt), samples, slot=1, label=1, num_candidates=3, nfe=2, seeds=(0, 1))
    assert scores.image_ids == ("a", "b")  # image c: reader 1 absent
    assert scores.dice.shape == scores.d_max.shape == scores.volume_bias.shape == (2,)
    assert np.all((0 <= scores.dice) & (scores.dice <= scores.d_max) & (scores.d_max <= 1))
    assert np.all(scores.volume_bias >= -1)  # (candidate volume - reader volume) / reader volume
    again = reader_fidelity(SSBPipeline(ckpt), samples, slot=1, label=1, num_candidates=3, nfe=2, seeds=(0, 1))
    assert np.array_equal(again.dice, scores.dice)  # the same seeds, the same candidates: two models compare on the same noise
    assert scores.summary()["images"] == 2 and torch.is_tensor(torch.as_tensor(scores.dice))
