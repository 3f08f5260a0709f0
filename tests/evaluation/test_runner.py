"""Evaluation over a dataset: any sample_fn plugs in, seeds make runs reproducible, reports and montages."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ssb_core.evaluation.montage import save_montage, variability_map
from ssb_core.evaluation.report import results_table, write_reports
from ssb_core.evaluation.runner import evaluate_readers, evaluate_sampler, evaluate_sampler_conventions
from ssb_core.evaluation.samplers import ssb_sample_fn
from ssb_core.bridge import Bridge, BridgeConfig
from ssb_core.candidates import SamplingConfig
from tests.training._helpers import lidc64_slices


def _readers_as_candidates(dataset):
    """A perfect "method": candidate k is reader k's mask (cycling over the present readers)."""
    by_image = {}
    for i in range(len(dataset)):
        s = dataset[i]
        by_image[np.asarray(s["image"]).tobytes()] = (np.asarray(s["masks"]), np.asarray(s["reader_present"]))

    def sample_fn(images, num_candidates, seed):
        out = []
        for img in images.numpy():
            masks, present = by_image[img.astype(np.float32).tobytes()]
            readers = masks[present]
            out.append(np.stack([readers[k % len(readers)] for k in range(num_candidates)])[:, None])
        return torch.from_numpy(np.stack(out).astype(np.float32))

    return sample_fn


def test_a_method_that_returns_the_readers_scores_perfectly():
    data = lidc64_slices("test", 4)
    result = evaluate_sampler(_readers_as_candidates(data), data, name="oracle", nfe=None, num_candidates=4, batch_size=3)
    assert len(result.per_case) == 4 and result.absent_reader == "exclude"
    assert result.summary["d_max"] == pytest.approx(1.0)
    assert result.summary["ged"] == pytest.approx(0.0, abs=1e-6)
    assert all(r["time_s"] >= 0 and r["case_id"] for r in result.per_case)


def test_shape_figures_only_when_asked():
    data = lidc64_slices("test", 4)
    oracle = _readers_as_candidates(data)
    plain = evaluate_sampler(oracle, data, name="oracle", nfe=None, num_candidates=4)
    assert not {"one_region", "empty", "area_ratio"} & {k for r in plain.per_case for k in r}
    both = evaluate_sampler_conventions(oracle, data, name="oracle", nfe=None, num_candidates=4, shape=True)
    assert both[0].values("ged") == pytest.approx(plain.values("ged"))  # the other metrics unchanged
    for row in both:
        assert 0 < row.summary["one_region"] <= 1 and 0 <= row.summary["empty"] < 1 and row.summary["area_ratio"] > 0
    assert both[0].values("area_ratio") == pytest.approx(both[1].values("area_ratio"), nan_ok=True)  # the same under both conventions
    nothing = evaluate_sampler(lambda x, n, s: torch.zeros(x.shape[0], n, 1, *x.shape[-2:]), data, name="nothing", nfe=1,
                               num_candidates=2, shape=True)
    assert nothing.summary["empty"] == 1.0 and math.isnan(nothing.summary["one_region"]) and math.isnan(nothing.summary["area_ratio"])
    readers = evaluate_readers(data, shape=True)
    assert "one_region" in readers.summary and "area_ratio" not in readers.summary
    assert "one region ↑" in results_table([nothing, readers]) and "one region" not in results_table([plain])


def test_ssb_sampling_is_reproducible_and_batch_independent(random_tiny_network):
    data = lidc64_slices("test", 3)
    bridge = Bridge(BridgeConfig(num_timesteps=100))
    fn = ssb_sample_fn(random_tiny_network, bridge, SamplingConfig(num_candidates=2, nfe=2), num_readers=4)
    a = evaluate_sampler(fn, data, name="ssb", nfe=2, num_candidates=2, seed=5, batch_size=3)
    b = evaluate_sampler(fn, data, name="ssb", nfe=2, num_candidates=2, seed=5, batch_size=1)
    assert a.summary == pytest.approx({**b.summary, "time_per_image_s": a.summary["time_per_image_s"]})
    assert a.seed == 5 and a.nfe == 2


def test_wrong_sample_fn_output_is_reported():
    data = lidc64_slices("test", 2)
    with pytest.raises(ValueError, match=r"sample_fn must return \(B, N, 1, H, W\)"):
        evaluate_sampler(lambda x, n, s: torch.zeros(x.shape[0], 1, 1, 8, 8), data, name="bad", nfe=1, num_candidates=3)
    with pytest.raises(ValueError, match="absent_reader must be one of"):
        evaluate_sampler(lambda x, n, s: x, data, name="bad", nfe=1, absent_reader="ignore")


def test_readers_row_and_reports(tmp_path):
    data = lidc64_slices("test", 4)
    readers = evaluate_readers(data)
    assert readers.nfe is None and "ged" in readers.summary
    oracle = evaluate_sampler(_readers_as_candidates(data), data, name="oracle", nfe=None, num_candidates=2)
    json_path, md_path = write_reports(tmp_path, [oracle, readers], conventions={"absent_reader": "exclude"})
    payload = json.loads(json_path.read_text())
    assert [r["name"] for r in payload["rows"]] == ["oracle", "Readers (leave-one-out)"]
    table = md_path.read_text()
    assert "| oracle |" in table and "GED ↓" in table and "absent_reader: exclude" in table
    assert results_table([oracle]).count("\n") == 3


def test_variability_map_and_montage(tmp_path):
    probs = np.zeros((4, 8, 8), np.float32)
    probs[:2, 2:4, 2:4] = 1.0  # half the candidates: maximal disagreement there
    probs[0, 5:7, 5:7] = 1.0  # one candidate of four: f = 1/4
    var = variability_map(probs)  # the app's definition, 4 f (1 - f)
    ent = variability_map(probs, "entropy")
    assert var[2, 2] == pytest.approx(1.0) and var[5, 5] == pytest.approx(0.75) and var[0, 0] == 0.0
    assert ent[2, 2] == pytest.approx(1.0) and ent[5, 5] == pytest.approx(0.8113, abs=1e-4) and ent[0, 0] == 0.0
    masks = np.zeros((3, 8, 8), np.uint8)
    masks[0, 2:5, 2:5] = 1
    path = save_montage(tmp_path / "m.png", np.random.default_rng(0).normal(size=(8, 8)), masks, np.array([True, True, False]), probs, title="case")
    from PIL import Image

    with Image.open(path) as im:
        assert im.width > 8 * 2 * 6 and im.mode == "RGB"
    with pytest.raises(ValueError, match="kind must be one of"):
        variability_map(probs, "std")
