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
   ``segments`` (``.seg.nrrd``: every candidate, named with its rank and size, and the consensus as overlapping
   segments) or ``variability`` (uint8 levels 1..L of the variability map; asked as NRRD it comes as a one-layer
   ``.seg.nrrd`` whose levels carry a cold-to-hot colour scale, which 3D Slicer shows as such); what a labelmap's
   values mean is written into the file (:mod:`lib.result_labels`).

The task samples and answers; it writes nothing to the datastore. A picked candidate is saved by the label
service (:mod:`lib.labels`, ``POST /ssb/lesions``), from the set this task sampled (:meth:`SSBInfer.sampled_set`).
A reader label of the image that cannot be read is named in the answer (``skipped_labels``) and left out.

The candidates of one request context (image, model, sampling parameters, click) are sampled once and reused
by every later view of it and by the save of a pick (:mod:`lib.candidate_cache`); ``cache`` in the answer says
whether this request sampled (``hit`` false) or reused a set (``hit`` true, ``timings.sample_s`` ~ 0).

Any bad request (parameter, click, ROI, unreadable file) is answered with HTTP 400 before anything is written.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from ssb_core.candidates import reader_labels_for
from ssb_core.checkpoint import label_guidance, reader_guidance
from ssb_core.metrics.variability import vote_variability
from ssb_core.volume import (AGREEMENT_LABELS, PRESENCE_MODES, ClickPlan, GrowthSettings, LesionCandidates, RoiError, agreement_labels,
                             consensus, crop_box, plan_roi, segment_lesion, to_full, variability_levels)

from lib.candidate_cache import CandidateCache, context_key
from lib.candidate_set import CONSENSUS_COLOUR, candidate_colour, summary_json, unit_rgb, variability_level_segments
from lib.errors import bad_request
from lib.imageio import (ImageReadError, LoadedImage, image_identity, read_image, temp_path, write_labelmap_seg_nrrd,
                         write_like, write_seg_nrrd)
from lib.infers.masks_json import masks_json
from lib.labels.nearby import lesions_near
from lib.infers.params import AUTO_GUIDANCE, RESULT_EXTENSIONS, InferParams, ParamError, default_config
from lib.model_store import ModelStore
from lib.readers import reader_tags
from lib.result_labels import write_meaning

__all__ = ["SSBInfer", "SampledSet"]

logger = logging.getLogger(__name__)

VARIABILITY_DEFINITION = "4 f (1 - f), f = share of candidates covering the voxel"
SEGMENTS_MAX_BYTES = 2**30  # a .seg.nrrd holds one full-size uint8 channel per candidate, plus the consensus


@dataclass
class SampledSet:
    """One request context's candidates (:meth:`SSBInfer.sampled_set`): the validated parameters, the image, the
    candidates, the reader label and how it was resolved, the context key, whether the cache had it, the model."""

    params: InferParams
    image: LoadedImage
    lesion: LesionCandidates
    label: int | None
    how: str
    context: str | None
    hit: bool
    model: Any
    read_done: float
    clicks_ijk: np.ndarray


