"""One sampled set of candidates per request context, reused by every view of it and by the save of a pick.

A radiologist looks at one lesion several ways (agreement, the candidates as segments, the variability map,
candidate k alone) and then saves the candidate they pick. Each of those is one infer request; sampling the
same seeded candidates again for each would cost the whole sampling time per view, and a pick saved from a
re-sampled set would only be the same as the one on screen because sampling is deterministic. So the first
request of a context samples, and the others reuse its :class:`ssb_core.volume.LesionCandidates`.

Context key (:func:`context_key`): the image file's identity (real path, modification time, size, inode: a
changed file is a new context; DICOM folders are never cached), the served model's SHA-256, the sampling
parameters (``num_candidates``, ``nfe``, ``guidance_weight``, ``seed``, the reader label) and the ROI plan (click
or box, slices). Output parameters (``output_mode``, ``candidate``, ``variability_levels``, ``save_as``, file
format) are not in the key: they are views of the same set.

The cache is bounded (``--conf candidate_cache``, default 16 contexts, least recently used evicted first) and
is emptied when the served model changes (a promotion, a rollback on disk). :meth:`CandidateCache.of_image` lists
the sets sampled on one image, most recent first: a label a viewer submits is matched against them, so that a
candidate touched up in 3D Slicer's Segment Editor is recorded as that candidate, edited (:mod:`lib.labels.provenance`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from typing import Any

__all__ = ["CandidateCache", "context_key"]

logger = logging.getLogger(__name__)


def context_key(image_identity: tuple | None, model_sha256: str, sampling: dict[str, Any], plan: dict[str, Any]) -> str | None:
    """A short hex id of one request context, or None when the image cannot be identified (a DICOM folder)."""
    if image_identity is None:
        return None
    text = repr((image_identity, model_sha256, sorted(sampling.items()), sorted(plan.items())))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class CandidateCache:
    """A thread-safe LRU map ``context id -> sampled candidates`` bound to one model (see the module docstring).

    Args:
        capacity: most contexts kept (0 turns the cache off).
    """

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = max(0, int(capacity))
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._image_of: dict[str, tuple] = {}  # context -> the image identity it was sampled on
        self._model: str | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _bind(self, model_sha256: str) -> None:
        """Drop everything sampled by another model (the caller holds the lock)."""
        if self._model != model_sha256:
            if self._items:
                logger.info("served model changed: %d cached candidate set(s) dropped", len(self._items))
            self._items.clear()
            self._image_of.clear()
            self._model = model_sha256

    def get(self, key: str | None, model_sha256: str) -> Any | None:
        """The candidates of context ``key`` sampled by this model, or None."""
        with self._lock:
            self._bind(model_sha256)
            if key is None or key not in self._items:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]

    def put(self, key: str | None, model_sha256: str, value: Any, image: tuple | None = None) -> None:
        """Keep ``value`` for context ``key``; ``image``: the identity of the image it was sampled on (:meth:`of_image`)."""
        if key is None or self.capacity == 0:
            return
        with self._lock:
            self._bind(model_sha256)
            self._items[key] = value
            self._items.move_to_end(key)
            if image is not None:
                self._image_of[key] = image
            while len(self._items) > self.capacity:
                old, _ = self._items.popitem(last=False)
                self._image_of.pop(old, None)

    def of_image(self, image: tuple | None) -> list[tuple[str, Any]]:
        """``(context, value)`` of every set kept for the image of this identity, the most recently used first."""
        with self._lock:
            return [(k, self._items[k]) for k in reversed(self._items) if image is not None and self._image_of.get(k) == image]

    def __len__(self) -> int:
        return len(self._items)

    def stats(self) -> dict[str, int]:
        return {"contexts": len(self._items), "capacity": self.capacity, "hits": self.hits, "misses": self.misses}
