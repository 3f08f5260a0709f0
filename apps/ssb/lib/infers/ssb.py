"""The ``ssb`` infer task: N plausible lesion masks for one image, returned in a form each viewer can show.

Steps per request (the model is the one loaded at server start, see :mod:`lib.model_store`):

1. parameters validated (:mod:`lib.infers.params`), the image read (NIfTI, NRRD, PNG/JPEG, DICOM file or series);
2. the in-plane window planned at the model's physical scale around the click / ROI box / image centre
   (:func:`ssb_core.volume.plan_roi`);
3. the clicked lesion's candidates (:func:`ssb_core.volume.segment_lesion`): windows cut and normalised as the
   model was trained (:mod:`ssb_core.preprocessing`), sampled from the clicked slice outwards while the lesion
   continues, each candidate kept only where it is connected in 3D to the click;
4. results put back on the input's voxel grid and written with its exact spacing, origin and direction:
   ``agreement`` (default, uint8 labelmap 0..3), ``candidate=k`` (candidate k alone as label 4),
   ``segments`` (``.seg.nrrd``: every candidate and the consensus as overlapping segments) or
   ``variability`` (uint8 levels 1..L of the variability map);
5. the float variability map saved in the datastore under the tag ``ssb_variability`` (datastore images only).

Any bad request (parameter, click, ROI, unreadable file) is answered with HTTP 400 before anything is written.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from ssb_core.volume import ClickPlan, GrowthSettings, RoiError, RoiPlan, crop_box, plan_roi, segment_lesion, to_full

from lib.candidate_set import AGREEMENT_LABELS, CandidateSet
from lib.errors import bad_request
from lib.imageio import ImageReadError, LoadedImage, read_image, read_mask_like, write_like, write_seg_nrrd
from lib.infers.params import RESULT_EXTENSIONS, InferParams, ParamError, default_config
from lib.model_store import ModelStore
from lib.readers import reader_tags

__all__ = ["SSBInfer", "VARIABILITY_TAG"]

logger = logging.getLogger(__name__)

VARIABILITY_TAG = "ssb_variability"
VARIABILITY_DEFINITION = "4 f (1 - f), f = share of candidates covering the voxel; float32 in [0, 1]"
SEGMENTS_MAX_BYTES = 2**30  # a .seg.nrrd holds one full-size uint8 channel per candidate, plus the consensus
_COLORS = [(0.90, 0.30, 0.20), (0.20, 0.60, 0.90), (0.30, 0.80, 0.30), (0.95, 0.75, 0.10), (0.70, 0.40, 0.90), (0.10, 0.80, 0.80)]


class SSBInfer(InferTask):
    """MONAI Label infer task (model type ``segmentation``) over an :class:`lib.model_store.ModelStore`."""

    def __init__(self, store: ModelStore, datastore: Callable[[], Any], max_candidates: int = 32, max_slices: int = 64,
                 slice_batch: int = 16, save_variability: bool = True) -> None:
        self.store = store
        self.datastore = datastore
        self.max_candidates = int(max_candidates)
        self.growth = GrowthSettings(slice_batch=int(slice_batch), max_slices=int(max_slices))
        self.save_variability = save_variability
        super().__init__(
            type=InferType.SEGMENTATION,
            labels=dict(AGREEMENT_LABELS),
            dimension=3,
            description="Segmentation Schrödinger Bridge: N plausible lesion masks, their agreement and variability",
        )

    def config(self) -> dict[str, Any]:
        model = self.store.get()
        return default_config(model.pipeline.defaults.to_dict(), self.store.readers.choices())

    def is_valid(self) -> bool:
        return True

    def get_path(self, validate: bool = True) -> str:
        return str(self.store.path)

    def __call__(self, request: dict) -> tuple[str | None, dict]:
        """(result file, result JSON) for one request; HTTP 400 for a request that cannot be served."""
        clock = {"start": time.perf_counter()}
        model = self.store.get()
        p, image, click, label, how = self._validate(request, model)
        clock["read"] = time.perf_counter()
        pipe, conv = model.pipeline, model.conventions
        config = pipe.defaults.replace(num_candidates=p.num_candidates, nfe=p.nfe, guidance_weight=p.guidance_weight)
        lesion = segment_lesion(pipe, conv.preprocessing, image.array, image.spacing_xyz, click, config, label, p.seed,
                                self.growth)
        clock["sample"] = time.perf_counter()
        cands = CandidateSet.from_lesion(lesion)
        plan = lesion.plan
        image_id = request.get("image_id")
        names = self._candidate_readers(label, p.num_candidates, pipe.checkpoint.readers)
        unit = "area_mm2" if image.is_2d else "volume_mm3"
        summary = cands.summary(image.voxel_volume, unit, self._reader_masks(image_id, image, plan), p.seed, names)
        clock["summarise"] = time.perf_counter()
        result_file, label_names = self._write_output(p, cands, image, request.get("image", ""))
        variability = self._save_variability(image_id, cands, image) if self.save_variability else None
        clock["write"] = time.perf_counter()
        result = {
            "model": {"path": str(self.store.path), "sha256": model.sha256[:16], "readers": list(pipe.checkpoint.readers)},
            "image": {"id": image_id, "size_ijk": list(image.shape_xyz), "spacing_mm": list(image.spacing_xyz), "is_2d": image.is_2d},
            "roi": {**plan.to_dict(), "model_roi_size": list(conv.roi_size), "model_spacing_mm": list(conv.spacing_mm),
                    "rounds": lesion.rounds, "stopped": lesion.stopped,
                    "dropped_voxels": [int(v) for v in lesion.dropped_voxels]},
            "params": {k: v for k, v in p.to_dict().items() if k not in ("foreground", "roi")},
            "reader_style": how,
            "seed": p.seed,
            **summary,
            "variability": variability,
            "output": {"mode": "candidate" if p.candidate >= 0 else p.output_mode, "candidate": p.candidate,
                       "file_format": _ext(result_file)},
            "label_names": label_names,
            **_timings(clock),
        }
        logger.info("ssb infer %s: %d candidates x %d slices at NFE %d in %.2f s", image_id or "file", p.num_candidates,
                    len(plan.slices), p.nfe, result["timings"]["total_s"])
        return result_file, result

    def _validate(self, request: dict, model: Any) -> tuple[InferParams, LoadedImage, ClickPlan, int | None, str]:
        """Parameters, image, ROI and reader label of a request; raises HTTP 400 before anything is computed."""
        pipe = model.pipeline
        try:
            p = InferParams.parse(request, pipe.defaults.to_dict(), self.max_candidates, pipe.bridge.num_timesteps,
                                  self.store.readers.choices())
            image = read_image(request.get("image", ""))
            plan = plan_roi(image.array.shape, image.spacing_xyz, model.conventions.preprocessing, p.foreground, p.roi)
            label, how = self.store.readers.label_for(p.reader)
            size = (p.num_candidates + 1) * image.array.size
            if p.output_mode == "segments" and p.candidate < 0 and size > SEGMENTS_MAX_BYTES:
                raise ParamError(f"output_mode 'segments' would write {p.num_candidates + 1} full-size uint8 channels "
                                 f"({size / 2**30:.1f} GiB); use fewer candidates or 'agreement'")
        except (ParamError, RoiError, ImageReadError, KeyError) as exc:
            raise bad_request(exc.args[0] if isinstance(exc, KeyError) else str(exc)) from None
        return p, image, plan, label, how

    @staticmethod
    def _candidate_readers(label: int | None, n: int, readers: list[str]) -> list[str]:
        if label is None:
            return [readers[k % len(readers)] for k in range(n)]
        return [readers[label] if label < len(readers) else "none"] * n

    def _reader_masks(self, image_id: str | None, image: LoadedImage, plan: RoiPlan) -> np.ndarray | None:
        """(M, B, ny, nx) bool reader masks of a datastore image, cropped to the ROI box; None when there are none."""
        if not image_id:
            return None
        ds = self.datastore()
        masks = []
        for tag in reader_tags(ds, image_id):
            try:
                masks.append(crop_box(read_mask_like(ds.get_label_uri(image_id, tag), image), plan))
            except (ImageReadError, RuntimeError, OSError) as exc:
                logger.warning("ignoring reader label %s/%s: %s", tag, image_id, exc)
        return np.stack(masks) if masks else None

    def _write_output(self, p: InferParams, cands: CandidateSet, image: LoadedImage, path: str) -> tuple[str, dict]:
        shape = image.array.shape
        if p.output_mode == "segments" and p.candidate < 0:
            names = [f"candidate {k}" for k in range(cands.n)] + ["consensus"]
            colors = [_COLORS[k % len(_COLORS)] for k in range(cands.n)] + [(1.0, 1.0, 0.0)]
            stack = np.concatenate([cands.masks, cands.consensus()[None]]).astype(np.uint8)
            out = _tempfile(".seg.nrrd")
            write_seg_nrrd(to_full(stack, cands.plan, shape), names, colors, image, out)
            return out, {name: i + 1 for i, name in enumerate(names)}
        if p.candidate >= 0:
            box = cands.masks[p.candidate].astype(np.uint8) * AGREEMENT_LABELS["chosen candidate"]
            names = {"chosen candidate": AGREEMENT_LABELS["chosen candidate"]}
        elif p.output_mode == "variability":
            v = cands.variability()
            box = np.where(v > 0, np.ceil(v * p.variability_levels), 0).astype(np.uint8)
            names = {f"variability <= {lvl / p.variability_levels:.2f}": lvl for lvl in range(1, p.variability_levels + 1)}
        else:
            box = cands.agreement()
            names = {k: v for k, v in AGREEMENT_LABELS.items() if v <= 3}
        ext = p.result_extension if p.result_extension and p.result_extension != ".seg.nrrd" else _input_ext(path)
        out = _tempfile(ext)
        write_like(to_full(box, cands.plan, shape), image, out, np.uint8)
        return out, names

    def _save_variability(self, image_id: str | None, cands: CandidateSet, image: LoadedImage) -> dict | None:
        """Save the float variability map in the datastore (tag ``ssb_variability``); None for non-datastore images."""
        if not image_id:
            return None
        v = cands.variability()
        info = {"definition": VARIABILITY_DEFINITION, "num_candidates": cands.n}
        tmp = _tempfile(".nrrd")
        try:
            write_like(to_full(v, cands.plan, image.array.shape), image, tmp, np.float32)
            self.datastore().save_label(image_id, tmp, VARIABILITY_TAG, info)
        except Exception as exc:  # a read-only or remote datastore: the segmentation is still answered
            logger.warning("variability map of %s not saved: %s", image_id, exc)
            return {"tag": VARIABILITY_TAG, "saved": False, "error": str(exc)}
        finally:
            os.unlink(tmp)
        download = f"/datastore/label?label={image_id}&tag={VARIABILITY_TAG}"
        return {"tag": VARIABILITY_TAG, "label": image_id, "download": download, **info, "max": round(float(v.max()), 4)}


def _timings(clock: dict[str, float]) -> dict:
    """``timings`` (seconds per stage) and MONAI Label's ``latencies`` from the stage end times in ``clock``."""
    c = clock
    timings = {"read_s": c["read"] - c["start"], "sample_s": c["sample"] - c["read"], "summarise_s": c["summarise"] - c["sample"],
               "write_s": c["write"] - c["summarise"], "total_s": c["write"] - c["start"]}
    latencies = {"pre": timings["read_s"], "infer": timings["sample_s"], "post": c["write"] - c["sample"], "total": timings["total_s"]}
    return {"timings": {k: round(v, 3) for k, v in timings.items()}, "latencies": {k: round(v, 2) for k, v in latencies.items()}}


def _tempfile(suffix: str) -> str:
    fd, path = tempfile.mkstemp(suffix=suffix, prefix="ssb_")
    os.close(fd)
    return path


def _ext(path: str) -> str:
    return next((e for e in (".seg.nrrd", ".nii.gz") if path.endswith(e)), os.path.splitext(path)[1])


def _input_ext(path: str) -> str:
    ext = _ext(path).lower() if path and not os.path.isdir(path) else ""
    return ext if ext in RESULT_EXTENSIONS and ext != ".seg.nrrd" else ".nrrd"
