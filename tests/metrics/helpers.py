"""Small masks written as bit strings, for hand-computed test tables."""

from __future__ import annotations

import math

import numpy as np

NAN = float("nan")


def masks(*bits: str) -> np.ndarray:
    """``masks("1100", "0110")`` -> (2, 1, 4) uint8; rows separated by ``/``: ``masks("10/00")`` -> (1, 2, 2)."""
    return np.array([[[int(c) for c in row] for row in b.split("/")] for b in bits], dtype=np.uint8)


def js2(p: list[float], q: list[float]) -> float:
    """Textbook Jensen-Shannon divergence in base 2 (an oracle independent of the library)."""
    m = [(a + b) / 2 for a, b in zip(p, q)]
    kl = lambda x, y: sum(a * math.log2(a / b) for a, b in zip(x, y) if a > 0)  # noqa: E731
    return (kl(p, m) + kl(q, m)) / 2


def assert_close(got: float, want: float, name: str = "", tol: float = 1e-12) -> None:
    """Equal within ``tol``, NaN equal to NaN."""
    if isinstance(want, float) and math.isnan(want):
        assert math.isnan(got), f"{name}: expected NaN, got {got}"
    else:
        assert math.isclose(got, want, rel_tol=0.0, abs_tol=tol), f"{name}: expected {want}, got {got}"
