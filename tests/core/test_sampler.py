"""The sampler: schedule choice, the oracle predictor, reproducibility, guidance and batching."""

from __future__ import annotations

import pytest
import torch

from ssb_core.bridge import Bridge, BridgeConfig
from ssb_core.candidates import SamplingConfig, generate_candidates, lesion_reader_labels, reader_labels_for
from ssb_core.guidance import guided_eps
from ssb_core.sampler import BridgeSampler, run_bridge
from ssb_core.seeding import candidate_seed, image_key


@pytest.fixture(scope="module")
def bridge() -> Bridge:
    return Bridge(BridgeConfig())


def _mask_and_image(seed=0, shape=(2, 1, 16, 16)):
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(shape, generator=g) > 0.6).float()
    image = mask * 2.0 + 0.3 * torch.randn(shape, generator=g)
    return mask, image


def _oracle(bridge, x0_true):
    """An eps predictor that knows the true mask: eps = (x_n - x0) / sigma_n."""

    def eps_model(x_n, image, t, labels):
        sigma = bridge.std_fwd[t.long().cpu()].to(x_n.dtype).reshape(-1, *([1] * (x_n.ndim - 1)))
        reps = x_n.shape[0] // x0_true.shape[0]
        return (x_n - x0_true.repeat(reps, *([1] * (x0_true.ndim - 1)))) / sigma

    return eps_model


def test_set_timesteps_spreads_nfe_steps_from_T(bridge):
    s = BridgeSampler(bridge)
    for nfe in (1, 5, 10, 50, 1000):
        s.set_timesteps(nfe)
        assert s.nfe == nfe
        assert s.timesteps[0] == bridge.num_timesteps and s.timesteps[-1] > 0
        assert torch.all(s.timesteps[:-1] > s.timesteps[1:])
    s.set_timesteps(1)
    assert s.prev_timestep(1000) == 0


@pytest.mark.parametrize("nfe", [0, -3, 1001])
def test_nfe_out_of_range(bridge, nfe):
    with pytest.raises(ValueError, match=r"nfe must be in \[1, 1000\]"):
        BridgeSampler(bridge).set_timesteps(nfe)


def test_nfe_must_be_int(bridge):
    with pytest.raises(TypeError, match="nfe must be an int"):
        BridgeSampler(bridge).set_timesteps(5.0)


@pytest.mark.parametrize("stochastic", [False, True])
@pytest.mark.parametrize("nfe", [1, 5, 10, 50])
def test_oracle_predictor_recovers_the_true_mask_from_the_image(bridge, nfe, stochastic):
    mask, image = _mask_and_image()
    x0 = mask * 2 - 1
    sampler = BridgeSampler(bridge, stochastic=stochastic)
    sampler.set_timesteps(nfe)
    oracle = _oracle(bridge, x0)
    predict = lambda x, n: oracle(x, image, torch.full((x.shape[0],), float(n)), None)  # noqa: E731
    out = run_bridge(predict, image, sampler)
    assert torch.allclose(out, x0, atol=1e-5)


def test_oracle_through_generate_candidates(bridge):
    mask, image = _mask_and_image()
    cfg = SamplingConfig(num_candidates=3, nfe=5, guidance_weight=1.5)
    probs = generate_candidates(_oracle(bridge, mask * 2 - 1), bridge, image, cfg, num_readers=4, seed=3)
    assert probs.shape == (2, 3, 1, 16, 16)
    assert torch.allclose(probs, mask.unsqueeze(1).expand_as(probs), atol=1e-5)


def test_guidance_weight_zero_equals_the_conditional_prediction(random_tiny_network):
    net = random_tiny_network
    mask, image = _mask_and_image(shape=(3, 1, 8, 8))
    labels = torch.tensor([0, 2, 3])
    x = torch.randn_like(image)
    with torch.no_grad():
        cond = net(x, image, torch.full((3,), 500.0), labels)
        got = guided_eps(net, image, labels, null_label=4, guidance_weight=0.0)(x, 500)
        uncond = net(x, image, torch.full((3,), 500.0), torch.full((3,), 4))
        guided = guided_eps(net, image, labels, null_label=4, guidance_weight=2.0)(x, 500)
    assert torch.allclose(got, cond)
    assert not torch.allclose(cond, uncond)
    assert torch.allclose(guided, 3.0 * cond - 2.0 * uncond, atol=1e-5)


