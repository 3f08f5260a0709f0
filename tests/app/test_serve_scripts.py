"""``make serve``: scripts/make_demo_studies.py (the ready studies folder) and scripts/serve.sh (the launcher)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests
import SimpleITK as sitk

from tests.app._server import REPO_ROOT, free_port, running_serve_script

MAKE_STUDIES = REPO_ROOT / "scripts" / "make_demo_studies.py"
SERVE = REPO_ROOT / "scripts" / "serve.sh"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["SSB_PYTHON"] = sys.executable
    env.update(extra)
    return env


def test_make_demo_studies_copies_the_lidc_demo_with_its_readers(tmp_path):
    demo = REPO_ROOT / "sample-apps" / "ssb-local" / "demo"
    out = tmp_path / "studies"
    run = subprocess.run([sys.executable, str(MAKE_STUDIES), "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    ct = out / "LIDC-IDRI-0003_demo.nii.gz"
    written, source = sitk.ReadImage(str(ct)), sitk.ReadImage(str(demo / ct.name))
    assert written.GetSize() == source.GetSize() and written.GetSpacing() == source.GetSpacing()
    hu = sitk.GetArrayFromImage(written)
    assert hu.min() <= -900 and hu.max() >= 200  # a real CT in Hounsfield units: air and soft tissue / bone
    readers = sorted(p.parent.name for p in (out / "labels").glob("*/LIDC-IDRI-0003_demo.nii.gz"))
    assert readers == ["reader_1", "reader_2", "reader_3", "reader_4"]
    for r in readers:
        mask = sitk.ReadImage(str(out / "labels" / r / ct.name))
        assert mask.GetSize() == written.GetSize() and set(np.unique(sitk.GetArrayFromImage(mask))) == {0, 1}
    demo_bytes = sum(p.stat().st_size for p in demo.rglob("*") if p.is_file())
    assert demo_bytes < 5 * 2**20 and (demo / "ATTRIBUTION.md").read_text().count("CC BY 3.0")

    mtime = ct.stat().st_mtime_ns  # a second run keeps the files
    again = subprocess.run([sys.executable, str(MAKE_STUDIES), "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "kept" in again.stdout and ct.stat().st_mtime_ns == mtime


def test_serve_refuses_a_missing_model_with_a_clear_message(tmp_path):
    env = _env(SSB_MODEL_PATH=str(tmp_path / "absent.pt"), SSB_STUDIES=str(tmp_path / "studies"), SSB_PORT=str(free_port()))
    run = subprocess.run(["bash", str(SERVE)], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode != 0
    assert "model checkpoint not found" in run.stderr and "SSB_MODEL_PATH" in run.stderr
    assert not (tmp_path / "studies").exists()  # nothing built before the checks pass


def test_serve_refuses_a_busy_port(tmp_path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"not read before the port is checked")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        run = subprocess.run(["bash", str(SERVE)], capture_output=True, text=True, timeout=60,
                             env=_env(SSB_MODEL_PATH=str(model), SSB_STUDIES=str(tmp_path / "studies"), SSB_PORT=str(port)))
    assert run.returncode != 0
    assert f"port {port}" in run.stderr and "SSB_PORT" in run.stderr


def test_serve_refuses_to_listen_beyond_loopback_without_sign_in_unless_told(tmp_path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"not read before the address is checked")
    env = {k: v for k, v in _env(SSB_MODEL_PATH=str(model), SSB_STUDIES=str(tmp_path / "studies"), SSB_HOST="0.0.0.0",
                                 SSB_PORT=str(free_port())).items() if not k.startswith(("SSB_OIDC_", "SSB_ALLOW_OPEN"))}
    run = subprocess.run(["bash", str(SERVE)], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode != 0 and "refusing to listen on 0.0.0.0 with sign-in off" in run.stderr
    assert "SSB_ALLOW_OPEN=1" in run.stderr and "SSB_OIDC_DISCOVERY_URL" in run.stderr
    assert not (tmp_path / "studies").exists()
    with socket.socket() as busy:  # told so: the address passes, and the launcher goes on to its next check
        busy.bind(("127.0.0.1", 0))  # busy on loopback: 0.0.0.0 cannot be bound on that port either
        busy.listen(1)
        port = busy.getsockname()[1]
        run = subprocess.run(["bash", str(SERVE)], capture_output=True, text=True, timeout=60,
                             env={**env, "SSB_ALLOW_OPEN": "1", "SSB_PORT": str(port)})
    assert run.returncode != 0 and "refusing" not in run.stderr and f"port {port}" in run.stderr


@pytest.mark.slow
def test_serve_builds_the_studies_and_serves_them(tmp_path):
    """`make serve`'s launcher as a user runs it: the shipped model, the demo CT; a click on a demo nodule gives
    candidates on that nodule (the radiologists' masks are in the datastore to compare with)."""
    model = REPO_ROOT / "models" / "ssb_lidc128.pt"
    studies, log = tmp_path / "studies", tmp_path / "serve.log"
    env = {"SSB_STUDIES": str(studies), "SSB_PORT": str(free_port())}
    with running_serve_script(log, env, ("--conf", "num_threads", "1"), timeout=120) as url:
        assert url in log.read_text()  # the URL is printed for the user
        info = requests.get(f"{url}/info/", timeout=10).json()
        conventions = info["ssb"]["ssb"]["conventions"]  # the checkpoint's own preprocessing
        assert conventions["intensity_scope"] == "window" and conventions["source"] == "checkpoint"
        objects = requests.get(f"{url}/datastore/?output=all", timeout=10).json()["objects"]
        demo = objects["LIDC-IDRI-0003_demo"]
        assert {"reader_1", "reader_2", "reader_3", "reader_4"} <= set(demo["labels"])  # the radiologists' masks
        r = requests.post(f"{url}/infer/ssb", params={"image": "LIDC-IDRI-0003_demo", "output": "image"},
                          data={"params": '{"foreground": [[45, 59, 26]]}'}, timeout=120)  # the 15 mm nodule
        assert r.status_code == 200, r.text
        (tmp_path / "agreement.nii.gz").write_bytes(r.content)
        near = (slice(18, 35), slice(30, 90), slice(15, 76))  # (k, j, i) around the clicked nodule; the labels hold all three
        consensus = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "agreement.nii.gz"))) >= 2
        assert consensus.sum() == consensus[near].sum() > 0  # nothing elsewhere in the CT
        readers = [sitk.GetArrayFromImage(sitk.ReadImage(str(studies / "labels" / f"reader_{k}" / "LIDC-IDRI-0003_demo.nii.gz")))[near] > 0
                   for k in range(1, 5)]
        consensus = consensus[near]
        dice = [2 * (consensus & m).sum() / (consensus.sum() + m.sum()) for m in readers]
        assert np.mean(dice) > 0.5, dice  # on the nodule the readers outlined, not elsewhere
        info = requests.post(f"{url}/infer/ssb", params={"image": "LIDC-IDRI-0003_demo", "output": "json"},
                             data={"params": '{"foreground": [[45, 59, 26]]}'}, timeout=120).json()
        assert Path(info["model"]["path"]) == model.resolve()


def test_make_serve_after_ci_reuses_the_venv_without_installing():
    """`make serve` (extras app,dev) after `.ci/run` (app,dev,browser): the extras wanted are already installed, so
    the same venv is used as it is (no re-install, the extras already there are kept)."""
    stamp = REPO_ROOT / ".venv" / ".ssb-installed"
    if not stamp.is_file():
        pytest.skip("no .venv made by scripts/bootstrap.sh")
    before = stamp.read_text()
    run = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "bootstrap.sh")], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=900, env={**os.environ, "SSB_EXTRAS": "app"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "installing" not in run.stderr and stamp.read_text() == before
