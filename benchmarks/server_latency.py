"""End-to-end ``/infer`` latency through the real MONAI Label server over HTTP.

Starts the app on 127.0.0.1 with the ready local setup's settings (``sample-apps/ssb-local/server.conf``:
2 threads, ``runtime auto``), on a studies folder holding 64×64 lesion images (lidc64 test slices written as
NIfTI with 0.7 mm pixels, or synthetic discs when ``../shared/data`` is absent), and times what a viewer waits
for: the request, N candidates, consensus, agreement labelmap and variability map, and the answer.

- cold: the first infer request after the server is up;
- warm sequential: ``repeats`` requests one after the other -> p50 / p95;
- concurrent: ``clients`` threads, each with its own client, ``repeats`` requests each -> p50 / p95 and the
  requests per second of the whole.

Used by ``scripts/benchmark.py``; the server is stopped by its PID whatever happens.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
CONF_FILE = REPO / "sample-apps" / "ssb-local" / "server.conf"

__all__ = ["server_conf", "write_studies", "infer_latency"]


def server_conf(path: Path = CONF_FILE) -> dict[str, str]:
    """The ``--conf`` pairs of the ready local setup (one ``key value`` per line, ``#`` comments)."""
    conf = {}
    for line in path.read_text().splitlines():
        parts = line.split(None, 1)
        if parts and not parts[0].startswith("#") and len(parts) == 2:
            conf[parts[0]] = parts[1].strip()
    return conf


def write_studies(folder: Path, data_path: Path, count: int = 4) -> list[str]:
    """``count`` 64×64 single-slice NIfTI images (0.7 mm pixels) in ``folder``; returns their ids."""
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    if data_path.is_file():
        images = np.load(data_path)["images"][:count].astype(np.float32)
    else:
        logger.warning("%s not found: timing on synthetic discs", data_path)
        yy, xx = np.mgrid[:64, :64]
        rng = np.random.default_rng(0)
        images = np.stack([(((yy - 32) ** 2 + (xx - 32) ** 2) < (6 + k) ** 2) * 2.0 - 1.0 + rng.normal(0, 0.3, (64, 64))
                           for k in range(count)]).astype(np.float32)
    ids = []
    for k, image in enumerate(images):
        img = sitk.GetImageFromArray(image)
        img.SetSpacing((0.7, 0.7))
        ids.append(f"lesion{k}")
        sitk.WriteImage(img, str(folder / f"{ids[-1]}.nii.gz"))
    return ids


def _stats(seconds: list[float]) -> dict[str, float]:
    s = sorted(seconds)
    return {"p50_s": statistics.median(s), "p95_s": s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))], "n": len(s)}


def _timed_infer(client, image: str, params: dict) -> float:
    t0 = time.perf_counter()
    _, result = client.infer("ssb", image, dict(params))
    elapsed = time.perf_counter() - t0
    if not isinstance(result, dict) or "candidates" not in result:
        raise RuntimeError(f"unexpected infer answer: {str(result)[:300]}")
    return elapsed


def _concurrent(server, root: Path, ids: list[str], params: dict, clients: int, per_client: int) -> dict:
    from tests.app._server import client_for

    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(w: int) -> None:
        c = client_for(server, root)
        for k in range(per_client):
            try:
                t = _timed_infer(c, ids[(w + k) % len(ids)], params)
                with lock:
                    times.append(t)
            except Exception as exc:  # counted and reported: the load test's figure is "failed"
                with lock:
                    errors.append(str(exc)[:200])

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {**_stats(times or [float("nan")]), "clients": clients, "requests_per_s": len(times) / wall, "failed": len(errors), "errors": errors[:3]}


def infer_latency(model: Path, data_path: Path, settings: list[dict], repeats: int = 20, clients: int = 4,
                  conf: dict[str, str] | None = None) -> list[dict]:
    """Start one server; for each ``settings`` entry (infer params) time a cold first request (first entry
    only: the server's first), ``repeats`` sequential requests and ``clients`` concurrent clients."""
    from tests.app._server import client_for, running_server

    conf = {**server_conf(), **(conf or {}), "model_path": str(model)}
    out = []
    with tempfile.TemporaryDirectory(prefix="ssb-bench-") as tmp:
        root = Path(tmp)
        ids = write_studies(root / "studies", data_path)
        t_start = time.perf_counter()
        with running_server(root / "studies", model, root / "server.log", conf) as server:
            startup = time.perf_counter() - t_start
            client = client_for(server, root)
            for k, params in enumerate(settings):
                cold = _timed_infer(client, ids[0], params)
                sequential = [_timed_infer(client, ids[i % len(ids)], params) for i in range(repeats)]
                concurrent = _concurrent(server, root, ids, params, clients, max(1, repeats // clients))
                out.append({"params": params, "startup_s": startup, "first_request_s": cold, "first_of_server": k == 0,
                            "sequential": _stats(sequential), "concurrent": concurrent,
                            "conf": {c: v for c, v in conf.items() if c != "model_path"}})
                logger.info("infer %s: first %.2f s, warm p50 %.2f s p95 %.2f s, %d clients p50 %.2f s p95 %.2f s (%d failed)", params,
                            cold, out[-1]["sequential"]["p50_s"], out[-1]["sequential"]["p95_s"], clients, concurrent["p50_s"],
                            concurrent["p95_s"], concurrent["failed"])
    return out
