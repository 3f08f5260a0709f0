"""A click in a whole scan -> the clicked lesion's candidates in 3D (:func:`segment_lesion`).

- :mod:`ssb_core.volume.roi`: the in-plane box at the model's physical scale, the seeds, the growth range;
- :mod:`ssb_core.volume.lesion`: which parts of a candidate belong to the clicked lesion (3D connectivity);
- :mod:`ssb_core.volume.inference`: a click's candidates in 3D: the zoom, the vote, the answer (:func:`segment_lesion`);
- :mod:`ssb_core.volume.growth`: sampling slice batches outwards from the click until every candidate ends;
- :mod:`ssb_core.volume.streams`: the noise stream of each candidate slot and its redraws;
- :mod:`ssb_core.volume.lung`: whether lung borders a candidate (a lung lesion does);
- :mod:`ssb_core.volume.agreement`: how far the candidates agree (agreement labels, variability, per-candidate figures);
- :mod:`ssb_core.volume.training`: training samples from a scan and its readers' masks, prepared like a click.
"""

from ssb_core.volume.agreement import (AGREEMENT_LABELS, CandidateSummary, agreement_labels, consensus,
                                       disagreement_score, variability_levels)
from ssb_core.volume.inference import PRESENCE_MODES, GrowthSettings, LesionCandidates, Presence, segment_lesion
from ssb_core.volume.lesion import clicked_lesion, fill_slice_holes, seed_distances
from ssb_core.volume.roi import ClickPlan, RoiError, RoiPlan, box_valid, crop_box, plan_roi, to_box, to_full
from ssb_core.volume.training import lesion_groups, scan_training_samples, union_box

__all__ = ["AGREEMENT_LABELS", "CandidateSummary", "agreement_labels", "consensus", "disagreement_score",
           "variability_levels", "GrowthSettings", "LesionCandidates", "segment_lesion", "Presence", "PRESENCE_MODES", "clicked_lesion", "fill_slice_holes", "seed_distances", "ClickPlan",
           "RoiError", "RoiPlan", "box_valid", "crop_box", "plan_roi", "to_box", "to_full", "lesion_groups", "scan_training_samples", "union_box"]
