"""N candidate masks for a batch of images in one batched pass.

Rows of the sampled batch are candidate-major: row ``k * B + b`` is candidate k of image b, so one network
call per step advances every candidate of every image (twice the rows with guidance, see
:mod:`ssb_core.guidance`). Candidate k draws one noise field per step from its own generator, derived
from (seed, k) by :mod:`ssb_core.seeding`, and shares it across the images of the batch (the slices of a volume:
candidate k follows one coherent noise path through it) or, with ``per_image_noise``, draws one per image from
(seed, image key, k) (independent images of a dataset). Either way a candidate does not depend on the batch it
is computed in, and two seeds give two disjoint sets of noise paths.

Where the diversity of the candidates comes from, each a knob of :class:`SamplingConfig`:
- the noise path ``z`` (``stochastic``);
- the reader label (``readers``: one reader's style for all, or cycling through the readers; on a whole scan, with
  no reader asked for, every reader but the model's ``lesion_skip_readers``: :func:`lesion_reader_labels`);
- a partial perturbation of the image endpoint (``start_noise``, the paper's "controlled degradation"):
  ``x_T = x1 + start_noise * z0``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import torch

from ssb_core.bridge import Bridge
from ssb_core.guidance import EpsModel, guided_eps
from ssb_core.sampler import BridgeSampler, ProgressCallback, run_bridge
from ssb_core.seeding import candidate_generators, image_key

__all__ = ["SamplingConfig", "generate_candidates", "lesion_reader_labels", "reader_labels_for"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling settings (stored in checkpoints as the model's defaults).

    Attributes:
        num_candidates: N masks per image.
        nfe: network evaluations per candidate (1 .. T).
        guidance_weight: classifier-free guidance w >= 0 (0 = conditional only).
        stochastic: the bridge SDE (True) or the deterministic OT-ODE sampler.
        start_noise: standard deviation of the perturbation of the image endpoint (0 = start at the image).
        clip_x0: clip the mask estimate to [-1, 1] at each step.
        threshold: probability above which a pixel belongs to a binary candidate.
        lesion_skip_readers: readers (names) a lesion's candidates do not imitate on a whole scan when the request
            names no reader (:func:`lesion_reader_labels`); ``()``: every reader in turn. There the candidates' vote
            decides whether a lesion is at the click and every candidate is an outline, so a reader label that mostly
            says "this reader did not mark it" only shrinks them: LIDC's anonymous slots 2-4 (the 2nd-4th reader
            who outlined the nodule draw on 67%, 53% and 39% of lidc128's training slices, slot 1 on 90%:
            docs/results/decisions/lesion_readers/). A single slice (the 2D benchmarks) always cycles through
            every reader: there presence is what those labels carry.
    """

    num_candidates: int = 8
    nfe: int = 20
    guidance_weight: float = 0.0
    stochastic: bool = True
    start_noise: float = 0.0
    clip_x0: bool = True
    threshold: float = 0.5
    lesion_skip_readers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        skip = self.lesion_skip_readers
        if isinstance(skip, str) or not all(isinstance(r, str) and r for r in skip):
            raise ValueError(f"lesion_skip_readers must be a list of reader names, got {skip!r}")
        object.__setattr__(self, "lesion_skip_readers", tuple(skip))
        if not isinstance(self.num_candidates, int) or not 1 <= self.num_candidates <= 256:
            raise ValueError(f"num_candidates must be an integer in [1, 256], got {self.num_candidates!r}")
        if not isinstance(self.nfe, int) or self.nfe < 1:
            raise ValueError(f"nfe must be an integer >= 1, got {self.nfe!r}")
        if not (0.0 <= float(self.guidance_weight) < float("inf")):
            raise ValueError(f"guidance_weight must be a finite number >= 0, got {self.guidance_weight!r}")
        if not (0.0 <= float(self.start_noise) < float("inf")):
            raise ValueError(f"start_noise must be a finite number >= 0, got {self.start_noise!r}")
        if not 0.0 < float(self.threshold) < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {self.threshold!r}")

    def to_dict(self) -> dict:
        return {**asdict(self), "lesion_skip_readers": list(self.lesion_skip_readers)}

    @classmethod
    def from_dict(cls, d: dict) -> "SamplingConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def replace(self, **changes: object) -> "SamplingConfig":
        """A copy with some fields changed (validated again); ``None`` values are ignored."""
        d = self.to_dict()
        d.update({k: v for k, v in changes.items() if v is not None})
        return SamplingConfig(**d)


def reader_labels_for(readers: int | Sequence[int] | None, num_candidates: int, num_readers: int) -> list[int]:
    """Reader label of each candidate.

    ``None`` cycles through the readers (candidate k imitates reader ``k % num_readers``); an int gives every
    candidate that reader's style; a sequence gives one label per candidate. ``num_readers`` itself is the
    null label (no reader's style).
    """
    if readers is None:
        labels = [k % num_readers for k in range(num_candidates)]
    elif isinstance(readers, int):
        labels = [readers] * num_candidates
    else:
        labels = [int(r) for r in readers]
        if len(labels) != num_candidates:
            raise ValueError(f"expected one reader label per candidate ({num_candidates}), got {len(labels)}")
    bad = sorted({lab for lab in labels if not 0 <= lab <= num_readers})
    if bad:
        raise ValueError(f"unknown reader label(s) {bad}: expected 0..{num_readers - 1}, or {num_readers} for no reader")
    return labels


