#!/usr/bin/env python
"""Build the ready local studies folder of ``make serve``: a real chest CT region with its nodules' readers.

    python scripts/make_demo_studies.py [--out .cache/studies] [--force]

Copies the demo shipped in ``sample-apps/ssb-local/demo/`` (a region of LIDC-IDRI-0003's chest CT around three
nodules outlined by four radiologists; CC BY 3.0, see its ATTRIBUTION.md) into the studies folder: the CT as
``LIDC-IDRI-0003_demo.nii.gz`` and each radiologist's mask as the label ``labels/<reader>/`` of the annotation
server's datastore, so the readers' disagreement is there to compare with from the first screen. Nothing is
downloaded and nothing is read from ../shared/data. Existing files are kept unless ``--force``, so running it
again is cheap; prints the folder.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / ".cache" / "studies"
DEMO = REPO_ROOT / "sample-apps" / "ssb-local" / "demo"


def demo_files(demo: Path = DEMO) -> list[tuple[Path, Path]]:
    """(source, path relative to the studies folder) of every file the studies folder gets."""
    files = [(p, Path(p.name)) for p in sorted(demo.glob("*.nii.gz"))]
    files += [(p, p.relative_to(demo)) for p in sorted((demo / "labels").glob("*/*.nii.gz"))]
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"studies folder (default {DEFAULT_OUT.relative_to(REPO_ROOT)})")
    ap.add_argument("--force", action="store_true", help="rewrite files that already exist")
    args = ap.parse_args(argv)

    files = demo_files()
    if not files:
        print(f"error: the demo study is missing from {DEMO} (a broken checkout?)", file=sys.stderr)
        return 2
    out: Path = args.out.resolve()
    for source, rel in files:
        target = out / rel
        if target.is_file() and not args.force:
            print(f"kept    {target}")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)
        print(f"wrote   {target}")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
