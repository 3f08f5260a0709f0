"""L_SSB: its parts, label dropout, and that it goes down when a tiny network overfits a real LIDC slice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssb_core.bridge import Bridge, BridgeConfig
from ssb_core.loss import LossConfig, SSBLoss, clamp_inward, drop_labels
from ssb_core.network import SSBNetwork
from tests.conftest import shared_data


def test_perfect_predictor_has_zero_mse_and_zero_dice():
    bridge = Bridge(BridgeConfig())
    masks = torch.zeros(4, 1, 8, 8)
    masks[:, :, 2:6, 2:6] = 1
    images = torch.randn(4, 1, 8, 8)

    def oracle(x_n, image, t, labels):
        sigma = bridge.std_fwd[t.long()].float().reshape(-1, 1, 1, 1)
        return (x_n - (masks * 2 - 1)) / sigma

    out = SSBLoss(bridge, LossConfig(gamma=1.0, p_uncond=0.0))(oracle, masks, images, torch.zeros(4, dtype=torch.long))
    assert out.mse.item() < 1e-8
    assert out.dice.item() < 1e-4


def test_drop_labels_rate():
    g = torch.Generator().manual_seed(0)
    labels = torch.zeros(20000, dtype=torch.long)
    dropped = drop_labels(labels, 4, 0.25, g)
    assert set(dropped.unique().tolist()) == {0, 4}
    assert abs((dropped == 4).float().mean().item() - 0.25) < 0.015
    assert torch.equal(drop_labels(labels, 4, 0.0), labels)


def test_bad_inputs():
    loss = SSBLoss(Bridge(BridgeConfig()))
    zero = lambda x, i, t, l: torch.zeros_like(x)  # noqa: E731
    with pytest.raises(ValueError, match="binary"):
        loss(zero, torch.full((1, 1, 8, 8), 0.5), torch.zeros(1, 1, 8, 8), torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="same shape"):
        loss(zero, torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 4, 8), torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="p_uncond"):
        LossConfig(p_uncond=1.5)


@pytest.mark.shared_data
def test_loss_decreases_when_overfitting_one_real_lidc_slice(tiny_network_config):
    data = np.load(shared_data("lidc64", "train.npz"))
    idx = int(np.argmax(data["masks"].sum(axis=(1, 2, 3))))  # the slice with the most lesion
    image = torch.from_numpy(data["images"][idx]).float()[None, None]
    readers = np.flatnonzero(data["reader_present"][idx])
    masks = torch.from_numpy(data["masks"][idx, readers]).float()[:, None]
    labels = torch.from_numpy(readers).long()
    images = image.expand(len(readers), -1, -1, -1).contiguous()

    torch.manual_seed(0)
    bridge = Bridge(BridgeConfig())
    net = SSBNetwork(tiny_network_config)
    loss_fn = SSBLoss(bridge, LossConfig(gamma=1.0, p_uncond=0.0), null_label=tiny_network_config.null_label)

    def held_out_loss() -> float:
        g = torch.Generator().manual_seed(123)
        with torch.no_grad():
            return float(np.mean([loss_fn(net, masks, images, labels, generator=g).loss.item() for _ in range(8)]))

    before = held_out_loss()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        opt.zero_grad()
        loss_fn(net, masks, images, labels, generator=g).loss.backward()
        opt.step()
    after = held_out_loss()
    assert after < 0.5 * before, (before, after)


def test_clamp_inward_passes_gradient_only_back_towards_the_interval():
    x = torch.tensor([-0.5, 0.3, 1.5, -0.5, 1.5], requires_grad=True)
    # d(loss)/dy: +1 asks the value to go down, -1 to go up
    grad = torch.tensor([-1.0, 1.0, 1.0, 1.0, -1.0])
    y = clamp_inward(x)
    assert torch.equal(y.detach(), x.detach().clamp(0, 1))
    (y * grad).sum().backward()
    # below 0 asked up: passes; inside: passes; above 1 asked down: passes; below 0 asked further down and
    # above 1 asked further up: blocked
    assert x.grad.tolist() == [-1.0, 1.0, 1.0, 0.0, 0.0]


def test_inward_dice_reaches_a_confidently_wrong_pixel_that_hard_clamping_ignores():
    bridge = Bridge(BridgeConfig())
    masks = torch.zeros(1, 1, 8, 8)
    masks[:, :, 2:6, 2:6] = 1
    images = torch.zeros(1, 1, 8, 8)
    # x0_hat = the reader's mask, except background pixel (0, 0) predicted confidently inside (x0_hat = 3)
    offset = torch.zeros(1, 1, 8, 8)
    offset[0, 0, 0, 0] = 4.0
    offset.requires_grad_(True)

    def predictor(x_n, image, t, labels):
        sigma = bridge.std_fwd[t.long()].float().reshape(-1, 1, 1, 1)
        return (x_n - (masks * 2 - 1 + offset)) / sigma

    def grad_at_wrong_pixel(**loss_config) -> float:
        loss_fn = SSBLoss(bridge, LossConfig(p_uncond=0.0, **loss_config))
        out = loss_fn(predictor, masks, images, torch.zeros(1, dtype=torch.long), generator=torch.Generator().manual_seed(0))
        (g,) = torch.autograd.grad(out.loss, offset)
        return float(g[0, 0, 0, 0])

    mse_only = grad_at_wrong_pixel(gamma=0.0)
    assert grad_at_wrong_pixel(gamma=1.0, dice_clamp="hard") == pytest.approx(mse_only)
    # the Dice term adds a push down (a positive gradient on x0_hat) on the wrong pixel
    assert grad_at_wrong_pixel(gamma=1.0, dice_clamp="inward") > mse_only + 1e-3
    with pytest.raises(ValueError, match="dice_clamp"):
        LossConfig(dice_clamp="soft")


def test_dice_empty_skip_averages_the_dice_over_drawn_masks_only():
    """With ``dice_empty="skip"`` a pair whose reader mask is empty adds nothing to the Dice term (the noise regression
    alone teaches it), and the term is the mean over the drawn pairs; ``"all"`` (the earlier models) counts every pair."""
    bridge = Bridge(BridgeConfig())
    masks = torch.zeros(2, 1, 8, 8)
    masks[0, :, 2:6, 2:6] = 1  # pair 0 drawn, pair 1 empty (an absent reader as an empty mask)
    images = torch.zeros(2, 1, 8, 8)
    stray = torch.zeros(2, 1, 8, 8)
    stray[1, 0, 0, 0] = 2.0  # one confidently wrong pixel on the empty pair: its per-pair Dice is about 1

    def predictor(x_n, image, t, labels):
        sigma = bridge.std_fwd[t.long()].float().reshape(-1, 1, 1, 1)
        return (x_n - (masks * 2 - 1 + stray)) / sigma

    def dice(mode: str) -> float:
        out = SSBLoss(bridge, LossConfig(p_uncond=0.0, dice_empty=mode))(predictor, masks, images, torch.zeros(2, dtype=torch.long),
                                                                          generator=torch.Generator().manual_seed(0))
        return out.dice.item()

    assert dice("all") == pytest.approx(0.5, abs=1e-3)  # (0 + 1) / 2: the stray pixel costs a whole pair
    assert dice("skip") < 1e-4  # the drawn pair is exact; the empty pair is not in the term
    with pytest.raises(ValueError, match="dice_empty"):
        LossConfig(dice_empty="none")


def test_fn_weight_makes_a_missed_lesion_pixel_cost_more_than_a_spurious_one():
    """``fn_weight`` 0.5 is the Dice term; above it (the Tversky index), a mask estimate one pixel ring too small costs
    more than one a ring too large, where the Dice term is nearly even between them."""
    bridge = Bridge(BridgeConfig())
    masks = torch.zeros(1, 1, 16, 16)
    masks[:, :, 4:12, 4:12] = 1  # 64 pixels
    images = torch.zeros(1, 1, 16, 16)

    def term(estimate: torch.Tensor, **loss_config) -> float:
        def predictor(x_n, image, t, labels):
            sigma = bridge.std_fwd[t.long()].float().reshape(-1, 1, 1, 1)
            return (x_n - (estimate * 2 - 1)) / sigma

        out = SSBLoss(bridge, LossConfig(p_uncond=0.0, **loss_config))(predictor, masks, images, torch.zeros(1, dtype=torch.long),
                                                                       generator=torch.Generator().manual_seed(0))
        return out.dice.item()

    small, large = torch.zeros_like(masks), torch.zeros_like(masks)
    small[:, :, 5:11, 5:11] = 1  # 36 pixels: 28 missed
    large[:, :, 3:13, 3:13] = 1  # 100 pixels: 36 spurious
    assert term(masks) < 1e-4 and term(masks, fn_weight=0.7) < 1e-4
    assert term(small) == pytest.approx(1 - 72 / 100, abs=1e-3) and term(large) == pytest.approx(1 - 128 / 164, abs=1e-3)
    assert term(small, fn_weight=0.7) > term(small) and term(large, fn_weight=0.7) < term(large)
    assert term(small, fn_weight=0.7) > 1.5 * term(large, fn_weight=0.7)
    with pytest.raises(ValueError, match="fn_weight"):
        LossConfig(fn_weight=1.0)
