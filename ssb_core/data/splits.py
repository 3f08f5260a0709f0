"""Patient-grouped splits, deterministic from a seed: no group (patient, series uid) ever crosses splits.

:func:`grouped_split` works on the group ids alone (one per sample) and returns sample indices per split;
:func:`split_dataset` applies it to a dataset of sample dicts and returns :class:`GroupSubset` views that keep
the ``patient_ids`` / ``case_ids`` / ``intensity`` attributes the rest of the code reads.

Algorithm (so the result can be reproduced outside this code): the sorted unique group ids are permuted with
``numpy.random.default_rng(seed)``; each split with a non-zero fraction first receives one group in that order,
then every further group goes to the split whose share is furthest below its target (target = fraction x total
weight; weight = the group's sample count for ``balance="samples"``, 1 for ``balance="groups"``; ties go to
the earlier split). The same ids, fractions and seed always give the same split, on any machine.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset, Subset

__all__ = ["grouped_split", "split_dataset", "GroupSubset", "DEFAULT_FRACTIONS"]

logger = logging.getLogger(__name__)

#: Default train / val / test fractions, close to Kohl et al. 2018's 722 / 144 / 144 LIDC-IDRI patients.
DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.7, "val": 0.15, "test": 0.15}


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    f = np.asarray([float(x) for x in fractions], dtype=np.float64)
    if f.ndim != 1 or f.size == 0 or not np.all(np.isfinite(f)) or (f < 0).any():
        raise ValueError(f"fractions must be a non-empty list of finite numbers >= 0, got {list(fractions)}")
    if not np.isclose(f.sum(), 1.0, atol=1e-6):
        raise ValueError(f"fractions must sum to 1, got {list(fractions)} (sum {f.sum():.6g})")
    return f


def grouped_split(group_ids: Sequence[Any], fractions: Sequence[float] | Mapping[str, float], seed: int,
                  balance: str = "samples") -> list[np.ndarray] | dict[str, np.ndarray]:
    """Split sample indices so that all samples of a group land in the same split.

    Args:
        group_ids: one id per sample (N,), e.g. ``patient_id`` or the crops' ``series_uid`` (compared as str).
        fractions: the splits' shares, summing to 1: a list, or a dict ``{"train": 0.7, "val": 0.15, ...}``.
        seed: seeds the permutation of the groups.
        balance: ``"samples"`` (shares of the samples, default) or ``"groups"`` (shares of the groups).

    Returns:
        Sorted int64 index arrays, one per split, in the order of ``fractions`` (a dict with the same keys when
        ``fractions`` is a dict). Together they cover ``range(N)`` exactly once; a split with fraction 0 is empty.

    Raises:
        ValueError: empty ``group_ids``, fractions not >= 0 or not summing to 1, fewer groups than non-zero
            fractions, unknown ``balance``.
    """
    names = list(fractions) if isinstance(fractions, Mapping) else None
    f = _check_fractions(list(fractions.values()) if isinstance(fractions, Mapping) else fractions)
    if balance not in ("samples", "groups"):
        raise ValueError(f"balance must be 'samples' or 'groups', got {balance!r}")
    ids = np.asarray([str(g) for g in group_ids])
    if ids.size == 0:
        raise ValueError("grouped_split needs at least one sample, got no group ids")
    groups, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    active = np.flatnonzero(f > 0)
    if len(groups) < len(active):
        raise ValueError(f"{len(groups)} groups cannot fill {len(active)} splits with non-zero fractions {f.tolist()}")
    weight = counts.astype(np.float64) if balance == "samples" else np.ones(len(groups))
    target = f * weight.sum()
    filled = np.zeros(len(f))
    assign = np.empty(len(groups), dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(groups))
    for rank, g in enumerate(order):
        if rank < len(active):
            k = int(active[rank])
        else:
            deficit = np.where(f > 0, (target - filled) / np.where(f > 0, target, 1.0), -np.inf)
            k = int(np.argmax(deficit))
        assign[g] = k
        filled[k] += weight[g]
    sample_split = assign[inverse]
    out = [np.flatnonzero(sample_split == k).astype(np.int64) for k in range(len(f))]
    assert sum(len(o) for o in out) == ids.size
    logger.info("grouped split (seed %d, %s): %s samples, %s groups", seed, balance,
                [len(o) for o in out], [int((assign == k).sum()) for k in range(len(f))])
    return dict(zip(names, out)) if names is not None else out


class GroupSubset(Subset):
    """A :class:`torch.utils.data.Subset` that keeps the dataset attributes the pipeline reads:
    ``patient_ids``, ``case_ids`` (when the parent has them, restricted to ``indices``) and ``intensity``."""

    def __init__(self, dataset: Dataset, indices: Sequence[int], name: str | None = None) -> None:
        super().__init__(dataset, [int(i) for i in indices])
        self.name = name
        self.intensity = getattr(dataset, "intensity", None)
        self.patient_ids = _attr_subset(dataset, "patient_ids", self.indices)
        self.case_ids = _attr_subset(dataset, "case_ids", self.indices)
        present = getattr(dataset, "reader_present", None)
        self.reader_present = np.asarray(present)[self.indices] if present is not None else None

    def __repr__(self) -> str:
        return f"GroupSubset(name={self.name!r}, n={len(self)}, of={self.dataset!r})"


def _attr_subset(dataset: Dataset, name: str, indices: Sequence[int]) -> list[str] | None:
    values = getattr(dataset, name, None)
    return None if values is None else [str(values[i]) for i in indices]


def _group_ids(dataset: Dataset) -> list[str]:
    ids = getattr(dataset, "patient_ids", None)
    if ids is not None:
        return [str(p) for p in ids]
    return [str(dataset[i]["patient_id"]) for i in range(len(dataset))]  # type: ignore[arg-type]


def split_dataset(dataset: Dataset, fractions: Sequence[float] | Mapping[str, float] = DEFAULT_FRACTIONS,
                  seed: int = 0, balance: str = "samples") -> list[GroupSubset] | dict[str, GroupSubset]:
    """:func:`grouped_split` of ``dataset`` by ``patient_id`` (its ``patient_ids`` attribute when present,
    else each sample's ``patient_id``), as :class:`GroupSubset` views (a dict when ``fractions`` is a dict)."""
    parts = grouped_split(_group_ids(dataset), fractions, seed, balance)
    if isinstance(parts, dict):
        return {k: GroupSubset(dataset, v, k) for k, v in parts.items()}
    return [GroupSubset(dataset, v, str(k)) for k, v in enumerate(parts)]
