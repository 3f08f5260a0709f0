"""Promoting a fine-tuned model: only when it is not worse, atomically, keeping the previous one.

Rule: the candidate replaces the served model when its GED on the held-out images is at most the served
model's GED plus ``tolerance`` (GED: lower is better; both scored with the same seed, candidates and NFE).

Files (beside the model ``<stem>.pt``):

- ``<stem>.prev.pt``: the model served before the last promotion; ``mv <stem>.prev.pt <stem>.pt`` rolls back
  (the server reloads the file at its next request);
- ``<stem>.history.json``: ``{"runs": [...]}``, one record per training run, promoted or not.

Both replacements are a copy to a temporary file in the model's folder, then ``os.replace``: a reader of
``<stem>.pt`` sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from lib.readers import atomic_write_json
from lib.safety.atomic import atomic_copy

__all__ = ["is_not_worse", "promote", "append_history", "read_history", "json_safe"]

logger = logging.getLogger(__name__)


def is_not_worse(candidate: dict, served: dict, tolerance: float) -> bool:
    """GED of the candidate <= GED of the served model + tolerance (a non-finite GED is worse)."""
    c, s = candidate.get("ged", math.inf), served.get("ged", math.inf)
    return math.isfinite(c) and (c <= s + tolerance or not math.isfinite(s))


def promote(candidate: Path, model_path: Path) -> Path:
    """Keep the served model as ``<stem>.prev.pt``, then put ``candidate`` in its place. Returns the prev path."""
    prev = model_path.with_name(f"{model_path.stem}.prev.pt")
    atomic_copy(model_path, prev)
    atomic_copy(candidate, model_path)
    logger.info("promoted %s -> %s (previous kept as %s)", candidate, model_path, prev.name)
    return prev


def read_history(path: Path) -> list[dict]:
    try:
        return list(json.loads(Path(path).read_text()).get("runs", []))
    except (OSError, ValueError):
        return []


def json_safe(value: object) -> object:
    """``value`` with every non-finite float replaced by None (JSON has no Infinity / NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def append_history(path: Path, record: dict) -> None:
    """Append ``record`` (non-finite numbers stored as null) to the run history."""
    runs = read_history(path)
    runs.append(json_safe(record))
    atomic_write_json(Path(path), {"runs": runs})
