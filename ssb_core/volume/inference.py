"""Candidates for the lesion under a click in a whole scan: sample only the slices the lesion spans.

:func:`segment_lesion` is what the annotation app, the command-line tools and the benchmark call:

0. choose the zoom (:func:`choose_scale`): with ``scales`` beyond 1, the clicked slice is also sampled with
   the window's pixel size multiplied by each scale (one batch), and a coarser window is taken when the lesion
   at the click does not fit the finer one (a 30 mm nodule fills most of a 45 mm window, and the model, trained
   on nodules that fit, then draws only a part of it);
1. sample the clicked slice(s) and ``first_half_mm`` on each side (one batch: every slice x every candidate);
2. per candidate keep only the 3D components that reach the clicks (:mod:`ssb_core.volume.lesion`);
3. while some candidate's lesion reaches the first or the last sampled slice, sample ``step_mm`` more slices on
   that side (both open sides in one batch), running only the candidates whose lesion continues there (a
   candidate that ended cannot reach past its end: skipping it changes nothing), and go back to 2;
4. stop where every candidate has ended (the last sampled slice on each side is then empty for all of them:
   the margin), at the scan's edge, at the ROI box's k range, or ``max_half_extent_mm`` from the click;
5. fill each candidate's holes slice by slice (``GrowthSettings.fill_holes``; readers' outlines have none).

Candidate k uses the same noise path on every slice (:func:`ssb_core.candidates.generate_candidates` seeds it
per candidate, whatever the batch), so a candidate is one coherent 3D proposal and the result does not
depend on how slices were batched. The model input of every slice comes from
:meth:`ssb_core.preprocessing.Preprocessing.model_input`: the same windows, normalised the same way, as the
model was trained on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ssb_core.candidates import SamplingConfig
from ssb_core.pipeline import SSBPipeline
from ssb_core.preprocessing import Preprocessing
from ssb_core.volume.lesion import fill_slice_holes, keep_connected, seed_region
from ssb_core.volume.roi import ClickPlan, RoiPlan, box_valid, to_box

__all__ = ["GrowthSettings", "LesionCandidates", "choose_scale", "segment_lesion"]

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class GrowthSettings:
    """How far and how fast the lesion is followed through the slices.

    Attributes:
        first_half_mm: millimetres sampled on each side of the clicked slice(s) in the first round.
        step_mm: millimetres added on each side where the lesion continues, per round.
        max_half_extent_mm: the farthest (mm) from the clicked slices the lesion is followed.
        seed_radius_mm: a candidate component belongs to the lesion when it comes this close to a click.
        slice_batch: slices per network batch (each slice carries every candidate).
        max_slices: the most slices one lesion may span (a bound on the time of one request).
        scales: the window pixel sizes tried (multiples of the model's), finest first; ``(1.0,)`` = no zoom.
        fill_holes: fill each candidate's holes slice by slice at the end (:func:`ssb_core.volume.lesion.fill_slice_holes`:
            readers' outlines have none).
    """

    first_half_mm: float = 5.0
    step_mm: float = 5.0
    max_half_extent_mm: float = 40.0
    seed_radius_mm: float = 3.0
    slice_batch: int = 16
    max_slices: int = 64
    scales: tuple[float, ...] = (1.0, 1.5, 2.0)
    fill_holes: bool = True

    def __post_init__(self) -> None:
        for name in ("first_half_mm", "step_mm", "max_half_extent_mm", "seed_radius_mm"):
            if not 0 <= float(getattr(self, name)) < 1e4:
                raise ValueError(f"{name} must be a number of millimetres in [0, 1e4), got {getattr(self, name)!r}")
        if not self.scales or any(not 0.25 <= float(x) <= 8 for x in self.scales):
            raise ValueError(f"scales must be zoom factors in [0.25, 8], got {self.scales!r}")
        if int(self.slice_batch) < 1 or int(self.max_slices) < 1:
            raise ValueError(f"slice_batch and max_slices must be >= 1, got {self.slice_batch!r}, {self.max_slices!r}")


@dataclass
class LesionCandidates:
    """N candidates of the clicked lesion on the box grid of ``plan``.

    Attributes:
        masks: (N, S, ny, nx) bool, the lesion part of candidate n on the plan's S slices (input voxels).
        scale: the zoom used (the window's pixel size / the model's).
        plan: the box and the S contiguous slices sampled. valid: (row, col) slices of the box inside the image.
        dropped_voxels: (N,) voxels each candidate drew that are not connected to the clicks (removed).
        rounds: sampling rounds. stopped: why the growth ended (one phrase per side).
    """

    masks: np.ndarray
    plan: RoiPlan
    valid: tuple[slice, slice]
    dropped_voxels: np.ndarray
    rounds: int
    stopped: dict[str, str] = field(default_factory=dict)
    scale: float = 1.0

    @property
    def num_slices(self) -> int:
        return len(self.plan.slices)

    @property
    def num_candidates(self) -> int:
        return int(self.masks.shape[0])


def _sample_slices(pipeline: SSBPipeline, preprocessing: Preprocessing, volume_zyx: np.ndarray, box: RoiPlan,
                   slices: Sequence[int], config: SamplingConfig, readers: int | Sequence[int] | None, seed: int,
                   batch: int, candidates: Sequence[int],
                   label_guidance: Mapping[int, float] | None = None) -> dict[int, np.ndarray]:
    """slice index -> (N, ny, nx) bool thresholded candidates on the box grid; only ``candidates`` are run
    (each exactly as in the full set), the others are left empty."""
    out: dict[int, np.ndarray] = {}
    ids = sorted(candidates)
    for s in range(0, len(slices), batch):
        part = list(slices[s : s + batch])
        images = preprocessing.model_input(volume_zyx, part, box.y0, box.x0, box.ny, box.nx)
        probs = pipeline.sample(images, config, readers=readers, seed=seed, candidates=ids, label_guidance=label_guidance)
        probs = probs[:, :, 0]  # (B, K, H, W)
        masks = to_box(probs, box) > config.threshold  # (B, K, ny, nx)
        for b, k in enumerate(part):
            full = np.zeros((config.num_candidates, box.ny, box.nx), dtype=bool)
            full[ids] = masks[b]
            out[k] = full
    return out


def _border_touch(kept: np.ndarray) -> np.ndarray:
    """(N,) whether each candidate's lesion reaches the outermost voxel ring of the box."""
    ring = np.zeros(kept.shape[-2:], dtype=bool)
    ring[[0, -1], :] = ring[:, [0, -1]] = True
    return (kept & ring).reshape(kept.shape[0], -1).any(axis=1)


def choose_scale(pipeline: SSBPipeline, preprocessing: Preprocessing, volume_zyx: np.ndarray, spacing_xyz: Sequence[float],
                 click: ClickPlan, config: SamplingConfig, readers: int | Sequence[int] | None, seed: int,
                 settings: GrowthSettings,
                 label_guidance: Mapping[int, float] | None = None) -> tuple[float, list[dict], dict[int, np.ndarray]]:
    """The zoom for this click, what was seen at each scale, and the clicked slices' candidates at that zoom
    (slice index -> (N, ny, nx) bool, as :func:`segment_lesion` samples them; empty with a single scale).

    The clicked slice(s) at every scale go through the network as one batch. The zoom is the finest scale at
    which a majority of the candidates draw a lesion at the click that does not touch the window's border: a
    lesion larger than the window, or one the model mostly does not see at its own scale (a 30 mm nodule
    filling a 45 mm window), gets a coarser window. When no scale has such a majority: the scale where most
    candidates draw one inside the window (the coarsest drawn when all touch the border); a click with nothing
    at any scale stays at the finest: the answer is "nothing here"."""
    if len(settings.scales) == 1:
        return float(settings.scales[0]), [], {}
    images, plans, drawn_at = [], [], {}
    for scale in settings.scales:
        pre = preprocessing.zoomed(scale)
        plan = click.with_box_size(*pre.box_size(spacing_xyz)).box
        images.append(pre.model_input(volume_zyx, plan.slices, plan.y0, plan.x0, plan.ny, plan.nx))
        plans.append(plan)
    probs = pipeline.sample(torch.cat(images), config, readers=readers, seed=seed, label_guidance=label_guidance)
    probs = probs[:, :, 0]  # (sum S, N, H, W)
    seen, start = [], 0
    for scale, plan in zip(settings.scales, plans):
        part = probs[start : start + len(plan.slices)]
        start += len(plan.slices)
        masks = np.moveaxis(to_box(part, plan) > config.threshold, 0, 1)  # (N, S, ny, nx)
        drawn_at[float(scale)] = {k: masks[:, i] for i, k in enumerate(plan.slices)}
        kept = keep_connected(masks, seed_region(plan, click.seeds_ijk, spacing_xyz, settings.seed_radius_mm))
        pixel_mm2 = float(spacing_xyz[0]) * float(spacing_xyz[1])
        area = kept.reshape(kept.shape[0], -1).sum(axis=1) * pixel_mm2 / max(1, len(plan.slices))
        seen.append({"scale": float(scale), "mean_area_mm2": float(area.mean()), "drawn_by": int((area > 0).sum()),
                     "touch_border": int(_border_touch(kept.any(axis=1)).sum())})
    scale = _pick_scale(seen, config.num_candidates)
    return scale, seen, drawn_at[scale]


def _pick_scale(seen: list[dict], n: int) -> float:
    """The rule of :func:`choose_scale` on what was seen at each scale (finest first), for ``n`` candidates."""
    for s in seen:  # the finest scale at which most candidates draw a lesion at the click, inside the window
        if s["drawn_by"] * 2 > n and s["touch_border"] <= n // 4:
            return s["scale"]
    drawn = [s for s in seen if s["drawn_by"] > 0]
    if not drawn:  # nothing here, at any scale
        return seen[0]["scale"]
    fits = [s for s in drawn if s["touch_border"] <= n // 4] or drawn[-1:]
    return max(fits, key=lambda s: s["drawn_by"])["scale"]


def segment_lesion(
    pipeline: SSBPipeline,
    preprocessing: Preprocessing,
    volume_zyx: np.ndarray,
    spacing_xyz: Sequence[float],
    click: ClickPlan,
    config: SamplingConfig,
    readers: int | Sequence[int] | None = None,
    seed: int = 0,
    settings: GrowthSettings | None = None,
    label_guidance: Mapping[int, float] | None = None,
) -> LesionCandidates:
    """The candidates of the lesion at ``click`` (see the module docstring).

    Args:
        pipeline: the loaded model. preprocessing: how it sees a scan (from its checkpoint).
        volume_zyx: (Z, Y, X) raw intensities; spacing_xyz: voxel size (mm) along i, j, k.
        click: from :func:`ssb_core.volume.roi.plan_roi`. config: sampling settings (N, NFE, ...).
        readers, seed, label_guidance: as in :meth:`SSBPipeline.sample`.

    Returns:
        :class:`LesionCandidates` on the sampled slices.
    """
    settings = settings or GrowthSettings()
    scale, _, clicked = choose_scale(pipeline, preprocessing, volume_zyx, spacing_xyz, click, config, readers, seed, settings,
                                     label_guidance)
    preprocessing = preprocessing.zoomed(scale)
    click = click.with_box_size(*preprocessing.box_size(spacing_xyz))
    z = volume_zyx.shape[0]
    sz = float(spacing_xyz[2]) if z > 1 else 1.0
    k_lo_limit, k_hi_limit = click.k_range
    first_lo, first_hi = min(click.box.slices), max(click.box.slices)
    reach = max(0, int(math.floor(settings.max_half_extent_mm / sz)))
    k_lo_limit, k_hi_limit = max(k_lo_limit, first_lo - reach), min(k_hi_limit, first_hi + reach)
    half = int(math.ceil(settings.first_half_mm / sz)) if z > 1 else 0
    step = max(1, int(math.ceil(settings.step_mm / sz)))

    lo, hi = max(k_lo_limit, first_lo - half), min(k_hi_limit, first_hi + half)
    if hi - lo + 1 > settings.max_slices:
        lo = max(lo, (first_lo + first_hi) // 2 - settings.max_slices // 2)
        hi = lo + settings.max_slices - 1
    everyone = list(range(config.num_candidates))
    # the clicked slices were sampled at this zoom while choosing it: not again
    sampled: dict[int, np.ndarray] = {k: m for k, m in clicked.items() if lo <= k <= hi}
    todo: dict[int, list[int]] = {k: everyone for k in range(lo, hi + 1) if k not in sampled}  # slice -> candidates
    rounds = 0
    stopped: dict[str, str] = {}
    while True:
        rounds += 1
        if todo:
            run = sorted(set().union(*todo.values()))
            new = _sample_slices(pipeline, preprocessing, volume_zyx, click.box, sorted(todo), config, readers, seed,
                                 settings.slice_batch, run, label_guidance)
            for k, masks in new.items():  # a candidate that ended on this side is not continued past its end
                masks[[n for n in everyone if n not in todo[k]]] = False
            sampled.update(new)
        plan = click.box.with_slices(range(lo, hi + 1))
        raw = np.stack([sampled[k] for k in plan.slices], axis=1)  # (N, S, ny, nx)
        kept = keep_connected(raw, seed_region(plan, click.seeds_ijk, spacing_xyz, settings.seed_radius_mm))
        todo = {}
        for side, edge, limit in (("below", lo, k_lo_limit), ("above", hi, k_hi_limit)):
            # a candidate continues on this side while its lesion reaches the outermost slice sampled there
            open_ids = [n for n in everyone if kept[n, 0 if side == "below" else -1].any()]
            if not open_ids:
                stopped[side] = "lesion ended"
            elif edge == limit:
                stopped[side] = "scan edge" if limit in (0, z - 1) else "ROI box or max_half_extent_mm"
            elif hi - lo + 1 + len(todo) >= settings.max_slices:
                stopped[side] = "max_slices"
            else:
                ks = range(max(limit, edge - step), edge) if side == "below" else range(edge + 1, min(limit, edge + step) + 1)
                todo.update({k: open_ids for k in ks})
        if not todo:
            break
        lo, hi = min(lo, min(todo)), max(hi, max(todo))
    plan = click.box.with_slices(range(lo, hi + 1))
    valid = box_valid(plan, volume_zyx.shape)
    inside = np.zeros((plan.ny, plan.nx), dtype=bool)
    inside[valid] = True
    raw = np.stack([sampled[k] for k in plan.slices], axis=1) & inside
    kept = keep_connected(raw, seed_region(plan, click.seeds_ijk, spacing_xyz, settings.seed_radius_mm))
    dropped = (raw & ~kept).reshape(raw.shape[0], -1).sum(axis=1)
    if settings.fill_holes:
        kept = fill_slice_holes(kept) & inside
    logger.debug("lesion at %s: %d slices in %d rounds (%s)", click.box.centre_ijk, len(plan.slices), rounds, stopped)
    return LesionCandidates(kept, plan, valid, dropped, rounds, stopped, scale)

