"""Candidates of a box on chosen slices, each candidate slot drawn from a chosen noise stream.

A lesion's N candidates are N *slots*. Slot n starts with noise stream n, which is exactly candidate n of
:meth:`ssb_core.pipeline.SSBPipeline.sample` (same generator, same reader label). When a slot's candidate is
redrawn (:func:`ssb_core.volume.inference.segment_lesion`: it drew nothing at the click, or ran into the growth
limit), it takes stream ``n + N * t`` for its t-th redraw: a new noise path with the same reader label, so the
slot keeps its reader's style and a redrawn set is as reproducible as a first one (seed, slot -> stream).

Shapes: ``(N, ny, nx)`` bool masks per slice on the box grid, rows = slots (rows of slots not run are False).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ssb_core.candidates import SamplingConfig, reader_labels_for
from ssb_core.pipeline import SSBPipeline
from ssb_core.preprocessing import Preprocessing
from ssb_core.volume.roi import RoiPlan, to_box

__all__ = ["StreamSampler", "max_redraws_for"]

#: generate_candidates' bound on the candidates of one set, streams included
MAX_STREAMS = 256


def max_redraws_for(num_candidates: int, wanted: int) -> int:
    """How many times each of ``num_candidates`` slots may be redrawn (at most ``wanted``) within :data:`MAX_STREAMS`."""
    return max(0, min(int(wanted), MAX_STREAMS // int(num_candidates) - 1))


class StreamSampler:
    """Thresholded candidates of one box for (slot -> stream) assignments.

    Args:
        pipeline, preprocessing, volume_zyx, box: the model, how it sees the scan (at the chosen zoom), the (Z, Y, X)
            raw scan and the in-plane box.
        config: sampling settings; ``config.num_candidates`` = N slots.
        readers: as :meth:`SSBPipeline.sample` takes them for the N slots (None cycles).
        redraws: redraws allowed per slot (streams ``n + N * t`` for t = 1..redraws).
        seed, batch, label_guidance: the set's seed, slices per network batch, per-reader guidance.
    """

    def __init__(self, pipeline: SSBPipeline, preprocessing: Preprocessing, volume_zyx: np.ndarray, box: RoiPlan,
                 config: SamplingConfig, readers: int | str | Sequence[int] | None, redraws: int, seed: int, batch: int,
                 label_guidance: Mapping[int, float] | None = None) -> None:
        self.num_slots = int(config.num_candidates)
        self.redraws = max_redraws_for(self.num_slots, redraws)
        if isinstance(readers, str):
            readers = pipeline.checkpoint.reader_label(readers)
        labels = reader_labels_for(readers, self.num_slots, pipeline.num_readers)
        total = self.num_slots * (self.redraws + 1)
        self._labels = [labels[j % self.num_slots] for j in range(total)]
        self._config = config.replace(num_candidates=total)
        self._pipeline, self._pre, self._volume, self._box = pipeline, preprocessing, volume_zyx, box
        self._seed, self._batch, self._guidance = int(seed), max(1, int(batch)), label_guidance
        self.threshold = float(config.threshold)

    @property
    def labels(self) -> tuple[int, ...]:
        """(N,) the reader label each slot imitates (all its draws keep it)."""
        return tuple(self._labels[: self.num_slots])

    def stream(self, slot: int, draw: int) -> int:
        """The noise stream of ``slot``'s ``draw``-th draw (0 = its first)."""
        return int(slot) + self.num_slots * int(draw)

    def sample(self, slices: Sequence[int], streams: Sequence[int]) -> dict[int, np.ndarray]:
        """slice index -> (len(streams), ny, nx) bool masks of the given streams, in that order."""
        out: dict[int, np.ndarray] = {}
        streams = [int(j) for j in streams]
        if not streams:
            return {int(k): np.zeros((0, self._box.ny, self._box.nx), dtype=bool) for k in slices}
        box = self._box
        for s in range(0, len(slices), self._batch):
            part = [int(k) for k in slices[s : s + self._batch]]
            images = self._pre.model_input(self._volume, part, box.y0, box.x0, box.ny, box.nx)
            probs = self._pipeline.sample(images, self._config, readers=self._labels, seed=self._seed, candidates=streams,
                                          label_guidance=self._guidance)[:, :, 0]  # (B, K, H, W)
            masks = to_box(probs, box) > self.threshold  # (B, K, ny, nx)
            for b, k in enumerate(part):
                out[k] = masks[b]
        return out

    def sample_slots(self, slices: Sequence[int], slot_streams: Mapping[int, int]) -> dict[int, np.ndarray]:
        """slice index -> (N, ny, nx) bool: row n holds slot n's stream where ``slot_streams`` names slot n, else False."""
        slots = sorted(slot_streams)
        drawn = self.sample(slices, [slot_streams[n] for n in slots])
        out = {}
        for k, masks in drawn.items():
            full = np.zeros((self.num_slots, self._box.ny, self._box.nx), dtype=bool)
            full[slots] = masks
            out[k] = full
        return out
