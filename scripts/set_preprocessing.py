#!/usr/bin/env python
"""Record in a checkpoint how its inputs were prepared (``data["preprocessing"]``, :mod:`ssb_core.preprocessing`).

    python scripts/set_preprocessing.py CHECKPOINT --spacing-mm 0.7 [--intensity zscore] [--scope window] [--out OUT]

For checkpoints written before the preprocessing definition existed (the app then falls back to ``--conf``
settings). The weights are not touched; the file is rewritten atomically (``--out`` writes a copy instead).
"""

from __future__ import annotations

import argparse
import json
import logging

from ssb_core.checkpoint import load_checkpoint, save_checkpoint
from ssb_core.data import IntensityConvention
from ssb_core.preprocessing import SCOPES, Preprocessing

logger = logging.getLogger("set_preprocessing")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--spacing-mm", type=float, nargs="+", required=True, help="mm per model pixel (one value, or row col)")
    ap.add_argument("--intensity", default="zscore", help="a kind (zscore, none) or a JSON dict (default zscore)")
    ap.add_argument("--scope", default="window", choices=SCOPES, help="where the intensity statistics come from")
    ap.add_argument("--out", help="write here instead of over the checkpoint")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ckpt = load_checkpoint(args.checkpoint)
    intensity = IntensityConvention.parse(args.intensity)
    spacing = args.spacing_mm * 2 if len(args.spacing_mm) == 1 else args.spacing_mm[:2]
    pre = Preprocessing(tuple(ckpt.data["roi_size"]), tuple(spacing), intensity, args.scope)
    ckpt.data = {**ckpt.data, **pre.checkpoint_data()}
    save_checkpoint(ckpt, args.out or args.checkpoint)
    logger.info("%s: preprocessing %s", args.out or args.checkpoint, json.dumps(pre.to_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
