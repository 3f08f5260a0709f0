"""Candidates for the lesion under a click in a whole scan: sample only the slices the lesion spans.

:func:`segment_lesion` is what the annotation app, the command-line tools and the benchmark call:

0. choose the zoom (:func:`choose_scale`): with ``scales`` beyond 1, the clicked slice is also sampled with
   the window's pixel size multiplied by each scale (one batch), and the zoom is the one at which the most
   candidates draw a nodule-sized lesion at the click, inside the window (a 33 mm nodule fills most of a 45 mm
   window, and the model, trained on nodules that fill a small part of it, then draws only a part of it, or nothing);
1. sample the clicked slice(s) and ``first_half_mm`` on each side (one batch: every slice x every candidate);
2. *the vote* (``GrowthSettings.presence = "vote"``, the default): the N candidates' first draws on these slices
   say whether there is a lesion at the click (a candidate votes yes when its clicked lesion, step 3, is not
   empty). When fewer than half of them hold one, the answer is "no lesion here": every candidate is empty and
   nothing more is sampled. Otherwise the reader clicked on a lesion the model sees, and each candidate that holds
   nothing is redrawn (a new noise path, same reader style: :mod:`ssb_core.volume.streams`) until it does, up to
   ``max_redraws`` times: a candidate set to pick from holds outlines, not empty masks;
3. per candidate keep only the clicked lesion (:func:`ssb_core.volume.lesion.clicked_lesion`: the 3D component
   nearest to each click, cut at its necks);
4. while some candidate's lesion reaches the first or the last sampled slice, sample ``step_mm`` more slices on
   that side (both open sides in one batch), running only the candidates whose lesion continues there (a
   candidate that ended cannot reach past its end: skipping it changes nothing), and go back to 3;
5. stop where every candidate has ended (the last sampled slice on each side is then empty for all of them:
   the margin), at the scan's edge, at the ROI box's k range, or ``max_half_extent_mm`` from the click. With the
   vote, a candidate that is empty, or whose lesion still runs on at ``max_half_extent_mm`` (a vessel, the chest
   wall or the heart followed, not a lesion), is redrawn and followed again while it has draws left; one that
   still runs on is then emptied, and when fewer than half of the candidates hold a lesion the answer is again
   "no lesion here";

   On a CT in HU, with the vote, a candidate *holds a lesion* only when lung borders it
   (``GrowthSettings.min_lung_contact``, :mod:`ssb_core.volume.lung`): one drawn in the mediastinum or the chest
   wall, with no lung around it, neither votes nor is kept (it is redrawn like an empty one);
6. fill each candidate's holes slice by slice (``GrowthSettings.fill_holes``; readers' outlines have none).

What the vote saw and did is :attr:`LesionCandidates.presence` (the viewers word it:
``apps/ssb/lib/candidate_set.py``). ``presence = "as_sampled"`` keeps every candidate as first drawn (no vote, no
redraw): the research view of the model's own presence probability.

Candidate k uses the same noise path on every slice (:func:`ssb_core.candidates.generate_candidates` seeds it
per candidate, whatever the batch), so a candidate is one coherent 3D proposal and the result does not
depend on how slices were batched. The model input of every slice comes from
:meth:`ssb_core.preprocessing.Preprocessing.model_input`: the same windows, normalised the same way, as the
model was trained on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ssb_core.candidates import SamplingConfig
from ssb_core.pipeline import SSBPipeline
from ssb_core.preprocessing import Preprocessing
from ssb_core.volume.lesion import clicked_lesion, fill_slice_holes
from ssb_core.volume.lung import is_ct_hounsfield, lung_contact
from ssb_core.volume.roi import ClickPlan, RoiPlan, box_valid, crop_box, to_box
from ssb_core.volume.streams import StreamSampler

__all__ = ["GrowthSettings", "LesionCandidates", "Presence", "PRESENCE_MODES", "choose_scale", "segment_lesion"]

logger = logging.getLogger(__name__)

#: how the candidates' presence at the click is decided (GrowthSettings.presence)
PRESENCE_MODES = ("vote", "as_sampled")


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
        max_lesion_mm: the largest lesion (equivalent diameter of its largest cross-section at the click, mm) the zoom
            is chosen for (:func:`choose_scale`); LIDC's nodules are at most about 30 mm.
        neck_fraction: a candidate is cut where its cross-section shrinks to this fraction of its largest and grows
            again (:func:`ssb_core.volume.lesion.cut_at_necks`); 0 = never.
        presence: ``"vote"`` (the candidates vote whether there is a lesion at the click; empty or open ones are
            redrawn) or ``"as_sampled"`` (every candidate as first drawn); see the module docstring.
        max_redraws: redraws per candidate with the vote.
        min_lung_contact: with the vote, on a CT in HU, the least share of a candidate's 2 mm shell that must be lung
            for it to hold a lung lesion (:mod:`ssb_core.volume.lung`); 0 = no check.
    """

    first_half_mm: float = 5.0
    step_mm: float = 5.0
    max_half_extent_mm: float = 40.0
    seed_radius_mm: float = 3.0
    slice_batch: int = 16
    max_slices: int = 64
    scales: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0)
    fill_holes: bool = True
    max_lesion_mm: float = 40.0
    neck_fraction: float = 0.25
    presence: str = "vote"
    max_redraws: int = 3
    min_lung_contact: float = 0.2

    def __post_init__(self) -> None:
        if self.presence not in PRESENCE_MODES:
            raise ValueError(f"presence must be one of {PRESENCE_MODES}, got {self.presence!r}")
        if not 0 <= float(self.min_lung_contact) <= 1:
            raise ValueError(f"min_lung_contact must be a share in [0, 1], got {self.min_lung_contact!r}")
        if not 0 <= float(self.neck_fraction) < 1 or int(self.max_redraws) < 0:
            raise ValueError(f"neck_fraction must be in [0, 1) and max_redraws >= 0, got {self.neck_fraction!r}, "
                             f"{self.max_redraws!r}")
        for name in ("first_half_mm", "step_mm", "max_half_extent_mm", "seed_radius_mm", "max_lesion_mm"):
            if not 0 <= float(getattr(self, name)) < 1e4:
                raise ValueError(f"{name} must be a number of millimetres in [0, 1e4), got {getattr(self, name)!r}")
        if not self.scales or any(not 0.25 <= float(x) <= 8 for x in self.scales):
            raise ValueError(f"scales must be zoom factors in [0.25, 8], got {self.scales!r}")
        if int(self.slice_batch) < 1 or int(self.max_slices) < 1:
            raise ValueError(f"slice_batch and max_slices must be >= 1, got {self.slice_batch!r}, {self.max_slices!r}")


