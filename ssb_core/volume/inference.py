"""Candidates for the lesion under a click in a whole scan: sample only the slices the lesion spans.

:func:`segment_lesion` is what the annotation app, the command-line tools and the benchmark call (steps 1, 2, 4
and 5 sample through :class:`ssb_core.volume.growth.LesionGrowth`):

With the vote, a click in the air outside the body of a CT in HU (:func:`ssb_core.volume.lung.outside_body`) is
answered "no lesion here" at once: N empty candidates on the clicked slice(s), nothing sampled. Otherwise:

0. choose the zoom (:func:`choose_scale`): with ``scales`` beyond 1, the clicked slice is also sampled with
   the window's pixel size multiplied by each scale (finest first, until one has every candidate's vote), and the
   zoom is the one at which the most candidates draw a nodule-sized lesion at the click, inside the window (a 33 mm
   nodule fills most of a 45 mm window, and the model, trained on nodules that fill a small part of it, then draws
   only a part of it, or nothing);
1. sample the clicked slice(s) and ``first_half_mm`` on each side (one batch: every slice x every candidate);
2. *the vote* (``GrowthSettings.presence = "vote"``, the default): the N candidates' first draws on these slices
   say whether there is a lesion at the click (a candidate votes yes when its clicked lesion, step 3, is not
   empty). When fewer than half of them hold one, the answer is "no lesion here": every candidate is empty and
   nothing more is sampled. Otherwise the reader clicked on a lesion the model sees, and each candidate that holds
   nothing is redrawn (a new noise path, same reader style: :mod:`ssb_core.volume.streams`) until it does, up to
   ``max_redraws`` times: a candidate set to pick from holds outlines, not empty masks. The vote asks every
   reader. When the model's sampling skips some readers for outlines (``SamplingConfig.lesion_skip_readers``:
   LIDC's slots whose label mostly says whether that reader marked the lesion at all) and the request names no
   reader, the vote looks at the clicked slice(s) only, as drawn while choosing the zoom (no extra sampling), and
   the first slices are then drawn with the other readers: those draws are the outlines;
3. per candidate keep only the clicked lesion (:func:`ssb_core.volume.lesion.clicked_lesion`: the 3D component
   nearest to each click, cut at its necks);
4. while some candidate's lesion reaches the last slice sampled for it on a side, sample ``step_mm`` more slices
   there, running only the candidates whose lesion continues there (a candidate that ended cannot reach past its
   end: skipping it changes nothing; a redrawn candidate is followed again from the first slices), and go back
   to 3 (only the candidates just sampled are looked at again);
5. stop where every candidate has ended (the last sampled slice on each side is then empty for all of them:
   the margin), at the scan's edge, at the ROI box's k range, or ``max_half_extent_mm`` from the click. With the
   vote, a candidate that is empty, or whose lesion still runs on at ``max_half_extent_mm`` (a vessel, the chest
   wall or the heart followed, not a lesion), is redrawn and followed again while it has draws left; one that
   still runs on is then emptied, and when fewer than half of the candidates hold a lesion the answer is again
   "no lesion here". So is a candidate many times the others' size (``GrowthSettings.max_volume_ratio``: it ran
   into a vessel or the chest wall), kept as last drawn once its draws are spent;

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ssb_core.candidates import SamplingConfig, lesion_reader_labels, reader_labels_for
from ssb_core.pipeline import SSBPipeline
from ssb_core.preprocessing import Preprocessing
from ssb_core.volume.growth import LesionGrowth
from ssb_core.volume.lesion import clicked_lesion, fill_slice_holes
from ssb_core.volume.lung import outside_body
from ssb_core.volume.roi import ClickPlan, RoiPlan, box_valid, to_box
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
        step_mm: millimetres added on each side where the lesion continues, per round (2.5: one slice of a typical
            chest CT, so the round that finds a lesion's end samples one slice past it, not two; the masks are the
            same whatever the step: a slice's candidates do not depend on the batch it is sampled in).
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
        max_volume_ratio: with the vote, a candidate whose lesion holds more than this many times the median voxels of
            the drawn candidates (at least three drawn) is redrawn like an open one, while it has draws left: it has
            run along a vessel or the chest wall, not the outline readers disagree on; 0 = never.
        start_noise: the perturbation of the image endpoint on a whole scan (``SamplingConfig.start_noise``), in place
            of the checkpoint's (None, the default: the checkpoint's; a lower one was measured and not adopted:
            docs/results/decisions/whole_scan_start_noise/).
    """

    first_half_mm: float = 5.0
    step_mm: float = 2.5
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
    max_volume_ratio: float = 3.0
    start_noise: float | None = None

    def __post_init__(self) -> None:
        if self.start_noise is not None and not 0 <= float(self.start_noise) < 10:
            raise ValueError(f"start_noise must be None or a standard deviation in [0, 10), got {self.start_noise!r}")
        if self.presence not in PRESENCE_MODES:
            raise ValueError(f"presence must be one of {PRESENCE_MODES}, got {self.presence!r}")
        if not (float(self.max_volume_ratio) == 0 or float(self.max_volume_ratio) > 1):
            raise ValueError(f"max_volume_ratio must be 0 (never) or above 1, got {self.max_volume_ratio!r}")
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

    def sampling(self, config: SamplingConfig) -> SamplingConfig:
        """What a click's candidates are sampled with: ``config`` with :attr:`start_noise` in place of its own when set."""
        return config if self.start_noise is None else config.replace(start_noise=float(self.start_noise))


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
        outside_body: the click is in the air outside the body (:func:`ssb_core.volume.lung.outside_body`): no
            lesion, nothing sampled.
    """

    mode: str
    drawn_at_click: int
    num_candidates: int
    lesion: bool
    redrawn: tuple[int, ...] = ()
    open_emptied: tuple[int, ...] = ()
    outside_lung: int = 0
    outside_lung_emptied: tuple[int, ...] = ()
    outside_body: bool = False

    def to_dict(self) -> dict:
        return {"mode": self.mode, "drawn_at_click": self.drawn_at_click, "num_candidates": self.num_candidates,
                "lesion": self.lesion, "redrawn": list(self.redrawn), "open_emptied": list(self.open_emptied),
                "outside_lung": self.outside_lung, "outside_lung_emptied": list(self.outside_lung_emptied),
                "outside_body": self.outside_body}


@dataclass
class LesionCandidates:
    """N candidates of the clicked lesion on the box grid of ``plan``.

    Attributes:
        masks: (N, S, ny, nx) bool, the lesion part of candidate n on the plan's S slices (input voxels).
        scale: the zoom used (the window's pixel size / the model's).
        plan: the box and the S contiguous slices its final draws reached. valid: (row, col) slices of the box inside the image.
        dropped_voxels: (N,) voxels each candidate drew that are not connected to the clicks (removed).
        rounds: sampling rounds. stopped: why the growth ended (one phrase per side).
        presence: the vote at the click (:class:`Presence`). streams: (N,) the noise stream of each candidate
            (candidate n's first draw is stream n; :mod:`ssb_core.volume.streams`). reader_labels: (N,) the reader
            label each candidate imitates (with the vote and no reader asked for, a lesion's outline readers; the
            voting readers when the vote found none); the model's reader count = no reader's style.
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
    reader_labels: tuple[int, ...] = ()

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
    """The zoom for this click, what was seen at each scale tried, and the clicked slices' candidates at that zoom
    (slice index -> (N, ny, nx) bool, as :func:`segment_lesion` samples them; empty with a single scale).

    The scales are tried finest first, the clicked slice(s) of each in one network batch. At each scale a candidate
    *votes* when it draws a lesion at the click (:func:`ssb_core.volume.lesion.clicked_lesion`) that stays inside the
    window and is nodule-sized: the equivalent diameter of its largest cross-section at most
    ``settings.max_lesion_mm``. The zoom is the scale with the most votes, the finest on a tie. The network was
    trained on nodules that fill a small part of its window (LIDC's are mostly 3-15 mm): it sees a 33 mm nodule whole
    in a 134 mm window (scale 3) and only in pieces, or not at all, in a 45 mm one; a small nodule it sees at its own
    scale. The size bound keeps the zoom from going out to where the candidates outline the heart or the
    mediastinum. A click with no vote at any scale stays at the finest: the answer is "nothing here". Once a scale
    has every candidate's vote no coarser one can win (a tie keeps the finer), so the coarser ones are not sampled:
    the same zoom and candidates as trying them all (each candidate's noise does not depend on the batch), and most
    clicks on a small nodule sample one scale, not four."""
    if len(settings.scales) == 1:
        return float(settings.scales[0]), [], {}
    seen, drawn_at = [], {}
    pixel_mm2 = float(spacing_xyz[0]) * float(spacing_xyz[1])
    for scale in settings.scales:
        pre = preprocessing.zoomed(scale)
        plan = click.with_box_size(*pre.box_size(spacing_xyz)).box
        images = pre.model_input(volume_zyx, plan.slices, plan.y0, plan.x0, plan.ny, plan.nx)
        probs = pipeline.sample(images, config, readers=readers, seed=seed, label_guidance=label_guidance)[:, :, 0]
        masks = np.moveaxis(to_box(probs, plan) > config.threshold, 0, 1)  # (N, S, ny, nx)
        drawn_at[float(scale)] = {k: masks[:, i] for i, k in enumerate(plan.slices)}
        kept = clicked_lesion(masks, plan, click.seeds_ijk, spacing_xyz, settings.seed_radius_mm, settings.neck_fraction)
        sections = kept.reshape(*kept.shape[:2], -1).sum(axis=2) * pixel_mm2  # (N, S) cross-sections, mm^2
        area = sections.sum(axis=1) / max(1, len(plan.slices))
        diameter = 2.0 * np.sqrt(sections.max(axis=1) / np.pi)
        touch = _border_touch(kept.any(axis=1))
        votes = (area > 0) & ~touch & (diameter <= settings.max_lesion_mm)
        seen.append({"scale": float(scale), "mean_area_mm2": float(area.mean()), "drawn_by": int((area > 0).sum()),
                     "touch_border": int(touch.sum()), "votes": int(votes.sum())})
        if seen[-1]["votes"] == len(votes):  # unanimous: no coarser scale can have more votes
            break
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
        readers, seed, label_guidance: as in :meth:`SSBPipeline.sample`; with ``readers`` None and the vote, every reader votes
            (on the clicked slices, as drawn while choosing the zoom) and, where they find a lesion, its outlines
            imitate every reader but ``config.lesion_skip_readers`` in turn, from the first slices on
            (:func:`ssb_core.candidates.lesion_reader_labels`).

    Returns:
        :class:`LesionCandidates` on the sampled slices.
    """
    settings = settings or GrowthSettings()
    config = settings.sampling(config)
    voting = settings.presence == "vote"
    outline_readers = (lesion_reader_labels(config, pipeline.checkpoint.readers)
                       if voting and readers is None and config.lesion_skip_readers else None)
    if voting and outside_body(volume_zyx, click.seeds_ijk):  # no lesion in the air outside the body: nothing sampled
        return _outside_body_result(pipeline, volume_zyx, click, config, readers)
    scale, _, clicked = choose_scale(pipeline, preprocessing, volume_zyx, spacing_xyz, click, config, readers, seed, settings,
                                     label_guidance)
    preprocessing = preprocessing.zoomed(scale)
    click = click.with_box_size(*preprocessing.box_size(spacing_xyz))

    def grow(labels: int | Sequence[int] | None, growth_settings: GrowthSettings) -> LesionGrowth:
        sampler = StreamSampler(pipeline, preprocessing, volume_zyx, click.box, config, labels,
                                settings.max_redraws if voting else 0, seed, settings.slice_batch, label_guidance)
        return LesionGrowth(sampler, volume_zyx, spacing_xyz, click, growth_settings, voting)

    # with the outlines drawn apart, the vote looks at the clicked slices only: as drawn while choosing the zoom
    growth = grow(readers, settings if outline_readers is None else replace(settings, first_half_mm=0.0))
    n_slots = growth.sampler.num_slots

    # 1. the first slices: each slot's first draw, and the vote
    first_lesions = growth.sample_first(clicked)
    drawn_at_click = growth.holds_lesion(first_lesions, growth.first)
    votes = int(drawn_at_click.sum())
    outside_lung = int(first_lesions.reshape(n_slots, -1).any(axis=1).sum()) - votes
    if voting and votes * 2 < n_slots:  # most candidates see nothing here: no lesion, nothing more sampled
        presence = Presence("vote", votes, n_slots, False, outside_lung=outside_lung)
        return _result(np.zeros_like(first_lesions), growth.plan(), volume_zyx, growth.sampled, growth.inside, growth.rounds,
                       {"below": "no lesion at the click", "above": "no lesion at the click"}, scale, presence,
                       growth.streams(), growth.sampler.labels, settings.fill_holes)
    if outline_readers is not None:  # every reader said "a lesion"; its outlines are drawn by the lesion readers
        growth = grow(outline_readers, settings)
        first_lesions = growth.sample_first({})
        drawn_at_click = growth.holds_lesion(first_lesions, growth.first)
    if voting:
        growth.redraw([n for n in range(n_slots) if not drawn_at_click[n]])

    # 2. follow the lesion outwards (redrawing what ends up empty, open or with no lung around it)
    kept = growth.follow()
    plan = growth.plan()
    off_lung: tuple[int, ...] = ()
    if voting:  # a slot whose lesion still runs into the growth limit follows a structure, not a lesion: empty
        kept[sorted(growth.open_slots)] = False
        drawn = kept.reshape(n_slots, -1).any(axis=1)
        off_lung = tuple(int(n) for n in np.flatnonzero(drawn & ~growth.holds_lesion(kept, plan.slices)))
        kept[list(off_lung)] = False  # ... and one with no lung around it is not a lung lesion
    found = int(kept.reshape(n_slots, -1).any(axis=1).sum())
    lesion = found * 2 >= n_slots
    if voting and not lesion:  # after the redraws, most slots still hold no closed lesion at the click
        kept[:] = False
    presence = Presence("vote" if voting else "as_sampled", votes, n_slots, lesion, tuple(sorted(growth.redrawn)),
                        tuple(sorted(growth.open_slots)) if voting else (), outside_lung if voting else 0, off_lung)
    logger.debug("lesion at %s: %d slices in %d rounds (%s), %s", click.box.centre_ijk, len(plan.slices), growth.rounds,
                 growth.stopped, presence)
    return _result(kept, plan, volume_zyx, growth.sampled, growth.inside, growth.rounds, growth.stopped, scale, presence,
                   growth.streams(), growth.sampler.labels, settings.fill_holes)


def _outside_body_result(pipeline: SSBPipeline, volume_zyx: np.ndarray, click: ClickPlan, config: SamplingConfig,
                         readers: int | Sequence[int] | None) -> LesionCandidates:
    """The answer to a click in the air outside the body: N empty candidates on the clicked slices, nothing sampled."""
    n = int(config.num_candidates)
    plan = click.box
    labels = reader_labels_for(readers, n, pipeline.num_readers)
    why = "click in the air outside the body"
    return LesionCandidates(np.zeros((n, len(plan.slices), plan.ny, plan.nx), dtype=bool), plan,
                            box_valid(plan, volume_zyx.shape), np.zeros(n, dtype=np.int64), 0, {"below": why, "above": why},
                            1.0, Presence("vote", 0, n, False, outside_body=True), tuple(range(n)), tuple(labels))


def _result(kept: np.ndarray, plan: RoiPlan, volume_zyx: np.ndarray, sampled: dict[int, np.ndarray], inside: np.ndarray,
            rounds: int, stopped: dict[str, str], scale: float, presence: "Presence", streams: list[int],
            reader_labels: Sequence[int], fill_holes: bool) -> LesionCandidates:
    """The :class:`LesionCandidates` of ``kept`` (N, S, ny, nx) on ``plan``."""
    raw = np.stack([sampled[k] for k in plan.slices], axis=1) & inside
    dropped = (raw & ~kept).reshape(raw.shape[0], -1).sum(axis=1)
    if fill_holes:
        kept = fill_slice_holes(kept) & inside
    valid = box_valid(plan, volume_zyx.shape)
    return LesionCandidates(kept, plan, valid, dropped, rounds, stopped, scale, presence, tuple(streams),
                            tuple(int(r) for r in reader_labels))
