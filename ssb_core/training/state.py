"""Exact-resume state: everything a training run needs to continue bit for bit where it stopped.

The resume file (``<output_dir>/resume.pt``) is separate from the shipped model checkpoint
(:mod:`ssb_core.checkpoint`): it holds the raw model weights, the EMA, the optimiser, the LR scheduler, the
step, the recipe and every random state (torch CPU, CUDA, numpy, Python ``random`` and the training
generator that draws readers, steps, noise, label dropout and augmentation). The data order needs no state:
epoch ``e`` is the permutation seeded ``seed + e`` and a resumed epoch skips the batches already seen.

The file is written atomically and loads with ``torch.load(weights_only=True)``: numpy's state is stored as
a tensor plus plain numbers, never as a pickled object.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssb_core.checkpoint import atomic_torch_save

__all__ = ["RESUME_FORMAT", "ResumeError", "capture_rng_state", "restore_rng_state", "save_resume", "load_resume"]

logger = logging.getLogger(__name__)

RESUME_FORMAT = "ssb-resume/1"


class ResumeError(ValueError):
    """A resume file is missing, unreadable, or does not match the current run."""


def _numpy_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}


def _set_numpy_state(d: dict[str, Any]) -> None:
    np.random.set_state((d["name"], d["keys"].numpy().astype(np.uint32), d["pos"], d["has_gauss"], d["cached"]))


def _python_state() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}


def _set_python_state(d: dict[str, Any]) -> None:
    random.setstate((d["version"], tuple(int(v) for v in d["internal"].tolist()), d["gauss"]))


def capture_rng_state(generator: torch.Generator) -> dict[str, Any]:
    """Every random state of this process plus the training ``generator`` (a CPU generator)."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state(),
        "python": _python_state(),
        "generator": generator.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    _set_numpy_state(state["numpy"])
    _set_python_state(state["python"])
    generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        else:
            logger.warning("resume: %d CUDA RNG states saved, %d devices now; CUDA RNG not restored", len(cuda_states), torch.cuda.device_count())


def save_resume(path: str | Path, **state: Any) -> Path:
    """Write the resume state atomically (keys: model, ema, optimizer, scheduler, scaler, step, rng, config...)."""
    payload = {"format": RESUME_FORMAT, **state}
    return atomic_torch_save(payload, path)


def load_resume(path: str | Path) -> dict[str, Any]:
    """Read a resume file written by :func:`save_resume`.

    Raises:
        ResumeError: the file is missing, unreadable or of another format.
    """
    path = Path(path)
    if not path.is_file():
        raise ResumeError(f"resume file not found: {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files
        raise ResumeError(f"cannot read resume file {path}: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != RESUME_FORMAT:
        raise ResumeError(f"{path} is not an SSB resume file (expected format {RESUME_FORMAT!r})")
    return raw
