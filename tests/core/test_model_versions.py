"""The versions of a served model file: promotion keeping the previous one, the run history, pruning run folders."""

from __future__ import annotations

import json
import math

from ssb_core.model_versions import append_history, json_safe, promote, prune_runs, read_history


def test_a_promotion_keeps_the_previous_model_beside_it(tmp_path):
    model, candidate = tmp_path / "m.pt", tmp_path / "runs" / "candidate.pt"
    candidate.parent.mkdir()
    model.write_bytes(b"served")
    candidate.write_bytes(b"better")
    prev = promote(candidate, model)
    assert prev == tmp_path / "m.prev.pt" and prev.read_bytes() == b"served" and model.read_bytes() == b"better"
    assert candidate.read_bytes() == b"better" and not list(tmp_path.glob(".ssb-tmp-*"))  # copied, no temporary left


def test_the_history_is_appended_with_non_finite_numbers_as_null(tmp_path):
    path = tmp_path / "m.history.json"
    assert read_history(path) == []  # none yet
    append_history(path, {"run_id": "r1", "accuracy": math.nan, "gate": {"a": {"interval": [-math.inf, 0.1]}}})
    runs = append_history(path, {"run_id": "r2", "accuracy": 0.7})
    assert [r["run_id"] for r in runs] == ["r1", "r2"] == [r["run_id"] for r in read_history(path)]
    assert json.loads(path.read_text())["runs"][0] == {"run_id": "r1", "accuracy": None, "gate": {"a": {"interval": [None, 0.1]}}}
    path.write_text("{not json")
    assert read_history(path) == []  # a damaged history reads as empty rather than stopping the server
    assert json_safe((1.0, math.inf)) == [1.0, None]


def test_old_run_folders_are_pruned_but_promoted_ones_and_the_last_few_are_kept(tmp_path):
    runs = tmp_path / "m.runs"
    for name in ("r1", "r2", "r3", "r4", "r5", "killed"):
        (runs / name).mkdir(parents=True)
        (runs / name / "metrics.jsonl").write_text("{}\n")
    history = [{"run_id": "r1", "status": "promoted"}, {"run_id": "r2", "status": "not promoted"},
               {"run_id": "r3", "status": "skipped"}, {"run_id": "r4", "status": "not promoted"},
               {"run_id": "r5", "status": "not promoted"}]
    assert prune_runs(runs, history, keep=2, protect=("r5",)) == ["killed", "r2", "r3"]
    assert sorted(p.name for p in runs.iterdir()) == ["r1", "r4", "r5"]  # the promoted run and the last two
    assert prune_runs(runs, history, keep=0, protect=("r5",)) == ["r4"]
    assert prune_runs(tmp_path / "absent", history, keep=3) == []
