"""Nothing lost: concurrent readers, and the server killed (SIGKILL) during label writes and during training.

Each test runs its own real server on 127.0.0.1 and kills it by its process group id (the server and the
training subprocess it started). What must hold afterwards: every label the server acknowledged is on disk
byte for byte, no file under a label's real name is partial, the datastore index parses, the served model is
the one from before, and a restarted server lists every label and trains again.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from tests.app._server import blob, running_server, start_server, stop_server, wait_ready, write_tiny_checkpoint, write_volume

pytestmark = pytest.mark.slow

SHAPE, SPACING_XYZ = (8, 32, 32), (1.0, 1.0, 3.0)
SPACING_ZYX = SPACING_XYZ[::-1]


def _studies(root: Path, cases: int = 1) -> tuple[Path, Path]:
    studies = root / "studies"
    studies.mkdir()
    rng = np.random.default_rng(0)
    for c in range(cases):
        vol = 100.0 * blob(SHAPE, (4, 16, 16), 7.0 + c, SPACING_ZYX) + rng.normal(0, 0.5, SHAPE)
        write_volume(studies / f"case{c}.nii.gz", vol.astype(np.float32), SPACING_XYZ)
    return studies, write_tiny_checkpoint(root / "models" / "tiny.pt")


def _mask(path: Path, radius: float) -> Path:
    return write_volume(path, blob(SHAPE, (4, 16, 16), radius, SPACING_ZYX).astype(np.uint8), SPACING_XYZ)


def _put_label(url: str, image: str, tag: str, path: Path) -> requests.Response:
    return requests.put(f"{url}/datastore/label", params={"image": image, "tag": tag},
                        files={"label": (path.name, path.read_bytes())}, timeout=60)


def _kill(server) -> None:
    """SIGKILL the server's whole process group (the server and any training subprocess), by its id."""
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=30)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _labels(url: str, image: str) -> set[str]:
    return set(requests.get(f"{url}/datastore/?output=all", timeout=30).json()["objects"][image]["labels"])


def test_concurrent_readers_on_one_image_all_keep_their_masks(tmp_path):
    studies, model = _studies(tmp_path)
    readers = {f"reader_{i}": 3.0 + 0.75 * i for i in range(8)}  # a different mask per reader
    files = {r: _mask(tmp_path / f"{r}.nii.gz", radius) for r, radius in readers.items()}
    with running_server(studies, model, tmp_path / "server.log", {"num_threads": 1}) as srv:
        start, answers = threading.Barrier(len(readers)), {}

        def submit(reader: str) -> None:
            start.wait()
            answers[reader] = _put_label(srv.url, "case0", reader, files[reader])

        threads = [threading.Thread(target=submit, args=(r,)) for r in readers]
        [t.start() for t in threads]
        [t.join(timeout=120) for t in threads]
        assert {r: a.status_code for r, a in answers.items()} == dict.fromkeys(readers, 200)
        assert set(readers) <= _labels(srv.url, "case0")
    for reader, path in files.items():
        assert (studies / "labels" / reader / "case0.nii.gz").read_bytes() == path.read_bytes(), reader
    registry = json.loads(model.with_name("tiny.readers.json").read_text())
    assert set(readers) <= set(registry["pending"])
    with running_server(studies, model, tmp_path / "restart.log", {"num_threads": 1}) as srv:
        assert set(readers) <= _labels(srv.url, "case0")