class SSBInfer(InferTask):
    """MONAI Label infer task (model type ``segmentation``) over an :class:`lib.model_store.ModelStore`."""

    def __init__(self, store: ModelStore, datastore: Callable[[], Any], max_candidates: int = 32, max_slices: int = 64,
                 slice_batch: int = 16, cache_contexts: int = 16, presence: str = PRESENCE_MODES[0]) -> None:
        self.store = store
        self.datastore = datastore
        self.cache = CandidateCache(cache_contexts)
        self.max_candidates = int(max_candidates)
        self.growth = GrowthSettings(slice_batch=int(slice_batch), max_slices=int(max_slices), presence=presence)
        super().__init__(
            type=InferType.SEGMENTATION,
            labels=dict(AGREEMENT_LABELS),
            dimension=3,
            description="Segmentation Schrödinger Bridge: N plausible lesion masks, their agreement and variability",
        )

    def config(self) -> dict[str, Any]:
        model = self.store.get()
        return default_config(self._defaults(model.pipeline), self.store.readers.choices())

    def _defaults(self, pipe: Any) -> dict[str, Any]:
        """The parameters' defaults: the model's sampling defaults and the server's ``presence``."""
        return {**pipe.defaults.to_dict(), "presence": self.growth.presence}

    def is_valid(self) -> bool:
        return True

    def get_path(self, validate: bool = True) -> str:
        return str(self.store.path)

    def sampled_set(self, request: dict) -> "SampledSet":
        """The candidates of one request context: sampled, or the set already sampled for it (the cache).

        Raises:
            HTTPException 400: a request that cannot be served (nothing computed).
        """
        model = self.store.get()
        p, image, click, label, how, own_guidance = self._validate(request, model)
        read = time.perf_counter()
        pipe, conv = model.pipeline, model.conventions
        config = pipe.defaults.replace(num_candidates=p.num_candidates, nfe=p.nfe, guidance_weight=p.guidance_weight)
        sampling = {"num_candidates": p.num_candidates, "nfe": p.nfe, "guidance_weight": p.guidance_weight, "seed": p.seed,
                    "label": label, "label_guidance": own_guidance, "presence": p.presence}
        where = {"box": click.box.to_dict(), "seeds": np.round(click.seeds_ijk, 3).tolist(), "k_range": list(click.k_range)}
        identity = image_identity(request.get("image", ""))
        key = context_key(identity, model.sha256, sampling, where)
        lesion = self.cache.get(key, model.sha256)
        hit = lesion is not None
        if not hit:
            lesion = segment_lesion(pipe, conv.preprocessing, image.array, image.spacing_xyz, click, config, label, p.seed,
                                    replace(self.growth, presence=p.presence), own_guidance)
            self.cache.put(key, model.sha256, lesion, identity)
        return SampledSet(p, image, lesion, label, how, key, hit, model, read, np.asarray(click.seeds_ijk, dtype=float))

    def recent_sets(self, image_path: str) -> list[tuple[str, LesionCandidates, str]]:
        """``(context, candidates, model sha)`` of the sets sampled on this image file and still kept, most recent first."""
        sha = self.store.get().sha256
        return [(k, v, sha) for k, v in self.cache.of_image(image_identity(image_path))]

    def __call__(self, request: dict) -> tuple[str | None, dict]:
        """(result file, result JSON) for one request; HTTP 400 for a request that cannot be served."""
        clock = {"start": time.perf_counter()}
        s = self.sampled_set(request)
        p, image, lesion, model = s.params, s.image, s.lesion, s.model
        clock["read"], clock["sample"] = s.read_done, time.perf_counter()
        pipe, conv = model.pipeline, model.conventions
        plan = lesion.plan
        image_id = request.get("image_id")
        names = candidate_readers(lesion, pipe.checkpoint.readers)
        unit = "area_mm2" if image.is_2d else "volume_mm3"
        readers, skipped, near = self._reader_masks(image_id, image, lesion, s.clicks_ijk)
        summary = summary_json(lesion.masks, image.voxel_volume, unit, readers, p.seed, names,
                               lesion.presence.to_dict() if lesion.presence else None)
        clock["summarise"] = time.perf_counter()
        result_file, label_names = self._write_output(p, lesion, image, request.get("image", ""), summary["candidates"],
                                                      summary["finding"])
        clock["write"] = time.perf_counter()
        result = {
            "model": {"path": str(self.store.path), "sha256": model.sha256[:16], "readers": list(pipe.checkpoint.readers)},
            "image": {"id": image_id, "size_ijk": list(image.shape_xyz), "spacing_mm": list(image.spacing_xyz), "is_2d": image.is_2d},
            "roi": {**plan.to_dict(), "model_roi_size": list(conv.roi_size), "model_spacing_mm": list(conv.spacing_mm),
                    "rounds": lesion.rounds, "stopped": lesion.stopped,
                    "dropped_voxels": [int(v) for v in lesion.dropped_voxels]},
            "params": {k: v for k, v in p.to_dict().items() if k not in ("foreground", "roi", "foreground_mm")},
            "click_ijk": p.foreground,
            "reader_style": reader_style(s.how, s.label, lesion, pipe.checkpoint.readers),
            "seed": p.seed,
            **summary,
            "variability": {"definition": VARIABILITY_DEFINITION, "num_candidates": lesion.num_candidates,
                            "max": round(float(vote_variability(lesion.masks).max()), 4)},
            "output": {"mode": "candidate" if p.candidate >= 0 else p.output_mode, "candidate": p.candidate,
                       "file_format": _ext(result_file)},
            "label_names": label_names,
            "cache": {"context": s.context, "hit": s.hit, **self.cache.stats()},
            "skipped_labels": skipped,
            "saved_lesions_here": near,
            "masks": masks_json(lesion, image, p.variability_levels) if p.include_masks else None,
            **_timings(clock),
        }
        logger.info("ssb infer %s: %d candidates x %d slices at NFE %d in %.2f s (%s)", image_id or "file", p.num_candidates,
                    len(plan.slices), p.nfe, result["timings"]["total_s"], "cached set" if s.hit else "sampled")
        return result_file, result

    def _validate(self, request: dict, model: Any) -> tuple[InferParams, LoadedImage, ClickPlan, int | None, str, dict | None]:
        """Parameters, image, ROI, reader label of a request and, for candidates cycling through the readers with the
        default guidance, each adapted reader's own (label -> weight, None when none); HTTP 400 before anything is computed."""
        pipe = model.pipeline
        try:
            p = InferParams.parse(request, self._defaults(pipe), self.max_candidates, pipe.bridge.num_timesteps,
                                  self.store.readers.choices())
            image = read_image(request.get("image", ""))
            if p.foreground_mm is not None:
                if p.foreground is not None:
                    raise ParamError("give the click either as foreground (voxel indices) or as foreground_mm, not both")
                p = replace(p, foreground=_mm_to_ijk(p.foreground_mm, image))
            plan = plan_roi(image.array.shape, image.spacing_xyz, model.conventions.preprocessing, p.foreground, p.roi)
            label, how = self.store.readers.label_for(p.reader)
            own_guidance = None
            if p.guidance_weight == AUTO_GUIDANCE:
                p, how, own_guidance = _own_guidance(p, label, how, pipe)
            size = (p.num_candidates + 1) * image.array.size
            if p.output_mode == "segments" and p.candidate < 0 and size > SEGMENTS_MAX_BYTES:
                raise ParamError(f"output_mode 'segments' would write {p.num_candidates + 1} full-size uint8 channels "
                                 f"({size / 2**30:.1f} GiB); use fewer candidates or 'agreement'")
        except (ParamError, RoiError, ImageReadError, KeyError) as exc:
            raise bad_request(exc.args[0] if isinstance(exc, KeyError) else str(exc)) from None
        return p, image, plan, label, how, own_guidance

    def _reader_masks(self, image_id: str | None, image: LoadedImage, lesion: LesionCandidates,
                      clicks_ijk: np.ndarray) -> tuple[np.ndarray | None, list[dict], list[dict]]:
        """Of a datastore image's reader labels, cropped to the ROI box: the (M, B, ny, nx) bool masks (None when there
        are none), the labels that could not be read (``{"reader", "error"}``: named in the answer, left out, never an
        error), and the saved lesions at this click (:func:`lib.labels.nearby.lesions_near`)."""
        if not image_id:
            return None, [], []
        ds = self.datastore()
        crops, records, skipped = {}, {}, []
        for tag in reader_tags(ds, image_id):
            try:
                labelmap, records[tag] = ds.labels.reader_lesions(image_id, tag, image)
                crops[tag] = crop_box(labelmap, lesion.plan)
            except Exception as exc:  # one bad stored file never takes an image down
                logger.warning("ignoring reader label %s/%s: %s", tag, image_id, exc)
                skipped.append({"reader": tag, "error": f"{type(exc).__name__}: {exc}"[:300]})
        near = lesions_near(crops, records, lesion.plan, clicks_ijk, image.spacing_xyz, lesion.masks.any(axis=0))
        masks = np.stack([c > 0 for c in crops.values()]) if crops else None
        return masks, skipped, near

    def _write_output(self, p: InferParams, cands: LesionCandidates, image: LoadedImage, path: str,
                      per_candidate: list[dict], finding: dict) -> tuple[str, dict]:
        shape = image.array.shape
        if p.output_mode == "segments" and p.candidate < 0:  # Slicer lists the segment names: "nothing here" in one of them
            names = [c["name"] for c in per_candidate] + ["consensus" if finding["lesion"] else "consensus: no lesion found here"]
            colors = [unit_rgb(candidate_colour(k)) for k in range(cands.num_candidates)] + [unit_rgb(CONSENSUS_COLOUR)]
            stack = np.concatenate([cands.masks, consensus(cands.masks)[None]]).astype(np.uint8)
            out = temp_path(".seg.nrrd")
            write_seg_nrrd(to_full(stack, cands.plan, shape), names, colors, image, out)
            return out, {name: i + 1 for i, name in enumerate(names)}
        ext = p.result_extension if p.result_extension and p.result_extension != ".seg.nrrd" else _input_ext(path)
        if p.candidate >= 0:
            box = cands.masks[p.candidate].astype(np.uint8) * AGREEMENT_LABELS["chosen candidate"]
            names = {"chosen candidate": AGREEMENT_LABELS["chosen candidate"]}
            chosen = per_candidate[p.candidate]  # its name and colour in a DICOM SEG, as in the viewers
            meaning = {AGREEMENT_LABELS["chosen candidate"]: (chosen["name"], unit_rgb(chosen["colour"]))}
        elif p.output_mode == "variability":
            box = variability_levels(cands.masks, p.variability_levels)
            segments = variability_level_segments(p.variability_levels)
            names = {name: value for name, value, _ in segments}
            meaning = {value: (name, colour) for name, value, colour in segments}
            if ext == ".nrrd" or p.result_extension == ".seg.nrrd":  # a labelmap any NRRD reader reads, with the colour
                # scale 3D Slicer shows, whether the plugin's result format is .nrrd or .seg.nrrd
                out = temp_path(".seg.nrrd")
                write_labelmap_seg_nrrd(to_full(box, cands.plan, shape), segments, image, out)
                return out, names
        else:
            box = agreement_labels(cands.masks)
            names = {k: v for k, v in AGREEMENT_LABELS.items() if v <= 3}
            meaning = {}
        out = temp_path(ext)
        write_like(to_full(box, cands.plan, shape), image, out, np.uint8)
        if meaning:
            write_meaning(out, meaning)  # for output=dicom_seg, and any client that keeps the file (lib.result_labels)
        return out, names

