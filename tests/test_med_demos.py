"""The medical-image demos: the techniques' maths on small hand-made cases, the claim rule, and a
smoke run of every variant on a short configuration (2 seeds, a few steps)."""
import dataclasses
import json
import math

import pytest
import torch

from demos import brain_mri, med_gan, modalities
from demos.med_training import (MS_EPS, MedRun, Setup, grow_stage, mode_seeking_ratio, shift_flip, train,
                                 with_label_maps)
from engine.losses import class_cross_entropy
from engine.image_nets import Discriminator, Generator, SelfAttention, downsample_real, pixel_norm
from engine.jsonio import jsonable

TINY = med_gan.Config(steps=6, eval_every=3, eval_samples=64, batch=8)


def test_pixel_norm_gives_unit_mean_square_per_pixel_and_seed():
    h = torch.randn(3, 2 * 5, 4, 4) * 7
    y = pixel_norm(h, 2).view(3, 2, 5, 4, 4)
    assert torch.allclose(y.pow(2).mean(2), torch.ones(3, 2, 4, 4), atol=1e-5)


def test_equalised_learning_rate_scales_unit_weights_by_he_constant():
    g = Generator([0], z_dim=8, channels=1, norm="none", width=4, eqlr=True)
    assert abs(g.fc.std().item() - 1) < 0.1  # stored ~ N(0, 1)
    assert g.fc_c == pytest.approx(math.sqrt(2 / 8))
    assert g.up_c[0] == pytest.approx(math.sqrt(2 / (16 * 4))) and g.up_c[-1] == pytest.approx(math.sqrt(1 / (4 * 4)))
    d = Discriminator([0], channels=3, width=4, eqlr=True)
    assert d.conv_c[0] == pytest.approx(math.sqrt(2 / (3 * 16)))


def test_seeds_are_independent_networks():
    """Seed 1 alone and seed 1 beside seed 0 start from the same weights and give the same output."""
    z = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(0))
    both = Generator([0, 1], 16, 3, "none", 4)(z)
    alone = Generator([1], 16, 3, "none", 4)(z[1:])
    assert torch.allclose(both[:, 3:], alone, atol=1e-6)


def test_self_attention_with_gamma_zero_is_the_identity():
    att = SelfAttention([0, 1], 16, salt=3)
    x = torch.randn(4, 2 * 16, 5, 5)
    assert att.cb == 2 and torch.equal(att.gamma, torch.zeros(2))
    assert torch.equal(att(x), x)


def test_self_attention_is_the_papers_softmax_mixture_on_a_two_pixel_map():
    """C = 1 (so C' = 1), N = 2 positions x = (1, 2), W_f = 1, W_g = 2, W_h = 3, W_v = 0.5, gamma = 2:
    s_ij = f(x_i) g(x_j) = 2 x_i x_j, beta_{j,i} = softmax_i s_ij, o_j = 0.5 sum_i beta_{j,i} 3 x_i,
    y_j = 2 o_j + x_j (eqs. 1-3)."""
    att = SelfAttention([0], 1, salt=3)
    with torch.no_grad():
        for w, val in ((att.w_f, 1.0), (att.w_g, 2.0), (att.w_h, 3.0), (att.w_v, 0.5), (att.gamma, 2.0)):
            w.fill_(val)
    x = torch.tensor([1.0, 2.0]).view(1, 1, 1, 2)
    y = att(x).flatten()
    for j, xj in enumerate((1.0, 2.0)):
        s = [2 * xi * xj for xi in (1.0, 2.0)]
        beta = [math.exp(v) / sum(math.exp(u) for u in s) for v in s]
        o = 0.5 * sum(b * 3 * xi for b, xi in zip(beta, (1.0, 2.0)))
        assert y[j].item() == pytest.approx(2 * o + xj, rel=1e-6)
    assert y[0].item() == pytest.approx(1 + 3 * (math.exp(2) + 2 * math.exp(4)) / (math.exp(2) + math.exp(4)), rel=1e-6)


