"""Reader adaptation on real masks: does fine-tuning on a reader's labels move the candidates towards that reader?

The reader: **generous**, who outlines every lidc64 nodule 1 mm wider than a real LIDC reader (on each slice the
first present reader's mask, dilated by a 3 x 3 square: at 0.7 mm pixels every pixel within 1 mm). Their labels
are submitted on images of the lidc64 *val* split (10, 20, 40 slices, nested, spread over the nodules); the
effect is measured on the *test* split (15 nodules, the unit of every interval), never seen in training or in
any choice:

- the generous reader: candidates conditioned on their label (the null label before they are trained) against
  their masks: volume bias, mean Dice and D_max (:mod:`ssb_core.evaluation.reader_fidelity`);
- the four trained readers: the same figures against their own masks, before and after (must not get worse).

Three parts:

- :func:`recipe_sweep` (``--recipes``): fine-tuning recipes compared in-process on the 20-label set (how the
  annotation server's default recipe was chosen; ``docs/finetuning.md``);
- :func:`gate_check` (``--gate``): the server's recipe and gate on readers with and without a style of their own
  (how ``min_gain`` was chosen);
- :func:`server_adaptation` (``--server``): the labels submitted through a real annotation server
  (``PUT /datastore/label``), ``POST /train/ssb`` with the server's defaults, and the model it then serves
  scored as above, with the run's gate decision.

Run: ``python -m benchmarks.reader_adaptation --recipes`` / ``--server`` (writes ``benchmarks/results/reader_adaptation/``).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import binary_dilation

logger = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "lidc64"
MODEL = REPO / "models" / "ssb_lidc64.pt"
OUT = REPO / "benchmarks" / "results" / "reader_adaptation"
READER = "generous"
LABEL_COUNTS = (10, 20, 40)

__all__ = ["generous_mask", "labelled_pool", "held_out", "score_model", "recipe_sweep", "server_adaptation"]


def generous_mask(masks: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(H, W) uint8: the first present reader's mask dilated by 1 mm (a 3 x 3 square at 0.7 mm pixels)."""
    first = int(np.flatnonzero(present)[0])
    return binary_dilation(masks[first] > 0, structure=np.ones((3, 3), bool)).astype(np.uint8)


def _nodule_id(sample: dict) -> str:
    case = str(sample["case_id"])
    return case.rsplit("_s", 1)[0]  # "<patient>_n<nodule>"


def labelled_pool(count: int, seed: int = 0) -> list[dict]:
    """``count`` val slices with the generous reader's mask in slot 4 only (the other slots absent), the first
    ``count`` of one fixed order that takes the nodules in turn (so 10 is inside 20 is inside 40)."""
    from ssb_core.data import build_dataset

    ds = build_dataset({"format": "lidc64", "path": str(DATA / "val.npz")})
    by_nodule: dict[str, list[int]] = {}
    for i in range(len(ds)):
        by_nodule.setdefault(_nodule_id(ds[i]), []).append(i)
    rng = np.random.default_rng(seed)
    queues = [list(rng.permutation(v)) for _, v in sorted(by_nodule.items())]
    order = []
    while any(queues):
        for q in queues:
            if q:
                order.append(int(q.pop(0)))
    out = []
    for i in order[:count]:
        s = dict(ds[i])
        masks = np.zeros((5, *s["masks"].shape[1:]), np.uint8)
        masks[4] = generous_mask(np.asarray(s["masks"]), np.asarray(s["reader_present"]))
        out.append({**s, "masks": masks, "reader_present": np.array([False] * 4 + [True]), "patient_id": str(s["case_id"])})
    return out


