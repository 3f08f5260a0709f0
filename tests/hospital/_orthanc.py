"""A real Orthanc DICOMweb server for the tests: ``scripts/orthanc.sh`` on a free loopback port, stopped by PID.

The script writes its own temporary configuration and storage (removed when it stops); this helper runs it in
its own process group, waits until the REST API answers, uploads DICOM files through Orthanc's REST API
(``POST /instances``) and stops the group with SIGTERM (then SIGKILL); :func:`running_app_on` serves the app on
it. Needs the Debian packages ``orthanc`` and ``orthanc-dicomweb``: without them the calling test is skipped with
the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.app._server import REPO_ROOT, free_port, running_server, write_tiny_checkpoint

SCRIPT = REPO_ROOT / "scripts" / "orthanc.sh"
PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


@dataclass
class Orthanc:
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def upload(self, *files: Path) -> list[dict]:
        """POST each file to ``/instances``; Orthanc's answers (``ID``, ``ParentSeries``, ``Status``)."""
        out = []
        for f in files:
            r = requests.post(f"{self.url}/instances", data=Path(f).read_bytes(), timeout=30)
            r.raise_for_status()
            out.append(r.json())
        return out


def require_orthanc() -> None:
    if shutil.which("Orthanc") is None and not os.access("/usr/sbin/Orthanc", os.X_OK) or not PLUGIN.exists():
        pytest.skip("Orthanc with its DICOMweb plugin is not installed (apt-get install -y orthanc orthanc-dicomweb; .ci/run does)")


def start_orthanc(log_path: Path, timeout: float = 30.0) -> Orthanc:
    require_orthanc()
    port = free_port()
    log = open(log_path, "wb")
    proc = subprocess.Popen(["bash", str(SCRIPT), str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Orthanc(proc, port, Path(log_path))
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"orthanc.sh exited with {proc.returncode}:\n{Path(log_path).read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(f"{server.url}/system", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    stop_orthanc(server)
    raise RuntimeError(f"Orthanc not ready after {timeout}s:\n{Path(log_path).read_text(errors='replace')[-3000:]}")


def stop_orthanc(server: Orthanc) -> None:
    """SIGTERM to the script's process group (the script and Orthanc), then SIGKILL."""
    if server.proc.poll() is None:
        try:
            os.killpg(server.proc.pid, signal.SIGTERM)
            server.proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=10)


@contextlib.contextmanager
def running_orthanc(log_path: Path):
    server = start_orthanc(log_path)
    try:
        yield server
    finally:
        stop_orthanc(server)


@contextlib.contextmanager
def running_app_on(pacs: Orthanc, root: Path, env: dict[str, str] | None = None, conf: dict | None = None):
    """The app served on ``pacs``'s DICOMweb (tiny checkpoint, one torch thread), its DICOMweb cache in ``root / "cache"``
    and MONAI Label settings ``env`` (e.g. ``MONAI_LABEL_DICOMWEB_SEARCH_FILTER``); yields the server, ``cache`` set."""
    model = write_tiny_checkpoint(root / "models" / "tiny.pt")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"MONAI_LABEL_DICOMWEB_CACHE_PATH": str(root / "cache"), **(env or {})}.items():
            mp.setenv(key, value)
        with running_server(pacs.dicomweb, model, root / "server.log", {"num_threads": 1, **(conf or {})}) as srv:
            srv.cache = root / "cache"
            yield srv
