#!/usr/bin/env python
"""Regenerate every results table of the README and the model card from the shipped checkpoints, in one command.

    .venv/bin/python scripts/results.py                 # everything (about 1.5 h on 2 CPU cores, plus lidc128 below)
    .venv/bin/python scripts/results.py --parts lidc3d  # one part
    .venv/bin/python scripts/results.py --docs-only     # only rewrite the docs from the results already written
    .venv/bin/python scripts/results.py --parts lidc128 --max-images 16   # a quick try, under runs/results/

Parts (each writes its folder under ``docs/results/`` from scratch: JSON with every case, the checkpoints' and
data's SHA-256, the command and the code version; markdown; montages of every method):

- ``lidc64``: ``scripts/compare_methods.py`` on the lidc64 test split: the lidc64 model (``models/ssb_lidc64.pt``) at
  NFE 1-50, both lidc64 baselines of ``models/baselines/``, the readers; the 16-slice subset with the 1000-step DDPM
  row; paired bootstrap intervals; both absent-reader conventions -> ``docs/results/lidc64_test/``; and the served
  model (trained on lidc128) at the server's N and NFE -> ``docs/results/lidc64_test/lidc128_model/``;
- ``lidc128``: ``scripts/compare_methods.py`` on the lidc128 test split (1,784 slices, 104 patients; each crop
  resampled from its own pixel size to the model's, the centred window): on every slice, SSB and the Prob. U-Net at
  the server's NFE (``server.conf``: 2) with N = 16 and with the server's N (8), paired bootstrap intervals, the
  readers, the shape figures, both conventions (``n16*/``, ``n8*/``); on :data:`LIDC128_SWEEP_IMAGES` slices spread
  evenly over the split, N = 16: SSB at NFE :data:`LIDC128_NFE_SWEEP` and the Gaussian-start baseline (its 50 DDIM
  steps × 16 candidates cost 19 s per slice on one thread: 9 h on every slice) -> ``docs/results/lidc128_test/``
  (``sweep*/``). A baseline whose checkpoint is missing is skipped with a logged reason. Run only once
  ``models/ssb_lidc128.pt`` exists (skipped before, with a logged reason);
- ``lidc128_jpg``: ``ssb-evaluate`` on the 28 lidc128-jpg crops (another framing) -> ``docs/results/lidc128_jpg/``;
- ``lidc3d``: ``scripts/whole_scan_results.py``, a click on each nodule of the whole CTs -> ``docs/results/lidc3d/``.

Then the tables in ``README.md``, the model cards (``models/MODEL_CARD*.md``) and ``docs/finetuning.md`` between ``<!-- results:NAME -->`` and
``<!-- /results:NAME -->`` are replaced by tables generated from those files (nothing else is touched). The
``lidc128-test`` block also lists the published LIDC figures, with what differs in their framing.
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
DOCS = (REPO / "README.md", REPO / "models" / "MODEL_CARD.md", REPO / "models" / "MODEL_CARD_lidc64.md", REPO / "docs" / "finetuning.md")
ADAPTATION = REPO / "benchmarks" / "results" / "reader_adaptation"  # python -m benchmarks.reader_adaptation
LIDC128_OUT, LIDC128_TRY = RESULTS / "lidc128_test", REPO / "runs" / "results" / "lidc128_test"
LIDC64_MODEL = REPO / "models" / "ssb_lidc64.pt"  # the earlier model, trained on lidc64: the lidc64 tables compare it
LIDC128_NFE_SWEEP, LIDC128_N, LIDC128_SWEEP_IMAGES = (1, 2, 5, 10), 16, 128
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))
logger = logging.getLogger("results")

COMPACT_COLUMNS = ("ged", "d_max", "s_c", "ci", "hm_iou", "ddi_gen", "time_per_image_s")
LIDC128_COLUMNS = ("ged", "d_max", "s_c", "hm_iou", "one_region", "empty", "area_ratio", "marked", "time_per_image_s")

# (method, GED as published, source, what differs from our lidc128 rows beyond the common framing)
PUBLISHED_LIDC = (
    ("Prob. U-Net", 0.252, "Kohl et al. 2018", "the SSB paper's Table 1 lists 0.310 for the same method"),
    ("CCDM", 0.212, "Zbinden et al. 2023", ""),
    ("MoSE", 0.218, "MoSE paper", ""),
    ("Flow-SSN", 0.181, "Flow-SSN paper", "GED with 100 samples per image"),
    ("SSB++", 0.208, "the SSB paper, Table 1", "50 NFE"),
)
PUBLISHED_FRAMING = (
    "Their data are the LIDC crops of Kohl et al. 2018: 180×180 crops at 0.5 mm cut to 128×128 (64 mm), absent "
    "readers as empty masks, and their train / test splits, which are not ours. Ours: each lidc128 crop resampled from "
    "its scan's native pixel size (0.50–0.95 mm) to the model's 0.7 mm pixel and its centred 64-pixel window "
    "(44.8 mm), on our own patient-disjoint test split (104 patients). Compare them with our rows *as empty*; the "
    "samples per image differ too (theirs as each paper states; ours N above)."
)


def run_lidc64(threads: int) -> None:
    import compare_methods

    out = RESULTS / "lidc64_test"
    for stale in [*out.glob("all*"), *out.glob("subset*"), out / "retrained"]:
        shutil.rmtree(stale, ignore_errors=True)
    compare_methods.main(["--ssb", str(LIDC64_MODEL), "--gaussian", str(REPO / "models" / "baselines" / "gaussian_lidc64.pt"),
                          "--prob-unet", str(REPO / "models" / "baselines" / "prob_unet_lidc64.pt"),
                          "--data", str(DATA / "lidc64" / "test.npz"), "--threads", str(threads), "--out", str(out)])
    run_lidc64_new_model(threads)


def run_lidc64_new_model(threads: int, ssb: Path = REPO / "models" / "ssb_lidc128.pt") -> None:
    """The served model (trained on lidc128) on the lidc64 test split at the server's N and NFE -> ``lidc128_model/``."""
    from benchmarks.server_latency import server_sampling
    from ssb_core.cli.evaluate import main as ssb_evaluate

    out = RESULTS / "lidc64_test" / "lidc128_model"
    shutil.rmtree(out, ignore_errors=True)
    if not ssb.is_file():
        logger.warning("lidc64: the lidc128 model's row is skipped: %s does not exist", ssb)
        return
    n, nfe = server_sampling()
    code = ssb_evaluate(["--checkpoint", str(ssb), "--data", f"{{format: lidc64, path: '{DATA / 'lidc64' / 'test.npz'}'}}",
                         "-n", str(n), "--nfe", str(nfe), "--inter-reader", "--shape", "--montages", "4", "--threads", str(threads),
                         "-o", str(out), "-q"])
    if code:
        raise SystemExit(f"ssb-evaluate of {ssb} on lidc64 failed ({code})")


