"""Writing the results: one JSON with everything, one markdown table with the means.

JSON layout (``results.json``)::

    {"model": {...checkpoint settings and provenance...}, "dataset": {...}, "environment": {...},
     "conventions": {"absent_reader": ..., "ged": ..., "threshold": ...},
     "rows": [EvaluationResult.to_dict(), ...]}

The markdown table has one row per method x NFE (and the readers' leave-one-out row when computed), with
the metrics as columns, lower-is-better / higher-is-better marked in the header.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ssb_core.evaluation.runner import EvaluationResult

__all__ = ["TABLE_COLUMNS", "environment", "markdown_table", "write_reports"]

# (summary key, column header); columns whose key no row has are left out
TABLE_COLUMNS: list[tuple[str, str]] = [
    ("ged", "GED ↓"),
    ("d_max", "D_max ↑"),
    ("s_c", "S_c ↑"),
    ("d_a", "D_A ↑"),
    ("ci", "CI ↑"),
    ("ci_hm", "CI (harmonic) ↑"),
    ("ddi_exp", "D_DDI^exp"),
    ("ddi_gen", "D_DDI^gen"),
    ("hm_iou", "HM-IoU ↑"),
    ("time_per_image_s", "s / image"),
]


def environment() -> dict[str, Any]:
    """Where the numbers were measured (for the timing column)."""
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _fmt(value: Any, key: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if key == "time_per_image_s":
        return f"{value:.2f}"
    return f"{value:.3f}"


def markdown_table(rows: Sequence[EvaluationResult], title: str = "") -> str:
    """The mean of every metric per row, as a GitHub markdown table."""
    keys = [(k, h) for k, h in TABLE_COLUMNS if any(k in r.summary for r in rows)]
    extra = sorted({k for r in rows for k in r.summary} - {k for k, _ in TABLE_COLUMNS} - {"n_images"})
    keys += [(k, k) for k in extra]
    header = ["Method", "NFE", "N", "images"] + [h for _, h in keys]
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * len(header)) + "|")
    for r in rows:
        n_images = len(r.per_case) if r.per_case else int(r.summary.get("n_images", 0))
        cells = [r.name, "–" if r.nfe is None else str(r.nfe), "–" if r.num_candidates is None else str(r.num_candidates), str(n_images)]
        cells += [_fmt(r.summary.get(k), k) for k, _ in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_reports(
    out_dir: str | Path,
    rows: Sequence[EvaluationResult],
    *,
    model: dict[str, Any] | None = None,
    dataset: dict[str, Any] | None = None,
    conventions: dict[str, Any] | None = None,
    title: str = "",
) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` into ``out_dir``; returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": model or {},
        "dataset": dataset or {},
        "environment": environment(),
        "conventions": conventions or {},
        "rows": [r.to_dict() for r in rows],
    }
    json_path = out / "results.json"
    json_path.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    md_path = out / "results.md"
    notes = []
    if conventions:
        notes = ["", *(f"- {k}: {v}" for k, v in conventions.items())]
    md_path.write_text(markdown_table(rows, title) + "\n".join(notes) + ("\n" if notes else ""))
    return json_path, md_path


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)