def test_per_row_guidance_guides_only_the_rows_that_ask_for_it(random_tiny_network):
    net = random_tiny_network
    _, image = _mask_and_image(shape=(3, 1, 8, 8))
    labels = torch.tensor([0, 2, 3])
    x = torch.randn_like(image)
    rows = []

    def counted(x_n, img, t, lab):
        rows.append(x_n.shape[0])
        return net(x_n, img, t, lab)

    with torch.no_grad():
        cond = net(x, image, torch.full((3,), 500.0), labels)
        uncond = net(x, image, torch.full((3,), 500.0), torch.full((3,), 4))
        mixed = guided_eps(counted, image, labels, null_label=4, guidance_weight=torch.tensor([0.0, 2.0, 0.5]))(x, 500)
        same = guided_eps(net, image, labels, null_label=4, guidance_weight=torch.tensor([2.0, 2.0, 2.0]))(x, 500)
    assert rows == [3 + 2]  # one call: every row, then the two guided rows again with the null label
    assert torch.allclose(mixed[0], cond[0], atol=1e-6)  # not guided: the conditional prediction
    assert torch.allclose(mixed[1], 3.0 * cond[1] - 2.0 * uncond[1], atol=1e-5)
    assert torch.allclose(mixed[2], 1.5 * cond[2] - 0.5 * uncond[2], atol=1e-5)
    assert torch.allclose(same, 3.0 * cond - 2.0 * uncond, atol=1e-5)
    with pytest.raises(ValueError, match="per-row guidance"):
        guided_eps(net, image, labels, null_label=4, guidance_weight=torch.tensor([1.0, -1.0, 0.0]))


def test_a_reader_with_a_strength_of_their_own_gets_it_among_the_others(bridge, random_tiny_network):
    """Candidates cycling through the readers, reader 2 served with guidance 1.5: candidate k of reader 2 is candidate
    k of reader 2's style alone at that weight, the others are as without it."""
    net = random_tiny_network
    _, image = _mask_and_image(shape=(2, 1, 8, 8))
    cfg = SamplingConfig(num_candidates=4, nfe=3)
    mixed = generate_candidates(net, bridge, image, cfg, num_readers=4, seed=5, label_guidance={2: 1.5})
    plain = generate_candidates(net, bridge, image, cfg, num_readers=4, seed=5)
    alone = generate_candidates(net, bridge, image, cfg.replace(guidance_weight=1.5), num_readers=4, readers=2, seed=5)
    assert torch.allclose(mixed[:, 2], alone[:, 2], atol=1e-5)
    assert not torch.allclose(mixed[:, 2], plain[:, 2], atol=1e-3)
    assert torch.allclose(mixed[:, [0, 1, 3]], plain[:, [0, 1, 3]], atol=1e-5)


def test_guidance_pair_and_candidates_run_as_one_batched_call(bridge):
    calls = []

    def counting_model(x_n, image, t, labels):
        calls.append((x_n.shape[0], sorted(set(labels.tolist()))))
        return torch.zeros_like(x_n)

    _, image = _mask_and_image(shape=(2, 1, 8, 8))
    generate_candidates(counting_model, bridge, image, SamplingConfig(num_candidates=4, nfe=5, guidance_weight=1.0), num_readers=4)
    assert len(calls) == 5  # one call per step
    assert all(rows == 2 * 4 * 2 for rows, _ in calls)  # B * N rows, doubled for the guidance pair
    assert calls[0][1] == [0, 1, 2, 3, 4]  # readers cycle; 4 = null


def test_seeded_sampling_is_reproducible_and_batch_independent(bridge, random_tiny_network):
    net = random_tiny_network
    _, image = _mask_and_image(shape=(2, 1, 8, 8))
    cfg = SamplingConfig(num_candidates=3, nfe=4, start_noise=0.2)
    a = generate_candidates(net, bridge, image, cfg, num_readers=4, seed=11)
    b = generate_candidates(net, bridge, image, cfg, num_readers=4, seed=11)
    c = generate_candidates(net, bridge, image, cfg, num_readers=4, seed=12)
    alone = generate_candidates(net, bridge, image[1:], cfg, num_readers=4, seed=11)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert torch.allclose(a[1:], alone, atol=1e-5)
    assert not torch.allclose(a[:, 0], a[:, 1])  # candidates differ
    subset = generate_candidates(net, bridge, image, cfg, num_readers=4, seed=11, candidates=[2, 0])
    assert torch.allclose(subset, a[:, [2, 0]], atol=1e-5)  # a subset of the candidates: each the same as in the set
    with pytest.raises(ValueError, match="candidates must be indices"):
        generate_candidates(net, bridge, image, cfg, num_readers=4, seed=11, candidates=[3])


def test_progress_callback_reports_every_step(bridge):
    seen = []
    _, image = _mask_and_image(shape=(1, 1, 8, 8))
    cfg = SamplingConfig(num_candidates=2, nfe=7)
    generate_candidates(lambda x, i, t, l: torch.zeros_like(x), bridge, image, cfg, num_readers=4, progress=lambda d, n: seen.append((d, n)))
    assert seen == [(i, 7) for i in range(1, 8)]


def test_reader_labels():
    assert reader_labels_for(None, 6, 4) == [0, 1, 2, 3, 0, 1]
    assert reader_labels_for(2, 3, 4) == [2, 2, 2]
    assert reader_labels_for([4, 0], 2, 4) == [4, 0]
    with pytest.raises(ValueError, match="unknown reader"):
        reader_labels_for(7, 2, 4)
    with pytest.raises(ValueError, match="one reader label per candidate"):
        reader_labels_for([0], 2, 4)


