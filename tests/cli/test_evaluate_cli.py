"""``ssb-evaluate``: JSON + markdown table + one montage per case for a tiny model on real lidc64 test slices."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ssb_core.bridge import BridgeConfig
from ssb_core.candidates import SamplingConfig
from ssb_core.checkpoint import SSBCheckpoint, save_checkpoint
from ssb_core.cli.evaluate import main
from tests.conftest import REPO_ROOT, shared_data


def _tiny_checkpoint(net, tmp_path):
    ckpt = SSBCheckpoint(network=net.config, bridge=BridgeConfig(num_timesteps=100), sampling=SamplingConfig(num_candidates=2, nfe=2), state_dict=net.state_dict())
    return save_checkpoint(ckpt, tmp_path / "tiny.pt")


def test_evaluate_writes_json_table_and_montages(tmp_path, random_tiny_network, capsys):
    test_npz = shared_data("lidc64", "test.npz")
    ckpt = _tiny_checkpoint(random_tiny_network, tmp_path)
    out = tmp_path / "eval"
    argv = ["--checkpoint", str(ckpt), "--data", f"{{format: lidc64, path: '{test_npz}'}}", "--max-images", "3", "-n", "3",
            "--nfe", "1", "2", "--seed", "7", "--inter-reader", "--batch-size", "2", "-o", str(out), "-q"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| SSB | 1 | 3 | 3 |" in printed and "| SSB | 2 | 3 | 3 |" in printed and "Readers (leave-one-out)" in printed

    payload = json.loads((out / "results.json").read_text())
    rows = payload["rows"]
    # both absent-reader conventions by default, from the same candidates
    assert [(r["name"], r["nfe"], r["absent_reader"]) for r in rows] == [
        ("SSB", 1, "exclude"), ("SSB", 1, "empty"), ("SSB", 2, "exclude"), ("SSB", 2, "empty"),
        ("Readers (leave-one-out)", None, "exclude"), ("Readers (leave-one-out)", None, "empty")]
    assert rows[0]["seed"] == 7 and rows[0]["num_candidates"] == 3
    assert {"ged", "d_max", "time_per_image_s"} <= set(rows[2]["summary"])
    assert len(rows[2]["per_case"]) == 3 and all("montage" in c for c in rows[2]["per_case"])
    assert [len(c) for c in payload["conventions"]["absent_reader"]] and payload["conventions"]["absent_reader"][0].startswith("exclude")
    # provenance: checkpoint and data hashes in the file and in every row, the command and the code version
    assert payload["model"]["sha256"] == rows[0]["checkpoint_sha256"] and len(rows[0]["checkpoint_sha256"]) == 64
    assert payload["dataset"]["sha256"] == rows[0]["dataset_sha256"] == rows[-1]["dataset_sha256"]
    assert rows[-1]["checkpoint_sha256"] is None  # the readers' row has no weights
    assert "--checkpoint" in payload["run"]["command"] and payload["run"]["code"]
    md = (out / "results.md").read_text()
    assert md.startswith("###") and "absent readers excluded" in md and "absent readers as empty masks" in md
    pngs = sorted(p.name for p in (out / "montages").glob("*.png"))
    assert len(pngs) == 3 and all(name.endswith("_SSB_nfe2.png") for name in pngs)  # one per case, last NFE

    assert "one_region" not in rows[0]["summary"] and "shape" not in payload["conventions"]  # only when asked

    # same seed, same numbers; --shape adds the shape figures beside them
    again = tmp_path / "again"
    assert main(argv[:-3] + ["-o", str(again), "-q", "--montages", "0", "--shape"]) == 0
    payload_again = json.loads((again / "results.json").read_text())
    for a, b in zip(rows, payload_again["rows"]):
        assert {k: v for k, v in a["summary"].items() if k != "time_per_image_s"} == {k: b["summary"][k] for k in a["summary"] if k != "time_per_image_s"}
        assert {"one_region", "empty"} <= set(b["summary"]) and ("area_ratio" in b["summary"]) == (b["name"] == "SSB")
    assert "one region ↑" in (again / "results.md").read_text() and "8-connected" in payload_again["conventions"]["shape"]


def test_missing_checkpoint_and_data_exit_2(tmp_path, random_tiny_network, capsys):
    assert main(["--checkpoint", str(tmp_path / "none.pt"), "--data", "{format: lidc64, path: x.npz}"]) == 2
    assert "none.pt" in capsys.readouterr().err.strip().splitlines()[-1]
    ckpt = _tiny_checkpoint(random_tiny_network, tmp_path)
    assert main(["--checkpoint", str(ckpt), "--data", f"{{format: lidc64, path: '{tmp_path / 'missing.npz'}'}}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "missing.npz" in err.splitlines()[-1]
    assert main(["--checkpoint", str(ckpt), "--data", "[1, 2]"]) == 2
    assert "dataset config mapping" in capsys.readouterr().err


def test_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "ssb_core.cli.evaluate", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--num-candidates" in proc.stdout


def test_eta_outside_0_1_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--checkpoint", "any.pt", "--data", "{format: lidc64, path: x.npz}", "--eta", "2"])
    assert exit_info.value.code == 2
    assert "--eta: expected a number in [0, 1], got '2'" in capsys.readouterr().err


@pytest.mark.shared_data
def test_evaluate_uses_the_presence_head_unless_told_not_to(tmp_path):
    """The served checkpoint carries a presence head: absent readers as empty masks score the candidates it keeps
    (``kept (presence)`` recorded), absent readers excluded the outlines; ``--no-presence`` scores the outlines under
    both, and the excluded rows are the same either way."""
    shared_data("lidc128", "val.npz")
    common = ["--checkpoint", str(REPO_ROOT / "models" / "ssb_lidc128.pt"), "--recipe", str(REPO_ROOT / "configs" / "lidc128_cpu.yaml"),
              "--split", "val", "--max-images", "3", "-n", "8", "--nfe", "2", "--montages", "0", "-q"]
    rows = {}
    for tag, extra in (("head", []), ("outlines", ["--no-presence"])):
        assert main([*common, *extra, "-o", str(tmp_path / tag)]) == 0
        rows[tag] = {r["absent_reader"]: r for r in json.loads((tmp_path / tag / "results.json").read_text())["rows"]}
    assert 0 < rows["head"]["empty"]["summary"]["marked"] <= 1 and "marked" not in rows["outlines"]["empty"]["summary"]
    assert rows["head"]["empty"]["settings"]["presence"] == "head" and rows["outlines"]["empty"]["settings"]["presence"] == "drawn"
    for metric in ("ged", "d_max"):
        assert rows["head"]["exclude"]["summary"][metric] == rows["outlines"]["exclude"]["summary"][metric]
