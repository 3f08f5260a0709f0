"""The ``ssb`` model: one :class:`~lib.model_store.ModelStore` (loaded once) shared by every task.

``--conf`` keys read here (all optional; ``apps/ssb/README.md`` has the table):

| key | default | meaning |
|---|---|---|
| ``model_path`` | ``models/ssb_lidc128.pt`` | SSB checkpoint; relative = to the current directory, else to the repo root |
| ``device`` | ``auto`` | ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1`` ... |
| ``num_threads`` | ``0`` | torch CPU threads (0 = torch's default) |
| ``model_spacing`` | ``0.7`` | mm per model pixel, only for checkpoints without ``data["preprocessing"]`` |
| ``intensity`` | the checkpoint's | intensity convention of the datastore's images: ``zscore``, ``none`` or a JSON dict |
| ``max_candidates`` | ``32`` | upper bound of the ``num_candidates`` parameter |
| ``max_slices`` | ``64`` | most slices one lesion may span (the growth from the click stops there) |
| ``slice_batch`` | ``16`` | slices per network batch |
| ``presence`` | ``vote`` | the infer parameter's default: ``vote`` (candidates all draw the lesion at the click, or none does) or ``as_sampled`` (each as first drawn); ``ssb_core.volume.inference`` |
| ``candidate_cache`` | ``16`` | request contexts whose sampled candidates are kept for the next view / pick (0 = off) |
| ``retrain_after`` | ``0`` | start a training run after this many new reader labels (0 = never) |
| ``scoring_candidates`` / ``scoring_nfe`` | ``4`` / ``5`` | sampling of the disagreement scoring |
| ``train_<setting>`` | see :class:`lib.trainers.ssb.TrainSettings` | defaults of the train task (``train_steps 50`` ...) |
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from monailabel.interfaces.config import TaskConfig
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.scoring import ScoringMethod
from monailabel.interfaces.tasks.strategy import Strategy
from monailabel.interfaces.tasks.train import TrainTask

from ssb_core.pipeline import resolve_device

from lib.activelearning.disagreement import Disagreement, DisagreementScoring, RandomUnlabelled
from lib.infers.saved_lesions import SavedLesionsInfer
from lib.infers.ssb import SSBInfer
from lib.model_store import ModelStore, resolve_model_path
from lib.trainers.ssb import SSBTrain, TrainSettings
from lib.values import parse_bool

__all__ = ["SSBConfig", "conf_value"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "models/ssb_lidc128.pt"


def conf_value(conf: dict, key: str, default: Any, kind: type) -> Any:
    """``--conf key value`` as ``kind`` (bool: :func:`lib.values.parse_bool`).

    Raises:
        ValueError: the value does not parse (names the key, the expected type and the value).
    """
    raw = conf.get(key)
    if raw is None or raw == "":
        return default
    try:
        return parse_bool(raw) if kind is bool else kind(raw)
    except ValueError:
        raise ValueError(f"--conf {key} must be {kind.__name__}, got {raw!r}") from None


class SSBConfig(TaskConfig):
    """Builds the model store once and hands it to the infer, train, scoring and strategy tasks."""

    datastore: Callable[[], Any]  # set by the app before init(): returns the app's datastore

    def init(self, name: str, model_dir: str, conf: dict, planner: Any, **kwargs: Any) -> None:
        super().init(name, model_dir, conf, planner, **kwargs)
        app_dir = kwargs.get("app_dir", model_dir)
        device = resolve_device(conf_value(conf, "device", "auto", str))
        self.path = str(resolve_model_path(conf_value(conf, "model_path", DEFAULT_MODEL, str), app_dir))
        self.store = ModelStore(
            self.path,
            device=device,
            fallback_spacing_mm=conf_value(conf, "model_spacing", 0.7, float),
            num_threads=conf_value(conf, "num_threads", 0, int),
            intensity=conf_value(conf, "intensity", None, str),
            runtime=conf_value(conf, "runtime", "auto", str),
            sampling_defaults={"num_candidates": conf_value(conf, "num_candidates", None, int), "nfe": conf_value(conf, "nfe", None, int)},
        )
        self.limits = {
            "max_candidates": conf_value(conf, "max_candidates", 32, int),
            "max_slices": conf_value(conf, "max_slices", 64, int),
            "slice_batch": conf_value(conf, "slice_batch", 16, int),
            "presence": conf_value(conf, "presence", "vote", str),
        }
        self.cache_contexts = conf_value(conf, "candidate_cache", 16, int)
        self.retrain_after = conf_value(conf, "retrain_after", 0, int)
        self.scoring = {"num_candidates": conf_value(conf, "scoring_candidates", 4, int), "nfe": conf_value(conf, "scoring_nfe", 5, int)}
        self.train_settings = TrainSettings.from_conf(conf, conf_value)

    def infer(self) -> InferTask | dict[str, InferTask]:
        return {self.name: SSBInfer(self.store, self.datastore, cache_contexts=self.cache_contexts, **self.limits),
                f"{self.name}_lesions": SavedLesionsInfer(self.datastore)}

    def trainer(self) -> TrainTask | None:
        return SSBTrain(self.store, self.train_settings, max_slices=self.limits["max_slices"])

    def strategy(self) -> Strategy | dict[str, Strategy]:
        return {"disagreement": Disagreement(self.store, **self.scoring), "random": RandomUnlabelled()}

    def scoring_method(self) -> ScoringMethod | dict[str, ScoringMethod]:
        return {"disagreement": DisagreementScoring(self.store, **self.scoring)}
