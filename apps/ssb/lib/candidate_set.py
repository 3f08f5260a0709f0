"""The candidates of one lesion as the viewers show them: the summary JSON, display names, the variability colours.

The figures (agreement labels, variability and its levels, Dice to the consensus, ranking, D_DDI^gen) are
computed by :mod:`ssb_core.volume.agreement` on the candidates of :func:`ssb_core.volume.segment_lesion`; this
module words and colours them. The labelmaps' names are :data:`ssb_core.volume.AGREEMENT_LABELS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ssb_core.volume import CandidateSummary

__all__ = ["lesion_finding", "CANDIDATE_COLOURS", "CONSENSUS_COLOUR", "candidate_colour", "candidate_name", "summary_json", "unit_rgb",
           "variability_level_segments"]


def summary_json(masks: np.ndarray, voxel_volume: float, unit: str, readers: np.ndarray | None, seed: int,
                 reader_names: Sequence[str], presence: Mapping | None = None) -> dict:
    """Per-candidate size, Dice to the consensus, ranking (most typical first) and D_DDI^gen of the set.

    ``masks``: (N, B, ny, nx) bool candidates on the ROI box. ``readers``: (M, B, ny, nx) bool reader masks of this
    image when the datastore has any (D_DDI^gen is then computed against them, the paper's definition); otherwise
    the candidates themselves serve as the reference set (D_DDI^gen of the candidates against each other), and
    ``ddi_gen_reference`` says which. ``unit``: ``volume_mm3`` or ``area_mm2``, the key of the sizes. ``presence``:
    the vote at the click (``finding``; ``redrawn``: the candidates it drew again, :mod:`ssb_core.volume.streams`).
    """
    s = CandidateSummary.of(masks, readers)
    redrawn = set((presence or {}).get("redrawn", ()))
    per = [
        {
            "index": k,
            "seed": int(seed),  # candidate k of this seed: the same again with (seed, candidate=k)
            "redrawn": k in redrawn,
            "reader": reader_names[k] if k < len(reader_names) else None,
            unit: round(float(s.voxels[k]) * voxel_volume, 3),
            "dice_to_consensus": round(s.dice_to_consensus[k], 4),
            "rank": s.ranks[k],
            "colour": list(candidate_colour(k)),
        }
        for k in range(len(s.voxels))
    ]
    for c in per:
        c["name"] = candidate_name(c, unit)
    if s.num_references:
        reference = f"{s.num_references} reader label(s) of this image in the datastore"
    else:
        reference = "the candidates themselves (no reader label in the datastore)"
    return {
        "candidates": per,
        "ranking": list(s.ranking),
        f"consensus_{unit}": round(float(s.consensus_voxels) * voxel_volume, 3),
        f"union_{unit}": round(float(s.union_voxels) * voxel_volume, 3),
        "ddi_gen": None if not np.isfinite(s.ddi_gen) else round(s.ddi_gen, 4),
        "ddi_gen_reference": reference,
        "disagreement": round(s.disagreement, 4),
        "finding": lesion_finding(s.voxels, s.consensus_voxels, presence),
        "presence": dict(presence) if presence is not None else None,
    }


def lesion_finding(voxels: Sequence[int], consensus_voxels: int, presence: Mapping | None = None) -> dict:
    """Whether the candidates found a lesion at the click, in words the viewers show (``message``).

    A lesion is found when the consensus (voxels drawn by at least half of the candidates) is not empty; otherwise
    the answer is "nothing here" (a click in air, fat, bone or the mediastinum). ``presence``: the vote at the click
    (:meth:`ssb_core.volume.Presence.to_dict`), None for a set sampled without one: with the vote, the candidates are
    all drawn or all empty, and the message says how many first samples drew a lesion there (fewer than all: readers
    could disagree whether this is a lesion). ``drawn_by``: candidates that draw anything, of ``num_candidates``."""
    n, drawn = len(voxels), int(sum(1 for v in voxels if v > 0))
    voted = presence is not None and presence.get("mode") == "vote"
    first = int(presence["drawn_at_click"]) if voted else drawn
    outside_lung = int(presence.get("outside_lung", 0)) if voted else 0
    if consensus_voxels <= 0:
        if voted and presence.get("outside_body"):
            why = "the click is in the air outside the body (nothing was sampled)."
        elif voted and first * 2 >= n:
            why = (f"{first} of {n} first samples drew something at the click, but most of them ran on past the growth "
                   "limit or had no lung around them: a vessel, the chest wall or the heart, not a lung lesion.")
        elif voted and outside_lung:
            why = (f"{first} of {n} samples drew a lesion at the click, fewer than half; {outside_lung} more drew a "
                   "structure with no lung around it (the model knows lung nodules: the mediastinum, the chest wall and "
                   "bone are outside what it was trained on).")
        elif voted:
            why = f"{first} of {n} samples drew something at the click, fewer than half."
        else:
            why = f"{drawn} of {n} candidates draw something, fewer than half agree on any voxel."
        message = f"No lesion found here: {why} Click on the lesion itself; if there is one here, outline it by hand."
    elif voted and first < n:
        message = (f"Lesion found: {first} of {n} first samples drew it, so readers could disagree whether this is a "
                   f"lesion; the other candidates were drawn again on it.")
        if drawn < n:
            message += f" {n - drawn} of {n} still draw nothing."
    elif drawn < n:
        message = (f"Lesion found; {n - drawn} of {n} candidates draw nothing here: readers could disagree whether this "
                   "is a lesion.")
    else:
        message = f"Lesion found: all {n} candidates draw it."
    return {"lesion": consensus_voxels > 0, "drawn_by": drawn, "num_candidates": n, "drawn_at_click": first,
            "message": message}


def candidate_name(c: dict, unit: str) -> str:
    """``candidate 2 (rank 1, 412 mm3)``: index, rank (1 = closest to the consensus) and size of a summary entry; the
    name every viewer shows (the Slicer segments, the OHIF panel's list)."""
    size = float(c[unit])
    if unit == "area_mm2":
        text = f"{size:.0f} mm2"
    else:
        text = f"{size / 1000:.2f} ml" if size >= 1000 else f"{size:.0f} mm3"
    return f"candidate {c['index']} (rank {c['rank']}, {text})"


# RGB 0..255 of candidate k (cycling) and of the consensus, the same in every viewer (the Slicer .seg.nrrd, the OHIF panel
# via the answer's "colour" / "consensus_colour"); no candidate is yellow, the consensus's colour
CANDIDATE_COLOURS = ((230, 77, 51), (51, 153, 230), (77, 204, 77), (179, 102, 230), (26, 204, 204), (255, 128, 0), (240, 130, 200),
                     (160, 120, 60))
CONSENSUS_COLOUR = (255, 255, 0)


def candidate_colour(k: int) -> tuple[int, int, int]:
    """RGB 0..255 of candidate ``k``."""
    return CANDIDATE_COLOURS[k % len(CANDIDATE_COLOURS)]


def unit_rgb(rgb: Sequence[int]) -> tuple[float, float, float]:
    """RGB 0..255 -> RGB in [0, 1] (what a ``.seg.nrrd`` and a DICOM SEG segment carry)."""
    r, g, b = (c / 255 for c in rgb)
    return r, g, b


VARIABILITY_COLOUR_STOPS = ((0.0, (0.15, 0.35, 1.0)), (0.5, (1.0, 0.9, 0.1)), (1.0, (0.9, 0.05, 0.05)))  # blue, yellow, red


def _scale_colour(t: float) -> tuple[float, float, float]:
    """The cold-to-hot colour scale at t in [0, 1] (RGB in [0, 1])."""
    stops = VARIABILITY_COLOUR_STOPS
    t = min(1.0, max(0.0, t))
    for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
        if t <= t1:
            w = (t - t0) / (t1 - t0)
            return tuple(round(a + w * (b - a), 4) for a, b in zip(c0, c1, strict=True))  # type: ignore[return-value]
    return stops[-1][1]


def variability_level_segments(levels: int) -> list[tuple[str, int, tuple[float, float, float]]]:
    """(name, value, RGB colour in [0, 1]) of the levels 1..L of :func:`ssb_core.volume.variability_levels`:
    ``variability <= 0.10`` ... ``variability <= 1.00``, coloured from blue (few candidates differ) to red (an even
    split); the Slicer ``.seg.nrrd`` and the OHIF panel show the same names and colours."""
    return [(f"variability <= {lvl / levels:.2f}", lvl, _scale_colour((lvl - 1) / max(1, levels - 1)))
            for lvl in range(1, levels + 1)]
