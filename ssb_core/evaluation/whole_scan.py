"""The real path scored: a click on a nodule in a whole CT, candidates in 3D, against the readers' 3D masks.

Data: the ``lidc3d`` layout (``manifest.json``; ``full/<patient>/ct.nii.gz`` int16 HU;
``full/<patient>/labels/reader_<k>/<nodule>.nii.gz`` one uint8 mask per reader on the full grid). The click is
the manifest's ``centroid_voxel_ijk`` (the mean of the readers' mask centroids), rounded to a voxel.

Scoring is in 3D on the bounding box of everything drawn (readers and candidates, plus one voxel), with the
metrics of :func:`ssb_core.metrics.image_metrics` (Dice / IoU over voxels; every reader here is present).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ssb_core.candidates import SamplingConfig
from ssb_core.metrics import image_metrics, mask_set_shape, pairwise_dice, shape_metrics
from ssb_core.pipeline import SSBPipeline
from ssb_core.preprocessing import Preprocessing
from ssb_core.volume import GrowthSettings, LesionCandidates, plan_roi, segment_lesion, to_full

__all__ = ["ScanCase", "read_volume", "load_lidc3d", "click_model", "click_candidates", "extent_ratios", "score_lesion", "evaluate_case"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanCase:
    """One nodule of one whole scan: its CT, its readers' masks and the click at its centre."""

    nodule_id: str
    ct_path: Path
    reader_paths: tuple[Path, ...]
    click_ijk: tuple[int, int, int]


