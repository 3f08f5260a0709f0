"""How far the candidates agree (``ssb_core.volume.agreement``), hand-computed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ssb_core.volume import (AGREEMENT_LABELS, CandidateSummary, agreement_labels, consensus, disagreement_score,
                             variability_levels)


def _votes() -> np.ndarray:
    """(4, 1, 1, 5) candidates covering the five voxels 0, 1, 2, 3 and 4 times (f = 0, 1/4, 1/2, 3/4, 1)."""
    masks = np.zeros((4, 1, 1, 5), dtype=bool)
    for voxel in range(5):
        masks[:voxel, 0, 0, voxel] = True
    return masks


def test_agreement_labels_and_consensus():
    masks = _votes()
    assert agreement_labels(masks)[0, 0].tolist() == [0, 1, 2, 2, 3]
    assert agreement_labels(masks).dtype == np.uint8
    assert consensus(masks)[0, 0].tolist() == [False, False, True, True, True]
    np.testing.assert_array_equal(consensus(masks), agreement_labels(masks) >= AGREEMENT_LABELS["consensus"])
    assert AGREEMENT_LABELS == {"some candidates": 1, "consensus": 2, "all candidates": 3, "chosen candidate": 4}


@pytest.mark.parametrize("levels, expected", [(10, [0, 8, 10, 8, 0]), (4, [0, 3, 4, 3, 0]), (1, [0, 1, 1, 1, 0])])
def test_variability_levels(levels, expected):
    # v = 4 f (1 - f) = 0, 0.75, 1, 0.75, 0; level ceil(L v), 0 where v = 0
    out = variability_levels(_votes(), levels)
    assert out.dtype == np.uint8 and out[0, 0].tolist() == expected


def test_variability_levels_rejects_no_level():
    with pytest.raises(ValueError, match="levels must be at least 1, got 0"):
        variability_levels(_votes(), 0)


def test_disagreement_is_the_mean_variability_over_the_union():
    assert disagreement_score(_votes()) == pytest.approx((0.75 + 1.0 + 0.75 + 0.0) / 4)  # voxel 0 is in no candidate
    assert disagreement_score(np.zeros((3, 2, 4, 4), dtype=bool)) == 0.0
    assert disagreement_score(np.ones((3, 2, 4, 4), dtype=bool)) == 0.0


def test_summary_sizes_dice_and_ranking():
    masks = np.zeros((3, 1, 1, 4), dtype=bool)
    masks[0, 0, 0, :2] = True  # the consensus itself
    masks[1, 0, 0, :3] = True
    masks[2, 0, 0, 3] = True  # disjoint from the consensus
    s = CandidateSummary.of(masks)
    assert s.voxels == (2, 3, 1)
    assert s.dice_to_consensus == pytest.approx((1.0, 2 * 2 / (2 + 3), 0.0))
    assert s.ranking == (0, 1, 2) and s.ranks == (1, 2, 3)
    assert (s.consensus_voxels, s.union_voxels) == (2, 4)
    assert s.disagreement == pytest.approx(4 * (2 / 3) * (1 / 3))  # every voxel of the union has f = 1/3 or 2/3


def test_summary_ranking_ties_keep_the_lower_index_first():
    masks = np.zeros((3, 1, 2, 2), dtype=bool)
    masks[0, 0, 0, 0] = True
    masks[1:, 0, 0] = True  # candidates 1 and 2 are the consensus (Dice 1), candidate 0 is half of it
    s = CandidateSummary.of(masks)
    assert s.ranking == (1, 2, 0) and s.ranks == (3, 1, 2)


def test_summary_ddi_gen_reference_set():
    masks = np.zeros((2, 1, 1, 4), dtype=bool)
    masks[0, 0, 0, :2] = True
    masks[1, 0, 0, 2:] = True
    # against each other the Dice matrix is the identity: gen-dists [1, 0] and [0, 1], JS 1, 3 / C(2, 2) * 2 = 6
    own = CandidateSummary.of(masks)
    assert own.num_references == 0 and own.ddi_gen == pytest.approx(6.0)
    assert CandidateSummary.of(masks, np.zeros((0, 1, 1, 4), dtype=bool)).num_references == 0
    # against one reader: each gen-dist has a single entry (the all-zero one becomes uniform), all equal: 0
    readers = masks[:1].copy()
    against = CandidateSummary.of(masks, readers)
    assert against.num_references == 1 and against.ddi_gen == pytest.approx(0.0)


def test_summary_of_one_candidate_has_no_ddi_gen():
    s = CandidateSummary.of(np.ones((1, 2, 3, 3), dtype=bool))
    assert math.isnan(s.ddi_gen) and s.ranking == (0,) and s.ranks == (1,) and s.disagreement == 0.0
