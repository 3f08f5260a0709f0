#!/usr/bin/env python
"""Regenerate every results table of the README and the model card from the shipped checkpoints, in one command.

    .venv/bin/python scripts/results.py                 # everything (about 1.5 h on 2 CPU cores)
    .venv/bin/python scripts/results.py --parts lidc3d  # one part
    .venv/bin/python scripts/results.py --docs-only     # only rewrite the docs from the results already written

Parts (each writes its folder under ``docs/results/`` from scratch: JSON with every case, the checkpoints' and
data's SHA-256, the command and the code version; markdown; montages of every method):

- ``lidc64``: ``scripts/compare_methods.py`` on the lidc64 test split: SSB at NFE 1-50, both baselines of
  ``models/baselines/``, the readers; the 16-slice subset with the 1000-step DDPM row; paired bootstrap
  intervals; both absent-reader conventions -> ``docs/results/lidc64_test/``;
- ``lidc128``: ``ssb-evaluate`` on the 28 lidc128-jpg crops (another framing) -> ``docs/results/lidc128_jpg/``;
- ``lidc3d``: ``scripts/whole_scan_results.py``, a click on each nodule of the whole CTs -> ``docs/results/lidc3d/``.

Then the tables in ``README.md``, ``models/MODEL_CARD.md`` and ``docs/finetuning.md`` between ``<!-- results:NAME -->`` and
``<!-- /results:NAME -->`` are replaced by tables generated from those files (nothing else is touched).
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "docs" / "results"
DOCS = (REPO / "README.md", REPO / "models" / "MODEL_CARD.md", REPO / "docs" / "finetuning.md")
ADAPTATION = REPO / "benchmarks" / "results" / "reader_adaptation"  # python -m benchmarks.reader_adaptation
sys.path.insert(0, str(REPO / "scripts"))
logger = logging.getLogger("results")

COMPACT_COLUMNS = ("ged", "d_max", "s_c", "ci", "hm_iou", "ddi_gen", "time_per_image_s")


def run_lidc64(threads: int) -> None:
    import compare_methods

    out = RESULTS / "lidc64_test"
    for stale in [*out.glob("all*"), *out.glob("subset*"), out / "retrained"]:
        shutil.rmtree(stale, ignore_errors=True)
    compare_methods.main(["--gaussian", str(REPO / "models" / "baselines" / "gaussian_lidc64.pt"),
                          "--prob-unet", str(REPO / "models" / "baselines" / "prob_unet_lidc64.pt"),
                          "--data", str(DATA / "lidc64" / "test.npz"), "--threads", str(threads), "--out", str(out)])


def run_lidc128(threads: int) -> None:
    from ssb_core.cli.evaluate import main as ssb_evaluate

    out = RESULTS / "lidc128_jpg"
    shutil.rmtree(out, ignore_errors=True)
    data = DATA / "lidc128-jpg"
    code = ssb_evaluate(["--checkpoint", str(REPO / "models" / "ssb_lidc64.pt"), "--data",
                         f"{{format: folders, path: '{data}', intensity: zscore}}", "-n", "8", "--nfe", "2", "20",
                         "--inter-reader", "--montages", "4", "--threads", str(threads), "-o", str(out), "-q"])
    if code:
        raise SystemExit(f"ssb-evaluate on lidc128-jpg failed ({code})")


def run_lidc3d(threads: int) -> None:
    import whole_scan_results

    whole_scan_results.main(["--lidc3d", str(DATA / "lidc3d"), "--threads", str(threads)])


def lidc64_blocks() -> dict[str, str]:
    """The README's compact table and claims, the model card's full tables, from docs/results/lidc64_test."""
    from ssb_core.evaluation.report import CONVENTION_TITLES, differences_table, results_table, results_tables
    from ssb_core.evaluation.tables import headline_differences, load_rows, ordered, run_folders

    folder = RESULTS / "lidc64_test"
    groups = {"all 155 slices": ordered(load_rows(run_folders(folder, "all"))),
              "16-slice subset": ordered(load_rows(run_folders(folder, "subset")))}
    rows, subset = groups["all 155 slices"], groups["16-slice subset"]
    # the paired bootstrap of every headline pair, once per group and convention (the README picks from these)
    diffs = {(name, c): headline_differences([r for r in group if r.absent_reader == c])
             for name, group in groups.items() for c in ("exclude", "empty")}
    excluded_first = lambda r: (r.absent_reader != "exclude",)  # noqa: E731
    blocks = {"lidc64-all": results_table(sorted(rows, key=excluded_first), columns=COMPACT_COLUMNS, show_convention=True),
              "lidc64-subset": results_table(sorted(subset, key=excluded_first), columns=COMPACT_COLUMNS, show_convention=True)}
    claims = []
    for convention in ("exclude", "empty"):
        picked = [d for d in diffs[("all 155 slices", convention)] if d[0].startswith(("SSB NFE 2 ", "SSB NFE 50 "))]
        picked += [d for d in diffs[("16-slice subset", convention)] if "DDPM" in d[0]]
        title = CONVENTION_TITLES[convention]
        claims.append(differences_table(picked, title[0].upper() + title[1:]))
    blocks["lidc64-differences"] = "\n".join(claims)
    full = [results_tables(rows, "All 155 test slices"), results_tables(subset, "The 16-slice subset")]
    full += [differences_table(d, f"Paired differences, {name}, {CONVENTION_TITLES[c]}") for (name, c), d in diffs.items()]
    blocks["lidc64-full"] = "\n".join(full)
    shas = {r.name: r.checkpoint_sha256 for r in rows if r.checkpoint_sha256}
    blocks["lidc64-provenance"] = ("Weights: " + ", ".join(f"{n} `{s[:12]}`" for n, s in shas.items())
                                   + f"; data `{(rows[0].dataset_sha256 or '?')[:12]}` (SHA-256, first 12 hex digits; full hashes, "
                                   "commands and commits in the `results.json` files of `docs/results/lidc64_test/`).\n")
    return blocks


def file_blocks() -> dict[str, str]:
    """Tables that a part already writes as markdown (lidc3d, lidc128-jpg, the reader-adaptation benchmark)."""
    blocks = {}
    for name, path in (("lidc3d", RESULTS / "lidc3d" / "results.md"), ("lidc128", RESULTS / "lidc128_jpg" / "results.md"),
                       ("reader_recipes", ADAPTATION / "recipes.md"), ("reader_gate", ADAPTATION / "gate.md"),
                       ("reader_server", ADAPTATION / "server.md"), ("reader_server_all", ADAPTATION / "server-trainable-all-allow_unchecked-true.md")):
        if path.is_file():
            text = path.read_text()
            blocks[name] = text.split("\n- ", 1)[0].rstrip() + "\n"  # the table(s), without the conventions list
    return blocks


def update_docs(blocks: dict[str, str]) -> list[str]:
    """Replace each ``<!-- results:NAME -->`` block of the docs whose NAME is in ``blocks``; returns what changed."""
    changed = []
    for doc in DOCS:
        text = doc.read_text()
        new = text
        for name, content in blocks.items():
            pattern = re.compile(rf"(<!-- results:{re.escape(name)} -->\n).*?(<!-- /results:{re.escape(name)} -->)", re.S)
            new = pattern.sub(lambda m: m.group(1) + content.rstrip() + "\n" + m.group(2), new)
        if new != text:
            doc.write_text(new)
            changed.append(str(doc.relative_to(REPO)))
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", choices=["lidc64", "lidc128", "lidc3d"], default=["lidc64", "lidc128", "lidc3d"])
    ap.add_argument("--docs-only", action="store_true", help="rewrite the docs' tables from the results already written")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not args.docs_only:
        missing = [p for p in ("lidc64", "lidc128-jpg", "lidc3d") if not (DATA / p).exists()]
        if missing:
            raise SystemExit(f"missing data under ../shared/data: {missing}")
        for part in args.parts:
            logger.info("part %s", part)
            {"lidc64": run_lidc64, "lidc128": run_lidc128, "lidc3d": run_lidc3d}[part](args.threads)
    from ssb_core.evaluation.tables import run_folders

    has_lidc64 = bool(run_folders(RESULTS / "lidc64_test", "all"))
    blocks = {**file_blocks(), **(lidc64_blocks() if has_lidc64 else {})}
    changed = update_docs(blocks)
    logger.info("tables rewritten in %s", changed or "no file (no change)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
