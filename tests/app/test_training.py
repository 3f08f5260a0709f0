"""The app's learning loop end to end: reader labels -> automatic training run -> promotion (or not) ->
infer uses the new model; active learning serves the image where the candidates disagree most.

One real server for the module: tiny checkpoint, 3 small labelled volumes, 3 unlabelled discs,
``retrain_after 6`` (two readers x three volumes), 5 fine-tuning steps, and ``train_min_val_images 1`` so that the
mechanics run on one held-out image (a decision on one image means nothing: the gate itself, with its real
minimum, is tested on real masks and the shipped model in ``test_reader_gate.py``).
"""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pytest
import requests
import SimpleITK as sitk
from scipy.ndimage import gaussian_filter

from tests.app._server import blob, client_for, running_server, write_tiny_checkpoint, write_volume

pytestmark = pytest.mark.slow

SHAPE, SPACING_ZYX = (8, 32, 32), (3.0, 1.0, 1.0)
RADIUS = {"case0": 7.0, "case1": 8.0, "case2": 9.0}
READERS = {"alice": 0.0, "bob": 1.5}  # bob draws 1.5 mm wider


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssb_train")
    studies = root / "studies"
    studies.mkdir()
    model = write_tiny_checkpoint(root / "models" / "tiny.pt")
    rng = np.random.default_rng(0)
    for case, r in RADIUS.items():
        vol = 100.0 * blob(SHAPE, (4, 16, 16), r, SPACING_ZYX) + rng.normal(0, 0.5, SHAPE)
        write_volume(studies / f"{case}.nii.gz", vol.astype(np.float32), spacing_xyz=(1.0, 1.0, 3.0), origin=(-7.0, 4.0, 30.0))
    disc = 100.0 * blob((1, 40, 40), (0, 20, 20), 9.0)[0]
    rng = np.random.default_rng(1)
    for name, img in (("al_sharp", disc), ("al_soft", gaussian_filter(disc, 1)), ("al_blurred", gaussian_filter(disc, 4))):
        write_volume(studies / f"{name}.nii.gz", (img + rng.normal(0, 1, img.shape)).astype(np.float32))
    conf = {"num_threads": 1, "retrain_after": 6, "train_steps": 5, "train_batch_size": 4, "train_val_nfe": 2, "train_min_val_images": 1,
            "train_val_candidates": 4, "scoring_candidates": 4, "scoring_nfe": 5}
    with running_server(studies, model, root / "server.log", conf) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return client_for(server, tmp_path_factory.mktemp("client"))


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _history(server) -> list[dict]:
    return json.loads(server.model.with_name("tiny.history.json").read_text())["runs"]