def read_volume(path: str | Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """(Z, Y, X) array and (sx, sy, sz) spacing in mm of a NIfTI / NRRD volume."""
    img = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(img), tuple(float(s) for s in img.GetSpacing())  # type: ignore[return-value]


def load_lidc3d(root: str | Path) -> list[ScanCase]:
    """Every nodule of a ``lidc3d`` folder (``root/manifest.json``), in the manifest's order."""
    root = Path(root)
    manifest = json.loads((root / "manifest.json").read_text())
    series = {s["patient"]: s for s in manifest["series"]}
    cases = []
    for nod in manifest["nodules"]:
        ct = root / series[nod["patient"]]["full_ct"]
        readers = tuple(ct.parent / "labels" / r / f"{nod['nodule_id']}.nii.gz" for r in nod["readers_present"])
        click = tuple(int(round(c)) for c in nod["centroid_voxel_ijk"])
        cases.append(ScanCase(nod["nodule_id"], ct, readers, click))  # type: ignore[arg-type]
    return cases


def click_model(checkpoint: str | Path, nfe: int, num_candidates: int = 8, readers: Sequence[int] | None = None,
                ) -> tuple[SSBPipeline, Preprocessing, SamplingConfig, list[int] | None]:
    """The model as a click in the viewer uses it: the pipeline (ONNX Runtime where installed), its preprocessing,
    the checkpoint's sampling defaults with ``num_candidates`` and ``nfe`` as the growth settings apply them, and each
    candidate's reader label: ``readers`` cycled over the candidates, or None (the app's default) when not given."""
    pipe = SSBPipeline.from_checkpoint(checkpoint, runtime="auto")
    pre = Preprocessing.from_checkpoint_data(pipe.checkpoint.data)
    config = GrowthSettings().sampling(pipe.defaults.replace(num_candidates=num_candidates, nfe=nfe))
    labels = None if not readers else [int(readers[k % len(readers)]) for k in range(config.num_candidates)]
    return pipe, pre, config, labels


def click_candidates(pipeline: SSBPipeline, preprocessing: Preprocessing, volume_zyx: np.ndarray,
                     spacing_xyz: Sequence[float], click_ijk: Sequence[float], config: SamplingConfig, seed: int = 0,
                     settings: GrowthSettings | None = None) -> LesionCandidates:
    """:func:`ssb_core.volume.segment_lesion` for one click, reader labels cycling (the app's default)."""
    plan = plan_roi(volume_zyx.shape, spacing_xyz, preprocessing, foreground=[list(click_ijk)])
    return segment_lesion(pipeline, preprocessing, volume_zyx, spacing_xyz, plan, config, None, seed, settings)


def extent_ratios(candidates_zyx: np.ndarray, readers_zyx: np.ndarray) -> dict[str, float]:
    """Where a volume difference comes from: along z or in plane. Of (N, Z, Y, X) candidates and (M, Z, Y, X) readers
    (bool, axial slices along axis 1): ``z_extent_ratio``, the median number of axial slices a non-empty candidate
    draws on over the readers' median; ``widest_area_ratio``, the median area of a non-empty candidate's widest slice
    over the readers' median (NaN with no candidate drawn)."""
    def per_mask(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        areas = masks.reshape(*masks.shape[:2], -1).sum(axis=2)  # (K, Z)
        drawn = areas.max(axis=1) > 0
        return (areas[drawn] > 0).sum(axis=1), areas[drawn].max(axis=1)

    (cz, ca), (rz, ra) = per_mask(candidates_zyx), per_mask(readers_zyx)
    if not cz.size or not rz.size:
        return {"z_extent_ratio": float("nan"), "widest_area_ratio": float("nan")}
    return {"z_extent_ratio": float(np.median(cz) / np.median(rz)), "widest_area_ratio": float(np.median(ca) / np.median(ra))}


def score_lesion(result: LesionCandidates, readers_zyx: np.ndarray, voxel_mm3: float) -> dict[str, Any]:
    """3D metrics of ``result`` against reader masks ``readers_zyx`` (M, Z, Y, X) bool.

    Returns GED, D_max, S_c, CI, the readers' mean pairwise Dice, candidate and reader volumes (mm^3), the
    slices the answer spans (``slices_sampled``), ``connected``: True when every candidate is one 3D component (after
    :func:`~ssb_core.volume.keep_connected` it reaches the click), and the shape figures in 3D
    (:mod:`ssb_core.metrics.shape`: 26-connected regions, holes on any axial slice): ``one_region`` of the
    non-empty candidates and ``readers_one_region``, ``volume_ratio`` (median non-empty candidate volume over the
    readers' median) and where it comes from (:func:`extent_ratios`)."""
    from scipy import ndimage

    from ssb_core.volume.lesion import CONNECTIVITY

    shape = readers_zyx.shape[1:]
    cands = to_full(result.masks, result.plan, shape, fill=False)  # (N, Z, Y, X)
    drawn = readers_zyx.any(axis=0) | cands.any(axis=0)
    if drawn.any():
        idx = np.nonzero(drawn)
        box = tuple(slice(max(0, int(a.min()) - 1), int(a.max()) + 2) for a in idx)
    else:
        box = tuple(slice(0, 1) for _ in shape)
    s, y = cands[(slice(None), *box)], readers_zyx[(slice(None), *box)]
    m = image_metrics(s, y)
    dice_yy = pairwise_dice(y, y)
    iu = np.triu_indices(y.shape[0], 1)
    components = [int(ndimage.label(c, structure=CONNECTIVITY)[1]) for c in s]
    figures = shape_metrics(s, y)  # (Z, Y, X) masks: axial slices along axis 0
    return {
        "ged": m.ged, "d_max": m.d_max, "s_c": m.s_c, "ci": m.ci, "d_a": m.d_a, "hm_iou": m.hm_iou,
        "readers_pairwise_dice": float(dice_yy[iu].mean()) if iu[0].size else float("nan"),
        "candidate_volumes_mm3": [round(float(c.sum()) * voxel_mm3, 1) for c in s],
        "reader_volumes_mm3": [round(float(r.sum()) * voxel_mm3, 1) for r in y],
        "empty_candidates": int(sum(1 for c in s if not c.any())),
        "components_per_candidate": components,
        "connected": all(c <= 1 for c in components),
        "one_region": figures["one_region"],
        "readers_one_region": mask_set_shape(y).one_region,
        "volume_ratio": figures["area_ratio"],
        **extent_ratios(s, y),
        "dropped_voxels": [int(v) for v in result.dropped_voxels],
        "slices_sampled": result.num_slices,
        "scale": result.scale,
        "rounds": result.rounds,
        "stopped": dict(result.stopped),
    }


def evaluate_case(pipeline: SSBPipeline, preprocessing: Preprocessing, case: ScanCase, config: SamplingConfig,
                  seed: int = 0, settings: GrowthSettings | None = None,
                  volume: tuple[np.ndarray, tuple[float, float, float]] | None = None) -> dict[str, Any]:
    """Click at the case's centre, score the candidates; ``volume`` = an already read ``read_volume(case.ct_path)``."""
    array, spacing = volume if volume is not None else read_volume(case.ct_path)
    readers = np.stack([read_volume(p)[0] > 0 for p in case.reader_paths])
    start = time.perf_counter()
    result = click_candidates(pipeline, preprocessing, array, spacing, case.click_ijk, config, seed, settings)
    seconds = time.perf_counter() - start
    scores = score_lesion(result, readers, float(np.prod(spacing)))
    return {"nodule": case.nodule_id, "click_ijk": list(case.click_ijk), "seconds": round(seconds, 3), **scores,
            "num_candidates": config.num_candidates, "nfe": config.nfe}
