"""The shipped model's numbers are pinned: a change in the bridge, the sampler, the seeding or the preprocessing
that moves what the README publishes fails here.

``models/ssb_lidc64.pt`` samples 8 fixed lidc64 test slices (N 8, seed 0, NFE 2 = the server's default and
NFE 20) through the evaluation path (``pipeline_sampler``: the checkpoint's preprocessing, then the bridge);
GED and D_max per image, under both absent-reader conventions, must equal the stored reference
(``shipped_model_reference.json``) within the tolerances below. Sampling is deterministic on the CPU; the
tolerances absorb a pixel flipping at the threshold on another CPU or BLAS, not a changed method.

After an intended change (a retrained model, a new sampler), regenerate the reference and the published
tables together:  ``python -m tests.core.test_shipped_model --update`` and ``python scripts/results.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, shared_data

CHECKPOINT = REPO_ROOT / "models" / "ssb_lidc64.pt"
REFERENCE = Path(__file__).with_name("shipped_model_reference.json")
INDICES = [0, 22, 44, 66, 88, 110, 132, 154]
NFES = (2, 20)
MEAN_TOLERANCE = 0.005   # on the mean over the 8 slices
IMAGE_TOLERANCE = 0.03   # on one slice (one of 8 candidates flipping a few boundary pixels)


def measure(data_path: Path) -> dict:
    """The figures the reference pins: per NFE and convention, GED and D_max per slice and their means."""
    import torch

    from ssb_core.data import build_dataset
    from ssb_core.evaluation.runner import evaluate_sampler_conventions
    from ssb_core.evaluation.samplers import pipeline_sampler
    from ssb_core.hashing import file_sha256
    from ssb_core.pipeline import SSBPipeline

    torch.set_num_threads(1)
    dataset = build_dataset({"format": "lidc64", "path": str(data_path)})
    pipe = SSBPipeline.from_checkpoint(CHECKPOINT, runtime="torch")
    figures: dict = {"checkpoint_sha256": file_sha256(CHECKPOINT), "indices": INDICES, "num_candidates": 8, "seed": 0, "rows": {}}
    for nfe in NFES:
        spec = pipeline_sampler(pipe, nfe)
        for row in evaluate_sampler_conventions(spec.sample_fn, dataset, name="SSB", nfe=nfe, num_candidates=8, seed=0,
                                                indices=INDICES, metric_names=("ged", "d_max")):
            figures["rows"][f"nfe{nfe}-{row.absent_reader}"] = {
                m: {"mean": round(row.summary[m], 5), "per_image": [round(c[m], 5) for c in row.per_case]} for m in ("ged", "d_max")
            }
    return figures


@pytest.mark.shared_data
def test_shipped_model_reproduces_its_pinned_figures():
    data = shared_data("lidc64", "test.npz")
    reference = json.loads(REFERENCE.read_text())
    got = measure(data)
    assert got["checkpoint_sha256"] == reference["checkpoint_sha256"], (
        "models/ssb_lidc64.pt is not the checkpoint the reference was measured on: after retraining, regenerate the "
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
    REFERENCE.write_text(json.dumps(measure(REPO_ROOT.parent / "shared" / "data" / "lidc64" / "test.npz"), indent=1) + "\n")
    print(f"wrote {REFERENCE.relative_to(REPO_ROOT)}")
