"""Helpers for the app tests: tiny checkpoints, synthetic studies, and a real MONAI Label server on a free port.

The server is the real ``monailabel start_server`` (``python -m monailabel.main``, the venv's interpreter first
on PATH) in its own process group; :func:`stop_server` ends exactly that group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_DIR = REPO_ROOT / "apps" / "ssb"
TINY_ROI = 32


def write_tiny_checkpoint(path: Path, readers: tuple[str, ...] = ("reader0", "reader1"), seed: int = 0) -> Path:
    """A tiny SSB checkpoint on a 32x32 ROI of 1 mm pixels, each window z-scored on its own.

    The network is freshly initialised: MONAI zero-initialises its output layer, so eps = 0 and each
    candidate is the normalised image plus its own bridge noise, thresholded at 0 -- bright structures
    come out as lesions, and candidates disagree where the image is close to its mean. A small bridge
    (beta_max 0.03) keeps that noise low, so a sharp bright disc gives near-identical candidates.
    """
    import torch

    from ssb_core.bridge import BridgeConfig
    from ssb_core.candidates import SamplingConfig
    from ssb_core.checkpoint import SSBCheckpoint, save_checkpoint
    from ssb_core.network import NetworkConfig, SSBNetwork

    cfg = NetworkConfig(channels=(8, 16), attention_levels=(False, False), num_res_blocks=1, norm_num_groups=4,
                        num_head_channels=8, num_readers=len(readers))
    torch.manual_seed(seed)
    net = SSBNetwork(cfg).eval()
    ckpt = SSBCheckpoint(
        network=cfg,
        bridge=BridgeConfig(beta_max=0.03, beta_min=1e-5),
        sampling=SamplingConfig(num_candidates=4, nfe=2),
        state_dict=net.state_dict(),
        readers=list(readers),
        data={"roi_size": [TINY_ROI, TINY_ROI], "spacing": [1.0, 1.0], "intensity": {"method": "zscore"},
              "preprocessing": {"roi_size": [TINY_ROI, TINY_ROI], "spacing_mm": [1.0, 1.0], "intensity": {"kind": "zscore"},
                                "intensity_scope": "window", "slice_axis": "axial"}},
        provenance={"created": "test"},
    )
    return save_checkpoint(ckpt, path)


def blob(shape_zyx: tuple[int, int, int], centre_zyx: tuple[float, float, float], radius: float, spacing_zyx=(1.0, 1.0, 1.0)) -> np.ndarray:
    """bool ball of ``radius`` mm."""
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape_zyx, spacing_zyx, strict=True)], indexing="ij")
    d2 = sum((g - c * s) ** 2 for g, c, s in zip(grids, centre_zyx, spacing_zyx, strict=True))
    return d2 <= radius**2


def write_volume(path: Path, array_zyx: np.ndarray, spacing_xyz=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), direction=None) -> Path:
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(array_zyx)
    img.SetSpacing(tuple(float(s) for s in spacing_xyz[: img.GetDimension()]))
    img.SetOrigin(tuple(float(o) for o in origin[: img.GetDimension()]))
    if direction is not None:
        img.SetDirection(direction)
    sitk.WriteImage(img, str(path))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    log: Path
    studies: Path
    model: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(studies: Path, model_path: Path, log_path: Path, conf: dict | None = None,
                 env: dict[str, str] | None = None) -> Server:
    """``monailabel start_server`` on a free port of 127.0.0.1; ``env`` is added to this process's environment."""
    port = free_port()
    cmd = [sys.executable, "-m", "monailabel.main", "start_server", "--app", str(APP_DIR), "--studies", str(studies),
           "--conf", "model_path", str(model_path), "--host", "127.0.0.1", "--port", str(port)]
    for k, v in (conf or {}).items():
        cmd += ["--conf", k, str(v)]
    full = {**os.environ, **(env or {})}
    full["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full.get('PATH', '')}"
    full.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full, cwd=str(REPO_ROOT), start_new_session=True)
    return Server(proc, f"http://127.0.0.1:{port}", Path(log_path), Path(studies), Path(model_path))


