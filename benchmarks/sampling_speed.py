#!/usr/bin/env python
"""Candidate generation speed and quality: latency, peak memory, and GED / D_max at each setting.

Prints a markdown table and writes it (plus JSON) to ``--out``. Rows:

- SSB, the given checkpoint: 8 candidates for one ROI of 64×64 and 128×128 (the network is fully
  convolutional), NFE in {1, 5, 10, 20, 50}, without and with classifier-free guidance (w = 1);
- a 3D network of the same widths on a 64³ ROI (random weights: timing only);
- the Gaussian-start baseline (DDPM, 1000 steps) on the same network, the reference ratio;
- quality beside speed: GED and D_max on the lidc64 test split (N = 8, absent readers excluded) per NFE.

    .venv/bin/python benchmarks/sampling_speed.py                  # full run (about 15 minutes on 2 cores)
    .venv/bin/python benchmarks/sampling_speed.py --quick          # seconds; what CI runs to keep it working
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
from pathlib import Path

import numpy as np
import torch

from ssb_core.baselines.gaussian import GaussianDiffusionConfig, gaussian_candidates
from ssb_core.metrics import MetricsAccumulator
from ssb_core.network import NetworkConfig, SSBNetwork
from ssb_core.pipeline import SSBPipeline
from ssb_core.profiling import measure

logger = logging.getLogger("benchmarks.sampling_speed")
REPO = Path(__file__).resolve().parents[1]


def _row(**kw: object) -> dict:
    return kw


def latency_rows(pipe: SSBPipeline, nfes: list[int], sizes: list[int], repeats: int, n: int = 8) -> list[dict]:
    rows = []
    for size in sizes:
        image = torch.randn(1, 1, size, size)
        for w in (0.0, 1.0):
            for nfe in nfes:
                cfg = pipe.defaults.replace(num_candidates=n, nfe=nfe, guidance_weight=w)
                t = measure(lambda: pipe.sample(image, cfg, seed=0), repeats=repeats, device=pipe.device)
                rows.append(_row(method="SSB", roi=f"{size}²", nfe=nfe, guidance=w, seconds=t.median, peak_mb=t.peak_mb,
                                 ms_per_step=1000 * t.median / nfe))
                logger.info("SSB %d² nfe %d w %.0f: %.3f s", size, nfe, w, t.median)
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
        rows.append(_row(method="SSB 3D (random weights)", roi=f"{size}³", nfe=nfe, guidance=0.0, seconds=t.median,
                         peak_mb=t.peak_mb, ms_per_step=1000 * t.median / nfe))
    return rows


def baseline_row(pipe: SSBPipeline, steps: int, repeats: int, n: int = 8) -> dict:
    image = torch.randn(1, 1, 64, 64)
    cfg = GaussianDiffusionConfig()
    t = measure(lambda: gaussian_candidates(pipe.model, cfg, image, n, nfe=steps if steps < 1000 else None,
                                            num_readers=pipe.num_readers), repeats=repeats, warmup=0)
    return _row(method="Gaussian-start (same network)", roi="64²", nfe=steps, guidance=0.0, seconds=t.median,
                peak_mb=t.peak_mb, ms_per_step=1000 * t.median / steps)


def quality(pipe: SSBPipeline, nfes: list[int], data_path: Path, limit: int | None, n: int = 8) -> dict[int, dict]:
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
        out[nfe] = {"ged": res.mean("ged"), "d_max": res.mean("d_max"), "images": len(res.per_image)}
        logger.info("quality NFE %d: GED %.3f D_max %.3f", nfe, out[nfe]["ged"], out[nfe]["d_max"])
    return out


def to_markdown(rows: list[dict], q: dict[int, dict]) -> str:
    head = "| method | ROI | NFE | guidance w | seconds (8 cand.) | ms / step | peak MB | GED ↓ | D_max ↑ |\n|---|---|---|---|---|---|---|---|---|"
    lines = [head]
    for r in rows:
        qq = q.get(r["nfe"], {}) if r["method"] == "SSB" and r["roi"] == "64²" and r["guidance"] == 0.0 else {}
        ged = f"{qq['ged']:.3f}" if qq else ""
        dmax = f"{qq['d_max']:.3f}" if qq else ""
        lines.append(f"| {r['method']} | {r['roi']} | {r['nfe']} | {r['guidance']:g} | {r['seconds']:.3f} | "
                     f"{r['ms_per_step']:.1f} | {r['peak_mb']:.0f} | {ged} | {dmax} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=REPO / "models" / "ssb_lidc64.pt")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lidc64" / "test.npz")
    p.add_argument("--quick", action="store_true", help="tiny settings, to check that the benchmark runs")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sampling_speed.md")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    pipe = SSBPipeline.from_checkpoint(args.checkpoint, device=device)

    nfes = [1, 5] if args.quick else [1, 5, 10, 20, 50]
    rows = latency_rows(pipe, nfes, [64] if args.quick else [64, 128], repeats=1 if args.quick else 3)
    rows += volume_rows(pipe.checkpoint.network, [1] if args.quick else [1, 5, 10], 16 if args.quick else 64, repeats=1)
    rows.append(baseline_row(pipe, 20 if args.quick else 1000, repeats=1))
    q = {}
    if args.data.is_file():
        q = quality(pipe, nfes, args.data, limit=8 if args.quick else None)
    else:
        logger.warning("quality skipped: %s not found", args.data)

    table = to_markdown(rows, q)
    ref = next(r for r in rows if r["method"].startswith("Gaussian"))
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {device}"
    notes = [f"Machine: {machine}; threads: {torch.get_num_threads()}; checkpoint: {args.checkpoint.name}."]
    for r in rows:
        if r["method"] == "SSB" and r["roi"] == "64²" and r["guidance"] == 0.0:
            notes.append(f"SSB NFE {r['nfe']}: {ref['seconds'] / r['seconds']:.0f}× faster than the Gaussian baseline "
                         f"at {ref['nfe']} steps ({ref['nfe'] / r['nfe']:.0f}× fewer network evaluations).")
    text = table + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps({"rows": rows, "quality": q, "machine": machine, "quick": args.quick}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
