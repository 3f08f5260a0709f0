#!/usr/bin/env python
"""Which candidates to empty: the 2D GED with absent readers as empty masks under each presence rule, on one sampling.

    python scripts/presence_choice.py [--checkpoint models/ssb_lidc128.pt] [--max-images 400] [--out DIR]

On lidc128 validation slices spread evenly over the split (``--split test``: the test split, to measure a choice
there, never to make one), the checkpoint's outlines (N 16, NFE 2, seed 0, no
presence applied) are sampled once; then a slot's candidates are emptied by each rule: none (what the bridge draws
empty stays empty), the training split's per-slot rate of ``reader_present`` (the image ignored), the checkpoint's
presence head, and the readers' own ``reader_present`` (an oracle: the bound, not a method). The rates and the head
keep candidates with :func:`ssb_core.presence.marked_candidates` (stratified, seeded by the image and each of
``--keep-seeds``: how much the draw of which candidates are kept moves the figure). Per rule: the mean GED as empty
masks (over the draws; their lowest and highest) and the share of candidates kept. ``--out`` writes ``results.json``
and ``results.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import numpy as np

from val_outlines import add_options, sampled_batches

logger = logging.getLogger("presence_choice")
RULES = ("drawn", "rates", "head", "oracle")
DRAWN_RULES = ("rates", "head")  # the rules whose keep mask is a random draw
TITLES = {"drawn": "those the bridge draws empty", "rates": "per slot, the training split's rate (the image ignored)",
          "head": "per slot, the presence head's probability", "oracle": "the readers' own reader_present (oracle)"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_options(ap)
    ap.add_argument("--keep-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="draws of which candidates are kept")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from ssb_core.candidates import reader_labels_for
    from ssb_core.evaluation.provenance import file_record, run_record
    from ssb_core.evaluation.report import markdown_table
    from ssb_core.metrics.image_metrics import image_metrics
    from ssb_core.presence import marked_candidates
    from ssb_core.seeding import image_key

    pipe, images_count, batches = sampled_batches(args)
    head = pipe.checkpoint.build_presence()
    if head is None:
        raise SystemExit(f"{args.checkpoint} has no presence head (scripts/train_presence.py adds one)")
    rates = np.asarray(head.metrics["training"]["prior"], np.float64)
    labels = np.asarray(reader_labels_for(None, args.num_candidates, pipe.num_readers))
    # rule -> draw -> per-image GED (the oracle and "drawn" do not depend on the draw: one list)
    ged = {r: {k: [] for k in (args.keep_seeds if r in DRAWN_RULES else [0])} for r in RULES}
    kept = {r: [] for r in RULES}
    for batch, images, probs in batches:
        outlines = probs > pipe.defaults.threshold
        keys = [image_key(img) for img in images]
        head_p = head.probabilities(images)
        for rule in RULES:
            for draw, k in enumerate(ged[rule]):
                if rule == "drawn":
                    keep = np.ones(outlines.shape[:2], bool)
                elif rule == "oracle":
                    keep = np.stack([np.asarray(b["reader_present"], bool)[labels] for b in batch])
                else:
                    p = head_p if rule == "head" else np.broadcast_to(rates, (len(batch), len(rates)))
                    keep = marked_candidates(p, labels, k, keys)
                for b, sample in enumerate(batch):
                    masks, present = np.asarray(sample["masks"], np.uint8), np.asarray(sample["reader_present"], bool)
                    ged[rule][k].append(image_metrics(outlines[b] & keep[b][:, None, None], masks, present, "empty").ged)
                    if draw == 0:  # the share kept, from the first draw
                        kept[rule].append(float(keep[b].mean()))
    table = {}
    for r in RULES:
        means = [float(np.mean(v)) for v in ged[r].values()]
        table[r] = {"ged_empty": round(float(np.mean(means)), 4), "ged_empty_draws": [round(m, 4) for m in means],
                    "kept": round(float(np.mean(kept[r])), 4)}
        logger.info("%-6s GED as empty %.4f (draws %.4f-%.4f), kept %.3f", r, table[r]["ged_empty"], min(means), max(means),
                    table[r]["kept"])
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        record = {"run": run_record(["python", "scripts/presence_choice.py", *(argv if argv is not None else sys.argv[1:])]),
                  "checkpoint": file_record(args.checkpoint), "images": images_count,
                  "num_candidates": args.num_candidates, "nfe": args.nfe, "seed": 0, "rules": table,
                  "keep_seeds": args.keep_seeds, "per_image": {r: [round(g, 5) for g in next(iter(ged[r].values()))] for r in RULES}}
        (args.out / "results.json").write_text(json.dumps(record, indent=1) + "\n")
        rows = [[TITLES[r], f"{table[r]['ged_empty']:.3f}",
                 f"{min(table[r]['ged_empty_draws']):.3f}–{max(table[r]['ged_empty_draws']):.3f}" if r in DRAWN_RULES else "–",
                 f"{table[r]['kept']:.2f}"] for r in RULES]
        (args.out / "results.md").write_text(markdown_table(
            ["which candidates are emptied", "GED as empty ↓", f"over {len(args.keep_seeds)} draws of which are kept", "kept"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
