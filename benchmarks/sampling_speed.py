"""Candidate generation speed and quality: latency, peak memory, and GED / D_max at each setting.

Rows (assembled by ``scripts/benchmark.py``):

- SSB, the given checkpoint: 8 candidates for one ROI of 64×64 and 128×128 (the network is fully
  convolutional), NFE in {1, 5, 10, 20, 50}, without and with classifier-free guidance (w = 1), on PyTorch and
  on ONNX Runtime;
- a 3D network of the same widths on a 64³ ROI (random weights: timing only);
- the Gaussian-start baseline (DDPM, 1000 steps) on the same network, the reference ratio;
- quality beside speed: GED and D_max on the lidc64 test split (N = 8, absent readers excluded) per NFE,
  computed here or read from a results.json of ``scripts/compare_methods.py``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from ssb_core.baselines.gaussian import GaussianDiffusionConfig, gaussian_candidates
from ssb_core.metrics import MetricsAccumulator
from ssb_core.network import NetworkConfig, SSBNetwork
from ssb_core.pipeline import SSBPipeline
from ssb_core.profiling import measure

logger = logging.getLogger(__name__)

__all__ = ["latency_rows", "volume_rows", "baseline_row", "quality", "quality_from_results"]


def _row(**kw: object) -> dict:
    return kw


def latency_rows(pipe: SSBPipeline, nfes: list[int], sizes: list[int], repeats: int, n: int = 8,
                 guidance: tuple[float, ...] = (0.0, 1.0)) -> list[dict]:
    """8 candidates for one ROI per size, NFE and guidance weight, on ``pipe``'s runtime."""
    rows = []
    for size in sizes:
        image = torch.randn(1, 1, size, size)
        for w in guidance:
            for nfe in nfes:
                cfg = pipe.defaults.replace(num_candidates=n, nfe=nfe, guidance_weight=w)
                t = measure(lambda: pipe.sample(image, cfg, seed=0), repeats=repeats, device=pipe.device)
                rows.append(_row(method="SSB", runtime=pipe.runtime, roi=f"{size}²", nfe=nfe, guidance=w, seconds=t.median,
                                 peak_mb=t.peak_mb, ms_per_step=1000 * t.median / nfe))
                logger.info("SSB %s %d² nfe %d w %.0f: %.3f s", pipe.runtime, size, nfe, w, t.median)
    return rows


def volume_rows(config: NetworkConfig, nfes: list[int], size: int, repeats: int, n: int = 8) -> list[dict]:
    cfg3 = NetworkConfig(**{**config.to_dict(), "spatial_dims": 3})
    net = SSBNetwork(cfg3).eval()
    from ssb_core.bridge import Bridge
    from ssb_core.candidates import SamplingConfig, generate_candidates

    bridge = Bridge()
    image = torch.randn(1, 1, size, size, size)
    rows = []
    for nfe in nfes:
        sc = SamplingConfig(num_candidates=n, nfe=nfe)
        t = measure(lambda: generate_candidates(net, bridge, image, sc, num_readers=cfg3.num_readers), repeats=repeats)
        rows.append(_row(method="SSB 3D (random weights)", runtime="torch", roi=f"{size}³", nfe=nfe, guidance=0.0, seconds=t.median,
                         peak_mb=t.peak_mb, ms_per_step=1000 * t.median / nfe))
    return rows


def baseline_row(pipe: SSBPipeline, steps: int, repeats: int, n: int = 8) -> dict:
    image = torch.randn(1, 1, 64, 64)
    cfg = GaussianDiffusionConfig()
    t = measure(lambda: gaussian_candidates(pipe.model, cfg, image, n, nfe=steps if steps < 1000 else None,
                                            num_readers=pipe.num_readers), repeats=repeats, warmup=0)
    return _row(method="Gaussian-start (same network)", runtime="torch", roi="64²", nfe=steps, guidance=0.0, seconds=t.median,
                peak_mb=t.peak_mb, ms_per_step=1000 * t.median / steps)


def quality(pipe: SSBPipeline, nfes: list[int], data_path: Path, limit: int | None, n: int = 8) -> dict[tuple[str, int], dict]:
    """GED and D_max of SSB (no guidance) per NFE on the first ``limit`` slices of ``data_path`` (all when None)."""
    data = np.load(data_path)
    images = torch.from_numpy(data["images"][:limit]).float()[:, None]
    masks, present = data["masks"][:limit], data["reader_present"][:limit]
    out = {}
    for nfe in nfes:
        acc = MetricsAccumulator(f"SSB NFE {nfe}", absent_readers="exclude", threshold=0.5)
        cfg = pipe.defaults.replace(num_candidates=n, nfe=nfe)
        for start in range(0, len(images), 16):
            probs = pipe.sample(images[start : start + 16], cfg, seed=0)[:, :, 0]
            for k in range(probs.shape[0]):
                acc.add(probs[k], masks[start + k], present[start + k])
        res = acc.result()
        out[("SSB", nfe)] = {"ged": res.mean("ged"), "d_max": res.mean("d_max"), "images": len(res)}
        logger.info("quality NFE %d: GED %.3f D_max %.3f", nfe, out[("SSB", nfe)]["ged"], out[("SSB", nfe)]["d_max"])
    return out


def quality_from_results(path: Path) -> dict[tuple[str, int], dict]:
    """``{(method name, NFE): {"ged", "d_max", "images"}}`` from an ``ssb-evaluate`` / ``scripts/compare_methods.py``
    results.json (the lidc64 test split, absent readers excluded), so the benchmark need not sample the test
    split again."""
    rows = json.loads(Path(path).read_text())["rows"]
    return {(r["name"], r["nfe"]): {"ged": r["summary"]["ged"], "d_max": r["summary"]["d_max"], "images": len(r["per_case"])}
            for r in rows if r.get("nfe") is not None and "ged" in r["summary"] and r.get("absent_reader", "exclude") == "exclude"}
