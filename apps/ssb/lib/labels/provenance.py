"""Which candidate a submitted label came from: a candidate touched up in 3D Slicer's Segment Editor, then submitted.

The OHIF panel says which candidate it saves (``POST /ssb/lesions``); 3D Slicer's *Submit Label* sends only the
file. Each lesion of such a file is compared with the candidate sets the server sampled on that image and still
keeps (:meth:`lib.candidate_cache.CandidateCache.of_image`, most recent first): the candidate with the highest Dice
is its origin when that Dice is at least :data:`MIN_DICE` (``candidate k``), and when the masks differ the reader
touched it up (``candidate k, edited by <reader>``). A lesion drawn from scratch matches nothing and stays a
``label file``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ssb_core.volume import LesionCandidates, crop_box

__all__ = ["MIN_DICE", "CandidateMatch", "label_provenance", "match_candidate"]

MIN_DICE = 0.5

CandidateMatch = dict
"""``{"candidate", "context", "model", "seed"?, "dice", "edited"}``."""


def match_candidate(mask_zyx: np.ndarray, sets: Sequence[tuple[str, LesionCandidates, str]]) -> CandidateMatch | None:
    """The candidate ``mask_zyx`` (Z, Y, X) bool comes from, among ``sets`` (``(context, candidates, model sha)``), or None."""
    total = int(mask_zyx.sum())
    best: CandidateMatch | None = None
    for context, cands, model in sets:
        inside = crop_box(mask_zyx.astype(np.uint8), cands.plan).astype(bool)  # (S, ny, nx)
        outside = total - int(inside.sum())  # the lesion's voxels beyond the sampled box match no candidate
        for k in range(cands.num_candidates):
            c = cands.masks[k]
            overlap = int((c & inside).sum())
            dice = 2.0 * overlap / max(1, int(c.sum()) + total)
            if dice >= MIN_DICE and (best is None or dice > best["dice"]):
                same = outside == 0 and overlap == total == int(c.sum())
                best = {"candidate": k, "context": context, "model": model[:16], "dice": round(dice, 4), "edited": not same}
    return best


def label_provenance(recent: Callable[[str], Sequence[tuple[str, LesionCandidates, str]]]) -> Callable[[str, str, np.ndarray], dict]:
    """A matcher for :class:`lib.labels.service.LabelService`: ``(image path, reader, mask) -> the save info of the
    lesion`` (empty when it matches no candidate). ``recent``: the infer task's :meth:`~lib.infers.ssb.SSBInfer.recent_sets`."""

    def matcher(image_path: str, reader: str, mask: np.ndarray) -> dict:
        m = match_candidate(mask, recent(image_path))
        if m is None:
            return {}
        return {"candidate": m["candidate"], "context": m["context"], "model": m["model"],
                "edited_by": reader if m["edited"] else None, "matched_dice": m["dice"]}

    return matcher
