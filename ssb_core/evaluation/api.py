"""Evaluate a checkpoint (or any sampler) on a dataset and write JSON + markdown + one montage per case.

``evaluate(checkpoint, dataset, nfes=(50,), ...)`` is what ``ssb-evaluate`` runs; ``evaluate_samplers`` does
the same for any list of :class:`~ssb_core.evaluation.samplers.SamplerSpec` (baselines plug in there).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from ssb_core.evaluation.montage import save_montage
from ssb_core.evaluation.report import write_reports
from ssb_core.evaluation.provenance import display_path
from ssb_core.evaluation.runner import evaluate_readers, evaluate_sampler_conventions
from ssb_core.evaluation.samplers import SamplerSpec, baseline_sampler, pipeline_sampler
from ssb_core.evaluation.scoring import SHAPE_CONVENTIONS, metric_conventions
from ssb_core.hashing import file_sha256
from ssb_core.metrics import DatasetMetrics
from ssb_core.pipeline import SSBPipeline

__all__ = ["evaluate", "evaluate_baseline", "evaluate_samplers", "checkpoint_summary"]

logger = logging.getLogger(__name__)


def _safe(name: str) -> str:
    return "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in name) or "case"


def evaluate_samplers(
    specs: Sequence[SamplerSpec],
    dataset: Dataset,
    output_dir: str | Path,
    *,
    num_candidates: int = 16,
    seed: int = 0,
    indices: Sequence[int] | None = None,
    batch_size: int = 8,
    absent_reader: str | Sequence[str] = "exclude",
    threshold: float = 0.5,
    inter_reader: bool = False,
    montages: int | None = None,
    variability: str = "variability",
    reader_names: list[str] | None = None,
    model_info: dict[str, Any] | None = None,
    dataset_info: dict[str, Any] | None = None,
    progress: bool = False,
    title: str = "",
    run: dict[str, Any] | None = None,
    shape: bool = False,
) -> list[DatasetMetrics]:
    """Run every sampler over ``dataset``; write ``results.json``, ``results.md`` and ``montages/*.png``.

    Args:
        specs: the samplers (name, NFE, sample_fn, settings, checkpoint hash).
        absent_reader: one convention, or several (``("exclude", "empty")``): the same candidates are scored
            under each, one row per convention.
        montages: how many cases get a montage (None = every case, 0 = none), for every method: drawn from the
            last spec of each method name (e.g. SSB at its largest NFE, each baseline).
        inter_reader: add the readers' leave-one-out row (the human reference), per convention.
        shape: add the shape figures (``one_region``, ``empty``, ``area_ratio``; :mod:`ssb_core.metrics.shape`) to
            every row, ``one_region`` and ``empty`` of the readers' masks to the readers' row.
        dataset_info: recorded in the JSON; its ``sha256`` is also written into every row.
        run: the command and code version (:func:`~ssb_core.evaluation.provenance.run_record`; default: this
            process's ``sys.argv``).
        other arguments: see :func:`ssb_core.evaluation.runner.evaluate_sampler_conventions`.
    """
    out = Path(output_dir)
    conventions = (absent_reader,) if isinstance(absent_reader, str) else tuple(absent_reader)
    data_sha = (dataset_info or {}).get("sha256")
    rows: list[DatasetMetrics] = []
    drawn_for = {spec.name: k for k, spec in enumerate(specs)}  # the last spec of each name
    for k, spec in enumerate(specs):
        counter = {"n": 0}

        def on_case(record: dict, sample: dict, probs: np.ndarray, spec: SamplerSpec = spec, draw: bool = drawn_for[spec.name] == k) -> None:
            if not draw or (montages is not None and counter["n"] >= montages):
                return
            counter["n"] += 1
            title_line = f"{record['case_id']}  {spec.name} NFE={spec.nfe} N={probs.shape[0]}  GED={record.get('ged', float('nan')):.3f}"
            path = out / "montages" / f"{_safe(record['case_id'])}_{_safe(spec.name)}_nfe{spec.nfe}.png"
            save_montage(path, np.asarray(sample["image"])[0], np.asarray(sample["masks"]), np.asarray(sample["reader_present"]), probs,
                         title=title_line, threshold=threshold, kind=variability, reader_names=reader_names)
            record["montage"] = str(path.relative_to(out))

        rows.extend(
            evaluate_sampler_conventions(spec.sample_fn, dataset, name=spec.name, nfe=spec.nfe, absent_readers=conventions,
                                         num_candidates=num_candidates, seed=seed, indices=indices, batch_size=batch_size,
                                         threshold=threshold, settings=spec.settings, checkpoint_sha256=spec.checkpoint_sha256,
                                         on_case=on_case, progress=progress, shape=shape)
        )
    if inter_reader:
        rows.extend(evaluate_readers(dataset, indices=indices, absent_reader=c, shape=shape) for c in conventions)
    for row in rows:
        row.dataset_sha256 = data_sha
    conv: dict[str, Any] = {"absent_reader": [metric_conventions(c)["absent_reader"] for c in conventions]}
    conv.update({k: v for k, v in metric_conventions(conventions[0]).items() if k != "absent_reader"})
    conv.update(threshold=threshold, seed=seed, candidates_per_image=num_candidates, variability_map=variability)
    if shape:
        conv["shape"] = SHAPE_CONVENTIONS
    json_path, md_path = write_reports(out, rows, model=model_info, dataset=dataset_info, conventions=conv, title=title, run=run)
    logger.info("wrote %s and %s", json_path, md_path)
    return rows


def checkpoint_summary(pipeline: SSBPipeline, path: str | Path | None = None) -> dict[str, Any]:
    """What the JSON records about the model: settings, provenance (without the full recipe), file hash."""
    ckpt = pipeline.checkpoint
    info: dict[str, Any] = {
        "network": ckpt.network.to_dict(),
        "bridge": ckpt.bridge.to_dict(),
        "sampling_defaults": ckpt.sampling.to_dict(),
        "loss": ckpt.loss,
        "readers": ckpt.readers,
        "data": ckpt.data,
    }
    return _with_provenance(info, ckpt.provenance, path)


def _with_provenance(info: dict[str, Any], provenance: dict, path: str | Path | None) -> dict[str, Any]:
    """``info`` plus the checkpoint's provenance (without the full recipe) and, given its file, path and sha256."""
    provenance = dict(provenance)
    training = dict(provenance.get("training", {}))
    training.pop("recipe", None)
    info = {**info, "provenance": {**provenance, "training": training}}
    if path is not None:
        info["path"] = display_path(path)
        info["sha256"] = file_sha256(path)
    return info


def evaluate(
    checkpoint: str | Path | SSBPipeline,
    dataset: Dataset,
    output_dir: str | Path,
    *,
    nfes: Sequence[int] = (50,),
    num_candidates: int = 16,
    seed: int = 0,
    guidance_weight: float | None = None,
    start_noise: float | None = None,
    stochastic: bool | None = None,
    readers: int | str | None = None,
    name: str = "SSB",
    device: str = "cpu",
    checkpoint_path: str | Path | None = None,
    presence: bool | None = None,
    **kwargs: Any,
) -> list[DatasetMetrics]:
    """Evaluate an SSB checkpoint at each NFE in ``nfes`` (unset sampling knobs keep the checkpoint's defaults;
    ``presence``: its presence head, as :func:`~ssb_core.evaluation.samplers.pipeline_sampler`).

    ``checkpoint`` is a path or an already loaded :class:`SSBPipeline` (then ``checkpoint_path``, if given,
    is hashed into the JSON). Returns one :class:`~ssb_core.metrics.DatasetMetrics` per NFE (plus the readers' row with
    ``inter_reader=True``); the remaining keyword arguments go to :func:`evaluate_samplers`.
    """
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    if isinstance(checkpoint, SSBPipeline):
        pipeline = checkpoint
    else:
        path = Path(checkpoint)
        pipeline = SSBPipeline.from_checkpoint(path, device=device)
    model_info = checkpoint_summary(pipeline, path)
    specs = [
        pipeline_sampler(pipeline, int(n), guidance_weight=guidance_weight, start_noise=start_noise, stochastic=stochastic, readers=readers,
                         name=name, checkpoint_sha256=model_info.get("sha256"), presence=presence)
        for n in nfes
    ]
    kwargs.setdefault("reader_names", list(pipeline.checkpoint.readers))
    return evaluate_samplers(specs, dataset, output_dir, num_candidates=num_candidates, seed=seed, model_info=model_info, **kwargs)


def evaluate_baseline(
    checkpoint: str | Path,
    dataset: Dataset,
    output_dir: str | Path,
    *,
    nfes: Sequence[int | None] = (None,),
    guidance_weight: float = 0.0,
    name: str | None = None,
    device: str = "cpu",
    eta: float = 1.0,
    **kwargs: Any,
) -> list[DatasetMetrics]:
    """Evaluate a trained baseline (:mod:`ssb_core.baselines.checkpoint`) like :func:`evaluate` does SSB.

    ``nfes``: the Gaussian baseline's step counts (None = all T steps, DDPM; fewer: DDIM with ``eta``); the Prob. U-Net has one row
    whatever is given. The remaining keyword arguments go to :func:`evaluate_samplers`.
    """
    from ssb_core.baselines.checkpoint import load_baseline

    path = Path(checkpoint)
    ckpt = load_baseline(path)
    steps = list(nfes) if ckpt.method == "gaussian" else [1]
    info = _with_provenance({"method": ckpt.method, "config": ckpt.config, "network": ckpt.network, "readers": ckpt.readers,
                             "data": ckpt.data}, ckpt.provenance, path)
    specs = [baseline_sampler(ckpt, n, guidance_weight=guidance_weight, device=device, name=name, checkpoint_sha256=info["sha256"], eta=eta)
             for n in steps]
    kwargs.setdefault("reader_names", list(ckpt.readers))
    return evaluate_samplers(specs, dataset, output_dir, model_info=info, **kwargs)
