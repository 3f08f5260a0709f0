"""scripts/train_presence.py on real multi-reader data: a head trained on the recipe's split, stored in a copy of the
checkpoint, reported on the validation split; the evaluation of that copy then keeps candidates by it."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from ssb_core.checkpoint import load_checkpoint
from tests.conftest import REPO_ROOT, shared_data

sys.path.insert(0, str(REPO_ROOT / "scripts"))


@pytest.mark.shared_data
def test_train_presence_writes_a_head_into_a_copy(tmp_path):
    import train_presence

    shared_data("lidc64", "train.npz")
    torch.set_num_threads(1)
    source = REPO_ROOT / "models" / "ssb_lidc64.pt"
    out, report = tmp_path / "with_head.pt", tmp_path / "head.json"
    assert train_presence.main([str(source), "--recipe", str(REPO_ROOT / "configs" / "lidc64_cpu.yaml"), "--out", str(out),
                                "--epochs", "1", "--report", str(report)]) == 0
    assert not load_checkpoint(source).presence  # the source is not touched
    ckpt = load_checkpoint(out)
    head = ckpt.build_presence()
    assert head is not None and head.config.num_readers == ckpt.network.num_readers
    before = load_checkpoint(source).state_dict
    assert all(torch.equal(before[k], v) for k, v in ckpt.state_dict.items())  # the bridge's weights untouched
    metrics = json.loads(report.read_text())
    assert metrics["validation"]["windows"] > 0 and len(metrics["validation"]["reliability"]) == ckpt.network.num_readers
    assert metrics == head.metrics


@pytest.mark.shared_data
def test_presence_choice_scores_each_rule_on_one_sampling(tmp_path):
    """The served checkpoint's outlines sampled once and scored under each presence rule (4 slices: the script's logic,
    not its figures)."""
    import presence_choice

    shared_data("lidc128", "val.npz")
    assert presence_choice.main(["--max-images", "4", "-n", "8", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "results.json").read_text())
    assert list(record["rules"]) == ["drawn", "rates", "head", "oracle"] and record["images"] == 4
    assert record["rules"]["drawn"]["kept"] == 1.0 and all(0 <= r["kept"] <= 1 for r in record["rules"].values())
    assert all(len(v) == 4 for v in record["per_image"].values())
    assert "| the readers' own reader_present (oracle) |" in (tmp_path / "results.md").read_text()
