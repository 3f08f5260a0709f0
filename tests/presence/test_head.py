"""The presence head: learns from the window whether each reader slot marks the lesion; stored in the checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssb_core.bridge import Bridge, BridgeConfig
from ssb_core.candidates import SamplingConfig
from ssb_core.checkpoint import CheckpointError, SSBCheckpoint, add_readers, load_checkpoint, save_checkpoint
from ssb_core.evaluation.runner import evaluate_sampler_conventions
from ssb_core.evaluation.samplers import MarkedCandidates, ssb_sample_fn
from ssb_core.presence import PresenceConfig, PresenceHead, PresenceTraining, presence_report, train_presence_head
from tests.training._helpers import lidc64_slices


def _windows(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows with a bright disc of random radius at the centre; slot k marks it when the radius exceeds 3 + 2k
    (bigger lesions: more readers), as lidc128's slots are filled in order."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:32, :32] - 15.5
    radius = rng.uniform(1, 12, count)
    images = (np.hypot(yy, xx)[None] < radius[:, None, None]).astype(np.float32) + rng.normal(0, 0.3, (count, 32, 32))
    present = radius[:, None] > 3 + 2 * np.arange(4)[None]
    return images[:, None].astype(np.float32), present


def test_the_head_learns_presence_better_than_the_prior():
    torch.set_num_threads(1)
    images, present = _windows(512, 0)
    head = train_presence_head(images, present, settings=PresenceTraining(epochs=6, batch_size=32, lr=3e-3))
    assert head.config.window == (32, 32) and head.config.num_readers == 4 and not head.training
    val_images, val_present = _windows(256, 1)
    report = presence_report(head, val_images, val_present, present.mean(axis=0))
    assert report["cross_entropy"] < 0.6 * report["prior_cross_entropy"], report
    assert len(report["reliability"]) == 4 and all(sum(row[0] for row in rows) == 256 for rows in report["reliability"])
    probs = head.probabilities(torch.from_numpy(val_images)).numpy()
    assert probs.shape == (256, 4) and ((probs >= 0) & (probs <= 1)).all()
    assert (np.diff(probs.mean(axis=0)) < 0).all()  # later slots mark fewer lesions, as in the data


def test_training_is_reproducible():
    torch.set_num_threads(1)
    images, present = _windows(64, 2)
    settings = PresenceTraining(epochs=1, batch_size=16, seed=5)
    a, b = (train_presence_head(images, present, settings=settings) for _ in range(2))
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_bad_shapes_and_settings_are_refused():
    head = PresenceHead(PresenceConfig(num_readers=4, window=(32, 32)))
    with pytest.raises(ValueError, match=r"expected windows \(B, 1, 32, 32\)"):
        head(torch.zeros(2, 1, 16, 16))
    with pytest.raises(ValueError, match="window must be"):
        PresenceConfig(window=(8, 8))
    with pytest.raises(ValueError, match="same M"):
        train_presence_head(np.zeros((4, 1, 32, 32), np.float32), np.zeros((3, 4), bool))
    with pytest.raises(ValueError, match="epochs and batch_size"):
        PresenceTraining(epochs=0)


def _tiny_checkpoint(net) -> SSBCheckpoint:
    return SSBCheckpoint(network=net.config, bridge=BridgeConfig(num_timesteps=100), sampling=SamplingConfig(num_candidates=8, nfe=2),
                         state_dict=net.state_dict(), readers=["r1", "r2", "r3", "r4"], data={"roi_size": [32, 32]})


def test_stored_in_the_checkpoint_and_rebuilt(tmp_path, random_tiny_network):
    ckpt = _tiny_checkpoint(random_tiny_network)
    assert ckpt.build_presence() is None and "presence" not in ckpt.to_dict()
    head = PresenceHead(PresenceConfig(num_readers=4, window=(32, 32)), metrics={"note": "test"})
    ckpt.presence = head.to_dict()
    save_checkpoint(ckpt, tmp_path / "with_head.pt")
    again = load_checkpoint(tmp_path / "with_head.pt")
    rebuilt = again.build_presence()
    assert rebuilt is not None and rebuilt.metrics == {"note": "test"}
    x = torch.randn(3, 1, 32, 32)
    assert torch.allclose(rebuilt.probabilities(x), head.probabilities(x))
    assert not add_readers(again, ["new_reader"]).presence  # a head for other slots is not carried over
    again.presence = PresenceHead(PresenceConfig(num_readers=5, window=(32, 32))).to_dict()
    with pytest.raises(CheckpointError, match="reader slots"):
        again.build_presence()


class _Certain(PresenceHead):
    """A head that says slots 1 and 3 always mark the lesion, slots 2 and 4 never."""

    def forward(self, images):
        return torch.tensor([[30.0, -30.0, 30.0, -30.0]]).expand(len(images), 4)


def test_the_evaluation_scores_outlines_without_absent_readers_and_kept_candidates_with_them(random_tiny_network):
    """Absent readers excluded: the outlines are scored (presence does not enter); absent readers as empty masks:
    the candidates the head keeps. A head that empties slots 2 and 4 changes only the second."""
    data = lidc64_slices("test", 3)
    bridge = Bridge(BridgeConfig(num_timesteps=100))
    sampling = SamplingConfig(num_candidates=8, nfe=2)
    head = _Certain(PresenceConfig(num_readers=4, window=tuple(np.asarray(data[0]["image"]).shape[-2:])))
    plain = ssb_sample_fn(random_tiny_network, bridge, sampling, num_readers=4)
    marked = ssb_sample_fn(random_tiny_network, bridge, sampling, num_readers=4, presence=head)
    out = marked(torch.stack([torch.as_tensor(np.asarray(data[i]["image"])) for i in range(3)]), 8, 0)
    assert isinstance(out, MarkedCandidates) and out.marked.tolist() == [[True, False] * 4] * 3
    assert torch.equal(out.kept()[:, 1::2], torch.zeros_like(out.kept()[:, 1::2]))
    kw = dict(name="ssb", nfe=2, num_candidates=8, seed=0)
    a_excl, a_empty = evaluate_sampler_conventions(plain, data, **kw)
    b_excl, b_empty = evaluate_sampler_conventions(marked, data, **kw)
    assert b_excl.values("ged") == pytest.approx(a_excl.values("ged"))
    assert b_empty.values("ged") != pytest.approx(a_empty.values("ged"))
    assert b_empty.summary["marked"] == pytest.approx(0.5) and "marked" not in a_empty.summary
    wrong = lambda x, n, seed: MarkedCandidates(torch.zeros(x.shape[0], n, 1, *x.shape[-2:]), np.ones((x.shape[0], n + 1), bool))
    with pytest.raises(ValueError, match=r"marked must be \(B, N\)"):
        evaluate_sampler_conventions(wrong, data, **kw)