def clear_lidc128_runs(out: Path) -> None:
    """Remove :func:`run_lidc128`'s earlier runs from ``out`` (``n<N>-*``, ``sweep-*``); other analyses written beside
    them (``presence_draws/``) and the README stay."""
    for stale in [*out.glob("n[0-9]*-*"), *out.glob("sweep-*")]:
        shutil.rmtree(stale, ignore_errors=True)


def run_lidc128(threads: int, ssb: Path, prob_unet: Path, gaussian: Path, out: Path = LIDC128_OUT,
                max_images: int | None = None) -> None:
    """``compare_methods`` three times on lidc128 test (module docstring): N = 16 and the server's N at the server's
    NFE on every slice, SSB and the Prob. U-Net; the NFE sweep and the Gaussian-start baseline on a spread subset.
    ``max_images``: every part on fewer images (a try)."""
    import compare_methods
    from benchmarks.server_latency import server_sampling

    if not ssb.is_file():
        raise SystemExit(f"lidc128: the SSB checkpoint {ssb} does not exist (train it first, or pass --ssb-lidc128)")
    clear_lidc128_runs(out)
    baselines = {}
    for method, path in (("prob_unet", prob_unet), ("gaussian", gaussian)):
        if path.is_file():
            baselines[method] = path
        else:
            logger.warning("lidc128: the %s baseline is skipped: %s does not exist", method, path)
    paths = [a for m, path in baselines.items() for a in (f"--{m.replace('_', '-')}", str(path))]
    n_server, nfe_server = server_sampling()
    common = ["--ssb", str(ssb), "--data", str(DATA / "lidc128" / "test.npz"), "--format", "lidc128", "--subset", "0",
              "--shape", "--threads", str(threads), "--out", str(out), *paths]
    every = common + (["--max-images", str(max_images)] if max_images else [])
    server_methods = ["ssb"] + (["prob_unet"] if "prob_unet" in baselines else [])
    for n in (LIDC128_N, n_server):
        compare_methods.main([*every, "--methods", *server_methods, "--ssb-nfe", str(nfe_server), "-n", str(n), "--tag", f"n{n}"])
    sweep = ["ssb"] + (["gaussian"] if "gaussian" in baselines else [])
    compare_methods.main([*common, "--max-images", str(min(max_images or LIDC128_SWEEP_IMAGES, LIDC128_SWEEP_IMAGES)),
                          "--methods", *sweep, "--ssb-nfe", *map(str, LIDC128_NFE_SWEEP), "-n", str(LIDC128_N), "--tag", "sweep"])


