"""The network wrapper: 2D and 3D, the label embedding, clear errors."""

from __future__ import annotations

import pytest
import torch

from ssb_core.network import NetworkConfig, SSBNetwork


def test_2d_forward_shape(tiny_network_config):
    net = SSBNetwork(tiny_network_config)
    x = torch.randn(2, 1, 16, 16)
    out = net(x, torch.randn_like(x), torch.tensor([1.0, 999.0]), torch.tensor([0, 4]))
    assert out.shape == x.shape


def test_3d_forward_shape():
    cfg = NetworkConfig(spatial_dims=3, channels=(8, 16), attention_levels=(False, False), norm_num_groups=4, num_head_channels=8, num_readers=2)
    net = SSBNetwork(cfg)
    x = torch.randn(1, 1, 8, 8, 8)
    assert net(x, x, torch.tensor([10]), torch.tensor([2])).shape == x.shape


def test_reader_label_changes_the_output(tiny_network_config):
    torch.manual_seed(0)
    net = SSBNetwork(tiny_network_config).eval()
    with torch.no_grad():  # MONAI zero-initialises the output convolution: give every weight a value
        for p in net.parameters():
            p.normal_(0, 0.2)
    x = torch.randn(1, 1, 8, 8)
    with torch.no_grad():
        a = net(x, x, torch.tensor([5]), torch.tensor([0]))
        b = net(x, x, torch.tensor([5]), torch.tensor([1]))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize(
    "x_shape, labels, err, match",
    [
        ((2, 1, 16), torch.tensor([0, 0]), ValueError, r"\(B, C, H, W\)"),
        ((2, 2, 16, 16), torch.tensor([0, 0]), ValueError, "1 channel"),
        ((2, 1, 15, 16), torch.tensor([0, 0]), ValueError, "multiple of 2"),
        ((2, 1, 16, 16), torch.tensor([0, 5]), ValueError, r"unknown reader label\(s\) \[5\]"),
        ((2, 1, 16, 16), torch.tensor([0.0, 1.0]), TypeError, "integer tensor"),
        ((2, 1, 16, 16), torch.tensor([0]), ValueError, r"shape \(2,\)"),
    ],
)
def test_bad_inputs(tiny_network_config, x_shape, labels, err, match):
    net = SSBNetwork(tiny_network_config)
    x = torch.randn(x_shape)
    with pytest.raises(err, match=match):
        net(x, x, torch.tensor([1.0, 1.0]), labels)


def test_nan_image_and_int_dtype_rejected(tiny_network_config):
    net = SSBNetwork(tiny_network_config)
    x = torch.randn(1, 1, 8, 8)
    with pytest.raises(ValueError, match="NaN/Inf"):
        net(x, x.clone().fill_(float("inf")), torch.tensor([1.0]), torch.tensor([0]))
    with pytest.raises(TypeError, match="floating point"):
        net(x.long(), x, torch.tensor([1.0]), torch.tensor([0]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"spatial_dims": 4}, "spatial_dims"),
        ({"num_readers": 0}, "num_readers"),
        ({"attention_levels": (False,)}, "one entry per level"),
        ({"norm_num_groups": 7, "num_head_channels": 8, "channels": (16, 32, 32)}, "norm_num_groups"),
        ({"num_head_channels": 48}, "num_head_channels"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NetworkConfig(**kwargs)


def test_config_round_trips_through_dict():
    cfg = NetworkConfig(channels=(16, 32, 32), attention_levels=(False, True, True))
    assert NetworkConfig.from_dict(cfg.to_dict()) == cfg
