"""The one definition of variability (``ssb_core.metrics.variability``), hand-computed."""

from __future__ import annotations

import numpy as np
import pytest

from ssb_core.metrics.variability import vote_entropy, vote_fraction, vote_variability


def test_variability_is_the_scaled_vote_variance():
    masks = np.zeros((4, 1, 5), bool)
    masks[:, 0, 1] = True  # all four agree
    masks[:1, 0, 2] = True  # one of four
    masks[:2, 0, 3] = True  # an even split
    masks[:3, 0, 4] = True  # three of four
    assert vote_fraction(masks)[0].tolist() == [0.0, 1.0, 0.25, 0.5, 0.75]
    np.testing.assert_allclose(vote_variability(masks)[0], [0.0, 0.0, 0.75, 1.0, 0.75])
    np.testing.assert_allclose(vote_variability(masks), (2 * masks.astype(np.float32).std(axis=0)) ** 2, atol=1e-6)
    np.testing.assert_allclose(vote_entropy(masks)[0], [0.0, 0.0, 0.8113, 1.0, 0.8113], atol=1e-4)
    with pytest.raises(ValueError, match=r"shape \(N, \.\.\.\)"):
        vote_variability(np.zeros(5, bool))
