"""``build_dataset(config)``: one entry point from a config dict to a dataset of sample dicts.

Formats and their keys (``format`` and ``path`` always required):

- ``lidc64``: ``path`` (.npz or directory), ``split``, ``intensity``;
- ``lidc128``: ``path`` (.npz or directory), ``split``, ``window`` (the model's window in pixels, 64),
  ``spacing_mm`` (the model's pixel size, 0.7), ``context`` (pixels per side of each sample; default ``window``,
  larger for training windows cut off-centre), ``intensity``;
- ``lidc_crops``: ``path`` (.pkl or .npz), ``intensity``, ``patients`` (keep only these series uids), ``split``
  (a name in ``fractions``: the crops carry no official split, so a patient-grouped one by series uid is made
  with :func:`~ssb_core.data.splits.grouped_split`), ``fractions`` (default ``{train: 0.7, val: 0.15,
  test: 0.15}``), ``seed`` (default 0);
- ``folders``: ``path`` (lidc128-jpg root or a split directory), ``split`` (training / testing), ``intensity``,
  ``threshold``;
- ``volumes``: ``path`` (root), ``readers`` (list of reader tags), ``strict``, ``intensity``, ``slices``
  (``"lesion"``, the default: 2D axial slices with a lesion; ``"all"``: every axial slice; ``"volume"``:
  whole 3D volumes), ``axis``.

``intensity`` may be a dict / kind string understood by :meth:`IntensityConvention.from_dict`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from torch.utils.data import Dataset

from ssb_core.data.errors import DatasetError
from ssb_core.data.intensity import IntensityConvention

__all__ = ["build_dataset", "FORMATS"]

logger = logging.getLogger(__name__)

FORMATS: dict[str, tuple[str, ...]] = {
    "lidc64": ("path", "split", "intensity"),
    "lidc128": ("path", "split", "window", "spacing_mm", "context", "intensity"),
    "lidc_crops": ("path", "intensity", "patients", "split", "fractions", "seed"),
    "folders": ("path", "split", "intensity", "threshold"),
    "volumes": ("path", "readers", "strict", "intensity", "slices", "axis"),
}


def _intensity(value: Any) -> IntensityConvention | None:
    if value is None or isinstance(value, IntensityConvention):
        return value
    try:
        return IntensityConvention.from_dict(value)
    except ValueError as exc:
        raise ValueError(f"dataset config: bad 'intensity' {value!r}: {exc}") from exc


def _lidc64(c: dict[str, Any]) -> Dataset:
    from ssb_core.data.lidc64 import Lidc64Dataset

    return Lidc64Dataset(c["path"], c.get("split"), intensity=_intensity(c.get("intensity")))


def _lidc128(c: dict[str, Any]) -> Dataset:
    from ssb_core.data.lidc128 import Lidc128Dataset

    sizes = {k: c[k] for k in ("window", "spacing_mm", "context") if c.get(k) is not None}
    return Lidc128Dataset(c["path"], c.get("split"), intensity=_intensity(c.get("intensity")), **sizes)


def _crops(c: dict[str, Any]) -> Dataset:
    from ssb_core.data.lidc_crops import LidcCropsDataset
    from ssb_core.data.splits import DEFAULT_FRACTIONS, _check_fractions, split_dataset

    split = c.get("split")
    fractions = c.get("fractions") or DEFAULT_FRACTIONS
    if split is None and ("fractions" in c or "seed" in c):
        raise ValueError("dataset config for format 'lidc_crops': 'fractions' / 'seed' need 'split' (the part to return)")
    if split is not None and (not isinstance(fractions, Mapping) or split not in fractions):
        raise ValueError(f"dataset config for format 'lidc_crops': 'split' {split!r} must be a key of 'fractions', "
                         f"got fractions {fractions!r}")
    if split is not None:
        _check_fractions(list(fractions.values()))
    # checked before loading: the full pickle takes minutes
    ds = LidcCropsDataset(c["path"], intensity=_intensity(c.get("intensity")), patients=c.get("patients"))
    if split is None:
        return ds
    return split_dataset(ds, dict(fractions), seed=int(c.get("seed", 0)))[split]  # type: ignore[index]


def _folders(c: dict[str, Any]) -> Dataset:
    from ssb_core.data.folders import JpgFoldersDataset

    kw: dict[str, Any] = {"intensity": _intensity(c.get("intensity"))}
    if "threshold" in c:
        kw["threshold"] = int(c["threshold"])
    return JpgFoldersDataset(c["path"], c.get("split"), **kw)


def _volumes(c: dict[str, Any]) -> Dataset:
    from ssb_core.data.volumes import VolumeDataset

    readers = c.get("readers")
    if not readers:
        raise ValueError("dataset config for format 'volumes' needs 'readers' (a list of reader tags)")
    ds = VolumeDataset(c["path"], list(readers), strict=bool(c.get("strict", True)), intensity=_intensity(c.get("intensity")))
    mode = str(c.get("slices", "lesion"))
    axis = int(c.get("axis", -1))
    if mode == "lesion":
        return ds.slices_with_lesion(axis=axis)
    if mode == "all":
        return ds.slices(axis=axis)
    if mode == "volume":
        return ds
    raise ValueError(f"dataset config: 'slices' must be 'lesion', 'all' or 'volume', got {mode!r}")


_BUILDERS: dict[str, Callable[[dict[str, Any]], Dataset]] = {
    "lidc64": _lidc64, "lidc128": _lidc128, "lidc_crops": _crops, "folders": _folders, "volumes": _volumes,
}


def build_dataset(config: Mapping[str, Any]) -> Dataset:
    """A dataset of sample dicts (see :mod:`ssb_core.data`) from ``{"format": ..., "path": ..., ...}``.

    Raises:
        ValueError: unknown format, unknown or missing keys (the message lists the accepted ones).
        DatasetError: the files are missing or malformed (names the file).
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"a dataset config is a dict with 'format' and 'path', got {type(config).__name__}")
    c = dict(config)
    fmt = c.pop("format", None)
    if fmt is None:
        raise ValueError(f"dataset config {dict(config)!r} has no 'format': expected one of {sorted(FORMATS)}")
    fmt = str(fmt).lower().replace("-", "_")
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}: expected one of {sorted(FORMATS)}")
    unknown = sorted(set(c) - set(FORMATS[fmt]))
    if unknown:
        raise ValueError(f"dataset config for format {fmt!r}: unknown keys {unknown}; accepted keys: {['format', *FORMATS[fmt]]}")
    if not c.get("path"):
        raise ValueError(f"dataset config for format {fmt!r} needs 'path'")
    ds = _BUILDERS[fmt](c)
    logger.info("built dataset %s from %s: %d samples", fmt, c["path"], len(ds))  # type: ignore[arg-type]
    return ds
