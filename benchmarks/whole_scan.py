"""The real path timed and scored: a click on each lidc3d nodule in its whole chest CT.

- :func:`quality_per_nfe`: in-process (:func:`ssb_core.evaluation.whole_scan.evaluate_case`), 8 candidates per
  click, one row per NFE: 3D GED and D_max against the four readers (mean over the nodules), slices sampled,
  seconds; the data that chooses the server's default NFE.
- :func:`server_clicks`: through the real MONAI Label server with the ready local setup's settings
  (``sample-apps/ssb-local/server.conf``) on a studies folder holding the whole CTs: the first request (cold,
  the CT read from disk), then ``repeats`` warm clicks per nodule as a viewer sends them (the agreement
  labelmap answered) -> p50 / p95, slices sampled, the server's peak memory. The
  candidate cache is off there (``candidate_cache 0``): each repeat samples, as a click on a new lesion does;
- :func:`view_switch`: one lesion looked at four ways and the pick saved (agreement -> segments -> variability
  -> candidate k -> the pick saved through ``POST /ssb/lesions``), through a server with the candidate cache (the
  default) and one without it:
  seconds per step and how many requests sampled.

Used by ``scripts/benchmark.py`` (part ``whole_scan``); the server is stopped by its PID whatever happens.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

from benchmarks.server_latency import scratch_model, server_conf

logger = logging.getLogger(__name__)

__all__ = ["quality_per_nfe", "server_clicks", "view_switch"]

VIEW_STEPS = (("agreement", {}), ("segments", {"output_mode": "segments"}), ("variability", {"output_mode": "variability"}),
              ("candidate k", {"candidate": 1}), ("save pick", None))  # None: the panel's save (POST /ssb/lesions)


def _p(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def quality_per_nfe(checkpoint: Path, lidc3d: Path, nfes: list[int], runtime: str = "auto",
                    cases: int | None = None) -> list[dict]:
    """One row per NFE: mean 3D GED / D_max / CI over the nodules, and the per-nodule results."""
    from ssb_core.evaluation.whole_scan import evaluate_case, load_lidc3d, read_volume
    from ssb_core.pipeline import SSBPipeline
    from ssb_core.preprocessing import Preprocessing

    pipe = SSBPipeline.from_checkpoint(checkpoint, runtime=runtime)
    pre = Preprocessing.from_checkpoint_data(pipe.checkpoint.data)
    todo = load_lidc3d(lidc3d)[:cases]
    volumes = {c.ct_path: read_volume(c.ct_path) for c in todo}
    rows = []
    for nfe in nfes:
        config = pipe.defaults.replace(num_candidates=8, nfe=nfe)
        per = [evaluate_case(pipe, pre, c, config, volume=volumes[c.ct_path]) for c in todo]
        row = {"nfe": nfe, "nodules": per}
        for key in ("ged", "d_max", "ci", "s_c", "seconds", "slices_sampled"):
            row[key] = float(np.mean([r[key] for r in per]))
        logger.info("whole scan NFE %d: GED %.3f D_max %.3f, %.1f slices, %.2f s per click", nfe, row["ged"], row["d_max"],
                    row["slices_sampled"], row["seconds"])
        rows.append(row)
    return rows


def _studies(folder: Path, cases: list) -> None:
    """A studies folder holding each case's whole CT (one file per CT, named by its case folder)."""
    folder.mkdir()
    for c in cases:
        target = folder / f"{c.ct_path.parent.name}.nii.gz"
        if not target.exists():
            shutil.copy(c.ct_path, target)


