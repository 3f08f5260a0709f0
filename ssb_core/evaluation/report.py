"""Writing the results: one JSON with everything, one markdown table with the means.

JSON layout (``results.json``)::

    {"model": {...checkpoint settings and provenance, sha256...}, "dataset": {..., "sha256"}, "environment": {...},
     "run": {"command", "code": {"git_commit", "uncommitted_changes"}, "date_utc"},
     "conventions": {"absent_reader": [...], "ged": ..., "threshold": ...},
     "rows": [EvaluationResult.to_dict(), ...]}   # each row: its checkpoint's and dataset's sha256

The markdown has one table per absent-reader convention, one row per method x NFE (and the readers'
leave-one-out row when computed), with the metrics as columns, lower-is-better / higher-is-better marked in
the header; :func:`differences_table` renders paired bootstrap intervals between rows.
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

from ssb_core.evaluation.bootstrap import PairedDifference, supports
from ssb_core.evaluation.provenance import run_record
from ssb_core.evaluation.runner import EvaluationResult

__all__ = ["TABLE_COLUMNS", "environment", "markdown_table", "markdown_tables", "differences_table", "write_reports"]

CONVENTION_TITLES = {"exclude": "absent readers excluded", "empty": "absent readers as empty masks (Kohl et al.)"}

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


def markdown_table(rows: Sequence[EvaluationResult], title: str = "", columns: Sequence[str] | None = None,
                   show_convention: bool = False) -> str:
    """The mean of every metric per row, as a GitHub markdown table.

    ``columns``: summary keys to show (default: every column of :data:`TABLE_COLUMNS` some row has, then any
    other metric); ``show_convention``: a column saying how absent readers were scored (for tables that hold both).
    """
    if columns is None:
        keys = [(k, h) for k, h in TABLE_COLUMNS if any(k in r.summary for r in rows)]
        extra = sorted({k for r in rows for k in r.summary} - {k for k, _ in TABLE_COLUMNS} - {"n_images"})
        keys += [(k, k) for k in extra]
    else:
        keys = [(k, dict(TABLE_COLUMNS).get(k, k)) for k in columns]
    header = ["Method", "NFE", "N", "images"] + (["absent readers"] if show_convention else []) + [h for _, h in keys]
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * len(header)) + "|")
    for r in rows:
        n_images = len(r.per_case) if r.per_case else int(r.summary.get("n_images", 0))
        cells = [r.name, "–" if r.nfe is None else str(r.nfe), "–" if r.num_candidates is None else str(r.num_candidates), str(n_images)]
        if show_convention:
            cells.append({"exclude": "excluded", "empty": "as empty"}.get(r.absent_reader, r.absent_reader))
        cells += [_fmt(r.summary.get(k), k) for k, _ in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown_tables(rows: Sequence[EvaluationResult], title: str = "") -> str:
    """:func:`markdown_table` per absent-reader convention (rows of different conventions are never mixed)."""
    conventions = list(dict.fromkeys(r.absent_reader for r in rows))
    if len(conventions) <= 1:
        suffix = f", {CONVENTION_TITLES.get(conventions[0], conventions[0])}" if conventions and title else ""
        return markdown_table(rows, title + suffix)
    parts = []
    for c in conventions:
        label = CONVENTION_TITLES.get(c, c)
        parts.append(markdown_table([r for r in rows if r.absent_reader == c], f"{title}, {label}" if title else label))
    return "\n".join(parts)


def _fmt_diff(d: PairedDifference) -> str:
    if d.n == 0:
        return "–"
    mark = " ✓" if supports(d) else ""
    return f"{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]{mark}"


def differences_table(comparisons: Sequence[tuple[str, Sequence[PairedDifference]]], title: str = "") -> str:
    """Markdown table of paired differences: one row per ``(label, [difference per metric])``; a ✓ marks an
    interval that excludes 0 on the metric's better side (the first row's metrics give the columns)."""
    if not comparisons:
        return ""
    metrics = [d.metric for d in comparisons[0][1]]
    conf = comparisons[0][1][0].confidence if comparisons[0][1] else 0.95
    header = ["A − B", "images"] + [f"Δ {dict(TABLE_COLUMNS).get(m, m)} (mean, {conf:.0%} CI)" for m in metrics]
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * len(header)) + "|")
    for label, diffs in comparisons:
        n = max((d.n for d in diffs), default=0)
        lines.append("| " + " | ".join([label, str(n)] + [_fmt_diff(d) for d in diffs]) + " |")
    return "\n".join(lines) + "\n"


def write_reports(
    out_dir: str | Path,
    rows: Sequence[EvaluationResult],
    *,
    model: dict[str, Any] | None = None,
    dataset: dict[str, Any] | None = None,
    conventions: dict[str, Any] | None = None,
    title: str = "",
    run: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` into ``out_dir``; returns both paths. ``run``: the command and
    code version (default :func:`~ssb_core.evaluation.provenance.run_record` of this process)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": model or {},
        "dataset": dataset or {},
        "environment": environment(),
        "run": run or run_record(),
        "conventions": conventions or {},
        "rows": [r.to_dict() for r in rows],
    }
    json_path = out / "results.json"
    json_path.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    md_path = out / "results.md"
    notes = []
    if conventions:
        notes = ["", *(f"- {k}: {v}" for k, v in conventions.items())]
    md_path.write_text(markdown_tables(rows, title) + "\n".join(notes) + ("\n" if notes else ""))
    return json_path, md_path


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)
