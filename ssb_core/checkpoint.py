"""Self-describing checkpoints: the weights plus everything needed to rebuild and use the model.

A checkpoint is a ``torch.save`` of a plain dict (tensors, numbers, strings, lists, dicts only), so it loads
with ``torch.load(weights_only=True)``: no pickle of arbitrary objects from an untrusted file.

Keys (``format`` names the layout version):

- ``network``: :class:`~ssb_core.network.NetworkConfig` as a dict; ``bridge``: :class:`~ssb_core.bridge.BridgeConfig`;
  ``sampling``: the default :class:`~ssb_core.candidates.SamplingConfig`; ``loss``: the training loss settings.
- ``data``: data conventions (intensity normalisation, ROI size, spacing, mask convention, ...).
- ``readers``: reader names in label order (label i = ``readers[i]``; label ``len(readers)`` = null).
- ``provenance``: when, from what data, by which code, how long, on what hardware.
- ``state_dict``: the network weights (the EMA weights when training kept an EMA).
- ``presence`` (optional): the presence head, :meth:`ssb_core.presence.PresenceHead.to_dict` (whether each reader
  slot marks the lesion at all; absent in checkpoints without one).

Writes are atomic (a temporary file in the same folder, then ``os.replace``): a reader never sees half a file.
"""

from __future__ import annotations

import logging
import os
import platform
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ssb_core import __version__
from ssb_core.atomic_io import atomic_write
from ssb_core.bridge import Bridge, BridgeConfig
from ssb_core.candidates import SamplingConfig
from ssb_core.network import NetworkConfig, SSBNetwork

if TYPE_CHECKING:
    from ssb_core.presence.head import PresenceHead

__all__ = ["CHECKPOINT_FORMAT", "SSBCheckpoint", "save_checkpoint", "load_checkpoint", "CheckpointError", "atomic_torch_save",
           "add_readers", "adopt_reader_rows", "label_guidance", "reader_guidance", "served_as", "with_reader_guidance"]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "ssb-checkpoint/1"