def server_clicks(checkpoint: Path, lidc3d: Path, repeats: int = 5, cases: int | None = None,
                  conf: dict[str, str] | None = None) -> dict:
    """Clicks through the real server (see the module docstring)."""
    from ssb_core.evaluation.whole_scan import load_lidc3d
    from ssb_core.profiling import RssPeak
    from tests.app._server import client_for, running_server

    conf = {**server_conf(), "candidate_cache": "0", **(conf or {}), "model_path": str(checkpoint)}
    todo = load_lidc3d(lidc3d)[:cases]
    with tempfile.TemporaryDirectory(prefix="ssb-bench-scan-") as tmp:
        root = Path(tmp)
        _studies(root / "studies", todo)
        checkpoint = scratch_model(checkpoint, root / "models")
        conf["model_path"] = str(checkpoint)
        with running_server(root / "studies", checkpoint, root / "server.log", conf) as server:
            client = client_for(server, root)

            def click(case) -> tuple[float, dict]:
                t0 = time.perf_counter()
                _, res = client.infer("ssb", case.ct_path.parent.name, {"foreground": [list(case.click_ijk)]})
                if not isinstance(res, dict) or "candidates" not in res:
                    raise RuntimeError(f"unexpected infer answer: {str(res)[:300]}")
                return time.perf_counter() - t0, res

            cold, _ = click(todo[0])
            per, warm = [], []
            with RssPeak(server.proc.pid) as rss:
                for c in todo:
                    times, res = [], None
                    for _ in range(repeats):
                        t, res = click(c)
                        times.append(t)
                    warm += times
                    per.append({"nodule": c.nodule_id, "p50_s": statistics.median(times), "slices": res["roi"]["num_slices"],
                                "sample_s": res["timings"]["sample_s"], "read_s": res["timings"]["read_s"]})
                    logger.info("server click %s: p50 %.2f s, %d slices", c.nodule_id, per[-1]["p50_s"], per[-1]["slices"])
    return {"first_request_s": cold, "p50_s": statistics.median(warm), "p95_s": _p(warm, 95), "n": len(warm),
            "per_nodule": per, "peak_rss_mb": rss.peak / 1e6, "conf": {k: v for k, v in conf.items() if k != "model_path"}}


def view_switch(checkpoint: Path, lidc3d: Path, cases: int = 3, conf: dict[str, str] | None = None) -> dict:
    """:data:`VIEW_STEPS` on the first ``cases`` nodules, with the candidate cache on and off (see the module docstring)."""
    from ssb_core.evaluation.whole_scan import load_lidc3d
    from tests.app._server import client_for, running_server

    todo = load_lidc3d(lidc3d)[:cases]
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="ssb-bench-views-") as tmp:
        root = Path(tmp)
        _studies(root / "studies", todo)
        checkpoint = scratch_model(checkpoint, root / "models")
        for cache in ("16", "0"):
            settings = {**server_conf(), **(conf or {}), "model_path": str(checkpoint), "candidate_cache": cache}
            with running_server(root / "studies", checkpoint, root / f"server-{cache}.log", settings) as server:
                client = client_for(server, root)
                client.infer("ssb", todo[0].ct_path.parent.name, {"foreground": [list(todo[0].click_ijk)], "seed": 99})  # warm-up
                steps: dict[str, list[float]] = {name: [] for name, _ in VIEW_STEPS}
                sampled, total = 0, []
                for c in todo:
                    t_case = time.perf_counter()
                    click = {"foreground": [list(c.click_ijk)]}
                    for name, extra in VIEW_STEPS:
                        t0 = time.perf_counter()
                        if extra is None:
                            r = requests.post(f"{server.url}/ssb/lesions", params={"image": c.ct_path.parent.name}, timeout=600,
                                              json={"reader": "benchmark_reader", "params": click, "candidate": 1})
                            r.raise_for_status()
                            sampled += not r.json()["same_set"]
                        else:
                            _, res = client.infer("ssb", c.ct_path.parent.name, {**click, **extra})
                            sampled += not res["cache"]["hit"]
                        steps[name].append(time.perf_counter() - t0)
                    total.append(time.perf_counter() - t_case)
                row = {"steps_p50_s": {k: statistics.median(v) for k, v in steps.items()},
                       "lesion_total_p50_s": statistics.median(total), "samplings_per_lesion": sampled / len(todo)}
                out["cache" if cache != "0" else "no_cache"] = row
                logger.info("view switch, candidate cache %s: %.2f s per lesion, %.1f samplings", cache,
                            row["lesion_total_p50_s"], row["samplings_per_lesion"])
    out["cases"] = [c.nodule_id for c in todo]
    return out
