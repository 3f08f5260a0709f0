"""Following one click's candidates through the slices (steps 1, 2, 4 and 5 of :func:`ssb_core.volume.segment_lesion`).

:class:`LesionGrowth` holds what one click has sampled so far: every candidate slot's masks per slice, the noise
stream each slot uses (its draw: :mod:`ssb_core.volume.streams`), and the slices reached. It samples the first
slices (the clicked ones and ``first_half_mm`` around them), gives slots a new draw when theirs holds no lesion
at the click (the vote's redraws), and follows the lesion outwards, ``step_mm`` per round on each side where some
candidate's lesion continues (each candidate from the last slice it reached: a redrawn one starts again from the
first slices), until every candidate has ended or a limit is reached. What the answer is made of
(the vote's verdict, which slots are emptied) is decided by the caller.

Arrays are on the click's box grid: ``(N, S, ny, nx)`` bool for N candidate slots on S contiguous slices;
``sampled`` maps a slice index to its ``(N, ny, nx)`` masks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ssb_core.volume.lesion import clicked_lesion
from ssb_core.volume.lung import is_ct_hounsfield, lung_contact
from ssb_core.volume.roi import ClickPlan, RoiPlan, box_valid, crop_box
from ssb_core.volume.streams import StreamSampler

if TYPE_CHECKING:
    from ssb_core.volume.inference import GrowthSettings

__all__ = ["LesionGrowth"]


def _by_slots(todo: dict[int, list[int]]) -> dict[tuple[int, ...], list[int]]:
    """``todo`` (slice -> slots) grouped as (slots -> their slices), to sample each group as one batch."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for k in sorted(todo):
        groups.setdefault(tuple(todo[k]), []).append(k)
    return groups


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