def run_lidc128_jpg(threads: int) -> None:
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


def lidc128_blocks(folder: Path = LIDC128_OUT) -> dict[str, str]:
    """The ``lidc128-test`` block: SSB at the server's NFE (N = 16 and the server's N), the baselines, the readers;
    SSB − Prob. U-Net with paired intervals; then the published figures and what differs in their framing."""
    import compare_methods
    from benchmarks.server_latency import server_sampling
    from ssb_core.evaluation.report import CONVENTION_TITLES, differences_table, markdown_table, results_table
    from ssb_core.evaluation.tables import READERS_ROW, headline_differences, load_rows, ordered, run_folders

    _, nfe = server_sampling()
    tables = {tag: ordered(load_rows(folders)) for tag, folders in compare_methods.main_tables(folder).items()}
    parts = []
    if not tables:
        parts.append("Not computed yet: `python scripts/results.py --parts lidc128` (needs `models/ssb_lidc128.pt`).\n")
    else:
        shown = [r for rows in tables.values() for r in rows if (r.name == "SSB" and r.nfe == nfe) or r.name not in ("SSB", READERS_ROW)]
        shown += [r for r in next(iter(tables.values())) if r.name == READERS_ROW]
        shown.sort(key=lambda r: r.absent_reader != "exclude")  # stable: each convention's rows in table order
        parts.append(results_table(shown, columns=LIDC128_COLUMNS, show_convention=True))
        for convention in ("exclude", "empty"):
            picked = []
            for rows in tables.values():
                same = [r for r in rows if r.absent_reader == convention]
                n = next(r.num_candidates for r in same if r.name == "SSB")
                picked += [(f"N = {n}: {label}", d) for label, d in headline_differences(same)
                           if label.startswith(f"SSB NFE {nfe} − Prob. U-Net")]
            title = CONVENTION_TITLES[convention]
            if picked:
                parts.append(differences_table(picked, title[0].upper() + title[1:]))
        shas = sorted({f"{r.name} `{r.checkpoint_sha256[:12]}`" for r in shown if r.checkpoint_sha256})
        parts.append(f"Weights: {', '.join(shas)}; data `{(shown[0].dataset_sha256 or '?')[:12]}` (SHA-256, first 12 hex "
                     "digits; the NFE sweep, every pair and the full hashes in `docs/results/lidc128_test/`).\n")
    sweep = ordered(load_rows(run_folders(folder, "sweep")))
    if sweep:
        images = next(len(r) for r in sweep if r.name != READERS_ROW)
        parts.append(f"On {images} of the test slices, spread evenly over the split, N = 16: SSB's NFE sweep and the "
                     "Gaussian-start baseline (its 50 steps per candidate cost too much for every slice):\n")
        parts.append(results_table(sorted(sweep, key=lambda r: r.absent_reader != "exclude"), columns=LIDC128_COLUMNS,
                                   show_convention=True))
    published = [[m, f"{ged:.3f}", src, note or "–"] for m, ged, src, note in PUBLISHED_LIDC]
    parts.append(markdown_table(["Published (LIDC, Kohl et al.'s crops)", "GED ↓", "source", "also differs"], published))
    parts.append(PUBLISHED_FRAMING + "\n")
    return {"lidc128-test": "\n".join(parts)}