def test_killed_during_label_writes_keeps_every_acknowledged_label(tmp_path):
    studies, model = _studies(tmp_path)
    rng = np.random.default_rng(1)
    big = tmp_path / "noise.nii.gz"  # a label that does not compress: each write takes a while
    write_volume(big, (rng.random((40, 160, 160)) < 0.5).astype(np.uint8), SPACING_XYZ)
    write_volume(studies / "big.nii.gz", rng.normal(0, 1, (40, 160, 160)).astype(np.float32), SPACING_XYZ)
    srv = start_server(studies, model, tmp_path / "server.log", {"num_threads": 1})
    acked: list[str] = []
    stop = threading.Event()

    def writer(w: int) -> None:
        n = 0
        while not stop.is_set():
            tag = f"w{w}_{n}"
            try:
                if _put_label(srv.url, "big", tag, big).status_code == 200:
                    acked.append(tag)
            except requests.RequestException:
                return
            n += 1

    try:
        wait_ready(srv)
        threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
        [t.start() for t in threads]
        deadline = time.time() + 120
        while len(acked) < 6 and time.time() < deadline:
            time.sleep(0.05)
        _kill(srv)  # the writers are mid-upload: three requests in flight
        stop.set()
        [t.join(timeout=60) for t in threads]
    finally:
        stop.set()
        stop_server(srv)
    assert len(acked) >= 6
    sent = big.read_bytes()
    raw = gzip.decompress(sent)
    for tag in acked:
        assert (studies / "labels" / tag / "big.nii.gz").read_bytes() == sent, tag
    for label in (studies / "labels").rglob("*.nii.gz"):
        assert gzip.decompress(label.read_bytes()) == raw, label  # no partial file under a real label name
    json.loads((studies / "datastore_v2.json").read_text())
    with running_server(studies, model, tmp_path / "restart.log", {"num_threads": 1}) as srv:
        assert set(acked) <= _labels(srv.url, "big")
    assert not list(studies.rglob(".ssb-tmp-*")), "temporary files of the interrupted writes are swept at start-up"


def _train_status(url: str) -> dict:
    return requests.get(f"{url}/train/", timeout=30).json()


def test_killed_during_training_keeps_the_served_model_and_trains_after_restart(tmp_path):
    studies, model = _studies(tmp_path, cases=3)
    sha = _sha(model)
    conf = {"num_threads": 1, "train_batch_size": 4, "train_val_nfe": 2, "train_val_candidates": 2, "train_lr": 1e-7,
            "train_min_val_images": 1}  # 3 labelled images: the run must train (the gate's real minimum is tested elsewhere)
    srv = start_server(studies, model, tmp_path / "server.log", conf)
    try:
        wait_ready(srv)
        for c in range(3):
            for reader, extra in (("alice", 0.0), ("bob", 1.5)):
                path = _mask(tmp_path / f"{reader}{c}.nii.gz", 7.0 + c + extra)
                assert _put_label(srv.url, f"case{c}", reader, path).status_code == 200
        r = requests.post(f"{srv.url}/train/ssb", json={"steps": 100000, "max_minutes": 5}, timeout=30)
        assert r.status_code == 200, r.text
        runs = model.with_name("tiny.runs")
        deadline = time.time() + 120
        while not (runs.is_dir() and any(runs.iterdir())) and time.time() < deadline:
            time.sleep(0.2)
        assert runs.is_dir() and any(runs.iterdir()), srv.log_text()[-3000:]
        time.sleep(3.0)  # inside the optimisation loop
        assert _train_status(srv.url).get("status") == "RUNNING"
        _kill(srv)
    finally:
        stop_server(srv)
    assert _sha(model) == sha, "the served model file is untouched"
    assert not model.with_name("tiny.prev.pt").exists(), "nothing was promoted"
    history = model.with_name("tiny.history.json")
    assert not history.exists() or json.loads(history.read_text())
    with running_server(studies, model, tmp_path / "restart.log", {**conf, "train_steps": 2}) as srv:
        r = requests.post(f"{srv.url}/infer/ssb", params={"image": "case0", "output": "json"}, files={"params": (None, "{}")},
                          timeout=120)
        assert r.status_code == 200 and r.json()["model"]["sha256"] == sha[:16]
        assert {"alice", "bob"} <= _labels(srv.url, "case0")
        task = requests.post(f"{srv.url}/train/ssb", json={}, timeout=30).json()
        deadline = time.time() + 240
        while _train_status(srv.url).get("status") not in ("DONE", "ERROR") and time.time() < deadline:
            time.sleep(1.0)
        assert _train_status(srv.url)["status"] == "DONE", srv.log_text()[-3000:]
        assert _train_status(srv.url)["id"] == task["id"]
    assert json.loads(history.read_text())["runs"][-1]["status"] in ("promoted", "not promoted")