def _wait_training(server, task_id: str | None = None, timeout: float = 150.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        task = requests.get(f"{server.url}/train/", timeout=10).json()
        if (task_id is None or task.get("id") == task_id) and task.get("status") in ("DONE", "ERROR"):
            return task
        time.sleep(1.0)
    raise AssertionError(f"training did not finish in {timeout}s:\n{server.log_text()[-3000:]}")


def _label(server, tmp_path, case: str, radius: float, name: str):
    ref = sitk.ReadImage(str(server.studies / f"{case}.nii.gz"))
    lab = sitk.GetImageFromArray(blob(SHAPE, (4, 16, 16), radius, SPACING_ZYX).astype(np.uint8))
    lab.CopyInformation(ref)
    path = tmp_path / f"{name}.nii.gz"
    sitk.WriteImage(lab, str(path))
    return str(path)


def test_update_model_without_enough_labels_says_why_where_the_viewers_look(client, server):
    """ "Update Model" before two images are labelled: the run is skipped, and /info/'s train_stats (what 3D Slicer's
    and OHIF's panels poll) says so and why; nothing was trained, so no accuracy is shown."""
    assert client.info()["train_stats"]["ssb"]["status"] == "never trained"
    task = client.train_start("ssb", {})
    assert _wait_training(server, task["id"])["status"] == "DONE"
    stats = client.info()["train_stats"]["ssb"]
    assert stats["status"] == "skipped" and "needs at least 2 labelled images" in stats["reason"], stats
    assert stats["total_time"] >= 0 and "best_metric" not in stats


def test_reader_labels_start_a_training_run_whose_model_infer_then_uses(client, server, tmp_path):
    served = _sha(server.model)
    _, before = client.infer("ssb", "case0", {"foreground": [[16, 16, 4]]})
    assert before["model"]["sha256"] == served
    answers = [client.save_label(case, _label(server, tmp_path, case, r + dr, f"{reader}_{case}"), tag=reader)
               for case, r in RADIUS.items() for reader, dr in READERS.items()]
    assert [a.get("training_started") for a in answers[:5]] == [None] * 5 and answers[0]["new_readers"] == ["alice"]
    task_id = answers[5]["training_started"]
    assert task_id, answers[5]  # the 6th reader label started a run by itself, without blocking the PUT

    task = _wait_training(server, task_id)
    assert task["status"] == "DONE", task
    run = _history(server)[-1]
    assert run["new_readers"] == ["alice", "bob"] and len(run["val_images"]) == 1 and len(run["train_images"]) == 2
    assert set(run["gate"]) == {"alice", "bob"} and run["label_counts"]["alice"] == {"train_images": 2, "held_out_images": 1}
    promoted = [r for r, g in run["gate"].items() if g["verdict"] == "better"]
    assert run["promoted_readers"] == promoted and run["status"] == ("promoted" if promoted else "not promoted"), run
    stats = client.info()["train_stats"]["ssb"]
    assert stats["last_run"]["run_id"] == run["run_id"] and stats["status"] == run["status"] and "total_time" in stats
    assert stats["best_metric"] == run["accuracy"] and stats["readers"] == run["gate"]  # the "Accuracy" bar: what is served now
    _, after = client.infer("ssb", "case0", {"foreground": [[16, 16, 4]], "reader": "alice"})
    status = client.info()["ssb"]["ssb"]["reader_map"]["status"]
    if promoted:  # only the readers whose held-out masks the candidate followed better join the served model
        assert _sha(server.model.with_name("tiny.prev.pt")) == served and _sha(server.model) != served
        assert after["model"]["readers"] == ["reader0", "reader1", *promoted] and status["alice"] == ("trained" if "alice" in promoted else "pending")
    else:
        assert _sha(server.model) == served and after["model"]["readers"] == ["reader0", "reader1"] and status["alice"] == "pending"


def test_a_worse_model_is_not_promoted(client, server):
    served = _sha(server.model)
    task = client.train_start("ssb", {"lr": 1e8, "steps": 3})  # a diverging run
    assert _wait_training(server, task["id"])["status"] == "DONE"
    run = _history(server)[-1]
    assert run["status"] == "not promoted" and all(g["verdict"] != "better" for g in run["gate"].values()), run
    assert _sha(server.model) == served
    stats = client.info()["train_stats"]["ssb"]
    assert stats["status"] == "not promoted" and "beyond the noise" in stats["reason"], stats
    _, res = client.infer("ssb", "case1", {})
    assert res["model"]["sha256"] == served


def test_multi_gpu_option_trains_in_two_processes(client, server):
    """MONAI Label's multi_gpu option: DistributedDataParallel, here two Gloo processes on the CPU."""
    info = client.info()["trainers"]["ssb"]["config"]
    assert info["multi_gpu"] is False and info["gpus"] == "all"  # offered to the viewers with its default
    task = client.train_start("ssb", {"multi_gpu": "true", "steps": 2})
    assert _wait_training(server, task["id"], timeout=240)["status"] == "DONE"
    run = _history(server)[-1]
    assert run["world_size"] == 2 and run["steps"] == 2 and run["settings"]["multi_gpu"] is True, run
    assert run["status"] in ("promoted", "not promoted") and set(run["gate"]) == {"alice", "bob"}, run


def test_active_learning_serves_the_most_ambiguous_image_first(client, server, tmp_path):
    r = requests.post(f"{server.url}/scoring/disagreement?run_sync=true", json={}, timeout=120)
    assert r.status_code == 200, r.text
    objects = client.datastore()["objects"]
    scores = {i: objects[i]["image"]["info"]["ssb_disagreement"]["score"] for i in ("al_sharp", "al_soft", "al_blurred")}
    assert scores["al_blurred"] > scores["al_soft"] > scores["al_sharp"], scores
    served = []
    for _ in range(3):
        nxt = client.next_sample("disagreement", {})
        served.append(nxt["id"])
        img = sitk.ReadImage(str(server.studies / f"{nxt['id']}.nii.gz"))
        mark = np.zeros((40, 40), np.uint8)
        mark[18:21, 18:21] = 1  # a reader's (small) lesion: an empty label is refused
        lab = sitk.GetImageFromArray(mark)
        lab.CopyInformation(img)
        sitk.WriteImage(lab, str(tmp_path / "mark.nii.gz"))
        client.save_label(nxt["id"], str(tmp_path / "mark.nii.gz"), tag="alice")
    assert served == ["al_blurred", "al_soft", "al_sharp"]
    assert client.next_sample("random", {}) == {}  # every image now has a reader label
    strategies = client.info()["strategies"]
    assert {"disagreement", "random"} <= set(strategies)
