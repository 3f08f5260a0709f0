"""``ssb-train``: recipe errors and dataset errors are one line on stderr with exit code 2; a tiny run works."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from ssb_core.cli.train import main
from tests.conftest import REPO_ROOT, shared_data
from tests.training._helpers import TINY_NETWORK


def _recipe(tmp_path, train_path) -> str:
    recipe = {
        "name": "tiny",
        "output_dir": str(tmp_path / "run"),
        "data": {"train": {"format": "lidc64", "path": str(train_path)}},
        "network": TINY_NETWORK,
        "bridge": {"num_timesteps": 100},
        "train": {"max_steps": 2, "batch_size": 2, "val_every": 0, "ckpt_every": 0, "log_every": 1, "device": "cpu"},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def _one_line_error(capsys, *needles: str) -> None:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    last = err.splitlines()[-1]
    assert last.startswith("ssb-train: error:"), err
    for needle in needles:
        assert needle in last, last


def test_missing_dataset_file_names_the_file(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "train.npz"
    assert main(["--config", _recipe(tmp_path, missing), "--no-progress"]) == 2
    _one_line_error(capsys, "train.npz")


def test_corrupt_dataset_file_names_the_file(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"this is not a numpy archive")
    assert main(["--config", _recipe(tmp_path, corrupt), "--no-progress"]) == 2
    _one_line_error(capsys, "corrupt.npz")


def test_unknown_key_and_bad_value_exit_2(tmp_path, capsys):
    recipe = _recipe(tmp_path, tmp_path / "x.npz")
    assert main(["--config", recipe, "--set", "train.learning_rate=1"]) == 2
    _one_line_error(capsys, "train.learning_rate", "valid keys of 'train'")
    assert main(["--config", recipe, "--set", "train.amp=fp8"]) == 2
    _one_line_error(capsys, "fp8")
    assert main(["--config", str(tmp_path / "absent.yaml")]) == 2
    _one_line_error(capsys, "absent.yaml")


def test_print_config_applies_overrides(tmp_path, capsys):
    assert main(["--config", _recipe(tmp_path, tmp_path / "x.npz"), "--set", "optim.lr=3e-4", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["optim"]["lr"] == 3e-4 and printed["network"]["channels"] == [8, 16]


def test_tiny_run_on_real_slices_then_resume(tmp_path, capsys):
    train_npz = shared_data("lidc64", "train.npz")
    recipe = _recipe(tmp_path, train_npz)
    assert main(["--config", recipe, "--no-progress", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 2 and (tmp_path / "run" / "tiny.pt").is_file()
    assert main(["--config", recipe, "--no-progress", "-q", "--resume", "--set", "train.max_steps=3"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["steps"] == 3


def test_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "ssb_core.cli.train", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--set" in proc.stdout


@pytest.mark.parametrize("argv", [["--set", "nonsense"], ["--set", "=1"]])
def test_malformed_overrides(argv, capsys):
    assert main(argv) == 2
    _one_line_error(capsys, "section.key=value")


def test_bad_dataset_config_exits_2(tmp_path, capsys):
    recipe = _recipe(tmp_path, tmp_path / "x.npz")
    assert main(["--config", recipe, "--set", "data.train.format=lidc65"]) == 2
    _one_line_error(capsys, "data.train", "lidc65")
    assert main(["--config", recipe, "--set", "data.train.shuffle=true"]) == 2
    _one_line_error(capsys, "data.train", "shuffle")
