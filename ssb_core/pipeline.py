"""A loaded model ready to sample: checkpoint -> network + bridge + default sampling settings.

The annotation app and the evaluation entry point both go through :class:`SSBPipeline`, so a checkpoint is
interpreted in exactly one place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from ssb_core.candidates import SamplingConfig, generate_candidates
from ssb_core.checkpoint import SSBCheckpoint, load_checkpoint
from ssb_core.sampler import ProgressCallback

__all__ = ["SSBPipeline", "resolve_device", "set_cpu_threads"]

logger = logging.getLogger(__name__)


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA device is available, else ``cpu``; any other name as given."""
    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def set_cpu_threads(num_threads: int) -> None:
    """Use ``num_threads`` CPU threads for the network (0 leaves torch's default)."""
    if num_threads > 0:
        torch.set_num_threads(int(num_threads))


class SSBPipeline:
    """The network (eval mode, on ``device``), its bridge and its checkpoint's defaults.

    ``runtime``: ``torch`` (eager PyTorch), ``onnx`` (the same weights on ONNX Runtime, CPU only,
    :mod:`ssb_core.onnx_runtime`) or ``auto`` (ONNX Runtime on the CPU when installed). ``model`` is always the
    PyTorch network; ``eps_model`` is what sampling calls.
    """

    def __init__(self, checkpoint: SSBCheckpoint, device: str | torch.device = "cpu", runtime: str = "torch") -> None:
        from ssb_core.onnx_runtime import onnx_eps_model, resolve_runtime

        self.checkpoint = checkpoint
        self.device = torch.device(device)
        self.model = checkpoint.build_model(self.device)
        self.bridge = checkpoint.build_bridge()
        self.defaults = checkpoint.sampling
        self.runtime = resolve_runtime(runtime, self.device)
        self.eps_model = onnx_eps_model(self.model) if self.runtime == "onnx" else self.model

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu", runtime: str = "torch") -> "SSBPipeline":
        ckpt = load_checkpoint(path, map_location="cpu")
        logger.info("loaded %s (%d readers, network %s)", path, ckpt.network.num_readers, ckpt.network.channels)
        return cls(ckpt, device, runtime)

    @property
    def num_readers(self) -> int:
        return self.checkpoint.network.num_readers

    def sample(
        self,
        images: torch.Tensor,
        config: SamplingConfig | None = None,
        readers: int | str | Sequence[int] | None = None,
        seed: int = 0,
        progress: ProgressCallback | None = None,
        candidates: Sequence[int] | None = None,
        label_guidance: Mapping[int, float] | None = None,
    ) -> torch.Tensor:
        """Candidates for normalised images.

        Args:
            images: (B, 1, *spatial) images already normalised with the checkpoint's data conventions, spatial
                size a multiple of ``network.size_multiple``.
            config: sampling settings (the checkpoint's defaults when None).
            readers: a reader name or index for every candidate, per-candidate indices, or None to cycle.
            seed, candidates: see :func:`~ssb_core.candidates.generate_candidates` (a subset of the candidates,
                each the same as in the full set).
            label_guidance: reader label -> guidance weight of that reader's candidates instead of the config's
                (:func:`ssb_core.checkpoint.label_guidance`: the readers this model serves with a strength of their own).

        Returns:
            (B, K, 1, *spatial) probabilities in [0, 1], on the CPU (K = len(candidates), or N).
        """
        config = config or self.defaults
        if isinstance(readers, str):
            readers = self.checkpoint.reader_label(readers)
        probs = generate_candidates(
            self.eps_model,
            self.bridge,
            images.to(self.device, torch.float32),
            config,
            num_readers=self.num_readers,
            readers=readers,
            seed=seed,
            progress=progress,
            candidates=candidates,
            label_guidance=label_guidance,
        )
        return probs.cpu()