def held_out() -> list[dict]:
    """The test split, the four readers in slots 0-3 and the generous reader in slot 4; one image = one nodule."""
    from ssb_core.data import build_dataset

    ds = build_dataset({"format": "lidc64", "path": str(DATA / "test.npz")})
    out = []
    for i in range(len(ds)):
        s = dict(ds[i])
        masks = np.concatenate([np.asarray(s["masks"]), generous_mask(np.asarray(s["masks"]), np.asarray(s["reader_present"]))[None]])
        out.append({**s, "masks": masks, "reader_present": np.append(np.asarray(s["reader_present"]), True), "patient_id": _nodule_id(s)})
    return out


@dataclass
class Scoring:
    """Sampling settings of the measurement: what the annotation server serves (8 candidates, NFE 2)."""

    num_candidates: int = 8
    nfe: int = 2
    seeds: tuple[int, ...] = (0,)


def score_model(checkpoint: object, samples: Sequence[dict], scoring: Scoring, readers: Sequence[str]) -> dict:
    """``{reader: ReaderFidelity}`` for each of ``readers`` (slot = index in reader0..3 + generous), each as the
    server serves that reader when a request sets no guidance weight: a reader the checkpoint does not know with
    the null label, one a training run adapted with the guidance weight it recorded
    (:func:`ssb_core.checkpoint.served_as`)."""
    from ssb_core.checkpoint import served_as
    from ssb_core.evaluation.reader_fidelity import reader_fidelity
    from ssb_core.pipeline import SSBPipeline

    pipeline = SSBPipeline(checkpoint)  # type: ignore[arg-type]
    slots = ["reader0", "reader1", "reader2", "reader3", READER]
    out = {}
    for name in readers:
        label, guidance = served_as(pipeline.checkpoint, name)
        out[name] = reader_fidelity(pipeline, samples, slots.index(name), label, num_candidates=scoring.num_candidates,
                                    nfe=scoring.nfe, seeds=scoring.seeds, guidance_weight=guidance)
    return out


def _compare(before: dict, after: dict) -> dict:
    """Per reader and metric: before, after, and the paired difference after - before with its 95% interval
    (bootstrap over the held-out nodules)."""
    from ssb_core.evaluation.bootstrap import paired_bootstrap

    table = {}
    for reader, b in before.items():
        a = after[reader]
        row = {}
        for m in ("volume_bias", "dice", "d_max"):
            d = paired_bootstrap(a.metric(m), b.metric(m), metric=m)
            row[m] = {"before": float(np.nanmean(b.metric(m))), "after": float(np.nanmean(a.metric(m))),
                      "difference": d.mean, "interval": [d.low, d.high], "images": d.n}
        table[reader] = row
    return table


RECIPES: tuple[dict, ...] = (
    {"name": "all, lr 5e-5, 50 steps (before)", "trainable": "all", "lr": 5e-5, "steps": 50},
    {"name": "all, lr 2e-4, 200 steps", "trainable": "all", "lr": 2e-4, "steps": 200},
    {"name": "readers+tail, lr 1e-3, 200 steps", "trainable": "readers+tail", "lr": 1e-3, "steps": 200},
    {"name": "readers, lr 3e-3, 200 steps", "trainable": "readers", "lr": 3e-3, "steps": 200},
    {"name": "readers, lr 1e-2, 200 steps", "trainable": "readers", "lr": 1e-2, "steps": 200},
    {"name": "readers, lr 3e-2, 200 steps", "trainable": "readers", "lr": 3e-2, "steps": 200},
    {"name": "readers, lr 1e-2, 400 steps", "trainable": "readers", "lr": 1e-2, "steps": 400},
    {"name": "readers, lr 1e-2, 200 steps, no EMA", "trainable": "readers", "lr": 1e-2, "steps": 200, "ema_decay": 0.0},
    {"name": "readers, lr 3e-2, 200 steps, no EMA", "trainable": "readers", "lr": 3e-2, "steps": 200, "ema_decay": 0.0},
    {"name": "all, lr 2e-4, 200 steps, no EMA", "trainable": "all", "lr": 2e-4, "steps": 200, "ema_decay": 0.0},
)


