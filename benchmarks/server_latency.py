"""End-to-end ``/infer`` latency through the real MONAI Label server over HTTP.

Starts the app on 127.0.0.1 with the ready local setup's settings (``sample-apps/ssb-local/server.conf``:
2 threads, ``runtime auto``), on a studies folder holding 64×64 lesion images (lidc64 test slices written as
NIfTI with 0.7 mm pixels, or synthetic discs when ``../shared/data`` is absent), and times what a viewer waits
for: the request, N candidates, consensus, agreement labelmap and variability map, and the answer.

- cold: the first infer request after the server is up;
- warm sequential: ``repeats`` requests one after the other -> p50 / p95;
- concurrent: ``clients`` threads, each with its own client, ``repeats`` requests each -> p50 / p95 and the
  requests per second of the whole;
- under training: two readers' labels saved on every image, a training run started (``POST /train/ssb``), and
  ``clients`` clients sending infer requests for a bounded time while it runs -> p50 / p95 and failed requests.

Used by ``scripts/benchmark.py``; the server is stopped by its PID whatever happens.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
CONF_FILE = REPO / "sample-apps" / "ssb-local" / "server.conf"

__all__ = ["server_conf", "server_sampling", "write_studies", "infer_latency"]


def server_conf(path: Path = CONF_FILE) -> dict[str, str]:
    """The ``--conf`` pairs of the ready local setup (one ``key value`` per line, ``#`` comments)."""
    conf = {}
    for line in path.read_text().splitlines():
        parts = line.split(None, 1)
        if parts and not parts[0].startswith("#") and len(parts) == 2:
            conf[parts[0]] = parts[1].strip()
    return conf


def server_sampling(path: Path = CONF_FILE) -> tuple[int, int]:
    """The server's default (N candidates, NFE) from its ``--conf`` file (what a reader gets without asking)."""
    conf = server_conf(path)
    return int(conf.get("num_candidates", 8)), int(conf.get("nfe", 2))


def write_studies(folder: Path, data_path: Path, count: int = 4) -> list[str]:
    """``count`` 64×64 single-slice NIfTI images (0.7 mm pixels) in ``folder``, and beside them (in
    ``folder/../reader_labels``) two readers' masks per image for the load test; returns the image ids."""
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:64, :64]
    if data_path.is_file():
        data = np.load(data_path)
        images, masks = data["images"][:count].astype(np.float32), data["masks"][:count, :2].astype(np.uint8)
    else:
        logger.warning("%s not found: timing on synthetic discs", data_path)
        rng = np.random.default_rng(0)
        discs = np.stack([((yy - 32) ** 2 + (xx - 32) ** 2) < (6 + k) ** 2 for k in range(count)])
        images = (discs * 2.0 - 1.0 + rng.normal(0, 0.3, discs.shape)).astype(np.float32)
        masks = np.stack([discs, discs], axis=1).astype(np.uint8)
    labels = folder.parent / "reader_labels"
    labels.mkdir(exist_ok=True)
    ids = []
    for k, image in enumerate(images):
        ids.append(f"lesion{k}")
        readers = [(masks[k, r], labels / f"{ids[-1]}_reader{r}.nii.gz") for r in range(2) if masks[k, r].any()]
        for array, path in [(image, folder / f"{ids[-1]}.nii.gz")] + readers:
            img = sitk.GetImageFromArray(array)
            img.SetSpacing((0.7, 0.7))
            sitk.WriteImage(img, str(path))
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


def _concurrent(server, root: Path, ids: list[str], params: dict, clients: int, per_client: int | None = None,
                seconds: float | None = None) -> dict:
    """``clients`` threads, each with its own client, sending infer requests: ``per_client`` each, or for
    ``seconds``. Latency p50 / p95, requests per second of the whole, failed requests (counted, never raised)."""
    from tests.app._server import client_for

    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    t0 = time.perf_counter()
    deadline = t0 + seconds if seconds is not None else float("inf")

    def worker(w: int) -> None:
        c = client_for(server, root)
        k = 0
        while (per_client is None or k < per_client) and time.perf_counter() < deadline:
            try:
                t = _timed_infer(c, ids[(w + k) % len(ids)], params)
                with lock:
                    times.append(t)
            except Exception as exc:  # counted and reported: the load test's figure is "failed"
                with lock:
                    errors.append(str(exc)[:200])
            k += 1

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {**_stats(times or [float("nan")]), "clients": clients, "requests_per_s": len(times) / wall, "failed": len(errors), "errors": errors[:3]}


