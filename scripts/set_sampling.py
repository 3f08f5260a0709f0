#!/usr/bin/env python
"""Write a recipe's sampling defaults into a checkpoint (the settings a server and ``ssb-evaluate`` start from).

    python scripts/set_sampling.py CHECKPOINT --config configs/lidc128_cpu.yaml [--out OUT]

A checkpoint records the sampling defaults of the recipe it was trained with (``sampling`` section). They are chosen
on the validation split once the network is trained (for the lidc128 model: ``scripts/diversity_sources.py``,
docs/lidc128.md), and written into the recipe; this writes them into the trained checkpoint too, so that the recipe
and the checkpoint agree (retraining with the recipe gives them directly). The weights are not touched; the file is
rewritten atomically (``--out`` writes a copy instead).
"""

from __future__ import annotations

import argparse
import json
import logging

from ssb_core.checkpoint import load_checkpoint, save_checkpoint
from ssb_core.training.config import load_config

logger = logging.getLogger("set_sampling")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--config", required=True, help="the recipe whose sampling section to write")
    ap.add_argument("--out", help="write here instead of over the checkpoint")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ckpt = load_checkpoint(args.checkpoint)
    before = ckpt.sampling.to_dict()
    ckpt.sampling = load_config(args.config).sampling
    save_checkpoint(ckpt, args.out or args.checkpoint)
    logger.info("%s: sampling %s (was %s)", args.out or args.checkpoint, json.dumps(ckpt.sampling.to_dict()), json.dumps(before))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
