"""The shipped models' numbers are pinned: a change in the bridge, the sampler, the seeding or the preprocessing
that moves what the README publishes fails here.

Each shipped model samples 8 fixed test slices of its own data (N 8, seed 0, NFE 2 = the server's default and
NFE 20) through the evaluation path (``pipeline_sampler``: the checkpoint's preprocessing and sampling defaults,
then the bridge): ``models/ssb_lidc128.pt`` (the served model) on lidc128 test, ``models/ssb_lidc64.pt`` (kept for
comparison) on lidc64 test. GED and D_max per image, under both absent-reader conventions, must equal the stored
reference (``<model>_reference.json`` beside this file) within the tolerances below. Sampling is deterministic on the
CPU; the tolerances absorb a pixel flipping at the threshold on another CPU or BLAS, not a changed method.

After an intended change (a retrained model, a new sampler), regenerate the references and the published
tables together:  ``python -m tests.core.test_shipped_model --update`` and ``python scripts/results.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, shared_data

#: model -> (its data: format and test split under ../shared/data, the 8 slices pinned)
MODELS = {
    "ssb_lidc128": ("lidc128", ("lidc128", "test.npz"), [0, 255, 510, 765, 1020, 1275, 1530, 1783]),
    "ssb_lidc64": ("lidc64", ("lidc64", "test.npz"), [0, 22, 44, 66, 88, 110, 132, 154]),
}
NFES = (2, 20)
MEAN_TOLERANCE = 0.005   # on the mean over the 8 slices
IMAGE_TOLERANCE = 0.03   # on one slice (one of 8 candidates flipping a few boundary pixels)


def reference_path(model: str) -> Path:
    return Path(__file__).with_name("shipped_model_reference.json" if model == "ssb_lidc64" else f"{model}_reference.json")


def measure(model: str, data_path: Path) -> dict:
    """The figures the reference pins: per NFE and convention, GED and D_max per slice and their means."""
    import torch

    from ssb_core.data import build_dataset
    from ssb_core.evaluation.runner import evaluate_sampler_conventions
    from ssb_core.evaluation.samplers import pipeline_sampler
    from ssb_core.hashing import file_sha256
    from ssb_core.pipeline import SSBPipeline

    torch.set_num_threads(1)
    fmt, _, indices = MODELS[model]
    checkpoint = REPO_ROOT / "models" / f"{model}.pt"
    dataset = build_dataset({"format": fmt, "path": str(data_path)})
    pipe = SSBPipeline.from_checkpoint(checkpoint, runtime="torch")
    figures: dict = {"checkpoint_sha256": file_sha256(checkpoint), "indices": indices, "num_candidates": 8, "seed": 0, "rows": {}}
    for nfe in NFES:
        spec = pipeline_sampler(pipe, nfe)
        for row in evaluate_sampler_conventions(spec.sample_fn, dataset, name="SSB", nfe=nfe, num_candidates=8, seed=0,
                                                indices=indices, metric_names=("ged", "d_max")):
            figures["rows"][f"nfe{nfe}-{row.absent_reader}"] = {
                m: {"mean": round(row.summary[m], 5), "per_image": [round(c[m], 5) for c in row.per_case]} for m in ("ged", "d_max")
            }
    return figures


@pytest.mark.shared_data
@pytest.mark.parametrize("model", list(MODELS))
def test_shipped_model_reproduces_its_pinned_figures(model):
    data = shared_data(*MODELS[model][1])
    reference = json.loads(reference_path(model).read_text())
    got = measure(model, data)
    assert got["checkpoint_sha256"] == reference["checkpoint_sha256"], (
        f"models/{model}.pt is not the checkpoint the reference was measured on: after retraining, regenerate the "
        "reference and the published tables (see this module's docstring)")
    for key, ref in reference["rows"].items():
        for metric, values in ref.items():
            now = got["rows"][key][metric]
            assert abs(now["mean"] - values["mean"]) <= MEAN_TOLERANCE, (key, metric, now["mean"], values["mean"])
            worst = max(abs(a - b) for a, b in zip(now["per_image"], values["per_image"]))
            assert worst <= IMAGE_TOLERANCE, (key, metric, now["per_image"], values["per_image"])


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        raise SystemExit("usage: python -m tests.core.test_shipped_model --update")
    for name, (_, parts, _) in MODELS.items():
        path = reference_path(name)
        path.write_text(json.dumps(measure(name, REPO_ROOT.parent.joinpath("shared", "data", *parts)), indent=1) + "\n")
        print(f"wrote {path.relative_to(REPO_ROOT)}")
