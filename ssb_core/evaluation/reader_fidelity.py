"""How closely candidates conditioned on one reader follow that reader's own masks, image by image.

Used to decide whether fine-tuning on a reader's labels helped that reader (the annotation server's promotion
gate) and to measure reader adaptation (``benchmarks/reader_adaptation.py``). For one reader and one model, on
the images that reader labelled, every candidate is sampled with that reader's label (or the null label for a
reader the model does not know yet) and scored against the reader's mask of the same image:

- ``dice``: mean over candidates and seeds of Dice(candidate, reader mask), the image's slices stacked into one
  volume (Dice(empty, empty) = 1, :mod:`ssb_core.metrics.overlap`);
- ``d_max``: the best candidate's Dice, averaged over seeds;
- ``volume_bias``: (mean candidate volume - reader volume) / reader volume; NaN where the reader's mask is empty.

Slices where the reader's slot is absent are left out; an image is the unit (one value per image), so the
values pair across two models scored on the same images and seeds (:func:`ssb_core.evaluation.bootstrap.paired_bootstrap`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ssb_core.evaluation.samplers import pipeline_sampler
from ssb_core.metrics.overlap import pairwise_dice
from ssb_core.pipeline import SSBPipeline

__all__ = ["FIDELITY_METRICS", "ReaderDecision", "ReaderFidelity", "decide_reader", "reader_fidelity"]

FIDELITY_METRICS = ("dice", "d_max", "volume_bias")


@dataclass(frozen=True)
class ReaderFidelity:
    """Per-image scores of one model for one reader: arrays of shape (n_images,), in the order of ``image_ids``."""

    image_ids: tuple[str, ...]
    dice: np.ndarray
    d_max: np.ndarray
    volume_bias: np.ndarray

    def metric(self, name: str) -> np.ndarray:
        if name not in FIDELITY_METRICS:
            raise KeyError(f"unknown fidelity metric {name!r}; expected one of {FIDELITY_METRICS}")
        return getattr(self, name)

    def summary(self) -> dict[str, float]:
        """Means over images (NaN-aware) and the number of images."""
        out = {m: float(np.nanmean(self.metric(m))) if np.isfinite(self.metric(m)).any() else float("nan") for m in FIDELITY_METRICS}
        out["images"] = len(self.image_ids)
        return out


def _images_of(samples: Sequence[dict], slot: int) -> dict[str, list[dict]]:
    """The samples where reader ``slot`` is present, grouped by ``patient_id`` (an image), in first-seen order."""
    groups: dict[str, list[dict]] = {}
    for s in samples:
        if slot < len(s["reader_present"]) and bool(s["reader_present"][slot]):
            groups.setdefault(str(s["patient_id"]), []).append(s)
    return groups


def reader_fidelity(pipeline: SSBPipeline, samples: Sequence[dict], slot: int, label: int, *, num_candidates: int = 4,
                    nfe: int = 5, seeds: Sequence[int] = (0, 1, 2), batch: int = 32, guidance_weight: float = 0.0) -> ReaderFidelity:
    """Scores of ``pipeline`` conditioned on ``label`` against mask slot ``slot`` of ``samples``.

    Args:
        pipeline: the model.
        samples: sample dicts (``image`` (1, H, W) float32 normalised as the model expects, ``masks`` (R, H, W) uint8,
            ``reader_present`` (R,) bool, ``patient_id`` = the image the slice belongs to).
        slot: the reader's mask slot in ``samples``; label: the label the candidates are conditioned on (the
            reader's index in the model, or its null label).
        num_candidates, nfe, seeds: candidates per seed, sampler steps, and the seeds (each a disjoint set of
            candidates, :mod:`ssb_core.seeding`).
        guidance_weight: classifier-free guidance w (the reader's difference from the null label amplified).
    """
    sample_fn = pipeline_sampler(pipeline, nfe=min(nfe, pipeline.checkpoint.bridge.num_timesteps), readers=label,
                                 guidance_weight=guidance_weight, presence=False).sample_fn
    groups = _images_of(samples, slot)
    ids, dice, d_max, bias = [], [], [], []
    for image_id, slices in groups.items():
        images = torch.from_numpy(np.stack([np.asarray(s["image"], np.float32) for s in slices]))
        truth = np.stack([np.asarray(s["masks"][slot]) > 0 for s in slices])  # (S, H, W)
        seed_dice, seed_best, seed_volume = [], [], []
        for seed in seeds:
            probs = torch.cat([sample_fn(images[i:i + batch], num_candidates, seed) for i in range(0, len(slices), batch)])
            cands = (probs[:, :, 0].numpy() >= pipeline.defaults.threshold).transpose(1, 0, 2, 3)  # (K, S, H, W)
            d = pairwise_dice(cands, truth[None])[:, 0]  # (K,)
            seed_dice.append(d.mean())
            seed_best.append(d.max())
            seed_volume.append(cands.reshape(len(cands), -1).sum(axis=1).mean())
        ids.append(image_id)
        dice.append(float(np.mean(seed_dice)))
        d_max.append(float(np.mean(seed_best)))
        reader_volume = float(truth.sum())
        bias.append((float(np.mean(seed_volume)) - reader_volume) / reader_volume if reader_volume > 0 else float("nan"))
    return ReaderFidelity(tuple(ids), np.asarray(dice), np.asarray(d_max), np.asarray(bias))


@dataclass(frozen=True)
class ReaderDecision:
    """Whether a candidate model follows one reader's held-out masks better than the served model.

    ``verdict`` from the interval of the mean paired Dice difference candidate - served: ``better`` (its lower end
    above ``min_gain``), ``slightly better`` (above 0, not above ``min_gain``: not worth changing what the readers
    see), ``worse`` (its upper end below 0), ``no clear change`` (it contains 0), or ``too few images`` (fewer than
    the minimum of held-out images: the interval would not mean anything).
    """

    reader: str
    verdict: str
    images: int
    served_dice: float
    candidate_dice: float
    difference: float
    interval: tuple[float, float]
    served_volume_bias: float
    candidate_volume_bias: float

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "images": self.images, "served_dice": self.served_dice, "candidate_dice": self.candidate_dice,
                "dice_difference": self.difference, "interval": list(self.interval), "served_volume_bias": self.served_volume_bias,
                "candidate_volume_bias": self.candidate_volume_bias}

    def describe(self) -> str:
        return (f"{self.reader}: {self.verdict} (Dice {self.served_dice:.3f} -> {self.candidate_dice:.3f}, difference "
                f"{self.difference:+.3f} [{self.interval[0]:+.3f}, {self.interval[1]:+.3f}] on {self.images} held-out image(s))")


def decide_reader(reader: str, served: ReaderFidelity, candidate: ReaderFidelity, *, min_images: int = 5, min_gain: float = 0.02,
                  confidence: float = 0.95, num_resamples: int = 10000) -> ReaderDecision:
    """Paired bootstrap (over images) of the candidate's minus the served model's Dice for one reader
    (see :class:`ReaderDecision` for the verdicts).

    ``served`` and ``candidate`` must hold the same images in the same order (scored with the same seeds).
    """
    from ssb_core.evaluation.bootstrap import paired_bootstrap

    if served.image_ids != candidate.image_ids:
        raise ValueError(f"the two models were scored on different images ({served.image_ids} vs {candidate.image_ids})")
    d = paired_bootstrap(candidate.dice, served.dice, metric="dice", confidence=confidence, num_resamples=num_resamples)
    if d.n < min_images:
        verdict = "too few images"
    elif d.low > min_gain:
        verdict = "better"
    elif d.low > 0:
        verdict = "slightly better"
    elif d.high < 0:
        verdict = "worse"
    else:
        verdict = "no clear change"
    s, c = served.summary(), candidate.summary()
    return ReaderDecision(reader, verdict, d.n, s["dice"], c["dice"], d.mean, (d.low, d.high), s["volume_bias"], c["volume_bias"])
