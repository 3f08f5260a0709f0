"""The training figures the viewers poll (``train_stats`` of ``/info/``), from a run marker and the run history."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.app._server import APP_DIR

if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from lib.trainers.status import RunMarker, train_stats  # noqa: E402


def test_a_run_in_progress_shows_its_steps_and_the_served_models_metric(tmp_path):
    marker = RunMarker(tmp_path / "m.training.json")
    run_dir = tmp_path / "runs" / "r2"
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text(json.dumps({"step": 10}) + "\n" + json.dumps({"step": 20}) + "\n")
    gate = {"alice": {"verdict": "better", "images": 6, "served_dice": 0.5, "candidate_dice": 0.61, "interval": [0.04, 0.17]}}
    history = [{"run_id": "r1", "status": "promoted", "elapsed_s": 12.0, "gate": gate, "accuracy": 0.61}]
    marker.start("r2", 50, run_dir)  # this process is the "training" process: alive
    stats = train_stats(history, marker)
    assert stats["status"] == "running" and (stats["epoch"], stats["total_epochs"]) == (20, 50)
    assert stats["best_metric"] == 0.61 and "total_time" not in stats  # the viewers show progress while total_time is absent
    assert stats["readers"] == gate  # each reader's verdict of the last judged run
    marker.finish()
    stats = train_stats(history, marker)
    assert stats["status"] == "promoted" and stats["total_time"] == 12.0 and "epoch" not in stats


@pytest.mark.parametrize("whose", ["a killed run", "a reused process id"])
def test_the_marker_of_a_killed_run_is_ignored(tmp_path, whose):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    pid, started = (int(dead), 0.0) if whose == "a killed run" else (os.getpid(), 12345.0)  # alive, but another process
    (tmp_path / "m.training.json").write_text(json.dumps({"run_id": "r9", "steps": 5, "run_dir": str(tmp_path), "pid": pid,
                                                          "pid_started": started}))
    history = [{"run_id": "r1", "status": "not promoted", "reason": "no reader's held-out masks are followed better beyond the noise",
                "elapsed_s": 3.0, "gate": {"bob": {"verdict": "no clear change"}}, "accuracy": 0.55}]
    stats = train_stats(history, RunMarker(tmp_path / "m.training.json"))
    assert stats["status"] == "not promoted" and stats["best_metric"] == 0.55 and "beyond the noise" in stats["reason"]