def lesion_reader_labels(config: SamplingConfig, reader_names: Sequence[str]) -> list[int] | None:
    """Each of ``config.num_candidates`` candidates' reader label for a lesion on a whole scan when the request names
    no reader: the model's readers (``reader_names``) but ``config.lesion_skip_readers``, in turn; None (every reader
    in turn, :func:`reader_labels_for`) when it skips none of them (or all: reported). Readers added by fine-tuning are
    not in the list and take their turn. A skipped name the model does not have is reported (a typo) and ignored."""
    names = list(reader_names)
    unknown = [r for r in config.lesion_skip_readers if r not in names]
    if unknown:
        logger.warning("lesion_skip_readers %s are not among the model's readers %s", unknown, names)
    kept = [i for i, name in enumerate(names) if name not in config.lesion_skip_readers]
    if not kept:
        logger.warning("lesion_skip_readers %s leave none of the readers %s: every reader in turn",
                       list(config.lesion_skip_readers), names)
    if not kept or len(kept) == len(names):
        return None
    return [kept[k % len(kept)] for k in range(config.num_candidates)]


@torch.inference_mode()
def generate_candidates(
    eps_model: EpsModel,
    bridge: Bridge,
    images: torch.Tensor,
    config: SamplingConfig,
    num_readers: int,
    readers: int | Sequence[int] | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    candidates: Sequence[int] | None = None,
    per_image_noise: bool = False,
    label_guidance: Mapping[int, float] | None = None,
) -> torch.Tensor:
    """Sample ``config.num_candidates`` masks for each image.

    Args:
        eps_model: ``eps_model(x_n, image, timesteps, labels) -> eps`` (an :class:`~ssb_core.network.SSBNetwork`).
        bridge: the schedule the model was trained with.
        images: (B, C, *spatial) normalised images (the bridge's x1), on the model's device.
        config: sampling settings.
        num_readers: readers known to the model (its null label is ``num_readers``).
        readers: see :func:`reader_labels_for`.
        seed: candidate k uses the generator :func:`~ssb_core.seeding.candidate_generators` derives from
            (seed, k); the same seed gives the same candidates, whatever the batch, and another seed a new,
            disjoint set.
        progress: ``progress(steps_done, nfe)`` after each step.
        candidates: run only these candidate indices (each exactly as in the full set: its own seed and reader
            label); None = all ``config.num_candidates``.
        per_image_noise: False (slices of one volume): every image of the batch shares candidate k's noise.
            True (independent images of a dataset): image b's candidate k draws the noise of (seed, image_key(b), k)
            (:mod:`ssb_core.seeding`), still independent of the batch.
        label_guidance: reader label -> guidance weight for the candidates of that label instead of
            ``config.guidance_weight`` (readers served with a strength of their own,
            :func:`ssb_core.checkpoint.label_guidance`); candidate k is then exactly (up to float rounding) candidate k
            of that reader's style sampled alone with that weight.

    Returns:
        (B, K, C, *spatial) mask probabilities in [0, 1] (``(x0 + 1) / 2``), K = len(candidates) or N; threshold
        at ``config.threshold``.
    """
    if not isinstance(images, torch.Tensor) or not images.is_floating_point() or images.ndim < 4:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a float tensor (B, C, *spatial), got {got}")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN/Inf values; expected finite values")
    if config.nfe > bridge.num_timesteps:
        raise ValueError(f"nfe must be in [1, {bridge.num_timesteps}], got {config.nfe}")
    B = images.shape[0]
    labels_all = reader_labels_for(readers, config.num_candidates, num_readers)
    ids = list(range(config.num_candidates)) if candidates is None else [int(k) for k in candidates]
    if not ids or any(not 0 <= k < config.num_candidates for k in ids):
        raise ValueError(f"candidates must be indices in [0, {config.num_candidates}), got {candidates!r}")
    N, labels_k = len(ids), [labels_all[k] for k in ids]
    device = images.device
    if per_image_noise:
        keys = [image_key(img) for img in images]
        per_image = [candidate_generators(seed, ids, key) for key in keys]  # [b][k]
        generators = [[per_image[b][k] for b in range(B)] for k in range(len(ids))]  # [k][b]
    else:
        generators = [[g] for g in candidate_generators(seed, ids)]

    def noise_fn() -> torch.Tensor:
        # candidate-major rows: candidate k's fields fill rows k*B .. k*B + B - 1 (one field shared, or one per image)
        fields = [torch.cat([torch.randn((1, *images.shape[1:]), generator=g, dtype=images.dtype) for g in gens])
                  for gens in generators]
        return torch.cat([f.expand(B, *f.shape[1:]) for f in fields]).to(device)

    x1 = images.repeat(N, *([1] * (images.ndim - 1)))
    labels = torch.tensor(labels_k, dtype=torch.long, device=device).repeat_interleave(B)
    x_start = x1 + float(config.start_noise) * noise_fn() if config.start_noise > 0 else x1

    sampler = BridgeSampler(bridge, stochastic=config.stochastic, clip_x0=config.clip_x0)
    sampler.set_timesteps(config.nfe)
    weights = [float((label_guidance or {}).get(lab, config.guidance_weight)) for lab in labels_k]
    guidance = torch.tensor(weights, dtype=torch.float64).repeat_interleave(B)  # one weight per row, candidate-major
    predict = guided_eps(eps_model, x1, labels, null_label=num_readers, guidance_weight=guidance)
    x0 = run_bridge(predict, x_start, sampler, noise_fn=noise_fn, progress=progress)
    probs = ((x0.clamp(-1.0, 1.0) + 1.0) / 2.0).reshape(N, B, *x0.shape[1:])
    return probs.transpose(0, 1).contiguous()
