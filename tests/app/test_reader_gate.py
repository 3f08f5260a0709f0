"""The promotion gate against a real server, the shipped model and real LIDC masks (``../shared/data/lidc64``).

One server for the module, its studies 20 lidc64 validation slices (single-slice NIfTI volumes at 0.7 mm), its
model a copy of ``models/ssb_lidc64.pt``, the train task at its defaults except fewer steps. In order:

1. a reader with 3 labels: the run is skipped before training and says how many labels are missing;
2. a reader without a style ("scatter": on each slice one of the real readers' masks, at random, shifted by up to
   2 pixels either way): the candidate does not follow their held-out masks better beyond the noise, so it is not
   promoted and the served file is untouched;
3. a reader with a consistent style ("generous": every nodule outlined 1 mm wider than a real reader) on the
   same 20 images: promoted for that reader alone; every weight but their new embedding row is the served model's, and
   the readers not found better stay pending.
"""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
import requests
import torch

from tests.app._server import client_for, running_server
from tests.conftest import shared_data

pytestmark = pytest.mark.slow

REPO_MODEL = "models/ssb_lidc64.pt"
IMAGES = 20


@pytest.fixture(scope="module")
def pool():
    shared_data("lidc64", "val.npz")
    from benchmarks.reader_adaptation import labelled_pool

    return labelled_pool(IMAGES)


@pytest.fixture(scope="module")
def server(tmp_path_factory, pool):
    from benchmarks.reader_adaptation import REPO, write_studies

    root = tmp_path_factory.mktemp("ssb_gate")
    model = root / "models" / "ssb_lidc64.pt"
    model.parent.mkdir()
    shutil.copy(REPO / REPO_MODEL, model)
    write_studies(root / "studies", pool, "val")
    with running_server(root / "studies", model, root / "server.log", {"num_threads": 1, "train_steps": 100}) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return client_for(server, tmp_path_factory.mktemp("client"))


def _ids(first: int, last: int) -> list[str]:
    return [f"val{k:03d}" for k in range(first, last)]


def _train(server, client) -> dict:
    task = client.train_start("ssb", {})
    deadline = time.time() + 400
    while time.time() < deadline:
        state = requests.get(f"{server.url}/train/", timeout=10).json()
        if state.get("id") == task["id"] and state.get("status") in ("DONE", "ERROR"):
            assert state["status"] == "DONE", state
            return json.loads(server.model.with_name("ssb_lidc64.history.json").read_text())["runs"][-1]
        time.sleep(2.0)
    raise AssertionError(f"training did not finish:\n{server.log_text()[-3000:]}")


def _submit(client, tmp_path, ids: list[str], masks: list[np.ndarray], reader: str) -> None:
    from benchmarks.reader_adaptation import submit_labels

    submit_labels(client, ids, masks, reader, tmp_path)


