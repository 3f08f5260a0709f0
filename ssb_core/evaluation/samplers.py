"""Samplers under evaluation: any method is a callable ``sample_fn(images, num_candidates, seed) -> probs``.

- ``images``: (B, 1, H, W) float32 images, normalised with the method's data conventions (CPU tensor).
- ``num_candidates``: N; ``seed``: an int; the same seed must give the same candidates (reproducibility).
- returns (B, N, 1, H, W) probabilities in [0, 1] (a method with hard masks returns {0, 1}); CPU tensor.

A baseline plugs in by wrapping itself as such a callable and handing it to
:func:`ssb_core.evaluation.runner.evaluate_sampler` together with a name and its NFE.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from ssb_core.bridge import Bridge
from ssb_core.candidates import SamplingConfig, generate_candidates
from ssb_core.pipeline import SSBPipeline

__all__ = ["SampleFn", "SamplerSpec", "ssb_sample_fn", "pipeline_sampler"]


class SampleFn(Protocol):
    def __call__(self, images: torch.Tensor, num_candidates: int, seed: int) -> torch.Tensor: ...


@dataclass
class SamplerSpec:
    """A sampler and how to report it: ``name`` (table row), ``nfe`` (network calls per candidate) and
    ``settings`` (plain data recorded in the JSON, e.g. guidance weight, start noise)."""

    sample_fn: SampleFn
    name: str
    nfe: int
    settings: dict


def ssb_sample_fn(
    model: Callable[..., torch.Tensor],
    bridge: Bridge,
    sampling: SamplingConfig,
    num_readers: int,
    readers: int | Sequence[int] | None = None,
    device: str | torch.device = "cpu",
) -> SampleFn:
    """An SSB network as a ``sample_fn``; candidate k uses seed ``seed + k`` (see :mod:`ssb_core.candidates`),
    so its candidates do not depend on the batch size. ``num_candidates`` overrides ``sampling``'s."""
    device = torch.device(device)

    def sample_fn(images: torch.Tensor, num_candidates: int, seed: int) -> torch.Tensor:
        config = sampling.replace(num_candidates=int(num_candidates))
        probs = generate_candidates(model, bridge, images.to(device, torch.float32), config, num_readers=num_readers, readers=readers, seed=seed)
        return probs.cpu()

    return sample_fn


def pipeline_sampler(
    pipeline: SSBPipeline,
    nfe: int,
    *,
    guidance_weight: float | None = None,
    start_noise: float | None = None,
    stochastic: bool | None = None,
    readers: int | str | Sequence[int] | None = None,
    name: str = "SSB",
) -> SamplerSpec:
    """A loaded checkpoint as a :class:`SamplerSpec` at ``nfe``; unspecified knobs keep the checkpoint's defaults."""
    config = pipeline.defaults.replace(nfe=nfe, guidance_weight=guidance_weight, start_noise=start_noise, stochastic=stochastic)
    if isinstance(readers, str):
        readers = pipeline.checkpoint.reader_label(readers)
    # guidance doubles the rows of each call but counts as one NFE per step, as in the paper
    fn = ssb_sample_fn(pipeline.model, pipeline.bridge, config, pipeline.num_readers, readers=readers, device=pipeline.device)
    settings = {k: v for k, v in config.to_dict().items() if k != "num_candidates"}
    settings["readers"] = "cycle" if readers is None else readers
    return SamplerSpec(fn, name, nfe, settings)
