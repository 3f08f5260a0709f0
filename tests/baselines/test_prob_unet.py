"""The Probabilistic U-Net baseline: shapes, seeded sampling, and that its loss goes down on a real slice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssb_core.baselines.prob_unet import ProbUNet, ProbUNetConfig
from tests.conftest import shared_data

SMALL = ProbUNetConfig(features=(8, 8, 16, 16, 16, 8), encoder_channels=(8, 16), latent_dim=3)


def test_sample_shapes_and_seeds():
    torch.manual_seed(0)
    net = ProbUNet(SMALL).eval()
    images = torch.randn(2, 1, 32, 32)
    a, b, c = net.sample(images, 4, seed=1), net.sample(images, 4, seed=1), net.sample(images, 4, seed=2)
    assert a.shape == (2, 4, 1, 32, 32) and float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="same shape"):
        net.loss(images, torch.zeros(2, 1, 16, 16))


@pytest.mark.shared_data
def test_loss_decreases_on_a_real_lidc_slice():
    data = np.load(shared_data("lidc64", "train.npz"))
    idx = int(np.argmax(data["masks"].sum(axis=(1, 2, 3))))
    present = np.flatnonzero(data["reader_present"][idx])
    masks = torch.from_numpy(data["masks"][idx, present]).float()[:, None]
    images = torch.from_numpy(data["images"][idx]).float()[None, None].expand(len(present), -1, -1, -1).contiguous()
    torch.manual_seed(0)
    net = ProbUNet(SMALL)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss, _ = net.loss(images, masks)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
