"""The medical-image demos: the techniques' maths on small hand-made cases, the claim rule, and a
smoke run of every variant on a short configuration (2 seeds, a few steps)."""
import json
import math

import pytest
import torch

from demos import brain_mri, med_gan, modalities
from demos.med_training import MedRun, Setup, shift_flip
from engine.image_nets import Discriminator, Generator, pixel_norm
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
