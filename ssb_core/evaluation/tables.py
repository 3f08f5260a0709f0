"""Results tables built from ``results.json`` files: merged only when they come from the same inputs.

:func:`load_rows` reads the rows of one or more runs (e.g. SSB evaluated in one run, a baseline in another)
and refuses to merge them when they would not describe one experiment: different data files (dataset SHA-256),
one method evaluated with different weights (checkpoint SHA-256), or the same row (method, NFE, absent-reader
convention) in two runs, where a stale folder could silently win. :func:`headline_differences` pairs the
rows that a results table's claims rest on (SSB against each baseline, each NFE against the largest) and
computes their paired bootstrap intervals (:mod:`ssb_core.evaluation.bootstrap`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from ssb_core.evaluation.bootstrap import PairedDifference, compare_rows
from ssb_core.metrics import DatasetMetrics

__all__ = ["MergeError", "run_folders", "load_rows", "ordered", "headline_differences", "READERS_ROW"]

READERS_ROW = "Readers (leave-one-out)"
_ORDER = ("SSB", "Gaussian-start diffusion (DDIM η=0)", "Gaussian-start diffusion (DDIM η=1)", "Gaussian-start diffusion (DDPM)",
          "Prob. U-Net", READERS_ROW)


class MergeError(ValueError):
    """Rows that must not share a table (other data, other weights for one method, a row twice)."""


def run_folders(root: str | Path, prefix: str) -> list[Path]:
    """The run folders ``<root>/<prefix>*`` whose ``results.json`` holds method rows, sorted (e.g. ``all``,
    ``all-ssb``); a folder of another kind of result beside them (``presence_draws/``) is not a run."""
    return sorted(f for f in Path(root).glob(f"{prefix}*") if (f / "results.json").is_file()
                  and "rows" in json.loads((f / "results.json").read_text()))


def load_rows(folders: Iterable[str | Path]) -> list[DatasetMetrics]:
    """Every row of ``<folder>/results.json`` for each folder, checked to belong to one experiment (see module)."""
    rows: list[DatasetMetrics] = []
    seen: dict[tuple, Path] = {}
    datasets: dict[str | None, Path] = {}
    weights: dict[str, tuple[str | None, Path]] = {}
    for folder in map(Path, folders):
        payload = json.loads((folder / "results.json").read_text())
        for raw in payload["rows"]:
            row = DatasetMetrics.from_dict(raw)
            datasets.setdefault(row.dataset_sha256, folder)
            if len(datasets) > 1:
                raise MergeError(f"{folder} was computed on other data than {next(iter(datasets.values()))} "
                                 f"(dataset SHA-256 {sorted(map(str, datasets))})")
            if row.name != READERS_ROW:
                sha, first = weights.setdefault(row.name, (row.checkpoint_sha256, folder))
                if sha != row.checkpoint_sha256 or sha is None:
                    raise MergeError(f"{row.name!r} comes from different or unknown weights in {first} and {folder} "
                                     f"({sha} vs {row.checkpoint_sha256}): evaluate it again with the current checkpoint")
            key = (row.name, row.nfe, row.absent_reader)
            if key in seen:
                if row.name == READERS_ROW and seen[key] != folder:
                    continue  # the readers' reference is the same computation in every run on the same data
                raise MergeError(f"row {key} is in both {seen[key]} and {folder}; remove the stale run")
            seen[key] = folder
            rows.append(row)
    return rows


def ordered(rows: Sequence[DatasetMetrics]) -> list[DatasetMetrics]:
    """SSB by NFE, the Gaussian baseline (DDIM, DDPM), the Prob. U-Net, the readers; other names last."""
    return sorted(rows, key=lambda r: (_ORDER.index(r.name) if r.name in _ORDER else len(_ORDER), r.nfe or 0))


def headline_differences(rows: Sequence[DatasetMetrics], metrics: Sequence[str] = ("ged", "d_max"), *, ssb: str = "SSB",
                         **kwargs: object) -> list[tuple[str, list[PairedDifference]]]:
    """Paired differences behind a table's claims, for rows of one absent-reader convention on the same images:
    SSB at each NFE minus each other method's rows (not the readers), then SSB at each NFE minus SSB at its largest NFE."""
    if len({r.absent_reader for r in rows}) > 1:
        raise ValueError("headline_differences takes the rows of one absent-reader convention")
    ours = sorted((r for r in rows if r.name == ssb), key=lambda r: r.nfe or 0)
    others = [r for r in ordered(rows) if r.name not in (ssb, READERS_ROW)]
    out = []
    for a in ours:
        for b in others:
            out.append((f"{ssb} NFE {a.nfe} − {b.name} NFE {b.nfe}", compare_rows(a, b, metrics, **kwargs)))
    if len(ours) > 1:
        top = ours[-1]
        for a in ours[:-1]:
            out.append((f"{ssb} NFE {a.nfe} − {ssb} NFE {top.nfe}", compare_rows(a, top, metrics, **kwargs)))
    return out