_REQUIRED = ("format", "network", "bridge", "sampling", "state_dict")


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or not an SSB checkpoint."""


@dataclass
class SSBCheckpoint:
    """A loaded (or to-be-saved) checkpoint. ``build_model()`` returns the network with its weights."""

    network: NetworkConfig
    bridge: BridgeConfig
    sampling: SamplingConfig
    state_dict: dict[str, torch.Tensor]
    readers: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    loss: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    presence: dict = field(default_factory=dict)  # the presence head as plain data; empty: none

    def __post_init__(self) -> None:
        if not self.readers:
            self.readers = [f"reader{i}" for i in range(self.network.num_readers)]
        if len(self.readers) != self.network.num_readers:
            raise CheckpointError(f"expected {self.network.num_readers} reader names, got {len(self.readers)}: {self.readers}")

    def build_model(self, device: str | torch.device = "cpu") -> SSBNetwork:
        """The network with the stored weights, in eval mode, on ``device``."""
        model = SSBNetwork(self.network)
        model.load_state_dict(self.state_dict)
        return model.to(device).eval()

    def build_bridge(self) -> Bridge:
        return Bridge(self.bridge)

    def reader_label(self, reader: str | int | None) -> int | None:
        """The label index of a reader given by name or index; None stays None (cycle through readers)."""
        if reader is None or reader == "":
            return None
        if isinstance(reader, int) and not isinstance(reader, bool):
            if 0 <= reader <= len(self.readers):
                return reader
            raise ValueError(f"unknown reader index {reader}: expected 0..{len(self.readers) - 1}")
        if reader in self.readers:
            return self.readers.index(reader)
        if reader in ("none", "null", "consensus"):
            return len(self.readers)
        raise ValueError(f"unknown reader {reader!r}: expected one of {self.readers} (or 'none')")

    def to_dict(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "network": self.network.to_dict(),
            "bridge": self.bridge.to_dict(),
            "sampling": self.sampling.to_dict(),
            "loss": dict(self.loss),
            "data": dict(self.data),
            "readers": list(self.readers),
            "provenance": dict(self.provenance),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()},
            **({"presence": dict(self.presence)} if self.presence else {}),
        }

    def build_presence(self, device: str | torch.device = "cpu") -> "PresenceHead | None":
        """The presence head stored with the weights, in eval mode on ``device``; None when there is none."""
        if not self.presence:
            return None
        from ssb_core.presence.head import PresenceHead

        head = PresenceHead.from_dict(self.presence, device)
        if head.config.num_readers != self.network.num_readers:
            raise CheckpointError(f"the presence head has {head.config.num_readers} reader slots, the network {self.network.num_readers}")
        return head


def default_provenance(**extra: object) -> dict:
    """Code version, library versions, host and time, plus ``extra``."""
    info = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ssb_core_version": __version__,
        "torch_version": str(torch.__version__),  # TorchVersion is not allowed by weights_only loading
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    info.update(extra)
    return info


def atomic_torch_save(obj: object, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over it (:mod:`ssb_core.atomic_io`)."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def save_checkpoint(checkpoint: SSBCheckpoint, path: str | Path) -> Path:
    """Write ``checkpoint`` atomically to ``path``; returns the path."""
    path = atomic_torch_save(checkpoint.to_dict(), path)
    logger.info("saved checkpoint %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> SSBCheckpoint:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises:
        CheckpointError: the file is missing, unreadable, or lacks the keys of an SSB checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        raw = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt / foreign files
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(raw, dict) or any(k not in raw for k in _REQUIRED):
        got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"{path} is not an SSB checkpoint: expected keys {list(_REQUIRED)}, got {got}")
    if raw["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: unsupported checkpoint format {raw['format']!r}, expected {CHECKPOINT_FORMAT!r}")
    return SSBCheckpoint(
        network=NetworkConfig.from_dict(raw["network"]),
        bridge=BridgeConfig.from_dict(raw["bridge"]),
        sampling=SamplingConfig.from_dict(raw["sampling"]),
        state_dict=raw["state_dict"],
        readers=list(raw.get("readers", [])),
        data=dict(raw.get("data", {})),
        loss=dict(raw.get("loss", {})),
        provenance=dict(raw.get("provenance", {})),
        presence=dict(raw.get("presence", {})),
    )


def add_readers(ckpt: SSBCheckpoint, new: list[str]) -> SSBCheckpoint:
    """A copy of ``ckpt`` that knows the readers ``new`` too (those it knows already are skipped).

    Labels 0..R-1 keep the trained readers, R..R+k-1 are the new ones (their embedding rows start as copies of
    the null row: :meth:`SSBNetwork.grow_readers`), R+k is the null label. Returns ``ckpt`` itself when nothing
    is new. Used to fine-tune on readers the model has not seen (the annotation server's train task).
    """
    new = [n for n in dict.fromkeys(new) if n not in ckpt.readers]
    if not new:
        return ckpt
    if ckpt.presence:
        logger.info("the presence head is left out: it knows %d reader slots, not the new readers %s", ckpt.network.num_readers, new)
    net = NetworkConfig.from_dict({**ckpt.network.to_dict(), "num_readers": ckpt.network.num_readers + len(new)})
    return SSBCheckpoint(
        network=net,
        bridge=ckpt.bridge,
        sampling=ckpt.sampling,
        state_dict=SSBNetwork.grow_readers(ckpt.state_dict, len(new)),
        readers=[*ckpt.readers, *new],
        data=dict(ckpt.data),
        loss=dict(ckpt.loss),
        provenance={**ckpt.provenance, "readers_added": new},
    )


def adopt_reader_rows(base: SSBCheckpoint, source: SSBCheckpoint, readers: list[str]) -> SSBCheckpoint:
    """``base`` with the reader embedding rows of ``readers`` taken from ``source`` (readers ``base`` lacks are
    added first, :func:`add_readers`); every other weight stays ``base``'s.

    Used to promote reader by reader a model fine-tuned with ``optim.trainable: readers``: only the readers whose
    own labels it follows better replace their rows. Raises :class:`CheckpointError` when ``source`` differs from
    ``base`` anywhere but the reader embedding (then rows cannot be taken alone) or lacks one of ``readers``.
    """
    missing = [r for r in readers if r not in source.readers]
    if missing:
        raise CheckpointError(f"reader(s) {missing} not in the source checkpoint's readers {source.readers}")
    key = SSBNetwork.READER_EMBEDDING
    shared = [k for k in base.state_dict if k != key]
    if set(shared) != {k for k in source.state_dict if k != key} or any(not torch.equal(base.state_dict[k], source.state_dict[k]) for k in shared):
        raise CheckpointError("the source checkpoint differs outside the reader embedding: its reader rows cannot be adopted alone")
    out = add_readers(base, readers)
    weight = out.state_dict[key].clone()
    for r in readers:
        weight[out.readers.index(r)] = source.state_dict[key][source.readers.index(r)]
    return replace(out, state_dict={**out.state_dict, key: weight},
                   provenance={**out.provenance, "reader_rows_from": source.provenance.get("created", "fine-tuning"), "readers_adopted": list(readers)})


READER_GUIDANCE = "reader_guidance"  # key of ``SSBCheckpoint.data``: {reader: guidance weight served by default}


def reader_guidance(ckpt: SSBCheckpoint, reader: str) -> float:
    """The guidance weight ``reader``'s candidates are served with when a request does not set one (0 = none).

    Set by the annotation server's train task for the readers it adapted (their style's strength); readers the
    model was shipped with have none."""
    return float(dict(ckpt.data.get(READER_GUIDANCE) or {}).get(reader, 0.0))


def label_guidance(ckpt: SSBCheckpoint) -> dict[int, float]:
    """Reader label -> :func:`reader_guidance` of every reader of ``ckpt`` served with a strength of their own (for
    candidates that cycle through the readers, each in their own style as when chosen alone)."""
    return {i: w for i, r in enumerate(ckpt.readers) if (w := reader_guidance(ckpt, r)) > 0}


def served_as(ckpt: SSBCheckpoint, reader: str) -> tuple[int, float]:
    """(label, guidance weight) ``ckpt`` serves ``reader`` with when a request sets no guidance: their label and
    :func:`reader_guidance`, or the null label and no guidance for a reader it does not know."""
    if reader not in ckpt.readers:
        return ckpt.network.null_label, 0.0
    return ckpt.readers.index(reader), reader_guidance(ckpt, reader)


def with_reader_guidance(ckpt: SSBCheckpoint, weights: dict[str, float]) -> SSBCheckpoint:
    """A copy of ``ckpt`` whose readers in ``weights`` are served with that guidance weight by default."""
    unknown = [r for r in weights if r not in ckpt.readers]
    if unknown:
        raise CheckpointError(f"reader(s) {unknown} not in the checkpoint's readers {ckpt.readers}")
    merged = {**dict(ckpt.data.get(READER_GUIDANCE) or {}), **{r: float(w) for r, w in weights.items()}}
    return replace(ckpt, data={**ckpt.data, READER_GUIDANCE: merged})
