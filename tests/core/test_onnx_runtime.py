"""The ONNX Runtime path gives the PyTorch network's outputs and candidates, for any batch and ROI size."""

from __future__ import annotations

import tempfile

import pytest
import torch

from ssb_core.checkpoint import SSBCheckpoint
from ssb_core.bridge import BridgeConfig
from ssb_core.candidates import SamplingConfig
from ssb_core.onnx_runtime import onnx_available, onnx_eps_model, resolve_runtime
from ssb_core.pipeline import SSBPipeline

pytestmark = pytest.mark.skipif(not onnx_available(), reason="onnxruntime / onnx not installed (the 'app' extra)")


def test_onnx_matches_torch_for_several_batch_and_roi_sizes(random_tiny_network, tmp_path):
    eps = onnx_eps_model(random_tiny_network, num_threads=1, cache_dir=tmp_path)
    gen = torch.Generator().manual_seed(0)
    for batch, size in ((1, 16), (3, 32), (2, 48)):
        x = torch.randn(batch, 1, size, size, generator=gen)
        image = torch.randn(batch, 1, size, size, generator=gen)
        t = torch.randint(0, 100, (batch,), generator=gen).float()
        labels = torch.tensor([k % 5 for k in range(batch)])  # 4 readers + the null label
        with torch.inference_mode():
            ref = random_tiny_network(x, image, t, labels)
        out = eps(x, image, t, labels)
        assert out.shape == ref.shape
        torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_pipeline_candidates_are_the_same_on_both_runtimes(random_tiny_network):
    ckpt = SSBCheckpoint(network=random_tiny_network.config, bridge=BridgeConfig(num_timesteps=100),
                         sampling=SamplingConfig(num_candidates=3, nfe=4, guidance_weight=1.0), state_dict=random_tiny_network.state_dict())
    torch_pipe, onnx_pipe = SSBPipeline(ckpt, runtime="torch"), SSBPipeline(ckpt, runtime="auto")
    assert onnx_pipe.runtime == "onnx" and torch_pipe.eps_model is torch_pipe.model
    images = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    a, b = torch_pipe.sample(images, seed=5), onnx_pipe.sample(images, seed=5)
    torch.testing.assert_close(a, b, atol=1e-3, rtol=0)
    assert ((a > 0.5) == (b > 0.5)).float().mean() > 0.999


def test_a_temporary_export_leaves_nothing_behind(random_tiny_network, tmp_path, monkeypatch):
    """Every model load (the server reloads after each training round) once left a folder in the temporary dir."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    eps = onnx_eps_model(random_tiny_network, num_threads=1)
    assert list(tmp_path.iterdir()) == [] and eps.path is None
    x = torch.zeros(1, 1, 16, 16)
    with torch.inference_mode():
        ref = random_tiny_network(x, x, torch.tensor([3.0]), torch.tensor([0]))
    torch.testing.assert_close(eps(x, x, torch.tensor([3.0]), torch.tensor([0])), ref, atol=1e-4, rtol=1e-4)


def test_runtime_names_are_checked():
    with pytest.raises(ValueError, match="auto, torch or onnx"):
        resolve_runtime("tensorrt", torch.device("cpu"))
    assert resolve_runtime("torch", torch.device("cpu")) == "torch"
