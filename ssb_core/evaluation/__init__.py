"""Evaluating ambiguous-segmentation samplers: sampling over a dataset, the metrics, JSON + markdown + montages.

- :func:`evaluate` scores an SSB checkpoint at one or more NFE (``ssb-evaluate`` runs it);
- :func:`evaluate_samplers` does the same for any :class:`SamplerSpec` (a baseline's
  ``sample_fn(images (B,1,H,W), num_candidates, seed) -> probs (B,N,1,H,W)``, a name and its NFE);
- :func:`evaluate_sampler` / :func:`evaluate_readers` are the per-row building blocks (the readers' row is
  the human reference, leave-one-reader-out); each row is a :class:`ssb_core.metrics.DatasetMetrics`.

The metrics themselves live in :mod:`ssb_core.metrics`; :mod:`ssb_core.evaluation.scoring` only adapts them.
"""

from __future__ import annotations

from ssb_core.evaluation.api import checkpoint_summary, evaluate, evaluate_baseline, evaluate_samplers
from ssb_core.evaluation.runner import evaluate_readers, evaluate_sampler
from ssb_core.evaluation.samplers import SampleFn, SamplerSpec, pipeline_sampler, ssb_sample_fn

__all__ = [
    "evaluate",
    "evaluate_samplers",
    "evaluate_baseline",
    "evaluate_sampler",
    "evaluate_readers",
    "SampleFn",
    "SamplerSpec",
    "pipeline_sampler",
    "ssb_sample_fn",
    "checkpoint_summary",
]