def recipe_sweep(labels: int = 20, recipes: Sequence[dict] = RECIPES, scoring: Scoring | None = None, num_threads: int = 1) -> dict:
    """Each recipe fine-tunes the shipped model (grown by the generous reader) on ``labels`` of their labels;
    returns the held-out comparison against the shipped model and the fine-tuning time per recipe."""
    from ssb_core.checkpoint import add_readers, adopt_reader_rows, load_checkpoint
    from ssb_core.pipeline import set_cpu_threads
    from ssb_core.training import fine_tune

    set_cpu_threads(num_threads)
    scoring = scoring or Scoring()
    readers = ["reader0", "reader1", "reader2", "reader3", READER]
    start = add_readers(load_checkpoint(MODEL), [READER])
    pool, test = labelled_pool(labels), held_out()
    t0 = time.perf_counter()
    before = score_model(start, test, scoring, readers)
    logger.info("shipped model scored in %.0f s", time.perf_counter() - t0)
    results = {"labels": labels, "scoring": scoring.__dict__, "recipes": []}
    for recipe in recipes:
        with tempfile.TemporaryDirectory(prefix="ssb-recipe-") as tmp:
            rows = [READER] if recipe["trainable"] != "all" else ()
            res = fine_tune(start, pool, output_dir=tmp, steps=recipe["steps"], lr=recipe["lr"], batch_size=8, seed=0,
                            ema_decay=recipe.get("ema_decay", 0.99), num_threads=num_threads, device="cpu", name="candidate",
                            trainable=recipe["trainable"], train_readers=rows)
            tuned = load_checkpoint(res.checkpoint_path)
            if recipe["trainable"] == "readers":  # every weight but the generous row is the shipped one: the others' outputs are identical
                adopt_reader_rows(start, tuned, [READER])  # raises if any other weight moved
                after = {**before, **score_model(tuned, test, scoring, [READER])}
            else:
                after = score_model(tuned, test, scoring, readers)
        entry = {**recipe, "train_s": round(res.elapsed_s, 1), "readers": _compare(before, after)}
        results["recipes"].append(entry)
        g = entry["readers"][READER]["volume_bias"]
        logger.info("%s: %.0f s, generous volume bias %+.3f -> %+.3f", recipe["name"], res.elapsed_s, g["before"], g["after"])
    return results


def _change(row: dict) -> str:
    """``before -> after [low, high]`` of one metric's comparison."""
    return f"{row['before']:.3f} -> {row['after']:.3f} [{row['interval'][0]:+.3f}, {row['interval'][1]:+.3f}]"


def _worst_other(readers: dict) -> str:
    """The trained reader whose Dice changed most for the worse, with the interval of the change."""
    name, row = min(((n, r["dice"]) for n, r in readers.items() if n != READER), key=lambda x: x[1]["difference"])
    return f"{name} {row['difference']:+.3f} [{row['interval'][0]:+.3f}, {row['interval'][1]:+.3f}]"


def _others_bias(readers: dict) -> str:
    """The range of the trained readers' volume-bias changes, and whether each interval excludes 0."""
    rows = [r["volume_bias"] for n, r in readers.items() if n != READER]
    low, high = min(r["difference"] for r in rows), max(r["difference"] for r in rows)
    moved = sum(r["interval"][0] > 0 or r["interval"][1] < 0 for r in rows)
    return f"{low:+.3f} to {high:+.3f} ({moved} of {len(rows)} beyond noise)"


def recipe_table(results: dict) -> str:
    """Markdown: per recipe, the generous reader's volume bias and Dice before -> after and the worst change of another reader."""
    from ssb_core.evaluation.report import markdown_table

    sc = results["scoring"]
    caption = (f"Fine-tuned on {results['labels']} labels of the generous reader; held out: lidc64 test, 15 nodules "
               f"({sc['num_candidates']} candidates x {len(sc['seeds'])} seed(s), NFE {sc['nfe']}); [95% paired bootstrap interval over nodules]\n\n")
    rows = [(r["name"], f"{r['train_s']:.0f}", _change(r["readers"][READER]["volume_bias"]), _change(r["readers"][READER]["dice"]),
             _worst_other(r["readers"]), _others_bias(r["readers"])) for r in results["recipes"]]
    return caption + markdown_table(("recipe", "fine-tuning s", "generous: volume bias", "generous: Dice", "other readers: worst Dice change",
                                     "other readers: volume bias change"), rows)


