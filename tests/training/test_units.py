"""Small pieces of the loop: reader draws, augmentation, epoch batches, EMA, LR schedule, AMP choice, splits."""

from __future__ import annotations

import pytest
import torch

from ssb_core.training.config import OptimConfig
from ssb_core.data import collate_samples
from ssb_core.training.config import TrainConfig
from ssb_core.training.data import EpochBatches, augment_pairs, draw_pairs
from ssb_core.training.setup import build_datasets
from ssb_core.training.ema import ModelEMA
from ssb_core.training.optim import lr_factor, resolve_amp


def _sample(i, present):
    masks = torch.zeros(len(present), 8, 8, dtype=torch.uint8)
    for r, p in enumerate(present):
        if p:
            masks[r, : r + 1] = 1  # reader r marks r + 1 rows: the drawn label can be read off the mask
    return {"image": torch.randn(1, 8, 8), "masks": masks, "reader_present": torch.tensor(present), "case_id": f"c{i}", "patient_id": f"p{i % 3}",
            "meta": {"source": "test"}}


def test_reader_is_drawn_only_among_present_readers():
    batch = collate_samples([_sample(i, [True, False, True, False]) for i in range(200)])
    _, masks, labels = draw_pairs(batch, torch.Generator().manual_seed(0))
    assert set(labels.tolist()) == {0, 2}
    assert 70 < int((labels == 0).sum()) < 130  # uniform among the two
    assert torch.equal(masks[:, 0].sum(dim=(1, 2)), (labels + 1).float() * 8)
    with pytest.raises(ValueError, match=r"without any reader mask.*c0"):
        draw_pairs(collate_samples([_sample(0, [False] * 4)]), torch.Generator())


def test_augmentation_moves_image_and_mask_together():
    g = torch.Generator().manual_seed(1)
    image = torch.arange(64.0).reshape(1, 1, 8, 8).repeat(16, 1, 1, 1)
    mask = (image > 40).float()
    img2, mask2 = augment_pairs(image, mask, g, intensity=0.0)
    assert torch.equal(mask2, (img2 > 40).float())
    assert not all(torch.equal(img2[0], img2[b]) for b in range(16))


def test_epoch_batches_are_reproducible_disjoint_across_ranks_and_skippable():
    a, b = EpochBatches(10, 2, seed=3, rank=0, world_size=2), EpochBatches(10, 2, seed=3, rank=1, world_size=2)
    assert a.steps_per_epoch == 2
    assert not set(sum(a(0), [])) & set(sum(b(0), []))
    assert a(0) == EpochBatches(10, 2, seed=3, rank=0, world_size=2)(0) and a(0) != a(1)
    assert a(1, skip=1) == a(1)[1:]


def test_ema_follows_the_weights():
    net = torch.nn.Linear(2, 1)
    ema = ModelEMA(net, decay=0.5)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema.update(net)  # first update copies
    with torch.no_grad():
        net.weight.fill_(3.0)
    ema.update(net)  # decay min(0.5, 2/11)
    assert torch.allclose(ema.module.weight, torch.full_like(net.weight, 1.0 + (1 - 2 / 11) * 2.0))
    with pytest.raises(ValueError, match="decay must lie in"):
        ModelEMA(net, 1.0)


def test_lr_schedule_and_amp_choice():
    cfg = OptimConfig(lr=1.0, warmup_steps=10, schedule="cosine", min_lr_ratio=0.1)
    assert lr_factor(0, cfg, 110) == pytest.approx(0.1) and lr_factor(9, cfg, 110) == pytest.approx(1.0)
    assert lr_factor(110, cfg, 110) == pytest.approx(0.1) and lr_factor(60, cfg, 110) == pytest.approx(0.55)
    assert resolve_amp("auto", torch.device("cpu")).dtype is None
    assert resolve_amp("bf16", torch.device("cpu")).name == "off"


def test_val_fraction_holds_out_whole_patients():
    data = [_sample(i, [True] * 4) for i in range(12)]
    train, val = build_datasets(TrainConfig.from_dict({"data": {"val_fraction": 0.3}}), train_dataset=data)
    train_p = {data[i]["patient_id"] for i in train.indices}
    val_p = {data[i]["patient_id"] for i in val.indices}
    assert train_p and val_p and not train_p & val_p and len(train) + len(val) == 12