def test_self_attention_keeps_seeds_independent():
    """Seed 0's output does not change when seed 1's weights, gamma or input change (no mixing
    across channel groups), and chunking the batch (to bound the N x N maps) changes nothing."""
    att = SelfAttention([0, 1], 8, salt=3, chunk=2 * 2 * 16 * 16)  # chunks of 2 images
    with torch.no_grad():
        att.gamma.fill_(0.7)
    x = torch.randn(5, 2 * 8, 4, 4)
    y = att(x)
    x2 = x.clone()
    x2[:, 8:] = torch.randn(5, 8, 4, 4) * 10
    with torch.no_grad():
        for w in (att.w_f, att.w_g, att.w_h):
            w[w.shape[0] // 2:] += 1.0
        att.w_v[8:] -= 1.0
        att.gamma[1] = -3.0
    y2 = att(x2)
    assert torch.allclose(y2[:, :8], y[:, :8], atol=1e-6)
    assert not torch.allclose(y2[:, 8:], y[:, 8:])
    whole = SelfAttention([0, 1], 8, salt=3)
    whole.load_state_dict(att.state_dict())
    assert torch.allclose(whole(x2), y2, atol=1e-6)


@pytest.mark.parametrize("progressive", [False, True])
def test_attention_networks_keep_seeds_independent(progressive):
    """G and D with attention: seed 1 alone and beside seed 0 give the same output (at 16 x 16 too)."""
    z = torch.randn(2, 3, 16, generator=torch.Generator().manual_seed(0))
    kw = dict(attention=not progressive, progressive=progressive)
    gb, ga = Generator([0, 1], 16, 3, "none", 8, **kw), Generator([1], 16, 3, "none", 8, **kw)
    res = 16 if progressive else 32
    with torch.no_grad():
        for g in (gb, ga):
            if g.attn is not None:
                g.attn.gamma.fill_(0.5)
    both, alone = gb(z, res, 0.5 if progressive else 1.0), ga(z[1:], res, 0.5 if progressive else 1.0)
    assert torch.allclose(both[:, 3:], alone, atol=1e-6)
    db, da = Discriminator([0, 1], 3, 8, **kw), Discriminator([1], 3, 8, **kw)
    x = torch.randn(3, 6, res, res)
    assert torch.allclose(db(x, res, 0.5 if progressive else 1.0)[1], da(x[:, 3:], res, 0.5 if progressive else 1.0)[0],
                          atol=1e-6)


def test_growing_schedule_is_five_equal_phases():
    assert [grow_stage(k, 600) for k in (1, 120)] == [(8, 1.0), (8, 1.0)]
    assert grow_stage(121, 600) == (16, 0.0) and grow_stage(181, 600) == (16, 0.5)
    assert grow_stage(240, 600)[0] == 16 and grow_stage(240, 600)[1] == pytest.approx(119 / 120)
    assert [grow_stage(k, 600) for k in (241, 360)] == [(16, 1.0), (16, 1.0)]
    assert grow_stage(361, 600) == (32, 0.0) and grow_stage(421, 600) == (32, 0.5)
    assert [grow_stage(k, 600) for k in (481, 600)] == [(32, 1.0), (32, 1.0)]
    assert [grow_stage(k, 2) for k in (1, 2)] == [(8, 1.0), (16, 1.0)]  # a 2-step run ends at 16 x 16
    with pytest.raises(ValueError, match="step must be"):
        grow_stage(0, 600)


def test_real_images_are_average_pooled_and_blended_during_a_fade():
    x = torch.arange(2 * 32 * 32, dtype=torch.float32).view(1, 2, 32, 32)
    assert torch.equal(downsample_real(x, 32), x)
    x16, x8 = downsample_real(x, 16), downsample_real(x, 8)
    assert torch.allclose(x16, torch.nn.functional.avg_pool2d(x, 2))
    assert torch.allclose(x8, torch.nn.functional.avg_pool2d(x, 4))
    assert x8[0, 0, 0, 0].item() == pytest.approx(sum(32 * r + c for r in range(4) for c in range(4)) / 16)
    old = torch.nn.functional.interpolate(x8, scale_factor=2, mode="nearest")
    assert torch.allclose(downsample_real(x, 16, 0.0), old)
    assert torch.allclose(downsample_real(x, 16, 0.25), 0.75 * old + 0.25 * x16)


def test_growing_fade_is_the_old_path_at_alpha_0_and_the_new_one_at_1():
    """G at (r, 0) is the r/2 image upsampled; at (r, 1) the r image. D at (r, 0) judges the
    average-pooled image with the r/2 fromRGB; at (r, 1) it is the grown D. At (32, 1) both are the
    networks without growing (same weights, same output)."""
    z = torch.randn(1, 4, 16, generator=torch.Generator().manual_seed(0))
    g = Generator([0], 16, 1, "none", 8, progressive=True)
    for r in (16, 32):
        up = torch.nn.functional.interpolate(g(z, r // 2), scale_factor=2, mode="nearest")
        assert torch.allclose(g(z, r, 0.0), up, atol=1e-6)
        mid = g(z, r, 0.3)
        assert torch.allclose(mid, 0.7 * up + 0.3 * g(z, r, 1.0), atol=1e-6)
    assert g(z, 8).shape == (4, 1, 8, 8)
    assert torch.equal(g(z, 32), Generator([0], 16, 1, "none", 8)(z))
    d = Discriminator([0], 1, 8, progressive=True)
    x = torch.randn(4, 1, 32, 32)
    for r in (16, 32):
        xr = torch.nn.functional.avg_pool2d(x, 32 // r)
        assert torch.allclose(d(xr, r, 0.0), d(torch.nn.functional.avg_pool2d(xr, 2), r // 2), atol=1e-6)
        assert not torch.allclose(d(xr, r, 0.5), d(xr, r, 0.0))
    assert torch.equal(d(x, 32), Discriminator([0], 1, 8)(x))
    with pytest.raises(ValueError, match="progressive=True"):
        Generator([0], 16, 1, "none", 8)(z, 16)
    with pytest.raises(ValueError, match="got 32"):
        d(x, 16)


def test_new_layers_refuse_switches_they_do_not_implement():
    with pytest.raises(ValueError, match="spectral"):
        Discriminator([0], 1, 8, spectral=True, attention=True)
    with pytest.raises(ValueError, match="equalised"):
        Generator([0], 16, 1, "none", 8, eqlr=True, progressive=True)


def test_growing_run_trains_at_the_stage_resolution_and_scores_32_pixel_images():
    cfg = med_gan.Config(steps=10, eval_samples=64, batch=8)
    run = MedRun(Setup(progressive=True), cfg, "brain", [0, 1], torch.device("cpu"))
    assert run.real(3).shape == (3, 2, 8, 8) and run.sample(5).shape == (2, 5, 1, 32, 32)
    seen = []
    for _ in range(10):
        run.step()
        seen.append((run.res, round(run.alpha, 6)))
    assert seen == [(8, 1.0), (8, 1.0), (16, 0.0), (16, 0.5), (16, 1.0), (16, 1.0), (32, 0.0), (32, 0.5),
                    (32, 1.0), (32, 1.0)]
    assert run.sample(5).shape == (2, 5, 1, 32, 32)


def test_r1_is_half_gamma_times_the_squared_input_gradient_on_reals():
    """With a linear D (D(x) = <w, x> + b) the gradient is w for every x, so R1 = gamma/2 ||w||^2."""
    run = MedRun(Setup(r1=10.0), TINY, "brain", [0], torch.device("cpu"))
    lin = torch.nn.Linear(32 * 32, 1)

    class LinearD(torch.nn.Module):
        def forward(self, x):
            return lin(x.flatten(1)).T  # (S=1, B)

    run.D = LinearD()
    real = run.real(4).requires_grad_(True)
    g, = torch.autograd.grad(run.d(real).sum(), real, create_graph=True)
    penalty = 10.0 / 2 * g.pow(2).view(4, 1, -1).sum(2).mean(0)
    assert torch.allclose(penalty, 5 * lin.weight.pow(2).sum())


def test_shift_flip_moves_pixels_and_keeps_their_values():
    x = torch.arange(2 * 32 * 32, dtype=torch.float32).view(1, 2, 32, 32)
    y = shift_flip(x, [torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)], shift=4)
    assert y.shape == x.shape
    kept = y[y != 0]
    assert set(kept.tolist()) <= set(x.flatten().tolist())  # a shift and a flip: no new values, zero fill


def test_ada_probability_rises_when_d_is_overconfident_on_reals():
    """r_t = E sign D(x_real) > 0.6 four steps running: p goes up by 4 * batch / ada_images."""
    cfg = med_gan.Config(batch=8, ada_images=320)
    run = MedRun(Setup(ada=True), cfg, "brain", [0], torch.device("cpu"))
    with torch.no_grad():
        run.D.fc_b.fill_(100.0)  # D calls everything real: r_t = 1
    for _ in range(4):
        run.step()
    assert run.p.item() == pytest.approx(4 * 8 / 320)


def test_ema_follows_g_with_decay_beta():
    run = MedRun(Setup(ema=0.9), TINY, "brain", [0], torch.device("cpu"))
    before = [p.detach().clone() for p in run.G_ema.parameters()]
    run.step()
    for pe, p0, p in zip(run.G_ema.parameters(), before, run.G.parameters()):
        assert torch.allclose(pe, 0.9 * p0 + 0.1 * p.detach(), atol=1e-6)


def test_mode_seeking_ratio_is_mean_image_gap_over_mean_latent_gap_per_seed():
    """Batch of 4 (halves: images 0, 1 against 2, 3), 2 seeds, 1-pixel images, z_dim 1:
    seed 0: images (0, 1 | 2, 5), latents (0, 0 | 1, 3): mean|dx| = (2 + 4) / 2 = 3, mean|dz| = 2;
    seed 1: images all 7 (collapsed), latents (0, 0 | 2, 2): ratio 0."""
    fake = torch.tensor([[0.0, 7.0], [1.0, 7.0], [2.0, 7.0], [5.0, 7.0]]).view(4, 2, 1, 1)
    z = torch.tensor([[0.0, 0.0, 1.0, 3.0], [0.0, 0.0, 2.0, 2.0]]).view(2, 4, 1)
    assert torch.allclose(mode_seeking_ratio(z, fake, 2), torch.tensor([1.5, 0.0]))


def test_mode_seeking_term_is_added_to_gs_loss_as_lambda_over_ratio():
    run = MedRun(Setup(ms=2.0), TINY, "brain", [0], torch.device("cpu"))
    base = MedRun(Setup(), TINY, "brain", [0], torch.device("cpu"))
    z = run.noise(8)
    fake, real = run.G(z), run.real(8)
    expected = base.g_loss_fn(run.d(fake)) + 2.0 / (mode_seeking_ratio(z, fake, 1) + MS_EPS)
    assert torch.allclose(run.g_objective(z, fake, real), expected)


def test_feature_matching_is_the_squared_gap_of_ds_mean_last_features():
    """A D whose last features are the images' mean pixel (and a constant): the loss is
    (mean over reals - mean over fakes)^2 of that feature, and the constant adds nothing."""
    run = MedRun(Setup(fm=True), TINY, "brain", [0], torch.device("cpu"))

    class MeanD(torch.nn.Module):
        def forward(self, x, features=False):
            f = torch.stack([x.mean(dim=(1, 2, 3)), torch.ones(x.shape[0])], 1)[None]  # (S=1, B, 2)
            return (f.sum(2), f) if features else f.sum(2)

    run.D = MeanD()
    real, fake = torch.full((4, 1, 32, 32), 0.5), torch.full((6, 1, 32, 32), -0.25)
    assert torch.allclose(run.g_objective(run.noise(6), fake, real), torch.tensor([0.75 ** 2]))


def test_label_maps_are_appended_to_each_seeds_channel_group():
    """Two seeds, one channel, K = 3, 2 x 2 images: seed s's group is [its image, onehot(y) as maps]."""
    x = torch.stack([torch.full((2, 2), 10.0), torch.full((2, 2), 20.0)])[None]  # (B=1, S*C=2, 2, 2)
    y = torch.tensor([[2], [0]])  # seed 0 asks for class 2, seed 1 for class 0
    out = with_label_maps(x, y, c=1, k=3)
    assert out.shape == (1, 8, 2, 2)
    assert out[0, :, 0, 0].tolist() == [10, 0, 0, 1, 20, 1, 0, 0]
    assert torch.equal(out[0, :, 1, 1], out[0, :, 0, 0])  # constant maps


def test_acgans_class_loss_is_the_mean_cross_entropy_per_seed():
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0]],  # seed 0: p(y=1) = 3/4; then 1/2
                           [[5.0, 5.0], [5.0, 5.0]]])            # seed 1: 1/2 twice
    y = torch.tensor([[1, 0], [0, 1]])
    expected = torch.tensor([(math.log(4 / 3) + math.log(2)) / 2, math.log(2)])
    assert torch.allclose(class_cross_entropy(logits, y), expected)


def test_conditional_networks_read_the_class_and_the_scored_images_ask_for_each_in_turn():
    k = 7  # brain levels
    plain, cgan, acgan = (MedRun(Setup(cond=c), TINY, "brain", [0, 1], torch.device("cpu"))
                          for c in ("none", "input", "aux"))
    assert plain.labels(4) is None and plain.eval_y is None  # unconditional runs draw no labels
    assert cgan.G.fc.shape[1] == TINY.z_dim + k and cgan.D.convs[0].in_channels == 2 * (1 + k)
    assert acgan.G.fc.shape[1] == TINY.z_dim + k and acgan.D.convs[0].in_channels == 2 * 1
    assert acgan.D.cls.shape == (2, acgan.D.fc.shape[1], k) and not hasattr(cgan.D, "cls")
    assert cgan.eval_y[1, :9].tolist() == [0, 1, 2, 3, 4, 5, 6, 0, 1]
    alone = MedRun(Setup(cond="input"), TINY, "brain", [1], torch.device("cpu"))
    assert torch.equal(cgan.labels(6)[1], alone.labels(6)[0])  # each seed's labels from its own stream
    # a conditional D's logit depends on the class it is told
    x = cgan.real(3)
    a, b = cgan.d(x, y=torch.zeros(2, 3, dtype=torch.long)), cgan.d(x, y=torch.full((2, 3), 4))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="not implemented"):
        MedRun(Setup(cond="aux", pack=2), TINY, "brain", [0], torch.device("cpu"))
    with pytest.raises(ValueError, match="cond must be"):
        MedRun(Setup(cond="both"), TINY, "brain", [0], torch.device("cpu"))


