"""The promotion gate: judging a candidate reader by reader, what is promoted, and what is served afterwards."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ssb_core.evaluation.reader_gate import decide_promotion, judge_readers, promoted_model, served_accuracy


def _tiny_checkpoint(net, readers=("ann_a", "ann_b", "ann_c", "ann_d")):
    from ssb_core.bridge import BridgeConfig
    from ssb_core.candidates import SamplingConfig
    from ssb_core.checkpoint import SSBCheckpoint

    return SSBCheckpoint(network=net.config, bridge=BridgeConfig(num_timesteps=100), sampling=SamplingConfig(num_candidates=2, nfe=2),
                         state_dict={k: v.clone() for k, v in net.state_dict().items()}, readers=list(readers))


def _held_out(images: int, slot: int) -> list[dict]:
    """One slice per image, the reader of ``slot`` present with a square mask."""
    rng = np.random.default_rng(1)
    out = []
    for i in range(images):
        masks = np.zeros((4, 16, 16), np.uint8)
        masks[slot, 3 + i % 3:11, 4:12] = 1
        present = np.zeros(4, bool)
        present[slot] = True
        out.append({"image": rng.normal(size=(1, 16, 16)).astype(np.float32), "masks": masks, "reader_present": present, "patient_id": f"img{i}"})
    return out


@pytest.mark.parametrize(("scope", "verdicts", "allow", "promoted", "why"), [
    ("readers", {"alice": "better", "bob": "no clear change"}, False, ["alice"], None),  # reader by reader
    ("readers", {"alice": "slightly better", "bob": "worse"}, False, [], "beyond the noise"),
    ("all", {"alice": "better", "bob": "worse"}, False, [], "worse for ['bob']"),
    ("all", {"alice": "better"}, False, [], "also for ['reader0']"),  # the shipped reader cannot be checked here
    ("all", {"alice": "better"}, True, ["alice"], None),
    ("readers+tail", {"alice": "better", "reader0": "no clear change"}, False, ["alice"], None),
    ("readers+tail", {"alice": "better", "reader0": "too few images"}, False, [], "also for ['reader0']"),
])
def test_the_promotion_decision(scope, verdicts, allow, promoted, why):
    decisions = {r: SimpleNamespace(verdict=v) for r, v in verdicts.items()}
    chosen, reason = decide_promotion(decisions, scope, ["reader0"], 0.02, allow)
    assert chosen == promoted and (reason is None if why is None else why in reason), reason


@pytest.mark.parametrize(("scope", "promoted", "expected"), [
    ("readers", ["alice"], (0.8 + 0.5) / 2),  # alice now served by the candidate, bob still by the served model
    ("all", ["alice"], (0.8 + 0.4) / 2),  # a whole network promoted: the candidate serves everyone
    ("all", [], (0.6 + 0.5) / 2),  # nothing promoted: what was served stays
])
def test_the_accuracy_shown_is_that_of_what_is_served_after_the_run(scope, promoted, expected):
    decisions = {"alice": SimpleNamespace(served_dice=0.6, candidate_dice=0.8), "bob": SimpleNamespace(served_dice=0.5, candidate_dice=0.4),
                 "carol": SimpleNamespace(served_dice=math.nan, candidate_dice=math.nan)}  # carol: not finite, left out
    assert served_accuracy(decisions, scope, promoted) == pytest.approx(expected, abs=1e-4)
    assert served_accuracy({}, scope, promoted) is None


def test_a_promoted_reader_gets_the_candidates_row_and_the_judged_guidance(random_tiny_network):
    from ssb_core.checkpoint import add_readers, reader_guidance
    from ssb_core.network import SSBNetwork

    served = _tiny_checkpoint(random_tiny_network)
    start = add_readers(served, ["alice"])
    key = SSBNetwork.READER_EMBEDDING
    weight = start.state_dict[key].clone()
    weight[4] += 1.0
    candidate = type(start)(**{**start.__dict__, "state_dict": {**start.state_dict, key: weight}})
    rows_only = promoted_model(served, candidate, "readers", ["alice"], 1.5)
    assert torch.equal(rows_only.state_dict[key][4], weight[4]) and torch.equal(rows_only.state_dict[key][:4], served.state_dict[key][:4])
    assert reader_guidance(rows_only, "alice") == 1.5
    whole = promoted_model(served, candidate, "all", ["alice"], 1.0)
    assert all(torch.equal(whole.state_dict[k], v) for k, v in candidate.state_dict.items()) and reader_guidance(whole, "alice") == 1.0


def test_a_candidate_equal_to_the_served_model_changes_nothing_and_a_broken_one_is_worse(random_tiny_network):
    served = _tiny_checkpoint(random_tiny_network)
    samples = _held_out(6, slot=1)
    rule = dict(num_candidates=2, nfe=2, seeds=[0], min_images=5, min_gain=0.02, confidence=0.95)
    same = judge_readers(served, served, samples, ["ann_b"], served.readers, candidate_guidance=served.sampling.guidance_weight, **rule)
    d = same["ann_b"]
    assert d.verdict == "no clear change" and d.images == 6 and d.difference == 0 and d.served_dice == d.candidate_dice
    few = judge_readers(served, served, samples[:4], ["ann_b"], served.readers, **rule)
    assert few["ann_b"].verdict == "too few images"
    nan = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in served.state_dict.items()}
    broken = type(served)(**{**served.__dict__, "state_dict": nan})  # what a diverged run leaves
    worse = judge_readers(served, broken, samples, ["ann_b"], served.readers, **rule)["ann_b"]
    assert worse.verdict == "worse" and math.isnan(worse.candidate_dice) and worse.served_dice == d.served_dice
