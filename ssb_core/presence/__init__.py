"""Presence apart from shape: whether each reader slot marks the lesion at all (a head of its own) and which
candidates that empties. The bridge then draws outlines; this package says how often a reader would leave the
lesion unmarked. Head: :mod:`~ssb_core.presence.head`; training: :mod:`~ssb_core.presence.training`; the keep
mask: :mod:`~ssb_core.presence.sampling`. Why: docs/lidc128.md, "Presence and shape apart"."""

from ssb_core.presence.head import PRESENCE_FORMAT, PresenceConfig, PresenceHead
from ssb_core.presence.sampling import marked_candidates
from ssb_core.presence.training import PresenceTraining, presence_arrays, presence_report, train_presence_head

__all__ = ["PRESENCE_FORMAT", "PresenceConfig", "PresenceHead", "marked_candidates", "PresenceTraining", "presence_arrays",
           "presence_report", "train_presence_head"]
