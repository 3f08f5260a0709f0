"""Sample candidates over a dataset and score them with :mod:`ssb_core.metrics`.

:func:`evaluate_sampler` is method-agnostic: it takes a ``sample_fn(images (B,1,H,W), num_candidates, seed)
-> probs (B,N,1,H,W)`` (see :mod:`ssb_core.evaluation.samplers`), a name and its NFE, so a baseline plugs in
the same way as SSB. Per image it thresholds the N candidates, scores them against the readers with the
metrics package (the absent-reader convention is recorded), with ``shape=True`` adds the shape figures of the
candidates (:func:`ssb_core.metrics.shape_metrics`: one region without holes, empty, area against the readers'),
times the sampling, and calls ``on_case`` (the CLI writes a montage there). A sampler that predicts presence apart
(:class:`~ssb_core.evaluation.samplers.MarkedCandidates`) has its outlines scored with absent readers excluded and
its kept candidates with absent readers as empty masks; ``marked`` records the share kept. Reproducibility: every batch is sampled with the same ``seed``; SSB's candidate
k then depends only on (seed, k) (not on the batch, see :mod:`ssb_core.seeding`), and the seed is recorded with the results.

:func:`evaluate_readers` is the human reference row: each reader against the others (leave-one-reader-out),
through the metrics package's inter-reader helper. Every row is a :class:`ssb_core.metrics.DatasetMetrics`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ssb_core.evaluation.samplers import MarkedCandidates, SampleFn
from ssb_core.evaluation.scoring import ABSENT_READER_CONVENTIONS, CaseScorer, inter_reader_scores
from ssb_core.metrics import DatasetMetrics, reader_shape_metrics, shape_metrics
from ssb_core.metrics.dataset_metrics import PRESENCE_KEY

__all__ = ["evaluate_sampler", "evaluate_sampler_conventions", "evaluate_readers", "spread_indices", "CaseCallback"]

logger = logging.getLogger(__name__)

CaseCallback = Callable[[dict, dict, np.ndarray], None]
"""``on_case(record, sample, probs)``: the case's metrics record, its sample dict and (N, H, W) probabilities."""


def spread_indices(total: int, k: int) -> list[int]:
    """``min(k, total)`` image indices spread evenly over ``range(total)``, first and last included (not the first
    k, which often come from one patient); sorted, without repeats."""
    k = min(int(k), int(total))
    return sorted({round(i * (total - 1) / max(1, k - 1)) for i in range(k)}) if k > 0 else []


def _samples(dataset: Dataset, indices: Sequence[int] | None) -> tuple[list[int], Callable[[int], dict]]:
    idx = list(range(len(dataset))) if indices is None else [int(i) for i in indices]  # type: ignore[arg-type]
    return idx, lambda i: dataset[i]  # type: ignore[index]


def _as_numpy(x: Any, dtype: Any) -> np.ndarray:
    return (x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)).astype(dtype)


def evaluate_sampler(
    sample_fn: SampleFn,
    dataset: Dataset,
    *,
    name: str,
    nfe: int | None,
    absent_reader: str = "exclude",
    **kwargs: Any,
) -> DatasetMetrics:
    """Sample ``num_candidates`` per image and score them under one absent-reader convention.

    ``absent_reader``: ``exclude`` (score against the present readers only) or ``empty`` (an absent reader counts
    as an empty mask, Kohl et al. 2018). The other arguments: :func:`evaluate_sampler_conventions`.
    """
    return evaluate_sampler_conventions(sample_fn, dataset, name=name, nfe=nfe, absent_readers=(absent_reader,), **kwargs)[0]