def wait_ready(server: Server, timeout: float = 90.0, path: str = "/info/") -> None:
    """Until ``GET path`` answers 200 (with sign-in on, ``/auth/``: ``/info/`` needs a token)."""
    import requests

    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited with {server.proc.returncode}:\n{server.log_text()[-4000:]}")
        try:
            if requests.get(f"{server.url}{path}", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server not ready after {timeout}s:\n{server.log_text()[-4000:]}")


def stop_server(server: Server) -> None:
    """SIGTERM to the server's own process group (it and the training runs it started), then SIGKILL."""
    proc = server.proc
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextlib.contextmanager
def running_server(studies: Path, model_path: Path, log_path: Path, conf: dict | None = None,
                   env: dict[str, str] | None = None, ready_path: str = "/info/"):
    """Start the app, wait until ``ready_path`` answers, yield the :class:`Server`, always stop it by its PID."""
    srv = start_server(studies, model_path, log_path, conf, env)
    try:
        wait_ready(srv, path=ready_path)
        yield srv
    finally:
        stop_server(srv)


def client_for(server: Server, tmpdir: Path):
    """The Slicer plugin's client, with its own download folder (the server deletes its result files)."""
    from monailabel.client import MONAILabelClient

    return MONAILabelClient(server.url, tmpdir=str(tmpdir))


class SlicerReaders:
    """Readers as the 3D Slicer plugin names them (its Client ID, sent with every request), and Next Sample asked with
    every strategy the server offers, as the plugin asks it."""

    def __init__(self, server: Server, tmpdir: Path) -> None:
        self.url, self.tmpdir = server.url, str(tmpdir)
        self.strategies = sorted(self.client(None).info()["strategies"])

    def client(self, reader: str | None):
        """The plugin's client with Client ID ``reader`` (None: no Client ID)."""
        from monailabel.client import MONAILabelClient

        return MONAILabelClient(self.url, tmpdir=self.tmpdir, client_id=reader)

    def served(self, reader: str | None, params: dict | None = None) -> dict[str, str | None]:
        """``{strategy: the image id Next Sample gives reader, None for the "nothing left" answer {}}``."""
        client = self.client(reader)
        return {s: client.next_sample(s, dict(params or {})).get("id") for s in self.strategies}

    def every(self, image: str | None) -> dict[str, str | None]:
        """What :meth:`served` answers when every strategy gives ``image``."""
        return dict.fromkeys(self.strategies, image)


SERVE_SCRIPT = REPO_ROOT / "scripts" / "serve.sh"


@contextlib.contextmanager
def running_serve_script(log_path: Path, env: dict[str, str], args: tuple[str, ...] = (), timeout: float = 180.0,
                         ready_path: str = "/info/"):
    """``make serve``'s launcher (scripts/serve.sh) as a user runs it, in its own process group; yields its URL once
    ``ready_path`` answers (with sign-in on, ``/auth/``) and always stops the group (the server and, in PACS mode, its
    Orthanc) by its PID.

    ``env`` is added to this process's environment (``SSB_PORT`` must be set); ``SSB_PYTHON`` is this interpreter.
    """
    full = {**os.environ, "SSB_PYTHON": sys.executable, "OMP_NUM_THREADS": "1", **env}
    with open(log_path, "wb") as fh:
        proc = subprocess.Popen(["bash", str(SERVE_SCRIPT), *args], cwd=str(REPO_ROOT), start_new_session=True, env=full,
                                stdout=fh, stderr=subprocess.STDOUT)
    server = Server(proc, f"http://127.0.0.1:{env['SSB_PORT']}", Path(log_path), Path(), Path())
    try:
        wait_ready(server, timeout, ready_path)
        yield server.url
    finally:
        stop_server(server)