def candidate_readers(lesion: LesionCandidates, readers: list[str]) -> list[str]:
    """The reader each candidate imitates, as :func:`segment_lesion` sampled it (``lesion.reader_labels``); "none" for the
    null label (no reader's style)."""
    return [readers[lab] if lab < len(readers) else "none" for lab in lesion.reader_labels]


def reader_style(how: str, label: int | None, lesion: LesionCandidates, readers: list[str]) -> str:
    """The answer's ``reader_style``: ``how`` the request's reader was resolved, its first clause told again when, with no
    reader asked for, the vote found a lesion and its outlines imitate fewer readers than voted
    (``SamplingConfig.lesion_skip_readers``)."""
    labels = list(lesion.reader_labels)
    if label is not None or not labels or labels == reader_labels_for(None, len(labels), len(readers)):
        return how
    outline = list(dict.fromkeys(readers[lab] for lab in labels if lab < len(readers)))
    _, sep, rest = how.partition("; ")
    return (f"every trained reader votes whether a lesion is at the click; its outlines imitate {', '.join(outline)}"
            " (the model skips, for outlines, the readers whose label mostly says whether they marked a lesion)" + sep + rest)


def _own_guidance(p: InferParams, label: int | None, how: str, pipe: Any) -> tuple[InferParams, str, dict | None]:
    """``guidance_weight`` -1 resolved: the chosen reader's own weight (:func:`ssb_core.checkpoint.reader_guidance`),
    else the model's default; with the candidates cycling through the readers (``label`` None), the default for
    all and each adapted reader's own (label -> weight, None when none), as when chosen alone. Also ``how`` with it."""
    ckpt, default = pipe.checkpoint, float(pipe.defaults.guidance_weight)
    if label is None:
        by_label = label_guidance(ckpt) or None
        if by_label:
            how += "; " + ", ".join(f"{ckpt.readers[i]} with guidance {w:g}" for i, w in by_label.items())
        return replace(p, guidance_weight=default), how, by_label
    own = reader_guidance(ckpt, p.reader) if label < ckpt.network.null_label else 0.0
    if own:
        how += f"; guidance {own:g}, the strength of their style learned in training"
    return replace(p, guidance_weight=own or default), how, None