STYLES = ("generous", "anyone", "scatter")


def style_masks(style: str, pool: Sequence[dict], seed: int = 0) -> list[np.ndarray]:
    """A reader's masks on ``pool`` (from :func:`labelled_pool`): ``generous`` (slot 4), ``anyone`` (one of the
    real readers at random on each slice: no style of their own) or ``scatter`` (that, shifted by up to 2 pixels
    in each direction at random)."""
    from ssb_core.data import build_dataset

    if style == "generous":
        return [np.asarray(s["masks"][4]) for s in pool]
    ds = build_dataset({"format": "lidc64", "path": str(DATA / "val.npz")})
    by_case = {str(ds[i]["case_id"]): ds[i] for i in range(len(ds))}
    rng = np.random.default_rng(seed)
    out = []
    for s in pool:
        real = by_case[str(s["case_id"])]
        mask = np.asarray(real["masks"])[rng.choice(np.flatnonzero(np.asarray(real["reader_present"])))]
        out.append(np.roll(mask, tuple(rng.integers(-2, 3, size=2)), axis=(0, 1)) if style == "scatter" else mask)
    return out


def _server_train_defaults() -> object:
    """The annotation server's default train settings (``apps/ssb/lib/trainers/ssb.py``)."""
    import sys

    from tests.app._server import APP_DIR

    if str(APP_DIR) not in sys.path:
        sys.path.insert(0, str(APP_DIR))
    from lib.trainers.ssb import TrainSettings

    return TrainSettings()


def gate_check(styles: Sequence[str] = STYLES, train: int = 18, held_out: int = 8, num_threads: int = 1) -> dict:
    """The server's recipe and gate (its default settings) on readers with and without a style: fine-tuned on
    ``train`` val slices of each, judged on the next ``held_out``. Returns each style's decision."""
    from ssb_core.checkpoint import add_readers, load_checkpoint
    from ssb_core.evaluation.reader_gate import judge_readers
    from ssb_core.pipeline import set_cpu_threads
    from ssb_core.training import fine_tune
    from ssb_core.training.trainable import RECIPE_LR

    d = _server_train_defaults()
    set_cpu_threads(num_threads)
    pool = labelled_pool(train + held_out)
    served = load_checkpoint(MODEL)
    start = add_readers(served, [READER])
    out = {"train": train, "held_out": held_out, "styles": {}}
    for style in styles:
        data = []
        for s, mask in zip(pool, style_masks(style, pool)):
            masks = np.zeros_like(s["masks"])
            masks[4] = mask
            data.append({**s, "masks": masks})
        with tempfile.TemporaryDirectory(prefix="ssb-gate-") as tmp:
            res = fine_tune(start, data[:train], output_dir=tmp, steps=d.steps, lr=d.lr or RECIPE_LR[d.trainable], ema_decay=d.ema_decay,
                            batch_size=d.batch_size, seed=d.seed, num_threads=num_threads, device="cpu", name="candidate",
                            trainable=d.trainable, train_readers=[READER])
            tuned = load_checkpoint(res.checkpoint_path)
        decision = judge_readers(served, tuned, data[train:], [READER], list(start.readers), num_candidates=d.val_candidates, nfe=d.val_nfe,
                                 seeds=[d.seed + k for k in range(d.val_seeds)], min_images=d.min_val_images, min_gain=d.min_gain,
                                 confidence=d.confidence, candidate_guidance=d.reader_guidance)[READER]  # as the server judges
        out["styles"][style] = decision.to_dict()
        logger.info("style %s: %s", style, decision.verdict)
    return out