@dataclass(frozen=True)
class Presence:
    """What the candidates said about a lesion at the click.

    Attributes:
        mode: ``"vote"`` or ``"as_sampled"`` (:data:`PRESENCE_MODES`).
        drawn_at_click: how many of the N first draws held a lesion at the click (the vote).
        num_candidates: N.
        lesion: whether at least half of the final candidates hold a lesion (with the vote: all of them, or none).
        redrawn: slots whose candidate is a later draw (the first drew nothing at the click, or ran on).
        open_emptied: slots emptied because their lesion still ran on at the growth limit after every redraw.
        outside_lung: first draws that drew something at the click with no lung around it (not counted in
            ``drawn_at_click``; :mod:`ssb_core.volume.lung`).
        outside_lung_emptied: slots emptied because, after every redraw, no lung borders their lesion.
    """

    mode: str
    drawn_at_click: int
    num_candidates: int
    lesion: bool
    redrawn: tuple[int, ...] = ()
    open_emptied: tuple[int, ...] = ()
    outside_lung: int = 0
    outside_lung_emptied: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        return {"mode": self.mode, "drawn_at_click": self.drawn_at_click, "num_candidates": self.num_candidates,
                "lesion": self.lesion, "redrawn": list(self.redrawn), "open_emptied": list(self.open_emptied),
                "outside_lung": self.outside_lung, "outside_lung_emptied": list(self.outside_lung_emptied)}