def test_lesion_reader_labels_skip_the_named_readers_and_round_trip(caplog):
    readers = ["reader_1", "reader_2", "reader_3", "reader_4"]
    assert lesion_reader_labels(SamplingConfig(num_candidates=5), readers) is None  # nothing skipped: every reader
    skip = SamplingConfig(num_candidates=5, lesion_skip_readers=["reader_2", "reader_3", "reader_4"])
    assert skip.lesion_skip_readers == ("reader_2", "reader_3", "reader_4")
    assert lesion_reader_labels(skip, readers) == [0, 0, 0, 0, 0]
    assert lesion_reader_labels(skip, [*readers, "alice"]) == [0, 4, 0, 4, 0]  # a reader added by fine-tuning takes turns
    assert SamplingConfig.from_dict(skip.to_dict()) == skip and skip.to_dict()["lesion_skip_readers"] == list(skip.lesion_skip_readers)
    assert SamplingConfig.from_dict({"nfe": 3}).lesion_skip_readers == ()  # a checkpoint written before the field
    assert lesion_reader_labels(SamplingConfig(num_candidates=2, lesion_skip_readers=["reader_9", "reader_1"]), readers) == [1, 2]
    assert "reader_9" in caplog.text  # a typo is reported, not silently taken for a reader
    caplog.clear()
    assert lesion_reader_labels(SamplingConfig(num_candidates=2, lesion_skip_readers=readers), readers) is None
    assert "leave none" in caplog.text
    with pytest.raises(ValueError, match="list of reader names"):
        SamplingConfig(lesion_skip_readers="reader_2")


def test_bad_inputs(bridge):
    zero = lambda x, i, t, l: torch.zeros_like(x)  # noqa: E731
    img = torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match="NaN"):
        generate_candidates(zero, bridge, img.clone().fill_(float("nan")), SamplingConfig(), num_readers=4)
    with pytest.raises(ValueError, match="float tensor"):
        generate_candidates(zero, bridge, torch.zeros(8, 8), SamplingConfig(), num_readers=4)
    with pytest.raises(ValueError, match="nfe must be in"):
        generate_candidates(zero, bridge, img, SamplingConfig(nfe=2000), num_readers=4)
    with pytest.raises(ValueError, match="num_candidates"):
        SamplingConfig(num_candidates=0)
    with pytest.raises(ValueError, match="guidance_weight"):
        SamplingConfig(guidance_weight=-1)
    with pytest.raises(ValueError, match="guidance_weight"):
        guided_eps(zero, img, torch.zeros(1, dtype=torch.long), 4, float("nan"))


def test_two_seeds_share_no_candidate(bridge, random_tiny_network):
    # every candidate imitates the same reader, so only the noise stream tells them apart: with seeding
    # `seed + k`, seed 1's candidate k was seed 0's candidate k + 1
    _, image = _mask_and_image(shape=(2, 1, 8, 8))
    cfg = SamplingConfig(num_candidates=4, nfe=3, start_noise=0.2)
    sets = [generate_candidates(random_tiny_network, bridge, image, cfg, num_readers=4, readers=0, seed=s) for s in (0, 1)]
    for i in range(4):
        for j in range(4):
            assert not torch.allclose(sets[0][:, i], sets[1][:, j], atol=1e-4), (i, j)
    assert candidate_seed(0, 1) != candidate_seed(1, 0)
    with pytest.raises(ValueError, match=">= 0"):
        candidate_seed(-1, 0)


def test_per_image_noise_is_independent_across_images_and_batches(bridge, random_tiny_network):
    # the evaluation's images are independent: each draws its own noise, keyed by its content, so a dataset's
    # mean is not carried by N shared noise fields; a volume's slices (the default) share candidate k's noise
    _, image = _mask_and_image(shape=(1, 1, 8, 8))
    other = image.flip(-1) + 0.5
    batch = torch.cat([image, other, image])
    cfg = SamplingConfig(num_candidates=3, nfe=3, start_noise=0.5)
    run = lambda x, **kw: generate_candidates(random_tiny_network, bridge, x, cfg, num_readers=4, readers=0, seed=4, **kw)  # noqa: E731
    per_image = run(batch, per_image_noise=True)
    assert torch.allclose(per_image[0], per_image[2], atol=1e-6)  # the same image, the same candidates
    assert torch.allclose(per_image[1], run(other, per_image_noise=True)[0], atol=1e-5)  # whatever the batch
    shared = run(torch.cat([image, image.flip(-1) + 0.5]))
    assert torch.allclose(shared[0], run(image)[0], atol=1e-5)
    assert not torch.allclose(per_image[0], shared[0], atol=1e-4)  # the two keys give different noise
    assert candidate_seed(4, 0, key=image_key(image)) != candidate_seed(4, 0)