def gate_table(results: dict) -> str:
    from ssb_core.evaluation.report import markdown_table

    rows = [(style, d["verdict"], f"{d['served_dice']:.3f} -> {d['candidate_dice']:.3f}",
             f"{d['dice_difference']:+.3f} [{d['interval'][0]:+.3f}, {d['interval'][1]:+.3f}]",
             f"{d['served_volume_bias']:+.3f} -> {d['candidate_volume_bias']:+.3f}") for style, d in results["styles"].items()]
    return (f"Fine-tuned on {results['train']} val slices of each reader, judged on the next {results['held_out']} (the server's "
            "default recipe and gate settings)\n\n" + markdown_table(("reader", "verdict", "Dice served -> candidate",
                                                                     "difference [95% CI]", "volume bias"), rows))


SPACING_XYZ = (0.7, 0.7, 2.5)  # lidc64's in-plane pixels; one slice, LIDC's usual slice spacing


def write_slice(path: Path, array: np.ndarray) -> Path:
    """One (H, W) slice as a single-slice NIfTI volume with lidc64's spacing (image float32, mask uint8)."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.asarray(array)[None])
    img.SetSpacing(SPACING_XYZ)
    sitk.WriteImage(img, str(path))
    return path


def write_studies(folder: Path, samples: Sequence[dict], prefix: str) -> list[str]:
    """Each sample's image as ``<folder>/<prefix><k>.nii.gz``; returns the image ids."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for k, s in enumerate(samples):
        ids.append(f"{prefix}{k:03d}")
        write_slice(folder / f"{ids[-1]}.nii.gz", np.asarray(s["image"], np.float32)[0])
    return ids


def submit_labels(client: object, image_ids: Sequence[str], masks: Sequence[np.ndarray], reader: str, tmp: Path) -> None:
    """``PUT /datastore/label`` of each mask under ``reader``, as a viewer's Submit does."""
    for image_id, mask in zip(image_ids, masks):
        path = write_slice(tmp / f"{reader}_{image_id}.nii.gz", np.asarray(mask, np.uint8))
        client.save_label(image_id, str(path), tag=reader)  # type: ignore[attr-defined]


def server_adaptation(counts: Sequence[int] = LABEL_COUNTS, scoring: Scoring | None = None, train: dict | None = None) -> dict:
    """The generous reader's labels submitted through a real server in batches (10, then 10 more, then 20 more),
    a training run after each with the server's default settings (``train`` overrides them), and the model the
    server then serves scored on the held-out test nodules (see the module docstring)."""
    import requests

    from ssb_core.checkpoint import load_checkpoint
    from tests.app._server import client_for, running_server

    scoring = scoring or Scoring()
    readers = ["reader0", "reader1", "reader2", "reader3", READER]
    pool, test = labelled_pool(max(counts)), held_out()
    out: dict = {"counts": list(counts), "scoring": scoring.__dict__, "runs": []}
    with tempfile.TemporaryDirectory(prefix="ssb-adapt-") as tmp_name:
        tmp = Path(tmp_name)
        model = tmp / "models" / MODEL.name
        model.parent.mkdir()
        model.write_bytes(MODEL.read_bytes())
        ids = write_studies(tmp / "studies", pool, "val")
        with running_server(tmp / "studies", model, tmp / "server.log", {"num_threads": 1}) as srv:
            client = client_for(srv, tmp)
            before = score_model(load_checkpoint(model), test, scoring, readers)
            served, done = before, 0
            for count in counts:
                submit_labels(client, ids[done:count], [s["masks"][4] for s in pool[done:count]], READER, tmp)
                done = count
                t0 = time.perf_counter()
                task = client.train_start("ssb", dict(train or {}))  # type: ignore[attr-defined]
                while requests.get(f"{srv.url}/train/", timeout=10).json().get("status") not in ("DONE", "ERROR"):
                    time.sleep(2.0)
                wall = time.perf_counter() - t0
                run = json.loads(model.with_name(f"{model.stem}.history.json").read_text())["runs"][-1]
                if run["status"] == "promoted":  # otherwise the served file is the one scored last
                    served = score_model(load_checkpoint(model), test, scoring, readers)
                after = served
                logger.info("%d labels: %s (%s) in %.0f s", count, run["status"], run.get("reason", ""), wall)
                out["runs"].append({"labels": count, "task": task.get("id"), "status": run["status"], "reason": run.get("reason"),
                                    "gate": run.get("gate"), "train_s": run.get("train_s"), "run_wall_s": round(wall, 1),
                                    "readers": _compare(before, after)})
    return out