def test_acgan_adds_the_class_cross_entropy_to_gs_loss():
    run = MedRun(Setup(cond="aux"), TINY, "brain", [0, 1], torch.device("cpu"))
    z, y = run.noise(5), run.labels(5)
    fake = run.G(run.g_input(z, y))
    logits, h = run.d(fake, features=True)
    expected = run.g_loss_fn(logits) + class_cross_entropy(run.D.classify(h), y)
    assert torch.allclose(run.g_objective(z, fake, run.real(5), y), expected)
    assert run.D.classify(h).shape == (2, 5, 7)


def test_discriminator_features_are_the_input_of_its_last_layer():
    d = Discriminator([0, 1], channels=1, width=4)
    x = torch.randn(3, 2, 32, 32)
    logits, f = d(x, features=True)
    assert f.shape == (2, 3, 4 * 4 * 16) and torch.equal(logits, d(x))
    assert torch.allclose(logits, torch.baddbmm(d.fc_b, f, d.fc)[..., 0])


def test_every_fix_is_one_change_to_the_failure():
    cfg, base = med_gan.Config(), Setup()
    for v in med_gan.VARIANTS:
        changed = [f for f in Setup.__dataclass_fields__ if getattr(med_gan.setup(v, cfg), f) != getattr(base, f)]
        if v == "plain":
            assert not changed
        elif v == "batchnorm":  # DCGAN's batch norm, in G and in D
            assert changed == ["g_norm", "d_norm"]
        else:
            assert len(changed) == 1, (v, changed)