class LesionGrowth:
    """One click's candidate slots followed through the slices.

    Args:
        sampler: draws the slots' masks (its ``num_slots`` and ``redraws`` bound the slots and their draws).
        volume_zyx: (Z, Y, X) raw intensities; spacing_xyz: voxel size (mm) along i, j, k.
        click: the click at the chosen zoom. settings: the growth settings.
        voting: whether the vote decides presence: then, on a CT in HU, a lesion must border lung
            (:mod:`ssb_core.volume.lung`) to be held.

    Attributes:
        sampled: slice -> (N, ny, nx) bool, what each slot's current draw drew there.
        first: the first slices (the clicked ones and their neighbours). lo, hi: the slices reached (inclusive).
        reached: slot -> [lo, hi], the slices sampled with that slot's current draw (a redrawn slot starts again
            from the first slices and is followed from there: its earlier draw's slices are cleared, not resampled).
        rounds, stopped: sampling rounds, and why the growth ended on each side (``"below"``, ``"above"``).
        open_slots: slots whose lesion still ran on at a limit in the last round. redrawn: slots given a later draw.
    """

    def __init__(self, sampler: StreamSampler, volume_zyx: np.ndarray, spacing_xyz: Sequence[float], click: ClickPlan,
                 settings: GrowthSettings, voting: bool) -> None:
        self.sampler, self.volume, self.spacing, self.click = sampler, volume_zyx, spacing_xyz, click
        self.settings, self.voting = settings, voting
        self.slots = list(range(sampler.num_slots))
        z = volume_zyx.shape[0]
        self.limits = _growth_limits(click, z, float(spacing_xyz[2]) if z > 1 else 1.0, settings)
        self.inside = np.zeros((click.box.ny, click.box.nx), dtype=bool)
        self.inside[box_valid(click.box, volume_zyx.shape)] = True
        self.check_lung = voting and settings.min_lung_contact > 0 and is_ct_hounsfield(volume_zyx)
        self.draws = [0] * len(self.slots)  # slot n uses stream sampler.stream(n, draws[n])
        self.tried = [0] * len(self.slots)  # ... and has tried its draws up to tried[n]
        self.sampled: dict[int, np.ndarray] = {}
        self.first: list[int] = []
        self.lo = self.hi = 0
        self.reached: list[list[int]] = []
        self.rounds, self.stopped, self.open_slots, self.redrawn = 0, {}, set(), set()

    def plan(self) -> RoiPlan:
        """The box on the slices reached."""
        return self.click.box.with_slices(range(self.lo, self.hi + 1))

    def streams(self) -> list[int]:
        """(N,) the noise stream each slot's current draw uses."""
        return [self.sampler.stream(n, d) for n, d in enumerate(self.draws)]

    def lesion_of(self, sampled: dict[int, np.ndarray], slices: Sequence[int]) -> np.ndarray:
        """(T, S, ny, nx) the clicked lesion of each of the T masks in ``sampled`` on ``slices``."""
        plan = self.click.box.with_slices(slices)
        raw = np.stack([sampled[k] for k in plan.slices], axis=1) & self.inside
        s = self.settings
        return clicked_lesion(raw, plan, self.click.seeds_ijk, self.spacing, s.seed_radius_mm, s.neck_fraction)

    def holds_lesion(self, kept: np.ndarray, slices: Sequence[int]) -> np.ndarray:
        """(T,) bool: which of ``kept`` (T, S, ny, nx) on ``slices`` hold a lesion (with lung around it, on a CT)."""
        drawn = kept.reshape(len(kept), -1).any(axis=1)
        if not self.check_lung or not drawn.any():
            return drawn
        share = lung_contact(kept, crop_box(self.volume, self.click.box.with_slices(slices)), self.spacing, self.inside)
        return drawn & (np.nan_to_num(share) >= self.settings.min_lung_contact)

    def sample_first(self, clicked: dict[int, np.ndarray]) -> np.ndarray:
        """Sample every slot's first draw on the first slices (reusing ``clicked``, slice -> (N, ny, nx), sampled
        while choosing the zoom). Returns their clicked lesions, (N, S, ny, nx) on :attr:`first`."""
        limits, s = self.limits, self.settings
        clicks = sorted(self.click.box.slices)
        lo, hi = max(limits.lo, clicks[0] - limits.half), min(limits.hi, clicks[-1] + limits.half)
        if hi - lo + 1 > s.max_slices:
            lo = max(lo, (clicks[0] + clicks[-1]) // 2 - s.max_slices // 2)
            hi = lo + s.max_slices - 1
        self.lo, self.hi, self.first = lo, hi, list(range(lo, hi + 1))
        self.reached = [[lo, hi] for _ in self.slots]
        self.sampled = {k: np.array(m, copy=True) for k, m in clicked.items() if lo <= k <= hi}
        self.sampled.update(self.sampler.sample_slots([k for k in self.first if k not in self.sampled], {n: n for n in self.slots}))
        self.rounds = 1
        return self.lesion_of(self.sampled, self.first)

    def redraw(self, slots: Sequence[int]) -> set[int]:
        """Give each of ``slots`` its next draw that holds a lesion at the click, tried on the first slices: each
        pending slot's next draw, all in one batch, until every slot has one or has no draws left. Returns the slots
        that got a new draw (their first slices in :attr:`sampled` replaced, their other slices cleared: they are
        followed again from the first slices)."""
        got: set[int] = set()
        sampler, first = self.sampler, self.first
        pending = [n for n in slots if self.tried[n] < sampler.redraws]
        while pending:
            tries = [(n, self.tried[n] + 1) for n in pending]
            trial = sampler.sample(first, [sampler.stream(n, d) for n, d in tries])  # slice -> (T, ny, nx)
            hits = self.holds_lesion(self.lesion_of(trial, first), first)
            for t, (n, d) in enumerate(tries):
                self.tried[n] = d
                if hits[t]:
                    self.draws[n] = d
                    for k in first:
                        self.sampled[k][n] = trial[k][t]
                    for k in self.sampled.keys() - set(first):
                        self.sampled[k][n] = False
                    self.reached[n] = [first[0], first[-1]]
                    got.add(n)
            pending = [n for n, _ in tries if n not in got and self.tried[n] < sampler.redraws]
        self.redrawn |= got
        return got

    def follow(self) -> np.ndarray:
        """Follow the lesion outwards from the first slices; with the vote, redraw what ends up empty, open, with
        no lung around it or oversized (:meth:`oversized`) while draws are left. Returns the clicked lesions,
        (N, S, ny, nx) on :meth:`plan`: the slices the final draws reached."""
        todo: dict[int, list[int]] = {}  # slice -> slots to sample there
        kept, kept_lo, changed = None, self.lo, set(self.slots)
        while True:
            if todo:
                self.rounds += 1
                for rows, slices in _by_slots(todo).items():  # each slot runs only where it continues
                    new = self.sampler.sample_slots(slices, {n: self.sampler.stream(n, self.draws[n]) for n in rows})
                    for k, masks in new.items():
                        self.sampled.setdefault(k, np.zeros_like(masks))[list(rows)] = masks[list(rows)]
                        for n in rows:
                            self.reached[n] = [min(self.reached[n][0], k), max(self.reached[n][1], k)]
                    changed.update(rows)
            kept, kept_lo, changed = self._lesions(kept, kept_lo, changed), self.lo, set()
            todo = self._next_slices(kept)
            if not todo and self.voting:
                held = self.holds_lesion(kept, range(self.lo, self.hi + 1))
                oversized = self.oversized(kept)
                changed = self.redraw([n for n in self.slots if n in self.open_slots or not held[n] or n in oversized])
                if changed:
                    continue  # the new draws lie on the first slices: follow them from there (or judge them as they are)
            if not todo:
                return self._trimmed(kept)
            self.lo, self.hi = min(self.lo, min(todo)), max(self.hi, max(todo))

    def _trimmed(self, kept: np.ndarray) -> np.ndarray:
        """``kept`` (N, S, ny, nx) on lo..hi cut to the slices the slots' current draws reached, which become lo..hi:
        a redrawn slot's earlier draw may have run further (along a vessel), and those slices now hold nothing."""
        lo, hi = min(r[0] for r in self.reached), max(r[1] for r in self.reached)
        kept = kept[:, lo - self.lo : hi - self.lo + 1]
        self.lo, self.hi = lo, hi
        return kept

    def _lesions(self, kept: np.ndarray | None, kept_lo: int, changed: set[int]) -> np.ndarray:
        """(N, S, ny, nx) the clicked lesions on lo..hi: the ``changed`` slots' found again (:meth:`lesion_of`), the
        others' carried over from ``kept`` (their lesions on the slices from ``kept_lo``; a slot not sampled since
        has nothing on the slices added, so its lesion is the same: each slot's is found on its own masks alone)."""
        slices = range(self.lo, self.hi + 1)
        if kept is None:
            return self.lesion_of(self.sampled, slices)
        out = np.zeros((len(self.slots), len(slices), *kept.shape[2:]), dtype=bool)
        start = kept_lo - self.lo
        out[:, start : start + kept.shape[1]] = kept
        rows = sorted(changed)
        if rows:
            out[rows] = self.lesion_of({k: self.sampled[k][rows] for k in slices}, slices)
        return out

    def oversized(self, kept: np.ndarray) -> set[int]:
        """Slots whose lesion in ``kept`` (N, S, ny, nx) holds more than ``settings.max_volume_ratio`` times the median
        voxels of the drawn slots (none with the ratio 0 or fewer than three drawn)."""
        ratio = float(self.settings.max_volume_ratio)
        voxels = kept.reshape(len(kept), -1).sum(axis=1)
        drawn = voxels[voxels > 0]
        if ratio <= 0 or drawn.size < 3:
            return set()
        return {int(n) for n in np.flatnonzero(voxels > ratio * float(np.median(drawn)))}

    def _next_slices(self, kept: np.ndarray) -> dict[int, list[int]]:
        """The slices to sample next (slice -> the slots to run there), given the lesions ``kept`` on lo..hi: a slot
        continues on a side while its lesion reaches the last slice it reached there (:attr:`reached`), ``step``
        slices at a time, up to the limits. Sets :attr:`stopped` for a side where no slot continues and
        :attr:`open_slots` (the slots stopped by ``max_half_extent_mm`` or ``max_slices`` while still running on)."""
        todo: dict[int, list[int]] = {}
        self.open_slots = set()
        limits, step = self.limits, self.limits.step
        for side in ("below", "above"):
            at: dict[int, list[int]] = {}  # the last slice a slot reached on this side -> the slots that run on there
            for n in self.slots:
                edge = self.reached[n][0 if side == "below" else 1]
                if kept[n, edge - self.lo].any():
                    at.setdefault(edge, []).append(n)
            limit = limits.lo if side == "below" else limits.hi
            why, going = "lesion ended", False
            for edge, reach in sorted(at.items(), reverse=side == "above"):  # the outermost first
                beyond = sum(1 for k in todo if not self.lo <= k <= self.hi)  # new slices the other side adds
                outermost = edge == (self.lo if side == "below" else self.hi)
                if edge == limit or (outermost and self.hi - self.lo + 1 + beyond >= self.settings.max_slices):
                    why = limits.reason(side) if edge == limit else "max_slices"
                    if why in ("max_half_extent_mm", "max_slices"):
                        self.open_slots.update(reach)
                    continue
                ks = range(max(limit, edge - step), edge) if side == "below" else range(edge + 1, min(limit, edge + step) + 1)
                for k in ks:
                    todo.setdefault(k, []).extend(reach)
                going = True
            if not going:
                self.stopped[side] = why
        return {k: sorted(rows) for k, rows in todo.items()}
