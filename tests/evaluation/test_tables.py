"""Results tables from several runs: merged only when they share data and weights; headline differences."""

from __future__ import annotations

import json

import pytest
import torch

from ssb_core.evaluation.api import evaluate_samplers
from ssb_core.evaluation.report import differences_table
from ssb_core.evaluation.samplers import SamplerSpec
from ssb_core.evaluation.tables import MergeError, headline_differences, load_rows, ordered, run_folders
from tests.training._helpers import lidc64_slices


def _blob(size: int):
    """A "method" drawing a centred square of half-width ``size`` (pixels) on every candidate."""

    def sample_fn(images, num_candidates, seed):
        out = torch.zeros(images.shape[0], num_candidates, 1, *images.shape[-2:])
        c = images.shape[-1] // 2
        out[..., c - size : c + size, c - size : c + size] = 1.0
        return out

    return sample_fn


def _run(folder, data, specs, data_sha="d" * 64):
    evaluate_samplers(specs, data, folder, num_candidates=2, inter_reader=True, montages=0, absent_reader=("exclude", "empty"),
                      dataset_info={"sha256": data_sha})


def test_runs_merge_only_with_the_same_data_and_weights(tmp_path):
    data = lidc64_slices("test", 3)
    _run(tmp_path / "a", data, [SamplerSpec(_blob(4), "SSB", 2, {}, "a" * 64), SamplerSpec(_blob(8), "SSB", 20, {}, "a" * 64)])
    _run(tmp_path / "b", data, [SamplerSpec(_blob(2), "Prob. U-Net", 1, {}, "b" * 64)])
    rows = ordered(load_rows([tmp_path / "a", tmp_path / "b"]))
    assert [(r.name, r.nfe, r.absent_reader) for r in rows] == [
        ("SSB", 2, "exclude"), ("SSB", 2, "empty"), ("SSB", 20, "exclude"), ("SSB", 20, "empty"),
        ("Prob. U-Net", 1, "exclude"), ("Prob. U-Net", 1, "empty"),
        ("Readers (leave-one-out)", None, "exclude"), ("Readers (leave-one-out)", None, "empty")]
    assert all(r.dataset_sha256 == "d" * 64 for r in rows)

    _run(tmp_path / "stale", data, [SamplerSpec(_blob(4), "SSB", 5, {}, "c" * 64)])  # SSB from other weights
    with pytest.raises(MergeError, match="different or unknown weights"):
        load_rows([tmp_path / "a", tmp_path / "stale"])
    _run(tmp_path / "again", data, [SamplerSpec(_blob(4), "SSB", 2, {}, "a" * 64)])  # the same row twice
    with pytest.raises(MergeError, match="remove the stale run"):
        load_rows([tmp_path / "a", tmp_path / "again"])
    _run(tmp_path / "other", data, [SamplerSpec(_blob(2), "Prob. U-Net", 1, {}, "b" * 64)], data_sha="e" * 64)
    with pytest.raises(MergeError, match="other data"):
        load_rows([tmp_path / "a", tmp_path / "other"])
    _run(tmp_path / "unhashed", data, [SamplerSpec(_blob(2), "Prob. U-Net", 1, {})])
    with pytest.raises(MergeError, match="unknown weights"):
        load_rows([tmp_path / "unhashed"])
    (tmp_path / "a-empty").mkdir()  # a run folder without results.json is not a run
    (tmp_path / "a_draws").mkdir()  # nor one whose results.json is another kind of result (no method rows)
    (tmp_path / "a_draws" / "results.json").write_text(json.dumps({"rules": {}}))
    assert [f.name for f in run_folders(tmp_path, "a")] == ["a", "again"]


def test_headline_differences_pair_ssb_with_each_method_and_its_largest_nfe(tmp_path):
    data = lidc64_slices("test", 4)
    _run(tmp_path / "a", data, [SamplerSpec(_blob(4), "SSB", 2, {}, "a" * 64), SamplerSpec(_blob(6), "SSB", 20, {}, "a" * 64),
                                SamplerSpec(_blob(12), "Prob. U-Net", 1, {}, "b" * 64)])
    rows = [r for r in load_rows([tmp_path / "a"]) if r.absent_reader == "exclude"]
    diffs = headline_differences(rows, num_resamples=200)
    assert [label for label, _ in diffs] == ["SSB NFE 2 − Prob. U-Net NFE 1", "SSB NFE 20 − Prob. U-Net NFE 1", "SSB NFE 2 − SSB NFE 20"]
    by = {r.nfe: r for r in rows}
    ged = diffs[2][1][0]
    expected = sum(a["ged"] - b["ged"] for a, b in zip(by[2].per_case, by[20].per_case)) / 4
    assert ged.metric == "ged" and ged.mean == pytest.approx(expected) and ged.n == 4
    text = differences_table(diffs, "claims")
    assert text.startswith("### claims") and "SSB NFE 2 − SSB NFE 20" in text and "95% CI" in text
    with pytest.raises(ValueError, match="one absent-reader convention"):
        headline_differences(load_rows([tmp_path / "a"]))