def _load_during_training(server, client, root: Path, ids: list[str], params: dict, clients: int, seconds: float) -> dict:
    """Two readers' labels on every image, a training run started, then ``clients`` concurrent clients send infer
    requests for ``seconds``: latency, failures, and whether the run was still going at the end."""
    import requests

    for image in ids:
        for r in range(2):
            path = root / "reader_labels" / f"{image}_reader{r}.nii.gz"
            if path.is_file():  # a reader who drew nothing on a slice saves no label (an empty one is refused)
                client.save_label(image, str(path), tag=f"reader{r}")
    task = client.train_start("ssb", {"steps": 100000, "max_minutes": seconds / 60 + 1, "val_nfe": 2, "val_candidates": 2})
    load = _concurrent(server, root, ids, params, clients, seconds=seconds)
    status = requests.get(f"{server.url}/train/", timeout=30).json()
    training_running = status.get("status") == "RUNNING"
    requests.delete(f"{server.url}/train/", timeout=30)  # stop the run
    out = {**load, "seconds": seconds, "training_task": task.get("id"), "training_still_running_at_end": training_running}
    logger.info("infer under training: p50 %.2f s p95 %.2f s, %d requests, %d failed, training running at the end: %s",
                out["p50_s"], out["p95_s"], out["n"], out["failed"], training_running)
    return out


def scratch_model(model: Path, folder: Path) -> Path:
    """A copy of ``model`` in ``folder``: the server writes its reader map, run history and training runs beside
    the model it serves, and a benchmark must leave the shipped model's folder as it found it."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(model, folder / Path(model).name))


def infer_latency(model: Path, data_path: Path, settings: list[dict], repeats: int = 20, clients: int = 4,
                  conf: dict[str, str] | None = None, load_seconds: float = 60.0) -> dict:
    """Start one server; for each ``settings`` entry (infer params) time a first request (the first entry's is
    the server's cold one), ``repeats`` sequential requests and ``clients`` concurrent clients; then the load
    test: ``clients`` clients for ``load_seconds`` while a training run is in progress (first settings)."""
    from tests.app._server import client_for, running_server

    # every request samples: the same image and parameters again would otherwise reuse the cached candidate set
    conf = {**server_conf(), "candidate_cache": "0", **(conf or {}), "model_path": str(model)}
    out = []
    with tempfile.TemporaryDirectory(prefix="ssb-bench-") as tmp:
        root = Path(tmp)
        ids = write_studies(root / "studies", data_path)
        model = scratch_model(model, root / "models")
        conf["model_path"] = str(model)
        t_start = time.perf_counter()
        with running_server(root / "studies", model, root / "server.log", conf) as server:
            startup = time.perf_counter() - t_start
            client = client_for(server, root)
            for k, params in enumerate(settings):
                cold = _timed_infer(client, ids[0], params)
                sequential = [_timed_infer(client, ids[i % len(ids)], params) for i in range(repeats)]
                concurrent = _concurrent(server, root, ids, params, clients, per_client=max(1, repeats // clients))
                out.append({"params": params, "startup_s": startup, "first_request_s": cold, "first_of_server": k == 0,
                            "sequential": _stats(sequential), "concurrent": concurrent,
                            "conf": {c: v for c, v in conf.items() if c != "model_path"}})
                logger.info("infer %s: first %.2f s, warm p50 %.2f s p95 %.2f s, %d clients p50 %.2f s p95 %.2f s (%d failed)", params,
                            cold, out[-1]["sequential"]["p50_s"], out[-1]["sequential"]["p95_s"], clients, concurrent["p50_s"],
                            concurrent["p95_s"], concurrent["failed"])
            load = _load_during_training(server, client, root, ids, settings[0], clients, load_seconds)
    return {"settings": out, "under_training": load}
