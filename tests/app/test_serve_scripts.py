"""``make serve``: scripts/make_demo_studies.py (the ready studies folder) and scripts/serve.sh (the launcher)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import SimpleITK as sitk

from tests.app._server import REPO_ROOT, free_port, write_tiny_checkpoint

MAKE_STUDIES = REPO_ROOT / "scripts" / "make_demo_studies.py"
SERVE = REPO_ROOT / "scripts" / "serve.sh"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["SSB_PYTHON"] = sys.executable
    env.update(extra)
    return env


def test_make_demo_studies_writes_real_images_with_dicom_geometry(tmp_path):
    from pydicom.data import get_testdata_file

    out = tmp_path / "studies"
    run = subprocess.run([sys.executable, str(MAKE_STUDIES), "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    ct = out / "ct_small.nii.gz"
    written, source = sitk.ReadImage(str(ct)), sitk.ReadImage(get_testdata_file("CT_small.dcm"))
    assert written.GetSize() == source.GetSize() == (128, 128, 1)
    np.testing.assert_allclose(written.GetSpacing(), source.GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(written.GetOrigin(), source.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(written.GetDirection(), source.GetDirection(), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(source))  # HU kept exactly

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


@pytest.mark.slow
def test_serve_builds_the_studies_and_serves_them(tmp_path):
    model = write_tiny_checkpoint(tmp_path / "model" / "tiny.pt")
    studies, port, log = tmp_path / "studies", free_port(), tmp_path / "serve.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(["bash", str(SERVE), "--conf", "num_threads", "1"], cwd=str(REPO_ROOT), start_new_session=True,
                                env=_env(SSB_MODEL_PATH=str(model), SSB_STUDIES=str(studies), SSB_PORT=str(port), OMP_NUM_THREADS="1"),
                                stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, info = time.time() + 120, None
        while time.time() < deadline and info is None:
            assert proc.poll() is None, log.read_text()[-4000:]
            try:
                r = requests.get(f"{url}/info/", timeout=2)
                info = r.json() if r.status_code == 200 else None
            except requests.RequestException:
                time.sleep(0.5)
        assert info is not None, log.read_text()[-4000:]
        assert url in log.read_text()  # the URL is printed for the user
        conventions = info["ssb"]["ssb"]["conventions"]  # the sample app's conf file was applied
        assert conventions["intensity"]["kind"] == "zscore" and conventions["intensity_source"] == "conf intensity"
        assert {"ct_small", "mr_small"} <= set(requests.get(f"{url}/datastore/?output=all", timeout=10).json()["objects"])
        r = requests.post(f"{url}/infer/ssb", params={"image": "ct_small", "output": "json"},
                          data={"params": '{"num_candidates": 2}'}, timeout=120)
        assert r.status_code == 200, r.text
        assert Path(r.json()["model"]["path"]) == model.resolve()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # our own process group (start_new_session), by its id
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
