"""fine_tune: a shipped checkpoint continues on new reader labels; everything else comes from the checkpoint."""

from __future__ import annotations

import numpy as np
import torch

from ssb_core.bridge import BridgeConfig
from ssb_core.candidates import SamplingConfig
from ssb_core.checkpoint import SSBCheckpoint, load_checkpoint, save_checkpoint
from ssb_core.pipeline import SSBPipeline
from ssb_core.training import fine_tune
from tests.training._helpers import lidc64_slices


def test_fine_tune_on_collected_samples(tmp_path, random_tiny_network):
    original = SSBCheckpoint(
        network=random_tiny_network.config,
        bridge=BridgeConfig(num_timesteps=100),
        sampling=SamplingConfig(num_candidates=2, nfe=2),
        state_dict=random_tiny_network.state_dict(),
        readers=["ann_a", "ann_b", "ann_c", "ann_d"],
        data={"intensity": {"kind": "zscore"}, "roi_size": [64, 64]},
        loss={"gamma": 0.5, "p_uncond": 0.2},
    )
    path = save_checkpoint(original, tmp_path / "shipped.pt")
    data = lidc64_slices("train", 6)
    # what the annotation app collects: plain dicts, here with only two reader slots labelled
    samples = []
    for i in range(len(data)):
        s = data[i]
        samples.append({"image": np.asarray(s["image"]), "masks": np.asarray(s["masks"])[:2], "reader_present": np.array([True, True]),
                        "case_id": f"new{i}", "patient_id": "p_new"})
    result = fine_tune(path, samples, output_dir=tmp_path / "ft", steps=3, batch_size=2, num_threads=1, device="cpu")
    assert result.steps == 3 and result.checkpoint_path.name == "ssb_finetuned.pt"
    tuned = load_checkpoint(result.checkpoint_path)
    assert tuned.readers == original.readers and tuned.bridge == original.bridge and tuned.network == original.network
    assert tuned.loss == {"gamma": 0.5, "p_uncond": 0.2, "dice_clamp": "inward"}  # the current default where the checkpoint has none
    assert tuned.data["intensity"] == {"kind": "zscore"} and "fine_tuned_from" in tuned.data
    changed = [k for k, v in tuned.state_dict.items() if not torch.equal(v, original.state_dict[k])]
    assert changed, "fine-tuning left every weight unchanged"
    probs = SSBPipeline(tuned).sample(torch.as_tensor(samples[0]["image"])[None], seed=0)
    assert probs.shape == (1, 2, 1, 64, 64)
