"""Writing the results: one JSON with everything, markdown tables with the means; the project's one table renderer.

JSON layout (``results.json``)::

    {"model": {...checkpoint settings and provenance, sha256...}, "dataset": {..., "sha256"}, "environment": {...},
     "run": {"command", "code": {"git_commit", "uncommitted_changes"}, "date_utc"},
     "conventions": {"absent_reader": [...], "ged": ..., "threshold": ...},
     "rows": [DatasetMetrics.to_dict(), ...]}   # each row: its checkpoint's and dataset's sha256

:func:`markdown_table` is the one renderer of a GitHub markdown table (header + rows of cells); every table of
the project goes through it. :func:`results_tables` gives one table per absent-reader convention, one row per
:class:`~ssb_core.metrics.DatasetMetrics` (method x NFE, and the readers' leave-one-out row when computed), with
the metrics' means (or mean ± std) as columns, lower-is-better / higher-is-better marked in the header;
:func:`differences_table` renders paired bootstrap intervals between rows.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from ssb_core.evaluation.bootstrap import PairedDifference, supports
from ssb_core.evaluation.provenance import run_record
from ssb_core.metrics import DatasetMetrics
from ssb_core.metrics.dataset_metrics import TIME_KEY

__all__ = ["TABLE_COLUMNS", "environment", "markdown_table", "results_table", "results_tables", "differences_table", "write_reports"]

CONVENTION_TITLES = {"exclude": "absent readers excluded", "empty": "absent readers as empty masks (Kohl et al.)"}

# (summary key, column header), in table order; columns whose key no row has are left out (the shape figures
# are there only when asked: ssb_core.metrics.shape)
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
    ("one_region", "one region ↑"),
    ("empty", "empty"),
    ("area_ratio", "area / readers'"),
    ("marked", "kept (presence)"),
    (TIME_KEY, "s / image"),
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


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], title: str = "") -> str:
    """A GitHub markdown table: ``### title`` and a blank line (when given), the header, the separator, one line per
    row of cells (``str`` of each, an empty cell as ``| |``); ends with a newline."""
    lines = [f"### {title}", ""] if title else []
    lines += [_line(header), "|" + "|".join(["---"] * len(header)) + "|"]
    lines += [_line(cells) for cells in rows]
    return "\n".join(lines) + "\n"


def _line(cells: Sequence[object]) -> str:
    return "|" + "|".join(f" {c} " if str(c) else " " for c in cells) + "|"


def _cell(row: DatasetMetrics, summary: dict[str, float], key: str, spread: bool) -> str:
    value = summary.get(key)
    if value is None or math.isnan(value):
        return "–"
    if key == TIME_KEY:
        return f"{value:.2f}"
    return f"{value:.3f} ± {row.std(key):.3f}" if spread else f"{value:.3f}"


def results_table(rows: Sequence[DatasetMetrics], title: str = "", columns: Sequence[str] | None = None,
                  show_convention: bool = False, spread: bool = False) -> str:
    """The mean of every metric per row (method, NFE, N, images, metrics...), as a GitHub markdown table.

    ``columns``: summary keys to show (default: every column of :data:`TABLE_COLUMNS` some row has);
    ``show_convention``: a column saying how absent readers were scored (for tables that hold both);
    ``spread``: ``mean ± std`` over images instead of the mean. Undefined values are written ``–``.
    """
    summaries = [r.summary for r in rows]
    titles = dict(TABLE_COLUMNS)
    keys = [k for k in titles if any(k in s for s in summaries)] if columns is None else list(columns)
    header = ["Method", "NFE", "N", "images"] + (["absent readers"] if show_convention else []) + [titles.get(k, k) for k in keys]
    lines = []
    for r, summary in zip(rows, summaries):
        cells = [r.name, "–" if r.nfe is None else r.nfe, "–" if r.num_candidates is None else r.num_candidates, len(r)]
        if show_convention:
            cells.append({"exclude": "excluded", "empty": "as empty"}.get(r.absent_reader, r.absent_reader))
        lines.append(cells + [_cell(r, summary, k, spread) for k in keys])
    return markdown_table(header, lines, title)


def results_tables(rows: Sequence[DatasetMetrics], title: str = "") -> str:
    """:func:`results_table` per absent-reader convention (rows of different conventions are never mixed)."""
    conventions = list(dict.fromkeys(r.absent_reader for r in rows))
    if len(conventions) <= 1:
        suffix = f", {CONVENTION_TITLES.get(conventions[0], conventions[0])}" if conventions and title else ""
        return results_table(rows, title + suffix)
    parts = []
    for c in conventions:
        label = CONVENTION_TITLES.get(c, c)
        parts.append(results_table([r for r in rows if r.absent_reader == c], f"{title}, {label}" if title else label))
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
    lines = [[label, max((d.n for d in diffs), default=0), *map(_fmt_diff, diffs)] for label, diffs in comparisons]
    return markdown_table(header, lines, title)


def write_reports(
    out_dir: str | Path,
    rows: Sequence[DatasetMetrics],
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
    md_path.write_text(results_tables(rows, title) + "\n".join(notes) + ("\n" if notes else ""))
    return json_path, md_path


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)
