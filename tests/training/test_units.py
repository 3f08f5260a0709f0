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


def test_absent_readers_as_empty_masks_kohl_convention():
    batch = collate_samples([_sample(i, [True, False, True, False]) for i in range(400)])
    _, masks, labels = draw_pairs(batch, torch.Generator().manual_seed(0), absent_readers="empty")
    assert set(labels.tolist()) == {0, 1, 2, 3}  # every slot, present or not
    empty = masks.sum(dim=(1, 2, 3)) == 0
    assert torch.equal(empty, (labels == 1) | (labels == 3))  # an absent reader's pair is an empty mask
    assert 150 < int(empty.sum()) < 250
    with pytest.raises(ValueError, match="absent_readers"):
        draw_pairs(batch, torch.Generator(), absent_readers="drop")


def test_off_centre_windows_keep_only_the_lesion_under_the_centre():
    from ssb_core.training.data import off_centre_pairs

    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    lesion = (((yy - 15.5) ** 2 + (xx - 15.5) ** 2) <= 16).float()  # a 4-pixel disc at the centre
    image = (lesion * 3 + 0.1 * torch.randn(32, 32))[None, None].repeat(64, 1, 1, 1)
    masks = lesion[None, None].repeat(64, 1, 1, 1)
    img2, m2 = off_centre_pairs(image, masks, torch.Generator().manual_seed(0), prob=1.0, max_shift=0.45, centre_radius=2,
                                normalise=lambda w: (w - w.mean()) / w.std())
    centre = m2[:, 0, 14:18, 14:18].amax(dim=(1, 2)) > 0
    assert 0 < int(centre.sum()) < 64 and (m2[~centre].sum(dim=(1, 2, 3)) == 0).all()  # nothing at the centre -> empty
    kept = m2[centre, 0] > 0
    assert ((img2[centre, 0] > img2[centre, 0].mean(dim=(1, 2), keepdim=True) + 1) == kept).float().mean() > 0.98  # the shifted disc
    torch.testing.assert_close(img2.mean(dim=(1, 2, 3)), torch.zeros(64), atol=1e-5, rtol=0)  # re-normalised windows
    same, _ = off_centre_pairs(image, masks, torch.Generator().manual_seed(0), prob=0.0)
    assert torch.equal(same, image)


def test_hard_negatives_centre_the_window_on_a_bright_structure_the_readers_left_out():
    from ssb_core.training.data import off_centre_pairs

    image = torch.zeros(8, 1, 32, 32)
    image[:, :, 14:18, 14:18] = 3.0  # the lesion, outlined
    image[:, :, 4:8, 22:26] = 5.0  # a bright structure nobody outlined (a rib, a vessel)
    masks = torch.zeros(8, 1, 32, 32)
    masks[:, :, 14:18, 14:18] = 1.0
    img2, m2 = off_centre_pairs(image, masks, torch.Generator().manual_seed(0), prob=1.0, hard_negatives=1.0, hard_margin=6,
                                hard_max_shift=0.4)
    assert (m2.sum(dim=(1, 2, 3)) == 0).all()  # "nothing here" under the centre
    assert (img2[:, 0, 15:17, 15:17] == 5.0).flatten(1).any(dim=1).all()  # the window is centred on the structure


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