def _sha(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _scatter(pool: list[dict], seed: int = 0) -> list[np.ndarray]:
    """One real reader's mask per slice (drawn at random), shifted by up to 2 pixels in each direction."""
    from benchmarks.reader_adaptation import style_masks

    return style_masks("scatter", pool, seed)


def test_too_few_labels_are_skipped_with_the_reason_before_training(server, client, pool, tmp_path):
    served = _sha(server.model)
    _submit(client, tmp_path, _ids(0, 3), _scatter(pool[:3], seed=1), "carol")
    run = _train(server, client)
    counts = run["label_counts"]["carol"]
    assert run["status"] == "skipped" and counts["train_images"] + counts["held_out_images"] == 3, run
    assert "too few labels for a sound decision: carol 3 labelled image(s)" in run["reason"] and "at least 5 held-out images" in run["reason"]
    assert "steps" not in run and not (server.model.with_name("ssb_lidc64.runs") / run["run_id"] / "candidate.pt").exists()
    stats = client.info()["train_stats"]["ssb"]
    assert stats["status"] == "skipped" and "too few labels" in stats["reason"]
    assert _sha(server.model) == served


def _figure(gate: dict, reader: str) -> str:
    return (f"gate, {reader} (shipped model, {gate['images']} held-out lidc64 images): {gate['verdict']}, Dice {gate['served_dice']:.3f} -> "
            f"{gate['candidate_dice']:.3f} [{gate['interval'][0]:+.3f}, {gate['interval'][1]:+.3f}], volume bias "
            f"{gate['served_volume_bias']:+.3f} -> {gate['candidate_volume_bias']:+.3f}")


def test_labels_without_a_style_are_not_promoted(server, client, pool, tmp_path, report_figure):
    served = _sha(server.model)
    _submit(client, tmp_path, _ids(0, 20), _scatter(pool[:20]), "scatter")
    run = _train(server, client)
    gate = run["gate"]["scatter"]
    report_figure(_figure(gate, "scatter"))
    assert run["status"] == "not promoted" and gate["verdict"] in ("no clear change", "worse", "slightly better"), run
    assert gate["images"] >= 5 and gate["interval"][0] <= 0.02 and "beyond the noise" in run["reason"]
    assert "carol" not in run["gate"]  # 3 labels: not judged, not trained
    assert _sha(server.model) == served and not server.model.with_name("ssb_lidc64.prev.pt").exists()
    status = client.info()["ssb"]["ssb"]["reader_map"]["status"]
    assert status["scatter"] == "pending" and status["carol"] == "pending"


def test_a_consistent_style_is_promoted_for_that_reader_alone(server, client, pool, tmp_path, report_figure):
    from ssb_core.checkpoint import load_checkpoint
    from ssb_core.network import SSBNetwork

    before = load_checkpoint(server.model)
    from benchmarks.reader_adaptation import style_masks

    _submit(client, tmp_path, _ids(0, 20), style_masks("generous", pool[:20]), "generous")  # the same images: the same split
    run = _train(server, client)
    gate = run["gate"]["generous"]
    report_figure(_figure(gate, "generous"))
    assert run["status"] == "promoted" and run["promoted_readers"] == ["generous"], run
    assert gate["verdict"] == "better" and gate["interval"][0] > 0 and gate["candidate_dice"] > gate["served_dice"]
    assert abs(gate["candidate_volume_bias"]) < abs(gate["served_volume_bias"])  # the outlines moved towards the reader's
    after = load_checkpoint(server.model)
    assert after.readers == [*before.readers, "generous"]
    for key, value in before.state_dict.items():  # every other reader's output stays what it was
        if key == SSBNetwork.READER_EMBEDDING:
            assert torch.equal(after.state_dict[key][:4], value[:4]) and torch.equal(after.state_dict[key][5], value[4])  # readers, null
        else:
            assert torch.equal(after.state_dict[key], value), key
    info = client.info()
    assert info["ssb"]["ssb"]["reader_map"]["status"] == {"reader0": "trained", "reader1": "trained", "reader2": "trained",
                                                          "reader3": "trained", "generous": "trained", "carol": "pending",
                                                          "scatter": "pending"}
    assert "generous (trained)" in info["models"]["ssb"]["config"]["reader"] and info["train_stats"]["ssb"]["status"] == "promoted"
    assert info["train_stats"]["ssb"]["readers"]["generous"]["verdict"] == "better"
    # the generous reader is served with the guidance weight the gate judged; asked for explicitly, another one
    _, own = client.infer("ssb", "val000", {"foreground": [[32, 32, 0]], "reader": "generous (trained)"})
    assert own["params"]["guidance_weight"] == 1.0 and "guidance 1, the strength of their style" in own["reader_style"]
    _, plain = client.infer("ssb", "val000", {"foreground": [[32, 32, 0]], "reader": "generous", "guidance_weight": 0})
    _, shipped = client.infer("ssb", "val000", {"foreground": [[32, 32, 0]], "reader": "reader0"})
    assert plain["params"]["guidance_weight"] == 0.0 and shipped["params"]["guidance_weight"] == 0.0  # the model's default
    # among the candidates of every reader ("all"), generous's is served with their own strength too: candidate 4
    # (label 4, generous) is candidate 4 of generous's style alone, the shipped readers' are as before (guidance 0)
    click = {"foreground": [[32, 32, 0]], "num_candidates": 5}
    _, everyone = client.infer("ssb", "val000", {**click, "reader": "all"})
    _, alone = client.infer("ssb", "val000", {**click, "reader": "generous"})
    _, unguided = client.infer("ssb", "val000", {**click, "reader": "all", "guidance_weight": 0})
    assert "generous with guidance 1" in everyone["reader_style"] and everyone["candidates"][4]["reader"] == "generous"
    assert everyone["roi"] == alone["roi"] == unguided["roi"], (everyone["roi"], alone["roi"])
    assert everyone["candidates"][4]["volume_mm3"] == alone["candidates"][4]["volume_mm3"] != unguided["candidates"][4]["volume_mm3"]
    assert [c["volume_mm3"] for c in everyone["candidates"][:4]] == [c["volume_mm3"] for c in unguided["candidates"][:4]]
