"""The vote at the click and the redraws (ssb_core.volume.inference, GrowthSettings.presence).

The network is replaced by a scripted sampler: each noise stream draws either a lesion (a disk at the click on
slices 8-12), nothing, or a tube (a disk on every slice: a structure that runs past the growth limit). The rules
of the vote are then checked exactly: which slots are redrawn, with which stream, and when the answer is "no lesion".
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ssb_core.candidates import SamplingConfig, reader_labels_for
from ssb_core.data import IntensityConvention
from ssb_core.preprocessing import Preprocessing
from ssb_core.volume import GrowthSettings, plan_roi, segment_lesion
from ssb_core.volume import inference as inference_module
from ssb_core.volume.streams import StreamSampler, max_redraws_for

N = 8
SPACING = (1.0, 1.0, 2.0)
LESION_SLICES = range(8, 13)


class ScriptedSampler(StreamSampler):
    """Stream j draws ``script.get(j, "empty")``: "lesion", "empty", "tube" or "big" (the lesion's slices, 6 times its
    area: a lesion run into a vessel); counts the (slice, stream) samples."""

    script: dict[int, str] = {}

    def __init__(self, pipeline, preprocessing, volume_zyx, box, config, readers, redraws, seed, batch,
                 label_guidance=None) -> None:
        self.num_slots = config.num_candidates
        self.redraws = max_redraws_for(self.num_slots, redraws)
        self._labels = reader_labels_for(readers, self.num_slots, 4)
        self._box = box
        self.samples = 0
        self.pairs: list[tuple[int, int]] = []  # (slice, stream) in the order sampled

    def sample(self, slices, streams):
        yy, xx = np.mgrid[: self._box.ny, : self._box.nx]
        disk = (yy - self._box.ny / 2) ** 2 + (xx - self._box.nx / 2) ** 2 <= 16
        big = (yy - self._box.ny / 2) ** 2 + (xx - self._box.nx / 2) ** 2 <= 100
        out = {}
        for k in slices:
            rows = []
            for j in streams:
                kind = self.script.get(int(j), "empty")
                if kind == "big" and k in LESION_SLICES:
                    rows.append(big)
                else:
                    rows.append(disk if kind == "tube" or (kind == "lesion" and k in LESION_SLICES) else np.zeros_like(disk))
                self.samples += 1
                self.pairs.append((int(k), int(j)))
            out[int(k)] = np.stack(rows) if rows else np.zeros((0, *disk.shape), dtype=bool)
        return out


def _run(monkeypatch, script: dict[int, str], presence: str = "vote", volume: np.ndarray | None = None, **growth):
    monkeypatch.setattr(ScriptedSampler, "script", script)
    monkeypatch.setattr(inference_module, "StreamSampler", ScriptedSampler)
    pre = Preprocessing((32, 32), (1.0, 1.0), IntensityConvention.create("window", a_min=0, a_max=100, b_min=-1, b_max=1), "image")
    volume = np.zeros((40, 48, 48), dtype=np.float32) if volume is None else volume
    click = plan_roi(volume.shape, SPACING, pre, foreground=[[24, 24, 10]])
    config = SamplingConfig(num_candidates=N, nfe=2)
    settings = GrowthSettings(scales=(1.0,), presence=presence, max_half_extent_mm=16.0, **growth)
    return segment_lesion(None, pre, volume, SPACING, click, config, None, 0, settings)  # type: ignore[arg-type]


def _drawn(result) -> list[bool]:
    return result.masks.reshape(N, -1).any(axis=1).tolist()


def test_empty_and_open_candidates_are_redrawn_with_the_next_stream_of_their_slot(monkeypatch):
    script = {j: "lesion" for j in range(5)}
    script.update({5: "empty", 6: "tube", 7: "empty", 13: "lesion", 14: "tube", 15: "empty", 22: "lesion", 23: "lesion"})
    result = _run(monkeypatch, script)
    assert _drawn(result) == [True] * N
    # slot 5: its first redraw (stream 13); slot 7: its second (23, after 15 drew nothing); slot 6: the tube ran
    # into the growth limit, its first redraw was a tube again, its second a lesion (22)
    assert result.streams == (0, 1, 2, 3, 4, 13, 22, 23)
    p = result.presence
    assert (p.mode, p.drawn_at_click, p.lesion, p.redrawn, p.open_emptied) == ("vote", 6, True, (5, 6, 7), ())
    assert result.stopped == {"below": "lesion ended", "above": "lesion ended"}
    k = list(result.plan.slices)
    assert all(result.masks[:, k.index(s)].all(axis=0).any() for s in LESION_SLICES)


def test_a_candidate_still_open_after_every_redraw_is_emptied(monkeypatch):
    script = {j: "lesion" for j in range(6)} | {6: "tube", 14: "tube", 22: "tube", 30: "tube", 7: "lesion"}
    result = _run(monkeypatch, script)
    assert _drawn(result) == [True] * 6 + [False, True]
    assert result.presence.open_emptied == (6,) and result.presence.lesion
    assert max_redraws_for(N, 3) == 3 and result.streams[6] == 30


def test_fewer_than_half_drawing_at_the_click_is_no_lesion_and_nothing_is_grown(monkeypatch):
    result = _run(monkeypatch, {0: "lesion", 1: "lesion", 2: "lesion", 3: "tube"})
    assert not result.masks.any() and result.presence.drawn_at_click == 4
    # 4 of 8 is half: a lesion; here the tube is open (redrawn to nothing), so 3 of 8 hold one at the end: no lesion
    assert result.presence.lesion is False and result.presence.open_emptied == (3,)
    result = _run(monkeypatch, {0: "lesion", 1: "lesion", 2: "lesion"})
    assert not result.masks.any() and result.presence.drawn_at_click == 3 and result.presence.lesion is False
    assert result.stopped == {"below": "no lesion at the click", "above": "no lesion at the click"}
    assert result.num_slices == 7 and result.rounds == 1  # the first slices only: the click and 5 mm (3 slices) each side


def test_as_sampled_keeps_every_candidate_as_first_drawn(monkeypatch):
    result = _run(monkeypatch, {0: "lesion", 1: "lesion", 2: "lesion", 3: "tube", 13: "lesion"}, presence="as_sampled")
    assert _drawn(result) == [True] * 4 + [False] * 4
    p = result.presence
    assert (p.mode, p.drawn_at_click, p.lesion, p.redrawn, p.open_emptied) == ("as_sampled", 4, True, (), ())
    assert result.stopped["below"] == "max_half_extent_mm" and result.streams == tuple(range(N))


def _chest(around_click_hu: float) -> np.ndarray:
    """A CT in HU: air (-1000) at the front, lung (-850) elsewhere, and a 24 x 24 block of ``around_click_hu`` round
    the click (the scripted disk, radius 4, lies inside it)."""
    volume = np.full((40, 48, 48), -850.0, dtype=np.float32)
    volume[:, :4] = -1000.0
    volume[:, 12:36, 12:36] = around_click_hu
    return volume


def test_on_a_ct_a_lesion_with_no_lung_around_it_is_not_a_lung_lesion(monkeypatch):
    script = {j: "lesion" for j in range(N)}
    in_lung = _run(monkeypatch, script, volume=_chest(-850.0))  # a nodule in the parenchyma: lung all round
    assert _drawn(in_lung) == [True] * N and in_lung.presence.outside_lung == 0
    fat = _run(monkeypatch, script, volume=_chest(-100.0))  # the same shape in fat (the mediastinum): nothing
    assert not fat.masks.any()
    p = fat.presence
    assert (p.drawn_at_click, p.outside_lung, p.lesion) == (0, N, False)
    assert fat.stopped == {"below": "no lesion at the click", "above": "no lesion at the click"}
    # not a CT in HU (no air): the intensities say nothing, the check is skipped
    assert _drawn(_run(monkeypatch, script, volume=_chest(-100.0) + 2000.0)) == [True] * N
    # as sampled: the model's own view, no check
    assert _drawn(_run(monkeypatch, script, presence="as_sampled", volume=_chest(-100.0))) == [True] * N
    # switched off
    monkeypatch.setattr(inference_module, "GrowthSettings", GrowthSettings)
    settings = GrowthSettings(scales=(1.0,), max_half_extent_mm=16.0, min_lung_contact=0.0)
    pre = Preprocessing((32, 32), (1.0, 1.0), IntensityConvention.create("window", a_min=0, a_max=100, b_min=-1, b_max=1), "image")
    volume = _chest(-100.0)
    click = plan_roi(volume.shape, SPACING, pre, foreground=[[24, 24, 10]])
    off = segment_lesion(None, pre, volume, SPACING, click, SamplingConfig(num_candidates=N, nfe=2), None, 0, settings)  # type: ignore[arg-type]
    assert _drawn(off) == [True] * N


def test_presence_settings_are_checked():
    with pytest.raises(ValueError, match="presence"):
        GrowthSettings(presence="maybe")
    with pytest.raises(ValueError, match="neck_fraction"):
        GrowthSettings(neck_fraction=1.5)
    with pytest.raises(ValueError, match="min_lung_contact"):
        GrowthSettings(min_lung_contact=1.5)


def test_a_single_slice_image_is_one_slice_whatever_the_vote(monkeypatch):
    """A 2D image (one slice): the growth has nowhere to go, on either side."""
    monkeypatch.setattr(ScriptedSampler, "script", {j: "tube" for j in range(N)})
    monkeypatch.setattr(inference_module, "StreamSampler", ScriptedSampler)
    pre = Preprocessing((32, 32), (1.0, 1.0), IntensityConvention.create("window", a_min=0, a_max=100, b_min=-1, b_max=1), "image")
    volume = np.zeros((1, 48, 48), dtype=np.float32)
    click = plan_roi(volume.shape, SPACING, pre, foreground=[[24, 24, 0]])
    result = segment_lesion(None, pre, volume, SPACING, click, SamplingConfig(num_candidates=N, nfe=2), None, 0,  # type: ignore[arg-type]
                            GrowthSettings(scales=(1.0,)))
    assert result.plan.slices == (0,) and _drawn(result) == [True] * N
    assert result.stopped == {"below": "scan edge", "above": "scan edge"} and result.presence.open_emptied == ()


@pytest.mark.parametrize(("whole_scan", "sampled_with"), [(0.01, 0.01), (None, 0.05)])
def test_the_whole_scan_start_perturbation_replaces_the_checkpoints(monkeypatch, whole_scan, sampled_with):
    """``GrowthSettings.start_noise`` is what the candidates of a click are sampled with (None: the config's own)."""
    seen = []

    class Recording(ScriptedSampler):
        def __init__(self, pipeline, preprocessing, volume_zyx, box, config, *args, **kwargs) -> None:
            seen.append(config.start_noise)
            super().__init__(pipeline, preprocessing, volume_zyx, box, config, *args, **kwargs)

    monkeypatch.setattr(ScriptedSampler, "script", {n: "lesion" for n in range(N)})
    monkeypatch.setattr(inference_module, "StreamSampler", Recording)
    pre = Preprocessing((32, 32), (1.0, 1.0), IntensityConvention.create("window", a_min=0, a_max=100, b_min=-1, b_max=1), "image")
    volume = np.zeros((40, 48, 48), dtype=np.float32)
    click = plan_roi(volume.shape, SPACING, pre, foreground=[[24, 24, 10]])
    settings = GrowthSettings(scales=(1.0,), max_half_extent_mm=16.0, start_noise=whole_scan)
    result = segment_lesion(None, pre, volume, SPACING, click, SamplingConfig(num_candidates=N, nfe=2, start_noise=0.05),  # type: ignore[arg-type]
                            None, 0, settings)
    assert seen == [sampled_with] and result.presence.lesion


def test_the_whole_scan_start_perturbation_is_checked():
    with pytest.raises(ValueError, match="start_noise"):
        GrowthSettings(start_noise=-0.1)


CYCLED = tuple(n % 4 for n in range(N))


@pytest.mark.parametrize(("asked", "presence", "script", "sampled_with", "labels"), [
    (None, "vote", "lesion", [None, [0] * N], (0,) * N), (None, "vote", "empty", [None], CYCLED),
    (None, "as_sampled", "lesion", [None], CYCLED), (2, "vote", "lesion", [2], (2,) * N),
    ([3] * N, "vote", "lesion", [[3] * N], (3,) * N)])
def test_every_reader_votes_and_a_lesions_outlines_skip_the_skipped_readers(monkeypatch, asked, presence, script, sampled_with,
                                                                            labels):
    """``SamplingConfig.lesion_skip_readers``: with no reader asked for, every reader votes (the first sampler cycles:
    None) and, once they find a lesion, its outlines are drawn afresh by the model's other readers; with no lesion,
    without the vote or with a reader asked for, one sampler with the readers as asked. With the outlines drawn apart,
    the vote looks at the clicked slice only (one slice of each of the N first draws)."""
    seen, samplers = [], []

    class Recording(ScriptedSampler):
        def __init__(self, pipeline, preprocessing, volume_zyx, box, config, readers, *args, **kwargs) -> None:
            seen.append(readers)
            samplers.append(self)
            super().__init__(pipeline, preprocessing, volume_zyx, box, config, readers, *args, **kwargs)

    class Model:  # what segment_lesion reads of the pipeline here: the checkpoint's reader names
        class checkpoint:  # noqa: N801
            readers = ["reader_1", "reader_2", "reader_3", "reader_4"]

    monkeypatch.setattr(ScriptedSampler, "script", {n: script for n in range(N * 4)})
    monkeypatch.setattr(inference_module, "StreamSampler", Recording)
    pre = Preprocessing((32, 32), (1.0, 1.0), IntensityConvention.create("window", a_min=0, a_max=100, b_min=-1, b_max=1), "image")
    volume = np.zeros((40, 48, 48), dtype=np.float32)
    click = plan_roi(volume.shape, SPACING, pre, foreground=[[24, 24, 10]])
    config = SamplingConfig(num_candidates=N, nfe=2, lesion_skip_readers=["reader_2", "reader_3", "reader_4"])
    result = segment_lesion(Model(), pre, volume, SPACING, click, config, asked, 0,  # type: ignore[arg-type]
                            GrowthSettings(scales=(1.0,), max_half_extent_mm=16.0, presence=presence))
    assert seen == sampled_with
    assert _drawn(result) == [script == "lesion"] * N
    assert result.reader_labels == labels  # what the app names each candidate by
    if len(seen) == 2:
        assert samplers[0].samples == N  # the vote: the clicked slice of each first draw, nothing more


def test_a_click_in_the_air_outside_the_body_samples_nothing(monkeypatch):
    """With the vote, on a CT in HU, a click in the air outside the body is "no lesion" before any sampling."""
    samplers = []

    class Recording(ScriptedSampler):
        def __init__(self, *args, **kwargs) -> None:
            samplers.append(self)
            super().__init__(*args, **kwargs)

    class Model:  # what the answer reads of the pipeline: the reader count
        num_readers = 4

    monkeypatch.setattr(inference_module, "StreamSampler", Recording)
    pre = Preprocessing((32, 32), (1.0, 1.0), IntensityConvention.create("window", a_min=-1000, a_max=400, b_min=-1, b_max=1), "image")
    volume = np.full((40, 48, 48), -1000.0, dtype=np.float32)
    volume[:, 12:36, 12:36] = 40.0  # the body
    config = SamplingConfig(num_candidates=N, nfe=2)
    settings = GrowthSettings(scales=(1.0,), max_half_extent_mm=16.0)
    air = plan_roi(volume.shape, SPACING, pre, foreground=[[3, 3, 10]])
    result = segment_lesion(Model(), pre, volume, SPACING, air, config, None, 0, settings)  # type: ignore[arg-type]
    assert samplers == [] and result.presence.outside_body and not result.presence.lesion and not result.masks.any()
    assert result.masks.shape[:2] == (N, len(air.box.slices)) and result.reader_labels == CYCLED
    assert result.presence.to_dict()["outside_body"] and result.stopped["below"] == "click in the air outside the body"
    # the same click without the vote (the model's own answer, for research) is sampled
    monkeypatch.setattr(ScriptedSampler, "script", {})
    segment_lesion(Model(), pre, volume, SPACING, air, config, None, 0, replace(settings, presence="as_sampled"))  # type: ignore[arg-type]
    assert samplers and samplers[0].samples > 0


def test_a_candidate_many_times_the_others_is_redrawn(monkeypatch):
    """``GrowthSettings.max_volume_ratio``: slot 7 first draws a lesion 6 times the others' (run into a vessel); with the
    ratio 3 it is redrawn (its next stream, 15, draws the lesion); with 0 it stays; a second oversized draw is kept
    once the slot's draws are spent."""
    script = {j: "lesion" for j in range(7)}
    script.update({7: "big", 15: "lesion"})
    redrawn = _run(monkeypatch, script, max_volume_ratio=3.0)
    assert redrawn.streams[7] == 15 and redrawn.presence.redrawn == (7,)
    sizes = redrawn.masks.reshape(N, -1).sum(axis=1)
    assert sizes.max() == sizes.min() > 0
    kept = _run(monkeypatch, script, max_volume_ratio=0.0)
    assert kept.streams[7] == 7 and kept.presence.redrawn == ()
    always_big = _run(monkeypatch, {**script, 15: "big", 23: "big", 31: "big"}, max_volume_ratio=3.0)
    assert always_big.presence.lesion and _drawn(always_big) == [True] * N  # kept as drawn last: never emptied
    with pytest.raises(ValueError, match="max_volume_ratio"):
        GrowthSettings(max_volume_ratio=0.5)


def test_a_redrawn_candidate_is_followed_from_the_first_slices_not_sampled_where_its_old_draw_ran(monkeypatch):
    """Slot 6 first draws a tube (it runs to the growth limit, slices 2-18) and is redrawn (stream 14: the lesion on
    slices 8-12): its new draw is sampled on the first slices (7-13) and followed outwards from there while it runs
    on (here it ends inside them), not on every slice the tube reached. The answer is the same either way."""
    samplers = []

    class Recording(ScriptedSampler):
        def __init__(self, *args, **kwargs) -> None:
            samplers.append(self)
            super().__init__(*args, **kwargs)

    script = {j: "lesion" for j in range(N)} | {6: "tube", 14: "lesion"}
    monkeypatch.setattr(ScriptedSampler, "script", script)
    monkeypatch.setattr(inference_module, "StreamSampler", Recording)
    pre = Preprocessing((32, 32), (1.0, 1.0), IntensityConvention.create("window", a_min=0, a_max=100, b_min=-1, b_max=1), "image")
    volume = np.zeros((40, 48, 48), dtype=np.float32)
    click = plan_roi(volume.shape, SPACING, pre, foreground=[[24, 24, 10]])
    settings = GrowthSettings(scales=(1.0,), max_half_extent_mm=16.0, step_mm=2.0)
    result = segment_lesion(None, pre, volume, SPACING, click, SamplingConfig(num_candidates=N, nfe=2), None, 0, settings)  # type: ignore[arg-type]
    assert result.streams[6] == 14 and _drawn(result) == [True] * N
    tube = sorted(k for k, j in samplers[0].pairs if j == 6)
    assert tube == list(range(2, 19))  # the first slices (7-13) and one slice a round to the limit on each side
    new = sorted(k for k, j in samplers[0].pairs if j == 14)
    assert new == list(range(7, 14))  # the first slices: the lesion (8-12) ends inside them
    assert sorted(k for k, j in samplers[0].pairs if j == 0) == list(range(7, 14))  # the same for the others
    assert result.plan.slices == tuple(range(7, 14))  # the answer spans what the final draws reached, not the tube
    k = list(result.plan.slices)
    assert result.masks[6, [k.index(s) for s in LESION_SLICES]].all(axis=0).any() and result.masks[6].any(axis=(1, 2)).sum() == 5
