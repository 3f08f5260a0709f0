"""Which network to ship: validation quality against the warm whole-CT click latency, for 2-3 network sizes.

Each size is trained with the same recipe (``configs/lidc128_cpu.yaml``, only ``network.channels`` and the norm
groups / attention head width that must divide them changed) for the same number of steps, then measured twice:

- quality: GED and D_max on the same evenly spread lidc128 validation slices, both absent-reader conventions, the
  server's N and NFE (:func:`ssb_core.evaluation.runner.evaluate_sampler_conventions`), and the shape figures;
- cost: warm clicks on the four lidc3d nodules through the real server with the ready local setup's settings
  (:func:`benchmarks.whole_scan.server_clicks`): p50 / p95 seconds; and the network's parameters.

    python -m benchmarks.network_sizes runs/sizes/*/ssb_size_*.pt [--max-images 256] [--out benchmarks/results]

Writes ``network_sizes.json`` and ``network_sizes.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
logger = logging.getLogger(__name__)

__all__ = ["size_row", "main"]


def _quality(checkpoint: Path, max_images: int, num_candidates: int, nfe: int) -> dict:
    from ssb_core.data import build_dataset
    from ssb_core.evaluation.runner import evaluate_sampler_conventions, spread_indices
    from ssb_core.evaluation.samplers import pipeline_sampler
    from ssb_core.pipeline import SSBPipeline

    pipe = SSBPipeline.from_checkpoint(checkpoint, runtime="auto")
    pre = pipe.checkpoint.data["preprocessing"]
    data = build_dataset({"format": "lidc128", "path": str(DATA / "lidc128" / "val.npz"), "window": pre["roi_size"][0],
                          "spacing_mm": pre["spacing_mm"][0]})
    spec = pipeline_sampler(pipe, nfe)
    results = evaluate_sampler_conventions(spec.sample_fn, data, name="ssb", nfe=nfe, num_candidates=num_candidates,
                                           indices=spread_indices(len(data), max_images), shape=True)
    out = {}
    for r in results:
        tag = "" if r.absent_reader == "exclude" else "_empty"
        out.update({f"{k}{tag}": float(v) for k, v in r.summary.items() if isinstance(v, (int, float))})
    out["params"] = sum(int(v.numel()) for v in pipe.checkpoint.state_dict.values())
    out["channels"] = list(pipe.checkpoint.network.channels)
    out["steps"] = int((pipe.checkpoint.provenance.get("training") or {}).get("steps", 0))
    return out


def size_row(checkpoint: Path, max_images: int, repeats: int) -> dict:
    """One network size: its quality on the validation slices and its warm whole-CT click through the server."""
    from benchmarks.server_latency import server_sampling
    from benchmarks.whole_scan import server_clicks

    n, nfe = server_sampling()
    row = {"checkpoint": str(checkpoint), **_quality(checkpoint, max_images, n, nfe)}
    clicks = server_clicks(checkpoint, DATA / "lidc3d", repeats=repeats)
    row.update(p50_s=clicks["p50_s"], p95_s=clicks["p95_s"], clicks=clicks["n"])
    logger.info("%s: %s", checkpoint, {k: row[k] for k in ("channels", "ged_empty", "d_max", "p50_s")})
    return row


def table(rows: list[dict]) -> str:
    from ssb_core.evaluation.report import markdown_table

    header = ["channels", "parameters", "steps", "GED ↓ (as empty)", "GED ↓ (excluded)", "D_max ↑ (excluded)", "one region",
              "area / readers'", "warm whole-CT click p50 s", "p95 s"]
    lines = [["/".join(map(str, r["channels"])), f"{r['params'] / 1e6:.2f} M", r["steps"], f"{r['ged_empty']:.3f}", f"{r['ged']:.3f}",
              f"{r['d_max']:.3f}", f"{r.get('one_region', float('nan')):.2f}", f"{r.get('area_ratio', float('nan')):.2f}",
              f"{r['p50_s']:.2f}", f"{r['p95_s']:.2f}"] for r in rows]
    return markdown_table(header, lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", type=Path, nargs="+")
    ap.add_argument("--max-images", type=int, default=256, help="validation slices, evenly spread (default 256)")
    ap.add_argument("--repeats", type=int, default=3, help="warm clicks per nodule (default 3)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(REPO))
    rows = [size_row(c, args.max_images, args.repeats) for c in args.checkpoints]
    args.out.mkdir(parents=True, exist_ok=True)
    command = ["python -m benchmarks.network_sizes", *(argv if argv is not None else sys.argv[1:])]  # no path of this machine
    (args.out / "network_sizes.json").write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")
    (args.out / "network_sizes.md").write_text(table(rows))
    print(table(rows), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
