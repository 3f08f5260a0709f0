"""Recipes: YAML/JSON files, dotted overrides, and clear rejection of bad keys and values."""

from __future__ import annotations

import json

import pytest

from ssb_core.training.config import ConfigError, TrainConfig, apply_overrides, load_config, parse_override
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("train.max_steps=200", ["train", "max_steps"], 200),
        ("optim.lr=1e-4", ["optim", "lr"], 1e-4),
        ("network.channels=[8, 16]", ["network", "channels"], [8, 16]),
        ("train.progress=off", ["train", "progress"], "off"),
        ("data.augment=false", ["data", "augment"], False),
        ("data.val=null", ["data", "val"], None),
        ("data.train.path=/x/y.npz", ["data", "train", "path"], "/x/y.npz"),
        ("seed=3", ["seed"], 3),
    ],
)
def test_overrides_parse_as_yaml(text, path, value):
    assert parse_override(text) == (path, value)


def test_overrides_apply_on_top_of_a_file(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train: {max_steps: 10, batch_size: 4}\nnetwork: {channels: [8, 16], attention_levels: [false, false], norm_num_groups: 4, num_head_channels: 8}\n")
    cfg = load_config(recipe, ["train.max_steps=20", "optim.lr=1e-3", "bridge.beta_max=1.0", "output_dir=/tmp/o"])
    assert cfg.train.max_steps == 20 and cfg.train.batch_size == 4
    assert cfg.optim.lr == 1e-3 and cfg.bridge.beta_max == 1.0 and cfg.output_dir == "/tmp/o"
    assert cfg.network.channels == (8, 16)
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))  # round trip through plain data
    assert again == cfg


def test_shipped_recipes_are_valid():
    for name in ("lidc64_cpu.yaml", "lidc_crops_gpu.yaml", "lidc128_cpu.yaml", "lidc128_cpu_stage2.yaml", "lidc128_cpu_long.yaml"):
        cfg = load_config(REPO_ROOT / "configs" / name)
        assert cfg.network.channels and cfg.data.train


def test_the_second_stage_changes_only_what_it_names():
    first = load_config(REPO_ROOT / "configs" / "lidc128_cpu.yaml").to_dict()
    second = load_config(REPO_ROOT / "configs" / "lidc128_cpu_stage2.yaml").to_dict()
    changed = {(section, key) for section, values in second.items() if isinstance(values, dict)
               for key in values if values[key] != first[section][key]}
    changed |= {(key,) for key, value in second.items() if not isinstance(value, dict) and value != first[key]}
    assert changed == {("seed",), ("output_dir",), ("name",), ("optim", "lr"), ("train", "max_steps"),
                       ("train", "init_from"), ("train", "init_sha256")}
    assert second["train"]["init_from"] == first["output_dir"] + "/" + first["name"] + ".pt"


def test_extends_merges_section_by_section(tmp_path):
    (tmp_path / "base.yaml").write_text("seed: 3\ntrain: {max_steps: 10, batch_size: 4}\noptim: {lr: 1.0e-3}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "stage.yaml").write_text("extends: ../base.yaml\ntrain: {max_steps: 20}\n")
    cfg = load_config(tmp_path / "sub" / "stage.yaml", ["optim.lr=2e-3"])
    assert (cfg.seed, cfg.train.max_steps, cfg.train.batch_size, cfg.optim.lr) == (3, 20, 4, 2e-3)
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ConfigError, match="extends itself"):
        load_config(tmp_path / "loop.yaml")
    (tmp_path / "orphan.yaml").write_text("extends: missing.yaml\n")
    with pytest.raises(ConfigError, match="recipe file not found"):
        load_config(tmp_path / "orphan.yaml")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.foo=1"], r"unknown key\(s\) \['train.foo'\]; valid keys of 'train'"),
        (["trian.max_steps=1"], r"unknown section 'trian'"),
        (["max_steps=1"], r"must name section.key"),
        (["train.max_steps"], r"must look like section.key=value"),
        (["train.amp=fp8"], r"train.amp must be one of auto, bf16, fp16, off; got 'fp8'"),
        (["optim.schedule=linear"], r"optim.schedule must be 'cosine' or 'constant'"),
        (["bridge.num_timesteps=7"], r"invalid 'bridge' settings: num_timesteps must be an even integer"),
        (["loss.p_uncond=2"], r"p_uncond must lie in \[0, 1\]"),
        (["network.channels=[8, 16]"], r"invalid 'network' settings: attention_levels must have one entry per level"),
        (["train.max_steps=[1"], r"cannot parse the value"),
        (["train.init_sha256=abc"], r"train.init_sha256 is set but train.init_from is empty"),
    ],
)
def test_bad_overrides_are_rejected_with_a_clear_message(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_bad_recipe_files(tmp_path):
    with pytest.raises(ConfigError, match="recipe file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optimizer: {lr: 1}\n")
    with pytest.raises(ConfigError, match=r"unknown recipe key\(s\) \['optimizer'\]"):
        load_config(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read recipe"):
        load_config(broken)


def test_apply_overrides_does_not_mutate_its_input():
    raw = {"train": {"max_steps": 1}}
    out = apply_overrides(raw, ["train.max_steps=2"])
    assert raw == {"train": {"max_steps": 1}} and out["train"]["max_steps"] == 2
