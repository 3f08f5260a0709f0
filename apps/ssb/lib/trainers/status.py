"""What the viewers show about training, in the ``train_stats`` of ``/info/`` they already poll.

3D Slicer's MONAI Label module and OHIF's MONAI Label panel read, for the first trainer in ``train_stats``:
``epoch`` / ``total_epochs`` (the "Training" progress bar, while ``total_time`` is absent), ``best_metric``
(the "Accuracy" bar, a Dice in [0, 1]) and ``total_time`` (the run is over). :func:`train_stats` fills them
from the run in progress and the run history, and adds what the SSB panel shows in words:

- ``status``: ``running``, or the last run's ``promoted`` / ``not promoted`` / ``skipped``, or ``never trained``;
  ``reason`` says why a run was skipped or not promoted;
- ``best_metric``: the mean Dice of the candidates conditioned on each judged reader to that reader's held-out
  masks, for what is served after the last run that judged readers (the ``accuracy`` of its record);
- ``readers``: the last judged run's verdict per reader (``better`` / ``no clear change`` / ``worse`` / ``too few
  images``) with the Dice before and after and the interval of the difference;
- ``epoch`` / ``total_epochs``: optimiser steps done / planned in the run in progress (from its
  ``metrics.jsonl``).

A run in progress is recorded in ``<model stem>.training.json`` (run id, steps, process id and start time) by the
train task from its start to its end; a marker whose process is gone (a killed run), or whose id now belongs to
another process, is ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil

__all__ = ["RunMarker", "train_stats"]


class RunMarker:
    """``<stem>.training.json``: the run in progress, written at its start and removed at its end."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def start(self, run_id: str, steps: int, run_dir: Path) -> None:
        from ssb_core.atomic_io import atomic_write_text

        atomic_write_text(self.path, json.dumps({"run_id": run_id, "steps": int(steps), "run_dir": str(run_dir), "pid": os.getpid(),
                                                 "pid_started": psutil.Process().create_time()}))

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)

    def current(self) -> dict | None:
        """The marker of a run whose process is alive, else None."""
        try:
            marker = json.loads(self.path.read_text())
            started = psutil.Process(int(marker["pid"])).create_time()
        except (OSError, ValueError, KeyError, TypeError, psutil.Error):
            return None
        return marker if abs(started - float(marker.get("pid_started", -1))) < 1.0 else None


def _steps_done(run_dir: Path) -> int:
    try:
        lines = (Path(run_dir) / "metrics.jsonl").read_text().strip().splitlines()
        return int(json.loads(lines[-1]).get("step", 0)) if lines else 0
    except (OSError, ValueError):
        return 0


def _served_accuracy(run: dict) -> float | None:
    value = run.get("accuracy")
    return float(value) if isinstance(value, (int, float)) else None


def train_stats(history: list[dict], marker: RunMarker) -> dict:
    """The ``train_stats`` entry of one trainer (see the module docstring)."""
    out: dict = {"runs": len(history), "last_run": history[-1] if history else None}
    measured = [d for d in (_served_accuracy(r) for r in history) if d is not None]
    if measured:
        out["best_metric"] = round(measured[-1], 4)
    judged = [r for r in history if r.get("gate")]
    if judged:
        out["readers"] = judged[-1]["gate"]
    running = marker.current()
    if running:
        out.update(status="running", run_id=running["run_id"], total_epochs=running["steps"],
                   epoch=max(1, _steps_done(Path(running["run_dir"]))))
        return out
    if not history:
        out["status"] = "never trained"
        return out
    last = history[-1]
    out.update(status=last.get("status", "unknown"), total_time=last.get("elapsed_s", 0))
    if last.get("reason"):
        out["reason"] = last["reason"]
    return out