def _mm_to_ijk(points: Any, image: LoadedImage) -> list[list[float]]:
    """Clicks in patient coordinates (LPS, mm) -> voxel indices (i, j, k) of ``image`` (continuous, may lie outside)."""
    if isinstance(points, (list, tuple)) and points and all(isinstance(v, (int, float)) for v in points):
        points = [points]
    if not isinstance(points, (list, tuple)) or not points:
        raise ParamError(f"foreground_mm must be a list of [x, y, z] points in mm, got {points!r}")
    ref, out = image.reference, []
    for pt in points:
        ok = isinstance(pt, (list, tuple)) and len(pt) == 3 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pt)
        if not ok:
            raise ParamError(f"foreground_mm must be a list of [x, y, z] points in mm, got {points!r}")
        idx = ref.TransformPhysicalPointToContinuousIndex([float(v) for v in pt][: ref.GetDimension()])
        out.append([round(float(c), 3) for c in idx] + ([0.0] if ref.GetDimension() == 2 else []))
    return out


def _timings(clock: dict[str, float]) -> dict:
    """``timings`` (seconds per stage) and MONAI Label's ``latencies`` from the stage end times in ``clock``."""
    c = clock
    timings = {"read_s": c["read"] - c["start"], "sample_s": c["sample"] - c["read"], "summarise_s": c["summarise"] - c["sample"],
               "write_s": c["write"] - c["summarise"], "total_s": c["write"] - c["start"]}
    latencies = {"pre": timings["read_s"], "infer": timings["sample_s"], "post": c["write"] - c["sample"], "total": timings["total_s"]}
    return {"timings": {k: round(v, 3) for k, v in timings.items()}, "latencies": {k: round(v, 2) for k, v in latencies.items()}}


def _ext(path: str) -> str:
    return next((e for e in (".seg.nrrd", ".nii.gz") if path.endswith(e)), os.path.splitext(path)[1])


def _input_ext(path: str) -> str:
    ext = _ext(path).lower() if path and not os.path.isdir(path) else ""
    return ext if ext in RESULT_EXTENSIONS and ext != ".seg.nrrd" else ".nrrd"
