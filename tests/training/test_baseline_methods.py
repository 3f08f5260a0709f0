"""The baselines go through the same training loop as SSB (method: gaussian / prob_unet), save a baseline
checkpoint, resume exactly, and are evaluated by ``ssb-evaluate`` beside SSB on real lidc64 slices."""

from __future__ import annotations

import json

import pytest
import torch

from ssb_core.baselines.checkpoint import BASELINE_FORMAT, checkpoint_format, load_baseline
from ssb_core.checkpoint import CheckpointError
from ssb_core.cli.evaluate import main as evaluate_main
from ssb_core.training import train
from ssb_core.training.config import ConfigError, TrainConfig
from tests.training._helpers import lidc64_config, lidc64_slices, tiny_recipe

TINY_PROB_UNET = {"features": [4, 8, 8, 8, 8, 4], "encoder_channels": [4, 8], "latent_dim": 3}


def _recipe(tmp_path, method: str, **extra):
    return tiny_recipe(tmp_path / method, method=method, name=method, prob_unet=TINY_PROB_UNET, gaussian={"num_train_timesteps": 100}, **extra)


@pytest.mark.parametrize("method", ["gaussian", "prob_unet"])
def test_baseline_trains_saves_and_validates(tmp_path, method):
    data = lidc64_slices("train", 8)
    config = _recipe(tmp_path, method, train={"val_every": 6})
    result = train(config, train_dataset=data, val_dataset=lidc64_slices("val", 2))
    assert result.steps == 6 and result.checkpoint_path.is_file()
    assert checkpoint_format(result.checkpoint_path) == BASELINE_FORMAT
    ckpt = load_baseline(result.checkpoint_path)
    assert ckpt.method == method and ckpt.readers == ["reader0", "reader1", "reader2", "reader3"]
    assert ckpt.provenance["training"]["method"] == method and ckpt.provenance["training"]["steps"] == 6
    model = ckpt.build_model()
    for name, tensor in model.state_dict().items():  # the checkpoint holds the EMA weights
        assert torch.equal(tensor, result.ema_model.state_dict()[name])
    logged = [json.loads(line) for line in result.log_path.read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in logged if "loss" in r)
    assert 0.0 <= result.last_validation["val/ged"] <= 2.0


@pytest.mark.parametrize("method", ["gaussian", "prob_unet"])
def test_baseline_resume_gives_the_uninterrupted_weights(tmp_path, method):
    data = lidc64_slices("train", 8)
    whole = train(_recipe(tmp_path / "whole", method), train_dataset=data)
    cut = _recipe(tmp_path / "cut", method)
    train(cut, train_dataset=data, stop_after_steps=3)
    resumed = train(cut, train_dataset=data, resume=True)
    assert resumed.steps == 6
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_resume_refuses_another_method(tmp_path):
    data = lidc64_slices("train", 8)
    config = _recipe(tmp_path, "prob_unet")
    train(config, train_dataset=data, stop_after_steps=2)
    other = TrainConfig.from_dict({**config.to_dict(), "method": "gaussian"})
    with pytest.raises(ValueError, match="prob_unet"):
        train(other, train_dataset=data, resume=True)


def test_unknown_method_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="method must be one of"):
        _recipe(tmp_path, "unet")


def test_evaluate_cli_on_baselines(tmp_path, capsys):
    data = lidc64_slices("train", 8)
    gaussian = train(_recipe(tmp_path, "gaussian"), train_dataset=data).checkpoint_path
    prob_unet = train(_recipe(tmp_path, "prob_unet"), train_dataset=data).checkpoint_path
    test = lidc64_config("test")
    common = ["--data", json.dumps(test), "--max-images", "2", "-n", "3", "--batch-size", "2", "--montages", "1", "-q"]
    assert evaluate_main(["--checkpoint", str(gaussian), "--nfe", "2", "100", "--eta", "0", "-o", str(tmp_path / "eg"),
                          "--absent-reader", "exclude", *common]) == 0
    rows = json.loads((tmp_path / "eg" / "results.json").read_text())["rows"]
    assert [(r["name"], r["nfe"], r["settings"]["sampler"]) for r in rows] == [
        ("Gaussian diffusion", 2, "DDIM (eta 0)"), ("Gaussian diffusion", 100, "DDPM")]
    assert all(0.0 <= r["summary"]["ged"] <= 2.0 for r in rows)
    assert evaluate_main(["--checkpoint", str(prob_unet), "-o", str(tmp_path / "ep"), *common]) == 0
    rows = json.loads((tmp_path / "ep" / "results.json").read_text())["rows"]
    assert [(r["name"], r["nfe"], r["absent_reader"]) for r in rows] == [("Prob. U-Net", 1, "exclude"), ("Prob. U-Net", 1, "empty")]
    assert "| Prob. U-Net | 1 | 3 |" in capsys.readouterr().out
    # same seed, same numbers
    assert evaluate_main(["--checkpoint", str(prob_unet), "-o", str(tmp_path / "ep2"), *common]) == 0
    again = json.loads((tmp_path / "ep2" / "results.json").read_text())["rows"]
    assert again[0]["summary"]["ged"] == rows[0]["summary"]["ged"]


def test_baseline_loader_names_a_foreign_file(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"format": "something-else"}, bad)
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_baseline(bad)
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        checkpoint_format(bad)
