"""Which parameters a (fine-tuning) run changes: the whole network, or only what belongs to some readers.

Scopes (``optim.trainable``):

- ``all``: every parameter (training from scratch, or adapting the whole model to a new kind of image);
- ``readers``: only the rows of the reader label embedding listed in ``optim.train_readers`` (all reader rows
  when empty). A reader's row is added to the time embedding of every residual block, so it moves that reader's
  masks everywhere in the network while every other reader's output stays bit-identical: nothing to forget and
  nothing to replay. This is the annotation server's default (measured in ``docs/finetuning.md``);
- ``readers+tail``: those rows, the last decoder block and the output layer (shared by all readers: needs the
  other readers' labels in the batches to keep them where they were).

Rows are selected with a gradient mask on the embedding weight; the other parameters get
``requires_grad = False`` (not handed to the optimiser, their EMA stays equal to the starting weights).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import nn

from ssb_core.network import SSBNetwork

__all__ = ["RECIPE_LR", "TRAINABLE_SCOPES", "restrict_trainable", "tail_prefixes"]

logger = logging.getLogger(__name__)

TRAINABLE_SCOPES = ("all", "readers", "readers+tail")
RECIPE_LR = {"readers": 3e-2, "readers+tail": 1e-3, "all": 2e-4}  # the measured learning rate of each scope (docs/finetuning.md)


def tail_prefixes(names: list[str]) -> tuple[str, ...]:
    """Parameter-name prefixes of the last decoder block (full resolution) and of the output layer."""
    ups = [int(n.split(".")[2]) for n in names if n.startswith("unet.up_blocks.")]
    return (f"unet.up_blocks.{max(ups)}.", "unet.out.") if ups else ("unet.out.",)


def restrict_trainable(model: nn.Module, scope: str, rows: Sequence[int] = ()) -> int:
    """Freeze every parameter of ``model`` outside ``scope``; returns the number of trainable values.

    Args:
        model: an :class:`~ssb_core.network.SSBNetwork` (any module for ``all``).
        scope: one of :data:`TRAINABLE_SCOPES`.
        rows: reader label indices whose embedding rows train; empty = every reader row (not the null label).

    Raises:
        ValueError: an unknown scope, a model without a reader embedding, or a row outside the embedding.
    """
    if scope not in TRAINABLE_SCOPES:
        raise ValueError(f"trainable scope must be one of {TRAINABLE_SCOPES}, got {scope!r}")
    if scope == "all":
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    params = dict(model.named_parameters())
    if SSBNetwork.READER_EMBEDDING not in params:
        raise ValueError(f"trainable {scope!r} needs an SSB network with a reader embedding ({SSBNetwork.READER_EMBEDDING})")
    embedding = params[SSBNetwork.READER_EMBEDDING]
    num_rows = embedding.shape[0]
    chosen = sorted(set(int(r) for r in rows)) if rows else list(range(num_rows - 1))
    if any(not 0 <= r < num_rows for r in chosen):
        raise ValueError(f"reader rows {chosen} outside the embedding's {num_rows} rows")
    tail = tail_prefixes(list(params))
    for name, p in params.items():
        p.requires_grad_(name == SSBNetwork.READER_EMBEDDING or (scope == "readers+tail" and name.startswith(tail)))
    mask = torch.zeros(num_rows, 1, dtype=embedding.dtype, device=embedding.device)
    mask[chosen] = 1.0
    embedding.register_hook(lambda grad: grad * mask.to(grad.dtype))
    count = len(chosen) * embedding.shape[1] + sum(p.numel() for n, p in params.items() if p.requires_grad and n != SSBNetwork.READER_EMBEDDING)
    logger.info("training %s: reader rows %s, %d values", scope, chosen, count)
    return count