def test_claim_rule_is_the_documented_bar():
    res = {"kind": "brain", "variants": {"x": {"per_seed": [
        {"classes": 3, "reverse_kl": 0.2}, {"classes": 7, "reverse_kl": 0.7}, {"classes": 6, "reverse_kl": 0.35},
        {"classes": 5, "reverse_kl": 0.1}]}}}
    assert med_gan.success(res, "x", "failure") == [True, True, False, False]
    assert med_gan.success(res, "x", "fix") == [False, False, True, False]
    assert med_gan.bars("modality") == (3, 5)


def test_every_variant_runs_on_the_colour_set_and_the_result_is_json():
    events = []
    res = modalities.run(TINY, list(modalities.VARIANTS), 2, on_event=events.append, threads=1)
    assert events[0]["step"] == 1 and all(v["metrics"] is None for v in events[0]["variants"].values())
    assert all(len(v["grid"]) == med_gan.GRID for v in events[0]["variants"].values())
    assert events[-1]["step"] == TINY.steps
    for v, r in res["variants"].items():
        assert len(r["per_seed"]) == 2 and r["steps_done"] == TINY.steps, v
        assert 0 <= r["mean"]["classes"] <= 6 and math.isfinite(r["mean"]["frechet"]), v
        assert torch.tensor(r["grid"]).shape == (med_gan.GRID, 3, 32, 32)
    assert res["variants"]["ada"]["ada_p"] is not None
    json.dumps(jsonable(res))