def file_blocks() -> dict[str, str]:
    """Tables that a part already writes as markdown (lidc3d, lidc128-jpg, the reader-adaptation benchmark)."""
    blocks = {}
    for name, path in (("lidc3d", RESULTS / "lidc3d" / "results.md"), ("lidc128-jpg", RESULTS / "lidc128_jpg" / "results.md"),
                       ("lidc64-lidc128-model", RESULTS / "lidc64_test" / "lidc128_model" / "results.md"),
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


PART_DATA = {"lidc64": "lidc64", "lidc128": "lidc128", "lidc128_jpg": "lidc128-jpg", "lidc3d": "lidc3d"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", choices=list(PART_DATA),
                    help="default: every part (lidc128 only when its SSB checkpoint exists)")
    ap.add_argument("--docs-only", action="store_true", help="rewrite the docs' tables from the results already written")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ssb-lidc128", type=Path, default=REPO / "models" / "ssb_lidc128.pt")
    ap.add_argument("--prob-unet-lidc128", type=Path, default=REPO / "models" / "baselines" / "prob_unet_lidc128.pt")
    ap.add_argument("--gaussian-lidc128", type=Path, default=REPO / "models" / "baselines" / "gaussian_lidc128.pt")
    ap.add_argument("--max-images", type=int,
                    help=f"lidc128 only, a quick try: this many test images spread evenly, written to "
                         f"{LIDC128_TRY.relative_to(REPO)} (the docs are not touched)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parts = args.parts or [p for p in PART_DATA if p != "lidc128" or args.ssb_lidc128.is_file()]
    if args.parts is None and "lidc128" not in parts and not args.docs_only:
        logger.warning("part lidc128 skipped: %s does not exist", args.ssb_lidc128)
    if args.max_images is not None:
        if parts != ["lidc128"] or args.docs_only:
            ap.error("--max-images is a quick try of --parts lidc128 alone")
        run_lidc128(args.threads, args.ssb_lidc128, args.prob_unet_lidc128, args.gaussian_lidc128, LIDC128_TRY, args.max_images)
        return 0
    if not args.docs_only:
        missing = [PART_DATA[p] for p in parts if not (DATA / PART_DATA[p]).exists()]
        if missing:
            raise SystemExit(f"missing data under ../shared/data: {missing}")
        for part in parts:
            logger.info("part %s", part)
            if part == "lidc128":
                run_lidc128(args.threads, args.ssb_lidc128, args.prob_unet_lidc128, args.gaussian_lidc128)
            else:
                {"lidc64": run_lidc64, "lidc128_jpg": run_lidc128_jpg, "lidc3d": run_lidc3d}[part](args.threads)
    from ssb_core.evaluation.tables import run_folders

    has_lidc64 = bool(run_folders(RESULTS / "lidc64_test", "all"))
    blocks = {**file_blocks(), **(lidc64_blocks() if has_lidc64 else {}), **lidc128_blocks()}
    changed = update_docs(blocks)
    logger.info("tables rewritten in %s", changed or "no file (no change)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
