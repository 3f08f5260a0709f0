"""The infer request's parameters: defaults (listed in ``/info/`` as the model's ``config``) and validation.

Every parameter arrives as JSON in the ``params`` form field; viewers send numbers typed into text boxes as
strings, and list-valued defaults (choices) as the chosen item, so both forms are accepted. A bad value raises
:class:`ParamError` naming the parameter, what was expected and what came; the task turns it into HTTP 400.

A key that is neither one of the model's parameters nor one MONAI Label or a viewer adds by itself
(:data:`CLIENT_KEYS`) is refused too, naming the known parameters: a misspelt ``num_candiates`` would otherwise
be ignored and the reader would get the default without a word.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ssb_core.volume import PRESENCE_MODES

from lib.readers import reader_name
from lib.values import parse_bool

__all__ = ["API_KEYS", "CLIENT_KEYS", "OUTPUT_MODES", "RESULT_EXTENSIONS", "ParamError", "InferParams", "default_config"]

OUTPUT_MODES = ("agreement", "segments", "variability")
RESULT_EXTENSIONS = (".nrrd", ".nii.gz", ".nii", ".mha", ".seg.nrrd")

# Parameters for programs rather than people (not listed in /info/, where 3D Slicer would show them as options):
# ``foreground_mm`` clicks in patient coordinates (DICOM LPS, mm; the OHIF SSB panel sends what the reader
# clicked on), ``include_masks`` the candidates as compact JSON (:mod:`lib.infers.masks_json`).
API_KEYS = frozenset({"foreground_mm", "include_masks"})

# Request keys the app does not define but accepts: MONAI Label's infer endpoint, app and batch infer add the first; the
# 3D Slicer plugin (MONAILabelClient) and the OHIF MONAI Label panel send the others with every request of any
# model type (monailabel 0.8.5 and its plugins). They are read where they mean something here (``foreground``,
# ``roi``, ``result_extension``, ``client_id``) and otherwise left alone.
CLIENT_KEYS = frozenset({
    "model", "image", "image_id", "description", "save_label", "label_tag", "session", "label", "device", "timeout",
    "logging", "annotations",
    "_id", "_image_id", "images", "labels", "max_batch_size", "multi_gpu", "gpus", "max_workers",  # batch infer
    "result_extension", "result_dtype", "result_compress", "client_id", "label_info", "roi", "slice", "reset_state",
    "selected_label_name",
    "restore_label_idx", "foreground", "background", "label_prompt", "points", "point_labels",
})


class ParamError(ValueError):
    """An infer parameter with a value outside what it accepts."""


def _first(value: Any) -> Any:
    """A list-valued default (a choice list shown by the viewers) means its first item."""
    return value[0] if isinstance(value, list) and value and not isinstance(value[0], list) else value


def _int(name: str, value: Any, lo: int, hi: int) -> int:
    v = _first(value)
    try:
        if isinstance(v, bool):
            raise ValueError
        if isinstance(v, str):
            v = float(v.strip())
        if isinstance(v, float):
            if not v.is_integer():
                raise ValueError
            v = int(v)
        if not isinstance(v, int):
            raise ValueError
    except ValueError:
        raise ParamError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}") from None
    if not lo <= v <= hi:
        raise ParamError(f"{name} must be an integer in [{lo}, {hi}], got {v}")
    return v


AUTO_GUIDANCE = -1.0


def _guidance(value: Any) -> float:
    """``guidance_weight``: -1 (:data:`AUTO_GUIDANCE`, the reader's own or the model's default) or w in [0, 100]."""
    if _first(value) in (AUTO_GUIDANCE, str(AUTO_GUIDANCE), "-1", -1):
        return AUTO_GUIDANCE
    return _float("guidance_weight", value, 0.0, 100.0)


def _float(name: str, value: Any, lo: float, hi: float) -> float:
    v = _first(value)
    try:
        if isinstance(v, bool):
            raise ValueError
        f = float(v)
    except (TypeError, ValueError):
        raise ParamError(f"{name} must be a number in [{lo}, {hi}], got {value!r}") from None
    if not (math.isfinite(f) and lo <= f <= hi):
        raise ParamError(f"{name} must be a number in [{lo}, {hi}], got {value!r}")
    return f


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    v = _first(value)
    if not isinstance(v, str) or v not in choices:
        raise ParamError(f"{name} must be one of {list(choices)}, got {value!r}")
    return v


def _bool(name: str, value: Any) -> bool:
    v = _first(value)
    try:
        return False if isinstance(v, str) and not v.strip() else parse_bool(v)  # an empty field of a viewer's form: false
    except ValueError:
        raise ParamError(f"{name} must be true or false, got {value!r}") from None


SAVE_MOVED = ("save_as is no longer an infer parameter: the infer task only samples and answers. Save a picked candidate "
              "with POST /ssb/lesions?image=<id> (JSON: reader, context, candidate), or a label file with "
              "PUT /datastore/label?image=<id>&tag=<reader> (docs/app.md, 'Saving lesions')")


def default_config(defaults: dict, reader_choices: list[str]) -> dict:
    """The model ``config`` shown in ``/info/``: every parameter with its default (choices as lists, the default first).

    ``defaults``: the model's sampling defaults, and ``presence`` (the server's, ``vote`` when absent)."""
    presence = str(defaults.get("presence", PRESENCE_MODES[0]))
    return {
        "num_candidates": int(defaults["num_candidates"]),
        "nfe": int(defaults["nfe"]),
        "guidance_weight": AUTO_GUIDANCE,  # the reader's own (set by training), else the model's default
        "seed": 0,
        "reader": list(reader_choices),
        "output_mode": list(OUTPUT_MODES),
        "candidate": -1,
        "variability_levels": 10,
        "presence": [presence, *(m for m in PRESENCE_MODES if m != presence)],
    }


@dataclass(frozen=True)
class InferParams:
    """Validated parameters of one infer request.

    Attributes:
        num_candidates: N candidates (1 .. ``max_candidates``). nfe: network calls per candidate (1 .. T).
        guidance_weight: classifier-free guidance w >= 0, or -1 (the default): the reader's own weight, set when a
            training run adapted the model to them (:func:`ssb_core.checkpoint.reader_guidance`), else the model's
            default; with ``reader`` ``all``, each candidate its reader's own. seed: another seed gives a new, disjoint
            set of candidates.
        reader: ``all`` (candidates cycle through the trained readers), ``none`` (null label) or a reader name.
        output_mode: ``agreement`` (uint8 labelmap), ``segments`` (.seg.nrrd, one segment per candidate plus
            the consensus) or ``variability`` (the variability map scaled to ``variability_levels`` uint8 levels).
        candidate: -1, or k in 0 .. N-1 to return candidate k alone as the labelmap (label 4).
        foreground_mm: clicks [[x, y, z], ...] in patient coordinates (LPS, mm) or None; they become ``foreground``.
        include_masks: add the candidates as compact JSON to the answer (``masks``).
        presence: ``vote`` (the default: the candidates vote whether there is a lesion at the click; then all draw it,
            empty or runaway ones redrawn, or none does) or ``as_sampled`` (every candidate as first drawn: the model's
            own presence uncertainty); :mod:`ssb_core.volume.inference`.
        foreground: clicks [[i, j, k], ...] (voxel indices) or None. roi: an ROI box or None.
        result_extension: file format of the returned image.
    """

    num_candidates: int
    nfe: int
    guidance_weight: float
    seed: int
    reader: str
    output_mode: str
    candidate: int
    variability_levels: int
    foreground: Any
    roi: Any
    result_extension: str | None
    foreground_mm: Any = None
    include_masks: bool = False
    presence: str = PRESENCE_MODES[0]

    @classmethod
    def parse(cls, request: dict, defaults: dict, max_candidates: int, max_nfe: int, reader_choices: list[str]) -> "InferParams":
        """Merge ``request`` over the defaults and validate.

        Raises:
            ParamError: a value outside what the parameter accepts.
        """
        cfg = default_config(defaults, reader_choices)
        if request.get("save_as") not in (None, ""):
            raise ParamError(SAVE_MOVED)
        unknown = sorted(k for k in request if k not in cfg and k not in CLIENT_KEYS and k not in API_KEYS)
        if unknown:
            raise ParamError(f"unknown parameter(s) {unknown}; the parameters of this model are {sorted(cfg)}")

        def get(key: str) -> Any:
            value = request.get(key)
            return cfg.get(key) if value is None or value == "" else value

        n = _int("num_candidates", get("num_candidates"), 1, max_candidates)
        candidate = _int("candidate", get("candidate"), -1, 10**6)
        if candidate >= n:
            raise ParamError(f"candidate must be -1 or an index in [0, {n - 1}] (num_candidates is {n}), got {candidate}")
        reader = _first(get("reader"))
        names = [reader_name(c) for c in reader_choices]
        if not isinstance(reader, str) or reader_name(reader) not in names:
            raise ParamError(f"reader {request.get('reader')!r} has never been seen (no label saved under that name, not in the "
                             f"model): reader must be one of {names} ('all': the trained readers in turn, 'none': no reader's style)")
        reader = reader_name(reader)
        ext = request.get("result_extension") or None
        if ext is not None and ext not in RESULT_EXTENSIONS:
            raise ParamError(f"result_extension must be one of {list(RESULT_EXTENSIONS)}, got {ext!r}")
        return cls(
            num_candidates=n,
            nfe=_int("nfe", get("nfe"), 1, max_nfe),
            guidance_weight=_guidance(get("guidance_weight")),
            seed=_int("seed", get("seed"), 0, 2**31 - 1),
            reader=reader,
            output_mode=_choice("output_mode", get("output_mode"), OUTPUT_MODES),
            candidate=candidate,
            variability_levels=_int("variability_levels", get("variability_levels"), 1, 255),
            foreground=request.get("foreground") or None,
            roi=request.get("roi") or None,
            result_extension=ext,
            foreground_mm=request.get("foreground_mm") or None,
            include_masks=_bool("include_masks", request.get("include_masks", False)),
            presence=_choice("presence", _first(get("presence")), PRESENCE_MODES),
        )

    def to_dict(self) -> dict:
        return asdict(self)