@pytest.mark.parametrize("stop", [False, True])
def test_final_scores_are_those_of_the_last_weights_and_a_scored_last_frame_is_not_scored_twice(monkeypatch, stop):
    """Frames score at steps 3 and 6 (step 1 shows a grid only). The end reuses step 6's scores
    (same weights, same images); a run stopped after step 1 scores its images at the end."""
    from engine.med_classifier import judge

    jd, calls = judge("brain"), []
    score = jd.score
    monkeypatch.setattr(jd, "score", lambda x: calls.append(1) or score(x))
    out = train({"plain": Setup()}, TINY, "brain", [0, 1], should_stop=(lambda: True) if stop else None)["plain"]
    assert len(calls) == (2 if stop else 2 * 2)
    run = MedRun(Setup(), TINY, "brain", [0, 1], torch.device("cpu"))
    for _ in range(out["steps_done"]):
        run.step()
    x = run.sample()
    assert json.dumps(jsonable([score(x[i]) for i in range(2)])) == json.dumps(jsonable(out["per_seed"]))


def test_grids_come_every_grid_every_steps_with_the_last_scores_and_training_ignores_the_cadence():
    events = []
    cfg = dataclasses.replace(TINY, grid_every=2)
    res = brain_mri.run(cfg, ["plain"], 2, on_event=events.append, threads=1)
    frames = [(e["step"], e["variants"]["plain"]["scored_step"], e["variants"]["plain"]["metrics"] is not None)
              for e in events]
    assert frames == [(1, None, False), (2, None, False), (3, 3, True), (4, 3, True), (6, 6, True)]
    assert res["variants"]["plain"]["curves"]["step"] == [3, 6]
    other = brain_mri.run(dataclasses.replace(TINY, eval_every=2, grid_every=1), ["plain"], 2, threads=1)
    same = [json.dumps(jsonable(r["variants"]["plain"]["per_seed"])) for r in (res, other)]
    assert same[0] == same[1]
    assert set(med_gan.CADENCE) <= set(dataclasses.asdict(cfg))