def evaluate_sampler_conventions(
    sample_fn: SampleFn,
    dataset: Dataset,
    *,
    name: str,
    nfe: int | None,
    absent_readers: Sequence[str] = ABSENT_READER_CONVENTIONS,
    num_candidates: int = 16,
    seed: int = 0,
    indices: Sequence[int] | None = None,
    batch_size: int = 8,
    metric_names: Sequence[str] | None = None,
    threshold: float = 0.5,
    settings: dict | None = None,
    checkpoint_sha256: str | None = None,
    on_case: CaseCallback | None = None,
    progress: bool = False,
    shape: bool = False,
) -> list[DatasetMetrics]:
    """Sample ``num_candidates`` per image once and score the same candidates under each absent-reader convention.

    Args:
        sample_fn: the method (see :mod:`ssb_core.evaluation.samplers`).
        dataset: sample dicts (``image`` (1, H, W), ``masks`` (R, H, W), ``reader_present`` (R,), ids).
        name, nfe: how the row is reported. seed: handed to every ``sample_fn`` call.
        absent_readers: the conventions, one result each, in this order.
        indices: which images (default: all). batch_size: images per ``sample_fn`` call.
        metric_names: restrict to these metrics (default: all the metrics package offers).
        threshold: candidate probability -> binary mask.
        checkpoint_sha256: the weights' file hash, recorded in each row (tables refuse to merge other weights).
        on_case: called once per image with the first convention's record (montages).
        shape: add ``one_region``, ``empty`` and ``area_ratio`` to every image's record
            (:func:`ssb_core.metrics.shape_metrics`; the same under both conventions, against the present readers).
    """
    conventions = tuple(absent_readers)
    bad = [c for c in conventions if c not in ABSENT_READER_CONVENTIONS]
    if bad or not conventions:
        raise ValueError(f"absent_reader must be one of {ABSENT_READER_CONVENTIONS}, got {bad or conventions!r}")
    idx, get = _samples(dataset, indices)
    scorers = [CaseScorer(metric_names, c) for c in conventions]
    bar = tqdm(total=len(idx), desc=f"{name} nfe={nfe}", disable=not progress, dynamic_ncols=True)
    for start in range(0, len(idx), batch_size):
        batch = [get(i) for i in idx[start : start + batch_size]]
        images = torch.stack([torch.as_tensor(_as_numpy(s["image"], np.float32)) for s in batch])
        t0 = time.perf_counter()
        out = sample_fn(images, num_candidates, seed)
        per_image_s = (time.perf_counter() - t0) / len(batch)
        probs, marked = (out.probs, np.asarray(out.marked, bool)) if isinstance(out, MarkedCandidates) else (out, None)
        probs_np = _as_numpy(probs, np.float32)
        if probs_np.shape[:2] != (len(batch), num_candidates) or probs_np.shape[-2:] != images.shape[-2:]:
            raise ValueError(f"sample_fn must return (B, N, 1, H, W) = {(len(batch), num_candidates, 1, *images.shape[-2:])}, got {probs_np.shape}")
        probs_np = probs_np.reshape(len(batch), num_candidates, *images.shape[-2:])
        with_presence = marked is not None
        if marked is None:
            marked = np.ones((len(batch), num_candidates), bool)
        elif marked.shape != (len(batch), num_candidates):
            raise ValueError(f"sample_fn's marked must be (B, N) = {(len(batch), num_candidates)}, got {marked.shape}")
        for sample, p, keep in zip(batch, probs_np, marked):
            masks = _as_numpy(sample["masks"], np.uint8)
            present = _as_numpy(sample["reader_present"], bool)
            ids = {"case_id": str(sample.get("case_id", "")), "patient_id": str(sample.get("patient_id", ""))}
            outlines = p > threshold
            kept = outlines & keep[:, None, None]
            figures = shape_metrics(outlines, masks, present) if shape else {}
            for convention, scorer in zip(conventions, scorers):
                candidates = outlines if convention == "exclude" else kept
                record = {**ids, **scorer.add(candidates, masks, present), **figures, "time_s": per_image_s}
                if with_presence:
                    record[PRESENCE_KEY] = float(keep.mean())
                scorer.per_case[-1] = record
            if on_case is not None:
                on_case(scorers[0].per_case[-1], sample, p if conventions[0] == "exclude" else p * keep[:, None, None])
        bar.update(len(batch))
    bar.close()
    results = []
    for convention, scorer in zip(conventions, scorers):
        result = DatasetMetrics(name, nfe, num_candidates, seed, convention, scorer.per_case, dict(settings or {}),
                                checkpoint_sha256=checkpoint_sha256, threshold=threshold)
        logger.info("%s nfe=%s N=%d on %d images, absent readers %s: %s", name, nfe, num_candidates, len(idx), convention,
                    {k: round(v, 4) for k, v in result.summary.items()})
        results.append(result)
    return results


def evaluate_readers(dataset: Dataset, *, indices: Sequence[int] | None = None, absent_reader: str = "exclude",
                     shape: bool = False) -> DatasetMetrics:
    """The human reference row: each present reader scored against the other readers (leave-one-reader-out),
    averaged over readers and then over images (the metrics package's inter-reader helper). Images with fewer than
    two present readers are left out. ``shape``: add ``one_region`` and ``empty`` of the present readers' masks
    (:func:`ssb_core.metrics.reader_shape_metrics`; no ``area_ratio``: the readers are its denominator)."""
    idx, get = _samples(dataset, indices)
    per_case = []
    for i in idx:
        s = get(i)
        masks, present = _as_numpy(s["masks"], np.uint8), _as_numpy(s["reader_present"], bool)
        scores = inter_reader_scores(masks, present, absent_reader)
        if scores is None:
            continue
        if shape:
            scores.update(reader_shape_metrics(masks, present))
        per_case.append({"case_id": str(s.get("case_id", "")), "patient_id": str(s.get("patient_id", "")), **scores})
    return DatasetMetrics("Readers (leave-one-out)", absent_reader=absent_reader, per_case=per_case, settings={"reference": "inter-reader"})
