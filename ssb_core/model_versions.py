"""The versions of a served model file: promoting a fine-tuned one atomically, keeping the previous one, the run history.

When a model is promoted is the gate's decision (:mod:`ssb_core.evaluation.reader_gate`: per reader, a paired
bootstrap of the held-out Dice); this module only does the file work (the annotation server's train task calls it).

Files (beside the model ``<stem>.pt``):

- ``<stem>.prev.pt``: the model served before the last promotion; ``mv <stem>.prev.pt <stem>.pt`` rolls back
  (the server reloads the file at its next request);
- ``<stem>.history.json``: ``{"runs": [...]}``, one record per training run, promoted or not;
- ``<stem>.runs/<run id>/``: each run's fine-tuning output (about 13 MB for the shipped model). After every run
  :func:`prune_runs` keeps the folders of promoted runs (what produced each model served so far) and of the
  last ``keep`` runs (the server's ``--conf train_keep_runs``, default 3), and removes the others, including those of runs
  killed half-way; the run in progress is never touched.

Both replacements are a copy to a temporary file in the model's folder, then ``os.replace``: a reader of
``<stem>.pt`` sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Collection
from pathlib import Path

from ssb_core.atomic_io import atomic_copy, atomic_write_json

__all__ = ["promote", "append_history", "read_history", "json_safe", "prune_runs"]

logger = logging.getLogger(__name__)


def promote(candidate: Path, model_path: Path) -> Path:
    """Keep the served model as ``<stem>.prev.pt``, then put ``candidate`` in its place. Returns the prev path."""
    prev = model_path.with_name(f"{model_path.stem}.prev.pt")
    atomic_copy(model_path, prev)
    atomic_copy(candidate, model_path)
    logger.info("promoted %s -> %s (previous kept as %s)", candidate, model_path, prev.name)
    return prev


def read_history(path: Path) -> list[dict]:
    try:
        return list(json.loads(Path(path).read_text()).get("runs", []))
    except (OSError, ValueError):
        return []


def json_safe(value: object) -> object:
    """``value`` with every non-finite float replaced by None (JSON has no Infinity / NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def append_history(path: Path, record: dict) -> list[dict]:
    """Append ``record`` (non-finite numbers stored as null) to the run history; the whole history."""
    runs = read_history(path)
    runs.append(json_safe(record))
    atomic_write_json(Path(path), {"runs": runs})
    return runs


def prune_runs(runs_dir: Path, history: list[dict], keep: int, protect: Collection[str] = ()) -> list[str]:
    """Remove run folders of ``runs_dir`` that are neither promoted, nor among the last ``keep`` runs of ``history``,
    nor in ``protect`` (the run in progress). Returns the names removed (see the module docstring)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    kept = {r.get("run_id") for r in history if r.get("status") == "promoted"}
    kept |= {r.get("run_id") for r in history[-keep:]} if keep > 0 else set()
    kept |= set(protect)
    removed = []
    for folder in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        if folder.name not in kept:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    if removed:
        logger.info("pruned %d old run folder(s) from %s (kept promoted runs and the last %d)", len(removed), runs_dir, keep)
    return removed