def test_grid_only_frames_are_drawn_for_a_live_view_only(monkeypatch):
    calls = []
    sample = MedRun.sample
    monkeypatch.setattr(MedRun, "sample", lambda self, n=None: calls.append(n) or sample(self, n))
    cfg = dataclasses.replace(TINY, grid_every=2)
    train({"plain": Setup()}, cfg, "brain", [0])
    assert calls == [None, None]  # the scored frames, steps 3 and 6
    calls.clear()
    train({"plain": Setup()}, cfg, "brain", [0], on_event=lambda e: None)
    assert calls == [med_gan.GRID, med_gan.GRID, None, med_gan.GRID, None]  # steps 1, 2, 3, 4, 6


def test_brain_demo_runs_and_stops_when_asked():
    res = brain_mri.run(TINY, ["plain", "batchnorm"], 2, should_stop=lambda: True, threads=1)
    assert res["stopped"] and res["variants"]["plain"]["steps_done"] == 1
    assert torch.tensor(res["real"]["grid"]).shape == (med_gan.GRID, 1, 32, 32)


def test_catalogue_lists_each_medical_demos_variants_and_failure():
    from demos.catalog import CATALOG

    for mod in (brain_mri, modalities):
        info = CATALOG[mod.DEMO_ID]
        assert info.variants == mod.VARIANTS and info.failure == med_gan.FAILURE and info.module == mod.__name__
        assert info.default_fix in mod.VARIANTS
