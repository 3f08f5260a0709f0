"""Readers: which datastore label tags are readers, and the reader -> label index map kept beside the model.

Label tags: every tag except ``original`` (MONAI Label's own predictions) and the app's ``ssb_*`` tags is one
reader's annotations (``PUT /datastore/label?image=ID&tag=<reader name>``); ``final`` (what the viewers'
*Submit label* saves) is the reader named ``final``.

The map lives in ``<model stem>.readers.json`` beside the checkpoint:

- ``readers``: the readers the model was trained with, ``name -> label index`` (the checkpoint's order);
- ``null_label``: the index meaning "no reader" (classifier-free guidance's unconditional branch);
- ``pending``: readers seen in the datastore but not yet in the model. Until a training run adds them they
  are served with the null label (the unconditional style); the train task then grows the label embedding
  by one row per pending reader, initialised from the null row (:func:`ssb_core.checkpoint.add_readers`), so a
  new reader starts exactly where its null-label mapping was, and adds the reader to the served model only when
  the run's gate finds the model follows that reader's held-out masks better (:mod:`lib.trainers.ssb`);
- ``status``: every reader's status, ``trained`` (in the served model: shipped with it, or promoted by a run that
  included them) or ``pending``. A name neither trained nor pending has **never been seen**: an infer request
  naming it is answered 400 with that word and the valid names.

The dropdown of the viewers (``reader`` in the model's ``config``) shows the status beside each name
(``alice (pending)``); either form is accepted back (:func:`reader_name`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from ssb_core.atomic_io import atomic_write_json

__all__ = ["RESERVED_TAGS", "is_reader_tag", "reader_tags", "reader_name", "ReaderRegistry"]

logger = logging.getLogger(__name__)

RESERVED_TAGS = ("original",)
INTERNAL_PREFIX = "ssb_"


def is_reader_tag(tag: str) -> bool:
    return bool(tag) and tag not in RESERVED_TAGS and not tag.startswith(INTERNAL_PREFIX)


def reader_tags(datastore: object, image_id: str) -> list[str]:
    """The reader tags holding a label for ``image_id`` (sorted)."""
    return sorted(t for t in datastore.get_labels_by_image_id(image_id) if is_reader_tag(t))  # type: ignore[attr-defined]


def reader_name(choice: str) -> str:
    """The reader name of a dropdown entry: ``"alice (pending)"`` -> ``"alice"`` (plain names unchanged)."""
    return choice.split(" (", 1)[0].strip()


class ReaderRegistry:
    """``reader name -> label index`` for the served model, plus readers waiting for a training run."""

    def __init__(self, path: Path, trained: list[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.trained = list(trained)
        self.pending: dict[str, dict] = {}
        if self.path.is_file():  # written only once there is something to keep: pending readers, or a retrained model
            try:
                saved = json.loads(self.path.read_text())
                self.pending = {k: v for k, v in dict(saved.get("pending", {})).items() if k not in self.trained}
            except (OSError, ValueError) as exc:
                logger.warning("ignoring unreadable %s: %s", self.path, exc)
                saved = {}
            if saved != self.to_dict():
                self.save()

    @property
    def null_label(self) -> int:
        return len(self.trained)

    def to_dict(self) -> dict:
        return {
            "readers": {name: i for i, name in enumerate(self.trained)},
            "null_label": self.null_label,
            "pending": dict(self.pending),
            "status": self.statuses(),
            "note": "pending readers are served with the null label until a training run adds them to the model",
        }

    def save(self) -> None:
        atomic_write_json(self.path, self.to_dict())

    def reload(self) -> None:
        """Pick up pending readers recorded by another process (the training subprocess, the server)."""
        with self._lock:
            try:
                saved = json.loads(self.path.read_text())
            except (OSError, ValueError):
                return
            for k, v in dict(saved.get("pending", {})).items():
                if k not in self.trained:
                    self.pending.setdefault(k, v)

    def set_trained(self, trained: list[str]) -> None:
        """After a promotion: the new model's readers; those now trained leave ``pending``."""
        with self._lock:
            self.trained = list(trained)
            self.pending = {k: v for k, v in self.pending.items() if k not in self.trained}
            self.save()

    def observe(self, tags: list[str]) -> list[str]:
        """Record reader tags seen in the datastore; returns the readers that were new."""
        new = [t for t in tags if is_reader_tag(t) and t not in self.trained and t not in self.pending]
        if new:
            with self._lock:
                for t in new:
                    self.pending[t] = {"first_seen": int(time.time()), "served_as": "null label"}
                self.save()
            logger.info("new reader(s) %s: served with the null label until the next training run", new)
        return new

    def statuses(self) -> dict[str, str]:
        """``{reader: "trained" | "pending"}``."""
        return {**{n: "trained" for n in self.trained}, **{n: "pending" for n in sorted(self.pending)}}

    def label_for(self, name: str | None) -> tuple[int | None, str]:
        """(label index, or None = cycle through the readers; how it was resolved) for a ``reader`` param.

        Raises:
            KeyError: an unknown reader name (the message lists the valid ones).
        """
        name = reader_name(name) if name else name
        if name in ("", "all", None):
            return None, "each candidate imitates the trained readers in turn"
        if name in ("none", "null", "consensus"):
            return self.null_label, "null label (no reader's style)"
        if name in self.trained:
            return self.trained.index(name), f"reader {name!r} (label {self.trained.index(name)})"
        if name in self.pending:
            return self.null_label, (f"reader {name!r} is pending (labels saved, not in the served model yet): null label until a training run "
                                     "finds that the model follows their labels better")
        raise KeyError(f"reader {name!r} has never been seen (no label saved under that name, not in the model): expected one of "
                       f"{['all', 'none', *self.statuses()]}")

    def choices(self) -> list[str]:
        """The dropdown: ``all``, ``none``, then every reader with its status (``reader0 (trained)``, ``alice (pending)``)."""
        return ["all", "none", *(f"{n} ({status})" for n, status in self.statuses().items())]
