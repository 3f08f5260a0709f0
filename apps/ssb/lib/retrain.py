"""Background retraining: after ``--conf retrain_after K`` new reader labels, a training run starts by itself.

A listener of the app's label service (:mod:`lib.labels.service`): every save of a reader's lesion, whichever way it
came (``PUT /datastore/label``, the OHIF panel's pick), is one "label saved" event, counted once; removing a lesion
is not counted. Per model it keeps, in
``<model stem>.retrain.json`` beside the checkpoint, the number of reader labels submitted since the last run
it started. When that count reaches K it asks MONAI Label to start the model's train task
(``async_training``): the run is a subprocess, so the server keeps answering, and its state shows in
``GET /train/`` like a run started by hand. While a run is going no second one is started; the count keeps
growing and the next label after the run ends starts the next one.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from ssb_core.atomic_io import atomic_write_json

from lib.readers import is_reader_tag, reader_tags

__all__ = ["RetrainTrigger"]

logger = logging.getLogger(__name__)


class RetrainTrigger:
    """Counts new reader labels per model and starts training at ``thresholds[model]`` (0 = never)."""

    def __init__(self, app: Any, thresholds: dict[str, int]) -> None:
        self.app = app
        self.thresholds = {m: int(k) for m, k in thresholds.items()}
        self._lock = threading.Lock()

    def _store(self, model: str) -> Any:
        return getattr(self.app.models[model], "store", None)

    def _state(self, model: str) -> dict:
        store = self._store(model)
        try:
            return json.loads(store.sidecar("retrain.json").read_text())
        except (OSError, ValueError):
            return {"labels_since_last_run": 0, "runs_started": 0}

    def on_saved(self, event: dict) -> dict:
        """A label service event (:data:`lib.labels.service.SaveEvent`); returns what happened (added to the save's answer)."""
        if event.get("action") == "removed":
            return {}
        return self.on_label(str(event["image"]), event.get("reader"))

    def on_label(self, image_id: str, tag: str | None) -> dict:
        """Record the label ``tag`` just saved for ``image_id``; returns what happened."""
        if tag is None or not is_reader_tag(tag):
            return {}
        out: dict[str, Any] = {"reader": tag}
        with self._lock:
            for model in self.app.models:
                store = self._store(model)
                if store is None:
                    continue
                new = store.readers.observe(reader_tags(self.app.datastore(), image_id))
                if new:
                    out["new_readers"] = new
                state = self._state(model)
                state["labels_since_last_run"] = int(state.get("labels_since_last_run", 0)) + 1
                k = self.thresholds.get(model, 0)
                if k > 0 and state["labels_since_last_run"] >= k and model in self.app._trainers:
                    task = self.app.async_training(model, params=None, enqueue=False)
                    if task:
                        logger.info("%d new reader labels: training run %s started for %s", state["labels_since_last_run"],
                                    task.get("id"), model)
                        state.update(labels_since_last_run=0, runs_started=int(state.get("runs_started", 0)) + 1,
                                     last_started=int(time.time()))
                        out["training_started"] = task.get("id")
                    else:
                        out["training_started"] = None  # a run is going; the next label retries
                state["retrain_after"] = k
                atomic_write_json(store.sidecar("retrain.json"), state)
                out.setdefault("labels_since_last_run", {})[model] = state["labels_since_last_run"]
        return out