def server_table(results: dict) -> str:
    """Markdown: per labels submitted, the run's decision and the generous and other readers' figures after it."""
    from ssb_core.evaluation.report import markdown_table

    rows = []
    for r in results["runs"]:
        g = r["readers"][READER]
        rows.append((r["labels"], r["status"], f"{r['run_wall_s']:.0f}", _change(g["volume_bias"]), _change(g["d_max"]), _change(g["dice"]),
                     _worst_other(r["readers"]), _others_bias(r["readers"])))
    return markdown_table(("labels submitted", "run", "wall s", "generous: volume bias", "generous: D_max", "generous: Dice",
                           "other readers: worst Dice change", "other readers: volume bias change"), rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", nargs="*", metavar="NAME", help="compare fine-tuning recipes in-process (20 labels): "
                        "all of RECIPES, or those named; results merged by name into recipes.json")
    parser.add_argument("--server", action="store_true", help="10/20/40 labels through a real annotation server")
    parser.add_argument("--gate", action="store_true", help="the server's recipe and gate on readers with and without a style")
    parser.add_argument("--train", action="append", default=[], metavar="KEY=VALUE",
                        help="a train-task parameter for --server (e.g. trainable=all); the results go to server-<key>-<value>.*")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not DATA.is_dir():
        parser.error(f"needs the lidc64 data at {DATA}")
    args.out.mkdir(parents=True, exist_ok=True)
    from ssb_core.evaluation.provenance import file_record, run_record

    provenance = {"run": run_record(), "model": file_record(MODEL), "data": [file_record(DATA / f"{s}.npz") for s in ("val", "test")]}
    if args.recipes is not None:
        chosen = [r for r in RECIPES if not args.recipes or r["name"] in args.recipes]
        if args.recipes and len(chosen) != len(args.recipes):
            parser.error(f"unknown recipe(s); the recipes are {[r['name'] for r in RECIPES]}")
        results = recipe_sweep(recipes=chosen)
        for entry in results["recipes"]:
            entry.update(provenance)
        path = args.out / "recipes.json"
        if path.is_file():  # earlier runs of other recipes kept, the same recipe replaced
            earlier = json.loads(path.read_text())
            names = {r["name"] for r in results["recipes"]}
            results["recipes"] = [r for r in earlier["recipes"] if r["name"] not in names] + results["recipes"]
            order = [r["name"] for r in RECIPES]
            results["recipes"].sort(key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))
        path.write_text(json.dumps(results, indent=2))
        (args.out / "recipes.md").write_text(recipe_table(results))
        print(recipe_table(results))  # noqa: T201 - the benchmark's table
    if args.gate:
        results = {**gate_check(), **provenance}
        (args.out / "gate.json").write_text(json.dumps(results, indent=2))
        (args.out / "gate.md").write_text(gate_table(results))
        print(gate_table(results))  # noqa: T201 - the benchmark's table
    if args.server:
        train = dict(item.split("=", 1) for item in args.train)
        stem = "-".join(["server", *(f"{k}-{v}" for k, v in train.items())])
        results = {**server_adaptation(train=train), "train_settings": train, **provenance}
        (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2))
        (args.out / f"{stem}.md").write_text(server_table(results))
        print(server_table(results))  # noqa: T201 - the benchmark's table
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
