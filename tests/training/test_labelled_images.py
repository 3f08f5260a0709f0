"""Readers' labelled images: the split by image, who can take part, each reader's samples, and why nobody can."""

from __future__ import annotations

import numpy as np

from ssb_core.training.labelled_images import LabelledImage, label_counts, readers_taking_part, samples_of, split_images, too_few_reason

SLOTS = ["ann_a", "ann_b", "alice"]


def _image(i: int, readers: list[str], slices: int = 2) -> LabelledImage:
    present = np.isin(SLOTS, readers)
    samples = [{"image": np.zeros((1, 8, 8), np.float32), "masks": np.zeros((3, 8, 8), np.uint8), "reader_present": present,
                "patient_id": f"img{i}", "slice": k} for k in range(slices)]
    return LabelledImage(f"img{i}", sorted(readers), samples)


def test_the_split_is_by_image_repeatable_and_never_leaves_a_side_empty():
    images = [_image(i, ["alice"]) for i in range(8)]
    train, val = split_images(images, 0.25, seed=3)
    assert len(val) == 2 and {i.image_id for i in train}.isdisjoint(i.image_id for i in val) and len(train) + len(val) == 8
    again = split_images(images, 0.25, seed=3)
    assert [i.image_id for i in again[1]] == [i.image_id for i in val]
    assert [len(s) for s in split_images(images[:2], 0.01)] == [1, 1]
    assert split_images(images[:1], 0.25)[1] == []


def test_only_readers_with_enough_held_out_images_take_part():
    train = [_image(i, ["alice", "ann_a"]) for i in range(4)]
    val = [_image(10 + i, ["alice"] if i < 5 else ["alice", "ann_a"]) for i in range(6)]
    counts = label_counts(train, val)
    assert counts == {"alice": {"train_images": 4, "held_out_images": 6}, "ann_a": {"train_images": 4, "held_out_images": 1}}
    assert readers_taking_part(counts, 5) == ["alice"]
    assert readers_taking_part(label_counts([], val), 5) == []  # held out but never trained on
    reason = too_few_reason(counts, 7, 0.25)
    assert "alice 10 labelled image(s), 6 held out" in reason and "at least 7 held-out images" in reason and "about 28 labelled" in reason


def test_a_readers_samples_keep_only_that_readers_masks_present():
    images = [_image(0, ["ann_a", "alice"]), _image(1, ["ann_b"], slices=3)]
    assert len(samples_of(images, SLOTS)) == 5  # everyone: every slice as it is
    mine = samples_of(images, SLOTS, ["alice"])
    assert len(mine) == 2 and all(list(x["reader_present"]) == [False, False, True] for x in mine)
    assert list(images[0].samples[0]["reader_present"]) == [True, False, True]  # the images themselves are not changed
