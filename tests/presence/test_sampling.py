"""The keep mask: each reader slot's candidates kept in proportion to its presence probability, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest

from ssb_core.presence import marked_candidates

LABELS = [k % 4 for k in range(16)]  # 16 candidates cycling over 4 slots: 4 per slot


def test_certain_slots_are_all_kept_or_all_emptied():
    keep = marked_candidates(np.array([[1.0, 0.0, 1.0, 0.0]]), LABELS, seed=0, keys=[7])
    assert keep.shape == (1, 16)
    assert keep[0, [k for k in range(16) if k % 2 == 0]].all() and not keep[0, [k for k in range(16) if k % 2]].any()


@pytest.mark.parametrize("p, allowed", [(0.5, {2}), (0.25, {1}), (0.6, {2, 3}), (0.1, {0, 1})])
def test_stratified_counts(p, allowed):
    """Of a slot's 4 candidates, floor(4p) or floor(4p) + 1 are kept (never all-or-nothing by chance)."""
    probs = np.array([[p, p, p, p]])
    counts = set()
    for key in range(200):
        keep = marked_candidates(probs, LABELS, seed=3, keys=[key])[0]
        counts |= {int(keep[[k for k in range(16) if k % 4 == r]].sum()) for r in range(4)}
    assert counts == allowed


def test_expected_share_matches_the_probability():
    probs = np.array([[0.9, 0.6, 0.35, 0.1]])
    shares = np.mean([marked_candidates(probs, LABELS, seed=1, keys=[key])[0].reshape(4, 4).mean(axis=0)
                      for key in range(2000)], axis=0)
    assert shares == pytest.approx(probs[0], abs=0.02)


def test_reproducible_per_image_and_independent_of_the_batch():
    probs = np.array([[0.5, 0.5, 0.5, 0.5], [0.3, 0.7, 0.5, 0.2]])
    both = marked_candidates(probs, LABELS, seed=4, keys=[11, 12])
    assert (both[1] == marked_candidates(probs[1:], LABELS, seed=4, keys=[12])[0]).all()
    assert (both == marked_candidates(probs, LABELS, seed=4, keys=[11, 12])).all()
    other_seed = [marked_candidates(probs, LABELS, seed=s, keys=[11, 12]) for s in range(5, 15)]
    assert any((o != both).any() for o in other_seed)


def test_the_null_label_is_always_kept_and_bad_input_is_refused():
    assert marked_candidates(np.zeros((1, 4)), [4, 4, 0], seed=0, keys=[1])[0].tolist() == [True, True, False]
    with pytest.raises(ValueError, match="labels must be reader slots"):
        marked_candidates(np.zeros((1, 4)), [5], seed=0, keys=[1])
    with pytest.raises(ValueError, match="B keys"):
        marked_candidates(np.zeros((2, 4)), LABELS, seed=0, keys=[1])
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        marked_candidates(np.full((1, 4), 1.5), LABELS, seed=0, keys=[1])
