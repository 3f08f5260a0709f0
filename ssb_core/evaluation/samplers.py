"""Samplers under evaluation: any method is a callable ``sample_fn(images, num_candidates, seed) -> probs``.

- ``images``: (B, 1, H, W) float32 images, normalised with the method's data conventions (CPU tensor).
- ``num_candidates``: N; ``seed``: an int; the same seed must give the same candidates (reproducibility).
- returns (B, N, 1, H, W) probabilities in [0, 1] (a method with hard masks returns {0, 1}); CPU tensor. A method
  that predicts apart whether each candidate's reader marks the lesion at all (SSB with a presence head,
  :mod:`ssb_core.presence`) returns :class:`MarkedCandidates`: the outlines and which of them are kept. The
  evaluation then scores the outlines against the readers who marked the lesion (absent readers excluded) and the
  kept candidates against all four readers (absent readers as empty masks).

A baseline plugs in by wrapping itself as such a callable and handing it to
:func:`ssb_core.evaluation.runner.evaluate_sampler` together with a name and its NFE.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from ssb_core.bridge import Bridge
from ssb_core.candidates import SamplingConfig, generate_candidates, reader_labels_for
from ssb_core.pipeline import SSBPipeline
from ssb_core.preprocessing import Preprocessing
from ssb_core.seeding import image_key

if TYPE_CHECKING:
    from ssb_core.baselines.checkpoint import BaselineCheckpoint
    from ssb_core.presence.head import PresenceHead

__all__ = ["SampleFn", "SamplerSpec", "MarkedCandidates", "ssb_sample_fn", "pipeline_sampler", "baseline_sampler"]


@dataclass
class MarkedCandidates:
    """Outlines and presence apart: ``probs`` (B, N, 1, H, W) each candidate's outline given that its reader marks
    the lesion; ``marked`` (B, N) bool, whether it does (:func:`ssb_core.presence.marked_candidates`). The
    candidate set for all four readers is ``probs`` with the unmarked candidates emptied (:meth:`kept`)."""

    probs: torch.Tensor
    marked: np.ndarray

    def kept(self) -> torch.Tensor:
        """(B, N, 1, H, W): the unmarked candidates emptied."""
        keep = torch.as_tensor(self.marked, dtype=self.probs.dtype, device=self.probs.device)
        return self.probs * keep.reshape(*keep.shape, *([1] * (self.probs.ndim - 2)))


class SampleFn(Protocol):
    def __call__(self, images: torch.Tensor, num_candidates: int, seed: int) -> "torch.Tensor | MarkedCandidates": ...


@dataclass
class SamplerSpec:
    """A sampler and how to report it: ``name`` (table row), ``nfe`` (network calls per candidate),
    ``settings`` (plain data recorded in the JSON, e.g. guidance weight, start noise) and the SHA-256 of the
    checkpoint file its weights came from (None where not from a file)."""

    sample_fn: SampleFn
    name: str
    nfe: int
    settings: dict
    checkpoint_sha256: str | None = None


def ssb_sample_fn(
    model: Callable[..., torch.Tensor],
    bridge: Bridge,
    sampling: SamplingConfig,
    num_readers: int,
    readers: int | Sequence[int] | None = None,
    device: str | torch.device = "cpu",
    preprocessing: Preprocessing | None = None,
    presence: "PresenceHead | None" = None,
) -> SampleFn:
    """An SSB network as a ``sample_fn``; image x's candidate k draws the noise of (seed, image_key(x), k) (see :mod:`ssb_core.seeding`: independent across the images of a dataset),
    so its candidates do not depend on the batch size. ``num_candidates`` overrides ``sampling``'s.

    ``preprocessing``: the checkpoint's; each image (one model-sized window) is normalised with
    :meth:`~ssb_core.preprocessing.Preprocessing.normalise_windows` first, as the app does on whole scans (a
    no-op on data already prepared that way, e.g. the lidc64 crops).

    ``presence``: the checkpoint's presence head; with it the function returns :class:`MarkedCandidates` (candidate
    k of image x kept by the head's probability for its reader slot, drawn from (seed, image_key(x))), without it
    the probabilities."""
    device = torch.device(device)

    def sample_fn(images: torch.Tensor, num_candidates: int, seed: int) -> "torch.Tensor | MarkedCandidates":
        if preprocessing is not None:
            images = torch.from_numpy(preprocessing.normalise_windows(images.detach().cpu().numpy()))
        config = sampling.replace(num_candidates=int(num_candidates))
        images = images.to(device, torch.float32)
        probs = generate_candidates(model, bridge, images, config, num_readers=num_readers, readers=readers, seed=seed,
                                    per_image_noise=True).cpu()
        if presence is None:
            return probs
        from ssb_core.presence.sampling import marked_candidates

        labels = reader_labels_for(readers, config.num_candidates, num_readers)
        marked = marked_candidates(presence.probabilities(images).cpu(), labels, seed, [image_key(img) for img in images])
        return MarkedCandidates(probs, marked)

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
    checkpoint_sha256: str | None = None,
    presence: bool | None = None,
) -> SamplerSpec:
    """A loaded checkpoint as a :class:`SamplerSpec` at ``nfe``; unspecified knobs keep the checkpoint's defaults.

    ``presence``: use the checkpoint's presence head (the sampler then returns :class:`MarkedCandidates`); None: when
    the checkpoint has one; False: the outlines alone (what a caller that wants each reader's outline uses)."""
    config = pipeline.defaults.replace(nfe=nfe, guidance_weight=guidance_weight, start_noise=start_noise, stochastic=stochastic)
    if isinstance(readers, str):
        readers = pipeline.checkpoint.reader_label(readers)
    # guidance doubles the rows of each call but counts as one NFE per step, as in the paper
    data = pipeline.checkpoint.data or {}
    pre = Preprocessing.from_checkpoint_data(data) if isinstance(data.get("preprocessing"), dict) else None
    head = pipeline.checkpoint.build_presence(pipeline.device) if presence is not False else None
    if presence and head is None:
        raise ValueError("this checkpoint has no presence head (scripts/train_presence.py adds one)")
    fn = ssb_sample_fn(pipeline.eps_model, pipeline.bridge, config, pipeline.num_readers, readers=readers, device=pipeline.device,
                       preprocessing=pre, presence=head)
    settings = {k: v for k, v in config.to_dict().items() if k != "num_candidates"}
    settings["readers"] = "cycle" if readers is None else readers
    settings["presence"] = "head" if head is not None else "drawn"
    settings["runtime"] = pipeline.runtime
    return SamplerSpec(fn, name, nfe, settings, checkpoint_sha256)


def baseline_sampler(checkpoint: "BaselineCheckpoint", nfe: int | None, *, guidance_weight: float = 0.0,
                     device: str | torch.device = "cpu", name: str | None = None, runtime: str = "torch",
                     checkpoint_sha256: str | None = None, eta: float = 1.0) -> SamplerSpec:
    """A trained baseline (:mod:`ssb_core.baselines.checkpoint`) as a :class:`SamplerSpec`.

    ``gaussian``: ``nfe`` steps (None or T = DDPM over all T steps, fewer = DDIM with ``eta``); ``runtime`` as SSB's
    (:func:`ssb_core.onnx_runtime.resolve_runtime`: the same network, so the same runtime can serve it).
    ``prob_unet``: one network pass per image whatever ``nfe`` says (reported as NFE 1), on PyTorch.
    """
    from ssb_core.baselines.gaussian import GaussianDiffusionConfig
    from ssb_core.baselines.sampling import gaussian_sample_fn, prob_unet_sample_fn
    from ssb_core.onnx_runtime import onnx_eps_model, resolve_runtime

    model = checkpoint.build_model(device)
    if checkpoint.method == "gaussian":
        runtime = resolve_runtime(runtime, torch.device(device))
        if runtime == "onnx":
            model = onnx_eps_model(model)
        config = GaussianDiffusionConfig.from_dict(checkpoint.config)
        steps = config.num_train_timesteps if nfe is None else int(nfe)
        fn = gaussian_sample_fn(model, config, len(checkpoint.readers) or int(checkpoint.network["num_readers"]), steps,
                                guidance_weight=guidance_weight, device=device, eta=eta)
        sampler = "DDPM" if steps == config.num_train_timesteps else f"DDIM (eta {eta:g})"
        settings = {"method": "gaussian", "sampler": sampler, "guidance_weight": guidance_weight, "runtime": runtime, **checkpoint.config}
        return SamplerSpec(fn, name or "Gaussian diffusion", steps, settings, checkpoint_sha256)
    fn = prob_unet_sample_fn(model, device=device)
    return SamplerSpec(fn, name or "Prob. U-Net", 1, {"method": "prob_unet", "z": "prior", **checkpoint.config}, checkpoint_sha256)
