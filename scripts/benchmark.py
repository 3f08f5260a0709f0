#!/usr/bin/env python
"""The speed benchmark: sampling latency and memory, /infer through the real server, training throughput.

Prints one markdown report and writes it with the raw figures (``benchmark.md`` and ``benchmark.json`` in
``--out``). Every ratio in the report comes from this one run (the machines are shared and noisy).

    .venv/bin/python scripts/benchmark.py                 # full run, about 25 minutes on 2 cores
    .venv/bin/python scripts/benchmark.py --quick         # a minute or two: what CI runs to keep it working
    .venv/bin/python scripts/benchmark.py --parts sampling server --quality docs/results/lidc64_test.json

Parts (``--parts``): ``sampling`` (8 candidates, 64² / 128² / 3D 64³, NFE 1-50, guidance off/on, PyTorch and
ONNX Runtime, the 1000-step Gaussian-start reference; :mod:`benchmarks.sampling_speed`), ``server`` (``/infer``
p50 / p95 cold, warm, 4 concurrent clients; :mod:`benchmarks.server_latency`) and ``training`` (slices/s and
fine-tuning on 20 labels; :mod:`benchmarks.training_speed`) and ``whole_scan`` (a click on each real nodule of the
whole lidc3d chest CTs: 3D GED / D_max per NFE in-process, and warm p50 / p95, slices sampled and peak memory
through the real server; :mod:`benchmarks.whole_scan`). Quality (GED, D_max on the lidc64 test split,
N = 8) comes from ``--quality`` (a results.json of ``scripts/compare_methods.py``) or is computed here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # benchmarks/ and tests/app/_server.py (the server launcher) live in the repository

import torch  # noqa: E402

from ssb_core.evaluation.report import markdown_table  # noqa: E402

logger = logging.getLogger("benchmark")
DATA = REPO.parent / "shared" / "data" / "lidc64"
LIDC3D = REPO.parent / "shared" / "data" / "lidc3d"


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU'}")


def run_sampling(args: argparse.Namespace) -> dict:
    from benchmarks.sampling_speed import baseline_row, latency_rows, quality, quality_from_results, volume_rows
    from ssb_core.onnx_runtime import onnx_available
    from ssb_core.pipeline import SSBPipeline

    nfes = [1, 5] if args.quick else [1, 5, 10, 20, 50]
    repeats = 1 if args.quick else 3
    runtimes = ["torch"] + (["onnx"] if onnx_available() and not torch.cuda.is_available() else [])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    pipes = {r: SSBPipeline.from_checkpoint(args.checkpoint, device=device, runtime=r) for r in runtimes}
    for runtime, pipe in pipes.items():
        rows += latency_rows(pipe, nfes, [64], repeats)
        rows += latency_rows(pipe, nfes if not args.quick else [1], [128], 1 if args.quick else 2, guidance=(0.0,))
    pipe = pipes["torch"]
    rows += volume_rows(pipe.checkpoint.network, [1] if args.quick else [1, 5, 10], 16 if args.quick else 64, repeats=1)
    rows.append(baseline_row(pipe, 20 if args.quick else 1000, repeats=1))
    if args.quality and args.quality.is_file():
        q = quality_from_results(args.quality)
    elif (DATA / "test.npz").is_file():
        q = quality(pipe, nfes, DATA / "test.npz", limit=8 if args.quick else None)
    else:
        logger.warning("quality skipped: no --quality file and %s not found", DATA / "test.npz")
        q = {}
    return {"rows": rows, "quality": {f"{name}|{nfe}": v for (name, nfe), v in q.items()}}


def run_server(args: argparse.Namespace) -> dict:
    from benchmarks.server_latency import infer_latency

    nfes = [2] if args.quick else args.server_nfe
    settings = [{"num_candidates": 8, "nfe": n} for n in nfes]
    return infer_latency(args.checkpoint, DATA / "test.npz", settings, repeats=4 if args.quick else 20, clients=4,
                         load_seconds=10 if args.quick else 60)


def run_training(args: argparse.Namespace) -> dict:
    from benchmarks.training_speed import finetune_time, training_throughput

    if not (DATA / "train.npz").is_file():
        logger.warning("training part skipped: %s not found", DATA)
        return {}
    return {"throughput": training_throughput(DATA, steps=3 if args.quick else 20),
            "finetune": finetune_time(DATA, args.checkpoint, steps=2 if args.quick else 50)}


def run_whole_scan(args: argparse.Namespace) -> dict:
    from benchmarks.whole_scan import quality_per_nfe, server_clicks, view_switch

    if not (LIDC3D / "manifest.json").is_file():
        logger.warning("whole-scan part skipped: %s not found", LIDC3D)
        return {}
    cases = 1 if args.quick else None
    nfes = [2] if args.quick else args.scan_nfe
    return {"quality": quality_per_nfe(args.checkpoint, LIDC3D, nfes, cases=cases),
            "server": server_clicks(args.checkpoint, LIDC3D, repeats=2 if args.quick else 5, cases=cases),
            "views": view_switch(args.checkpoint, LIDC3D, cases=1 if args.quick else 3)}


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    """:func:`~ssb_core.evaluation.report.markdown_table` as report lines."""
    return markdown_table(header, rows).splitlines()


def whole_scan_report(scan: dict) -> list[str]:
    s = scan["server"]
    lines = ["A click on each real nodule of the whole lidc3d chest CTs (512×512, 2.5 mm slices), 8 candidates; "
             "3D scores against the 4 readers, mean over the nodules (in-process, ONNX Runtime where installed):", "",
             *_table(["NFE", "GED ↓ (3D)", "D_max ↑ (3D)", "CI ↑", "slices sampled", "s / click (in-process)"],
                     [[r["nfe"], f"{r['ged']:.3f}", f"{r['d_max']:.3f}", f"{r['ci']:.3f}", f"{r['slices_sampled']:.1f}",
                       f"{r['seconds']:.2f}"] for r in scan["quality"]])]
    lines += ["", f"Through the real server (`/infer`, the ready local setup's settings: {s['conf'].get('num_candidates')} candidates, "
              f"NFE {s['conf'].get('nfe')}; agreement labelmap answered): first request {s['first_request_s']:.2f} s; "
              f"warm **p50 {s['p50_s']:.2f} s**, p95 {s['p95_s']:.2f} s over {s['n']} clicks; server peak memory {s['peak_rss_mb']:.0f} MB.", "",
              *_table(["nodule", "warm p50 s", "slices sampled", "sampling s", "image read s"],
                      [[n["nodule"], f"{n['p50_s']:.2f}", n["slices"], f"{n['sample_s']:.2f}", f"{n['read_s']:.2f}"]
                       for n in s["per_nodule"]])]
    return lines + [""] + view_switch_report(scan.get("views"))


def view_switch_report(views: dict | None) -> list[str]:
    """One lesion looked at four ways, then the pick saved: with and without the candidate cache (same run)."""
    if not views:
        return []
    on, off = views["cache"], views["no_cache"]
    lines = [f"One lesion looked at four ways and the pick saved, through the real server on whole CTs ({len(views['cases'])} "
             "nodules, p50 s per step); the candidate cache reuses the first request's sampled set:", "",
             *_table(["step", "with cache", "without cache"],
                     [*([step, f"{on['steps_p50_s'][step]:.2f}", f"{off['steps_p50_s'][step]:.2f}"] for step in on["steps_p50_s"]),
                      ["**whole lesion**", f"**{on['lesion_total_p50_s']:.2f}**", f"**{off['lesion_total_p50_s']:.2f}**"],
                      ["samplings per lesion", f"{on['samplings_per_lesion']:.0f}", f"{off['samplings_per_lesion']:.0f}"]]), "",
              f"Ratio in this run: {off['lesion_total_p50_s'] / on['lesion_total_p50_s']:.1f}x the time per lesion without the cache.", ""]
    return lines


def report(results: dict) -> str:
    """The markdown report: three tables and the ratios of this run."""
    lines = [f"Machine: {results['machine']}; torch threads: {results['threads']}; command: `{results['command']}`.", ""]
    sampling = results.get("sampling")
    if sampling:
        q = sampling["quality"]
        lines += _table(["method", "runtime", "ROI", "NFE", "guidance w", "s (8 candidates)", "ms / step", "peak MB", "GED ↓", "D_max ↑"],
                        [_sampling_row(r, q) for r in sampling["rows"]])
        lines += ["", *(f"- {n}" for n in sampling_ratios(sampling["rows"], q)), ""]
    server = results.get("server")
    if server:
        lines += ["`/infer` through the real server (HTTP, MONAILabelClient; 8 candidates + consensus + agreement labelmap + "
                  "variability map on a 64×64 image; ready local setup's settings):", "",
                  *_table(["NFE", "first request s", "warm p50 s", "warm p95 s", "4 clients p50 s", "4 clients p95 s",
                           "requests / s (4 clients)", "failed"], [_server_row(s) for s in server["settings"]])]
        u = server["under_training"]
        lines += ["", f"- server start-up (process start to `/info/` answering): {server['settings'][0]['startup_s']:.1f} s",
                  f"- load test: {u['clients']} clients for {u['seconds']:.0f} s while a training run (`POST /train/ssb`) was in progress "
                  f"(NFE {server['settings'][0]['params']['nfe']}): {u['n']} requests, p50 {u['p50_s']:.2f} s, p95 {u['p95_s']:.2f} s, "
                  f"**{u['failed']} failed**; training still running at the end: {u['training_still_running_at_end']}", ""]
    if results.get("whole_scan"):
        lines += whole_scan_report(results["whole_scan"])
    training = results.get("training")
    if training:
        t, f = training["throughput"], training["finetune"]
        lines += [*_table(["training", "figure"],
                          [[f"throughput (shipped recipe, batch {t['batch_size']})", f"{t['slices_per_s']:.1f} slices/s ({t['s_per_step']:.2f} s/step)"],
                           [f"fine-tune on {f['labels']} new reader labels ({f['steps']} steps, batch {f['batch_size']})", f"{f['wall_s']:.1f} s"]]), ""]
    return "\n".join(lines)


def _sampling_row(r: dict, q: dict) -> list[object]:
    """One latency row; GED and D_max only on the SSB 64², unguided rows (the quality figures' setting)."""
    qq = q.get(f"SSB|{r['nfe']}") if r["method"] == "SSB" and r["roi"] == "64²" and r["guidance"] == 0.0 else None
    quality = [f"{qq['ged']:.3f}", f"{qq['d_max']:.3f}"] if qq else ["", ""]
    return [r["method"], r["runtime"], r["roi"], r["nfe"], f"{r['guidance']:g}", f"{r['seconds']:.3f}",
            f"{r['ms_per_step']:.1f}", f"{r['peak_mb']:.0f}", *quality]


def _server_row(s: dict) -> list[object]:
    """One server setting: first request (cold when the server had just started), sequential and concurrent figures."""
    c = s["concurrent"]
    first = f"{s['first_request_s']:.2f}" + (" (cold)" if s["first_of_server"] else "")
    return [s["params"]["nfe"], first, f"{s['sequential']['p50_s']:.2f}", f"{s['sequential']['p95_s']:.2f}",
            f"{c['p50_s']:.2f}", f"{c['p95_s']:.2f}", f"{c['requests_per_s']:.2f}", c["failed"]]


def sampling_ratios(rows: list[dict], q: dict) -> list[str]:
    """The ratios of this run: SSB against the 1000-step Gaussian reference, ONNX Runtime against PyTorch."""
    notes = []
    ref = next((r for r in rows if r["method"].startswith("Gaussian")), None)
    ssb = {(r["runtime"], r["nfe"]): r for r in rows if r["method"] == "SSB" and r["roi"] == "64²" and r["guidance"] == 0.0}
    for (runtime, nfe), r in sorted(ssb.items(), key=lambda kv: (kv[0][1], kv[0][0] != "torch")):
        if ref and runtime == "torch":
            notes.append(f"SSB NFE {nfe}: {ref['seconds'] / r['seconds']:.0f}× faster than the Gaussian-start reference at "
                         f"{ref['nfe']} steps, {ref['nfe'] / nfe:.0f}× fewer network evaluations")
        if runtime == "onnx" and ("torch", nfe) in ssb:
            notes.append(f"NFE {nfe}: ONNX Runtime {ssb[('torch', nfe)]['seconds'] / r['seconds']:.2f}× PyTorch's speed")
    best = q.get("SSB|50")
    for nfe in sorted({n for _, n in ssb}):
        qq = q.get(f"SSB|{nfe}")
        if best and qq:
            notes.append(f"GED at NFE {nfe} is {100 * (qq['ged'] / best['ged'] - 1):+.1f}% from NFE 50's ({qq['ged']:.3f} vs {best['ged']:.3f})")
    return notes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=REPO / "models" / "ssb_lidc128.pt")
    parts = ["sampling", "server", "whole_scan", "training"]
    p.add_argument("--parts", nargs="+", choices=parts, default=parts)
    p.add_argument("--quick", action="store_true", help="tiny settings, to check that the benchmark runs (CI)")
    p.add_argument("--quality", type=Path, help="results.json with SSB's GED / D_max per NFE on the lidc64 test split")
    p.add_argument("--server-nfe", type=int, nargs="+", default=[5, 10, 20], help="NFE of the /infer requests (default: 5 10 20)")
    p.add_argument("--scan-nfe", type=int, nargs="+", default=[1, 2, 5, 10, 20], help="NFE of the whole-scan quality rows")
    p.add_argument("--threads", type=int, default=2, help="torch threads of the sampling and training parts (default: 2)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    results: dict = {"machine": machine(), "threads": args.threads, "quick": args.quick,
                     "command": "python scripts/benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                     "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for part, fn in (("sampling", run_sampling), ("server", run_server), ("whole_scan", run_whole_scan), ("training", run_training)):
        if part in args.parts:
            t0 = time.perf_counter()
            results[part] = fn(args)
            logger.info("%s part done in %.0f s", part, time.perf_counter() - t0)
    text = report(results)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmark.md").write_text(text + "\n")
    (args.out / "benchmark.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