@dataclass
class LesionCandidates:
    """N candidates of the clicked lesion on the box grid of ``plan``.

    Attributes:
        masks: (N, S, ny, nx) bool, the lesion part of candidate n on the plan's S slices (input voxels).
        scale: the zoom used (the window's pixel size / the model's).
        plan: the box and the S contiguous slices sampled. valid: (row, col) slices of the box inside the image.
        dropped_voxels: (N,) voxels each candidate drew that are not connected to the clicks (removed).
        rounds: sampling rounds. stopped: why the growth ended (one phrase per side).
        presence: the vote at the click (:class:`Presence`). streams: (N,) the noise stream of each candidate
            (candidate n's first draw is stream n; :mod:`ssb_core.volume.streams`).
    """

    masks: np.ndarray
    plan: RoiPlan
    valid: tuple[slice, slice]
    dropped_voxels: np.ndarray
    rounds: int
    stopped: dict[str, str] = field(default_factory=dict)
    scale: float = 1.0
    presence: Presence | None = None
    streams: tuple[int, ...] = ()

    @property
    def num_slices(self) -> int:
        return len(self.plan.slices)

    @property
    def num_candidates(self) -> int:
        return int(self.masks.shape[0])


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

    The clicked slice(s) at every scale go through the network as one batch. At each scale a candidate *votes* when
    it draws a lesion at the click (:func:`ssb_core.volume.lesion.clicked_lesion`) that stays inside the window and
    is nodule-sized: the equivalent diameter of its largest cross-section at most ``settings.max_lesion_mm``. The
    zoom is the scale with the most votes, the finest on a tie. The network was trained on nodules that fill a
    small part of its window (LIDC's are mostly 3-15 mm): it sees a 33 mm nodule whole in a 134 mm window (scale 3)
    and only in pieces, or not at all, in a 45 mm one; a small nodule it sees at its own scale. The size bound keeps
    the zoom from going out to where the candidates outline the heart or the mediastinum. A click with no vote at
    any scale stays at the finest: the answer is "nothing here"."""
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
    pixel_mm2 = float(spacing_xyz[0]) * float(spacing_xyz[1])
    for scale, plan in zip(settings.scales, plans):
        part = probs[start : start + len(plan.slices)]
        start += len(plan.slices)
        masks = np.moveaxis(to_box(part, plan) > config.threshold, 0, 1)  # (N, S, ny, nx)
        drawn_at[float(scale)] = {k: masks[:, i] for i, k in enumerate(plan.slices)}
        kept = clicked_lesion(masks, plan, click.seeds_ijk, spacing_xyz, settings.seed_radius_mm, settings.neck_fraction)
        sections = kept.reshape(*kept.shape[:2], -1).sum(axis=2) * pixel_mm2  # (N, S) cross-sections, mm^2
        area = sections.sum(axis=1) / max(1, len(plan.slices))
        diameter = 2.0 * np.sqrt(sections.max(axis=1) / np.pi)
        touch = _border_touch(kept.any(axis=1))
        votes = (area > 0) & ~touch & (diameter <= settings.max_lesion_mm)
        seen.append({"scale": float(scale), "mean_area_mm2": float(area.mean()), "drawn_by": int((area > 0).sum()),
                     "touch_border": int(touch.sum()), "votes": int(votes.sum())})
    scale = _pick_scale(seen)
    return scale, seen, drawn_at[scale]


def _pick_scale(seen: list[dict]) -> float:
    """The rule of :func:`choose_scale` on what was seen at each scale (finest first): the most votes, the finest on
    a tie (with no vote anywhere, the finest)."""
    return max(seen, key=lambda s: s["votes"])["scale"]  # max keeps the first of equal keys: the finest


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
    voting = settings.presence == "vote"
    sampler = StreamSampler(pipeline, preprocessing, volume_zyx, click.box, config, readers,
                            settings.max_redraws if voting else 0, seed, settings.slice_batch, label_guidance)
    n_slots = config.num_candidates
    everyone = list(range(n_slots))
    z = volume_zyx.shape[0]
    sz = float(spacing_xyz[2]) if z > 1 else 1.0
    first = sorted(click.box.slices)
    limits = _growth_limits(click, z, sz, settings)
    inside = np.zeros((click.box.ny, click.box.nx), dtype=bool)
    inside[box_valid(click.box, volume_zyx.shape)] = True

    def lesion_of(sampled: dict[int, np.ndarray], slices: Sequence[int]) -> np.ndarray:
        plan = click.box.with_slices(slices)
        raw = np.stack([sampled[k] for k in plan.slices], axis=1) & inside  # (N, S, ny, nx)
        return clicked_lesion(raw, plan, click.seeds_ijk, spacing_xyz, settings.seed_radius_mm, settings.neck_fraction)

    check_lung = voting and settings.min_lung_contact > 0 and is_ct_hounsfield(volume_zyx)

    def holds_lesion(kept: np.ndarray, slices: Sequence[int]) -> np.ndarray:
        """(N,) bool: which of ``kept`` (N, S, ny, nx) on ``slices`` hold a lesion (with lung around it, on a CT)."""
        drawn = kept.reshape(len(kept), -1).any(axis=1)
        if not check_lung or not drawn.any():
            return drawn
        share = lung_contact(kept, crop_box(volume_zyx, click.box.with_slices(slices)), spacing_xyz, inside)
        return drawn & (np.nan_to_num(share) >= settings.min_lung_contact)

    def first_draws_hold(trial: dict[int, np.ndarray], slices: Sequence[int]) -> np.ndarray:
        return holds_lesion(lesion_of(trial, slices), slices)

    # 1. the first slices (the clicked ones and first_half_mm around them): each slot's first draw, and the vote
    lo, hi = max(limits.lo, first[0] - limits.half), min(limits.hi, first[-1] + limits.half)
    if hi - lo + 1 > settings.max_slices:
        lo = max(lo, (first[0] + first[-1]) // 2 - settings.max_slices // 2)
        hi = lo + settings.max_slices - 1
    start = list(range(lo, hi + 1))
    draws = [0] * n_slots  # slot n uses stream sampler.stream(n, draws[n])
    tried = [0] * n_slots  # ... and has tried its draws up to tried[n]
    sampled = {k: np.array(m, copy=True) for k, m in clicked.items() if lo <= k <= hi}  # sampled while choosing the zoom
    sampled.update(sampler.sample_slots([k for k in start if k not in sampled], {n: n for n in everyone}))
    first_lesions = lesion_of(sampled, start)
    drawn_at_click = holds_lesion(first_lesions, start)
    votes = int(drawn_at_click.sum())
    outside_lung = int(first_lesions.reshape(n_slots, -1).any(axis=1).sum()) - votes
    if voting and votes * 2 < n_slots:  # most candidates see nothing here: no lesion, nothing more sampled
        presence = Presence("vote", votes, n_slots, False, outside_lung=outside_lung)
        return _result(np.zeros((n_slots, len(start), *inside.shape), dtype=bool), click.box.with_slices(start), volume_zyx,
                       sampled, inside, 1, {"below": "no lesion at the click", "above": "no lesion at the click"}, scale,
                       presence, [sampler.stream(n, d) for n, d in enumerate(draws)], settings.fill_holes)
    redrawn: set[int] = set()
    if voting:
        redrawn |= _redraw(sampler, sampled, start, [n for n in everyone if not drawn_at_click[n]], draws, tried, first_draws_hold)

    # 2. follow the lesion outwards; redraw what ends up empty or open, while draws are left
    todo: dict[int, list[int]] = {}  # slice -> slots to sample there
    rounds, stopped, open_slots = 0, {}, set()
    while True:
        rounds += 1
        if todo:
            run = sorted(set().union(*todo.values()))
            new = sampler.sample_slots(sorted(todo), {n: sampler.stream(n, draws[n]) for n in run})
            for k, masks in new.items():  # a slot that ended on this side is not continued past its end
                rows = todo[k]
                sampled.setdefault(k, np.zeros_like(masks))[rows] = masks[rows]
        kept = lesion_of(sampled, range(lo, hi + 1))
        todo, open_slots = {}, set()
        for side, edge in (("below", lo), ("above", hi)):
            # a slot continues on this side while its lesion reaches the outermost slice sampled there
            reach = [n for n in everyone if kept[n, 0 if side == "below" else -1].any()]
            limit = limits.lo if side == "below" else limits.hi
            if not reach:
                stopped[side] = "lesion ended"
            elif edge == limit or hi - lo + 1 + len(todo) >= settings.max_slices:
                stopped[side] = limits.reason(side) if edge == limit else "max_slices"
                if stopped[side] in ("max_half_extent_mm", "max_slices"):
                    open_slots.update(reach)
            else:
                step = limits.step
                ks = range(max(limit, edge - step), edge) if side == "below" else range(edge + 1, min(limit, edge + step) + 1)
                todo.update({k: reach for k in ks})
        if not todo and voting:
            held = holds_lesion(kept, range(lo, hi + 1))
            rejected = [n for n in everyone if n in open_slots or not held[n]]
            again = _redraw(sampler, sampled, start, rejected, draws, tried, first_draws_hold)
            redrawn |= again
            todo = {k: sorted(again) for k in range(lo, hi + 1) if k not in start and again}
        if not todo:
            break
        lo, hi = min(lo, min(todo)), max(hi, max(todo))

    plan = click.box.with_slices(range(lo, hi + 1))
    off_lung: tuple[int, ...] = ()
    if voting:  # a slot whose lesion still runs into the growth limit follows a structure, not a lesion: empty
        kept[sorted(open_slots)] = False
        drawn = kept.reshape(n_slots, -1).any(axis=1)
        off_lung = tuple(int(n) for n in np.flatnonzero(drawn & ~holds_lesion(kept, plan.slices)))
        kept[list(off_lung)] = False  # ... and one with no lung around it is not a lung lesion
    found = int(kept.reshape(n_slots, -1).any(axis=1).sum())
    lesion = found * 2 >= n_slots
    if voting and not lesion:  # after the redraws, most slots still hold no closed lesion at the click
        kept[:] = False
    presence = Presence("vote" if voting else "as_sampled", votes, n_slots, lesion, tuple(sorted(redrawn)),
                        tuple(sorted(open_slots)) if voting else (), outside_lung if voting else 0, off_lung)
    logger.debug("lesion at %s: %d slices in %d rounds (%s), %s", click.box.centre_ijk, len(plan.slices), rounds, stopped,
                 presence)
    return _result(kept, plan, volume_zyx, sampled, inside, rounds, stopped, scale, presence,
                   [sampler.stream(n, d) for n, d in enumerate(draws)], settings.fill_holes)


def _redraw(sampler: StreamSampler, sampled: dict[int, np.ndarray], first: Sequence[int], slots: Sequence[int],
            draws: list[int], tried: list[int], holds: Callable[[dict[int, np.ndarray], Sequence[int]], np.ndarray]) -> set[int]:
    """Give each of ``slots`` its next draw that holds a lesion at the click, tried on the first slices ``first`` (the
    clicked ones and their neighbours): each pending slot's next draw, all in one batch, until every slot has one or
    has no draws left. ``holds(trial, first)``: (T,) bool, which of the T draws in ``trial`` (slice -> (T, ny, nx))
    hold a lesion. Updates ``draws`` (the draw in use), ``tried`` (the last draw tried) and the first slices of
    ``sampled``. Returns the slots that got a new draw."""
    got: set[int] = set()
    pending = [n for n in slots if tried[n] < sampler.redraws]
    while pending:
        tries = [(n, tried[n] + 1) for n in pending]
        trial = sampler.sample(first, [sampler.stream(n, d) for n, d in tries])  # slice -> (T, ny, nx)
        hits = holds(trial, first)
        for t, (n, d) in enumerate(tries):
            tried[n] = d
            if hits[t]:
                draws[n] = d
                for k in first:
                    sampled[k][n] = trial[k][t]
                got.add(n)
        pending = [n for n, _ in tries if n not in got and tried[n] < sampler.redraws]
    return got


@dataclass(frozen=True)
class _Limits:
    """Slices the growth may reach (inclusive), why each side is limited, the first half-width and step (slices)."""

    lo: int
    hi: int
    lo_reason: str
    hi_reason: str
    half: int
    step: int

    def reason(self, side: str) -> str:
        return self.lo_reason if side == "below" else self.hi_reason


def _growth_limits(click: ClickPlan, z: int, sz: float, settings: GrowthSettings) -> _Limits:
    """The growth's slice limits for ``click`` in a scan of ``z`` slices of ``sz`` mm."""
    first_lo, first_hi = min(click.box.slices), max(click.box.slices)
    reach = max(0, int(math.floor(settings.max_half_extent_mm / sz)))
    ends = []
    for below, box_end, reach_end, scan_end in ((True, click.k_range[0], first_lo - reach, 0),
                                                (False, click.k_range[1], first_hi + reach, z - 1)):
        inner = max(box_end, reach_end) if below else min(box_end, reach_end)
        if inner == scan_end:
            why = "scan edge"
        elif inner == reach_end:
            why = "max_half_extent_mm"
        else:
            why = "ROI box"
        ends.append((inner, why))
    half = int(math.ceil(settings.first_half_mm / sz)) if z > 1 else 0
    step = max(1, int(math.ceil(settings.step_mm / sz)))
    return _Limits(ends[0][0], ends[1][0], ends[0][1], ends[1][1], half, step)


def _result(kept: np.ndarray, plan: RoiPlan, volume_zyx: np.ndarray, sampled: dict[int, np.ndarray], inside: np.ndarray,
            rounds: int, stopped: dict[str, str], scale: float, presence: "Presence", streams: list[int],
            fill_holes: bool) -> LesionCandidates:
    """The :class:`LesionCandidates` of ``kept`` (N, S, ny, nx) on ``plan``."""
    raw = np.stack([sampled[k] for k in plan.slices], axis=1) & inside
    dropped = (raw & ~kept).reshape(raw.shape[0], -1).sum(axis=1)
    if fill_holes:
        kept = fill_slice_holes(kept) & inside
    valid = box_valid(plan, volume_zyx.shape)
    return LesionCandidates(kept, plan, valid, dropped, rounds, stopped, scale, presence, tuple(streams))
