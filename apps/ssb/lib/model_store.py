"""The served model: loaded once at server start, reloaded only when a training run promotes new weights.

Files beside the checkpoint ``<dir>/<stem>.pt``:

- ``<stem>.readers.json``: reader name -> label index (:mod:`lib.readers`);
- ``<stem>.history.json``: one record per training run (:mod:`ssb_core.model_versions`);
- ``<stem>.prev.pt``: the model before the last promotion (rollback: rename it over ``<stem>.pt``);
- ``<stem>.runs/<run id>/``: each training run's output (the candidate; pruned by :func:`ssb_core.model_versions.prune_runs`);
- ``<stem>.retrain.json``: the background-retraining counter (:mod:`lib.retrain`).

A promotion replaces ``<stem>.pt`` atomically (``os.replace``); the store notices the new file (its
modification time, size and inode change) at the next request and loads it under a lock, so requests in
flight finish on the weights they started with.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ssb_core.checkpoint import CheckpointError
from ssb_core.hashing import file_sha256
from ssb_core.pipeline import SSBPipeline, set_cpu_threads

from lib.conventions import ModelConventions
from lib.readers import ReaderRegistry

__all__ = ["ModelStore", "LoadedModel", "ModelFileError"]

logger = logging.getLogger(__name__)


class ModelFileError(RuntimeError):
    """The model file is missing or is not an SSB checkpoint (raised at server start)."""


@dataclass(frozen=True)
class LoadedModel:
    """One loaded version: the pipeline, its conventions, and what identifies it."""

    pipeline: SSBPipeline
    conventions: ModelConventions
    sha256: str
    loaded_at: float

    def info(self, path: Path) -> dict:
        ckpt = self.pipeline.checkpoint
        return {
            "path": str(path),
            "sha256": self.sha256[:16],
            "readers": list(ckpt.readers),
            "created": ckpt.provenance.get("created"),
            "network": ckpt.network.to_dict(),
            "sampling_defaults": ckpt.sampling.to_dict(),
            "conventions": self.conventions.to_dict(),
        }


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size, st.st_ino


class ModelStore:
    """Holds the loaded model and its side files; :meth:`get` returns the current version."""

    def __init__(self, path: str | Path, device: str = "cpu", fallback_spacing_mm: float = 0.7, num_threads: int = 0,
                 intensity: str | None = None, runtime: str = "auto", sampling_defaults: dict | None = None) -> None:
        self.path = Path(path).resolve()
        self.device = device
        self.runtime = runtime
        self.sampling_defaults = {k: v for k, v in (sampling_defaults or {}).items() if v is not None}
        self.fallback_spacing_mm = float(fallback_spacing_mm)
        self.intensity = intensity
        set_cpu_threads(num_threads)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._current: LoadedModel | None = None
        self._load()
        self.readers = ReaderRegistry(self.sidecar("readers.json"), list(self.current.pipeline.checkpoint.readers))

    def sidecar(self, suffix: str) -> Path:
        """``<dir>/<stem>.<suffix>`` beside the model."""
        return self.path.with_name(f"{self.path.stem}.{suffix}")

    @property
    def current(self) -> LoadedModel:
        assert self._current is not None
        return self._current

    def _load(self) -> None:
        if not self.path.is_file():
            raise ModelFileError(
                f"model file not found: {self.path}. Pass an SSB checkpoint with --conf model_path PATH "
                "(train one with: ssb-train --config configs/lidc64_cpu.yaml)"
            )
        stamp = _stamp(self.path)
        t0 = time.perf_counter()
        try:
            pipeline = SSBPipeline.from_checkpoint(self.path, device=self.device, runtime=self.runtime)
            pipeline.defaults = pipeline.defaults.replace(**self.sampling_defaults)  # the server's --conf num_candidates / nfe
        except CheckpointError as exc:
            raise ModelFileError(f"cannot serve {self.path}: {exc}") from exc
        conventions = ModelConventions.from_checkpoint(pipeline.checkpoint, self.fallback_spacing_mm, self.intensity)
        self._current = LoadedModel(pipeline, conventions, file_sha256(self.path), time.time())
        self._stamp = stamp
        logger.info("model %s loaded in %.2f s (sha256 %s, readers %s, %s)", self.path.name, time.perf_counter() - t0,
                    self._current.sha256[:12], pipeline.checkpoint.readers, conventions.to_dict())

    def get(self) -> LoadedModel:
        """The current model, reloaded first when the file on disk changed since it was loaded."""
        with self._lock:
            try:
                changed = self.path.is_file() and _stamp(self.path) != self._stamp
            except OSError:
                changed = False
            if changed:
                logger.info("model file %s changed on disk: reloading", self.path)
                try:
                    self._load()
                    self.readers.set_trained(list(self.current.pipeline.checkpoint.readers))
                except (ModelFileError, OSError, ValueError) as exc:  # keep serving the weights we have
                    logger.error("keeping the loaded model: %s", exc)
            return self.current

    def info(self) -> dict:
        d = self.get().info(self.path)
        d["reader_map"] = self.readers.to_dict()
        return d


def resolve_model_path(value: str, app_dir: str) -> Path:
    """``--conf model_path``: absolute, else relative to the current directory, else to the repository root."""
    p = Path(value).expanduser()
    if p.is_absolute() or p.exists():
        return p.resolve()
    repo_root = Path(app_dir).resolve().parents[1]
    return (repo_root / p).resolve()
