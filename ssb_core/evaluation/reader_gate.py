"""The promotion gate of reader adaptation: judge a fine-tuned candidate reader by reader, decide what is promoted.

1. :func:`judge_readers`: the served and the candidate model scored on each reader's held-out masks
   (:func:`ssb_core.evaluation.reader_fidelity.reader_fidelity`, the same seeds for both models so that they are
   compared on the same noise paths; each model as it would serve that reader, :func:`ssb_core.checkpoint.served_as`),
   then one verdict per reader from a paired bootstrap over images (:func:`~ssb_core.evaluation.reader_fidelity.decide_reader`);
2. :func:`decide_promotion`: which readers' improvement is promoted, given the trainable scope
   (:mod:`ssb_core.training.trainable`);
3. :func:`promoted_model`: the model served afterwards (with ``readers``: only the promoted readers' embedding rows
   change, :func:`ssb_core.checkpoint.adopt_reader_rows`).

The rules and the measurements behind them: ``docs/finetuning.md``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

from ssb_core.checkpoint import SSBCheckpoint, adopt_reader_rows, served_as, with_reader_guidance
from ssb_core.evaluation.reader_fidelity import ReaderDecision, decide_reader, reader_fidelity
from ssb_core.pipeline import SSBPipeline

__all__ = ["judge_readers", "decide_promotion", "promoted_model", "served_accuracy"]

logger = logging.getLogger(__name__)


def judge_readers(served: SSBCheckpoint, candidate: SSBCheckpoint, samples: Sequence[dict], readers: Sequence[str], slots: Sequence[str], *,
                  num_candidates: int, nfe: int, seeds: Sequence[int], min_images: int, min_gain: float, confidence: float,
                  device: str = "cpu", candidate_guidance: float = 0.0) -> dict[str, ReaderDecision]:
    """One :class:`~ssb_core.evaluation.reader_fidelity.ReaderDecision` per reader of ``readers``.

    Args:
        samples: held-out samples (``masks`` (M, H, W) with slot ``slots.index(reader)`` holding the reader's mask,
            ``reader_present`` (M,), ``patient_id`` = the image, the unit of the decision).
        slots: the reader name of each mask slot.
        candidate_guidance: the guidance weight the candidate would serve an adapted reader with (the served model
            serves each reader as its checkpoint says).
        num_candidates, nfe, seeds: sampling of both models; min_images, min_gain, confidence: of the decision.

    A candidate that cannot be sampled (NaN/Inf weights after a diverged run) is ``worse`` for every reader.
    """
    models = {"served": SSBPipeline(served, device=device), "candidate": SSBPipeline(candidate, device=device)}
    out = {}
    for reader in readers:
        scores = {}
        for which, pipe in models.items():
            label, guidance = served_as(pipe.checkpoint, reader)
            if which == "candidate":
                guidance = candidate_guidance
            try:
                scores[which] = reader_fidelity(pipe, samples, list(slots).index(reader), label, num_candidates=num_candidates, nfe=nfe,
                                                seeds=seeds, guidance_weight=guidance)
            except ValueError as exc:  # NaN/Inf inside the sampler
                if which == "served":
                    raise
                logger.warning("the candidate cannot be sampled: %s", exc)
                scores[which] = None
        if scores["candidate"] is None:
            s = scores["served"].summary()
            out[reader] = ReaderDecision(reader, "worse", len(scores["served"].image_ids), s["dice"], math.nan, math.nan, (math.nan, math.nan),
                                         s["volume_bias"], math.nan)
        else:
            out[reader] = decide_reader(reader, scores["served"], scores["candidate"], min_images=min_images, min_gain=min_gain,
                                        confidence=confidence)
        logger.info("gate %s", out[reader].describe())
    return out


def decide_promotion(decisions: Mapping[str, ReaderDecision], scope: str, served_readers: Sequence[str], min_gain: float,
                     allow_unchecked: bool = False) -> tuple[list[str], str | None]:
    """(the readers whose improvement is promoted, why nothing is promoted or None) from a run's per-reader verdicts.

    - ``readers`` scope: every reader found ``better``; the other readers' weights are untouched anyway.
    - ``readers+tail`` / ``all``: the whole network changes for every reader, so the candidate is promoted only when
      a reader is better, none is worse, and every reader the served model serves was judged on held-out labels.
      A reader without them cannot be shown not to be worse: measured, whole-network fine-tuning on one generous
      reader made the four shipped readers' candidates far larger than their own masks while their Dice stayed
      within its noise (``docs/finetuning.md``). ``allow_unchecked`` promotes anyway.
    """
    better = [r for r, d in decisions.items() if d.verdict == "better"]
    if not better:
        return [], f"no reader's held-out masks are followed better beyond the noise by at least {min_gain} Dice"
    if scope == "readers":
        return better, None
    worse = [r for r, d in decisions.items() if d.verdict == "worse"]
    if worse:
        return [], f"the whole network would change, and it is worse for {worse}"
    unchecked = [r for r in served_readers if r not in decisions or decisions[r].verdict == "too few images"]
    if unchecked and not allow_unchecked:
        return [], (f"the whole network would change, also for {unchecked}, who have too few held-out labels here to check "
                    "that it is not worse for them (allow_unchecked: true promotes it anyway)")
    return better, None


def promoted_model(served: SSBCheckpoint, candidate: SSBCheckpoint, scope: str, promoted: Sequence[str], guidance: float) -> SSBCheckpoint:
    """The model to serve once ``promoted`` (from :func:`decide_promotion`, not empty) is promoted: with the ``readers``
    scope the served model with those readers' rows taken from the candidate, else the whole candidate; the promoted
    readers served with ``guidance`` (the weight the gate judged them with)."""
    model = adopt_reader_rows(served, candidate, list(promoted)) if scope == "readers" else candidate
    return with_reader_guidance(model, {r: guidance for r in promoted})


def served_accuracy(decisions: Mapping[str, ReaderDecision], scope: str, promoted: Sequence[str]) -> float | None:
    """Mean held-out Dice, over the judged readers, of what is served after the run: the candidate's for the readers it
    now serves (the promoted ones with ``readers``, everyone once a whole network is promoted), the served model's
    for the others. The "Accuracy" the viewers show; None when no reader has a finite Dice."""
    now_candidate = set(promoted) if scope == "readers" or not promoted else set(decisions)
    values = [d.candidate_dice if r in now_candidate else d.served_dice for r, d in decisions.items()]
    values = [v for v in values if math.isfinite(v)]
    return round(sum(values) / len(values), 4) if values else None
