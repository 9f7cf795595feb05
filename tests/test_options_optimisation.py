"""engine/options/optimisation.py: every update rule's first two steps on the bilinear game
min_x max_y x*y (L_G = x y, L_D = -x y, SGD, step 0.1, x0 = 1, y0 = 0.5) computed by hand, and the
averages, schedules and snapshots on small cases."""
import pytest
import torch

from engine.lab import Alternating, Settings
from engine.options import make_recipe
from options_helpers import bilinear, model


def option(text: str):
    return make_recipe(text).options()[0]


def two_steps(m, rule) -> list[tuple[float, float]]:
    out = []
    for _ in range(2):
        rule.update(m)
        out.append(m.xy())
    return out


def check(got, expect, tol=1e-6):
    for (x, y), (ex, ey) in zip(got, expect):
        assert abs(x - ex) < tol and abs(y - ey) < tol, (got, expect)


def test_alternating_d_first_then_g_against_the_updated_d():
    # y1 = y0 + 0.1 x0 = 0.6; x1 = x0 - 0.1 y1 = 0.94; y2 = 0.6 + 0.094; x2 = 0.94 - 0.1 y2
    check(two_steps(bilinear(), Alternating()), [(0.94, 0.6), (0.8706, 0.694)])


def test_simultaneous_both_from_the_same_point():
    check(two_steps(bilinear(), option("simultaneous")), [(0.95, 0.6), (0.89, 0.695)])


def test_extragradient_steps_from_the_start_with_the_extrapolated_gradient():
    # w_1/2 = (0.95, 0.6); x1 = 1 - 0.1 * 0.6, y1 = 0.5 + 0.1 * 0.95; then from (0.94, 0.595)
    check(two_steps(bilinear(), option("extragradient")), [(0.94, 0.595), (0.8711, 0.68305)])


def test_extragradient_keeps_both_gradients_in_adams_moments():
    m = bilinear(optimizer="adam", beta1=0.5)
    option("extragradient").update(m)
    assert all(int(st["step"]) == 2 for opt in m.opt.values() for st in opt.state.values())


def test_optimistic_adds_twice_this_step_minus_the_last():
    # step 1 is simultaneous; x2 = 0.95 - 2 * 0.1 * 0.6 + 0.1 * 0.5, y2 = 0.6 + 2 * 0.1 * 0.95 - 0.1 * 1
    check(two_steps(bilinear(), option("optimistic")), [(0.95, 0.6), (0.88, 0.69)])


def test_consensus_descends_the_gradient_norm_too():
    # v = (y, -x), grad 1/2 |v|^2 = (x, y): x <- x - 0.1 (y + 2x), y <- y - 0.1 (-x + 2y)
    check(two_steps(bilinear(), option("consensus.gamma=2")), [(0.75, 0.5), (0.55, 0.475)])


def test_symplectic_gradient_adjustment_on_the_bilinear_game():
    # H = [[0, 1], [-1, 0]] is antisymmetric: A^T xi = (x, y); <xi, H^T xi> = 0, so the aligned
    # sign is sign(0 + 0.1) = +1 and xi_lambda = (y + x, -x + y)
    check(two_steps(bilinear(), option("sga")), [(0.85, 0.55), (0.71, 0.58)])


def test_negative_momentum_is_alternating_heavy_ball_with_beta_minus_half():
    s = option("negative_momentum").adjust(Settings(optimizer="sgd", lr_g=0.1, lr_d=0.1))
    assert s.beta1 == -0.5
    m = bilinear(beta1=s.beta1)
    # v_y = -1 -> y1 = 0.6; v_x = 0.6 -> x1 = 0.94; v_y = 0.5 - 0.94 -> y2 = 0.644;
    # v_x = -0.3 + 0.644 -> x2 = 0.94 - 0.0344
    check(two_steps(m, Alternating()), [(0.94, 0.6), (0.9056, 0.644)])
    adam = model("negative_momentum")
    assert adam.opt["G"].param_groups[0]["betas"][0] == -0.5


def test_lookahead_minmax_moves_slow_weights_every_k_steps():
    m = bilinear()
    la = option("lookahead_minmax.k=2,lookahead_minmax.alpha=0.5")
    la.setup(m)
    Alternating.update(m)
    la.after_step(m, 1)
    assert m.xy() == pytest.approx((0.94, 0.6))  # not a k-th step: untouched
    Alternating.update(m)
    la.after_step(m, 2)
    assert m.xy() == pytest.approx((1 + 0.5 * (0.8706 - 1), 0.5 + 0.5 * (0.694 - 0.5)))


def test_weight_clipping_acts_under_every_update_rule():
    for rule in ("simultaneous", "extragradient", "optimistic", "consensus"):
        m = model(f"wasserstein,{rule}")
        with torch.no_grad():
            m.D.flat.mul_(100)
        m.rule.update(m)
        assert float(m.D.flat.detach().abs().max()) <= 0.01 + 1e-9, rule


def test_ttur_and_critic_steps():
    assert option("ttur.ratio=0.5").adjust(Settings(lr_d=2e-3)).lr_g == pytest.approx(1e-3)
    assert model("n_critic.n=3").n_disc == 3


def test_unrolled_lookahead_is_k_steps_of_ds_loss_and_depends_on_g():
    m = model("unrolled.k=1,unrolled.lr=0.1")
    real, fake = m.real(), m.generate(m.noise())
    p = m.d_params_for_g(real, fake)
    loss = m.loss.d_loss(m.d(real), m.d(fake))
    (g,) = torch.autograd.grad(loss.sum(), m.D.flat, retain_graph=True)
    assert torch.allclose(p, m.D.flat - 0.1 * g, atol=1e-6)  # psi_1 = psi - eta grad L_D(psi)
    (gg,) = torch.autograd.grad(p.sum(), m.G.flat)
    assert float(gg.abs().sum()) > 0  # G's gradient flows through the unrolled step


def test_weight_ema_after_two_steps():
    m = model("ema.beta=0.5")
    t0 = m.G.flat.detach().clone()
    ema = option("ema.beta=0.5")
    ema.setup(m)
    with torch.no_grad():
        m.G.flat.copy_(t0 + 1)
    ema.after_step(m, 1)
    with torch.no_grad():
        m.G.flat.copy_(t0 + 3)
    ema.after_step(m, 2)
    # 0.5 (0.5 t0 + 0.5 (t0 + 1)) + 0.5 (t0 + 3) = t0 + 1.75
    assert torch.allclose(m.state["ema"], t0 + 1.75)
    assert torch.allclose(m.sample(m.eval_z[:, :5]), m.samples(m.eval_z[:, :5], m.state["ema"]))


def test_historical_averaging_penalises_distance_to_the_running_mean():
    m = model("historical_averaging.weight=2")
    h = m.opts[0]
    t0 = m.G.flat.detach().clone()
    with torch.no_grad():
        m.G.flat.add_(1.0)
    h.after_step(m, 1)  # mean of (t0, t0 + 1) = t0 + 0.5
    with torch.no_grad():
        m.G.flat.copy_(t0 + 2.0)
    n = m.G.flat.numel()
    assert float(h.g_penalty(m, None, None).detach()) == pytest.approx(2 * n * 1.5**2, rel=1e-5)


def test_early_stopping_samples_from_the_best_snapshot():
    m = model("early_stopping")
    es = m.opts[0]
    best0 = m.G.flat.detach().clone()
    es.on_eval(m, 1, {})
    assert torch.equal(m.state["best"]["flat"], best0)
    with torch.no_grad():
        m.G.flat.mul_(50.0)  # far worse samples: the snapshot stays
    es.on_eval(m, 2, {})
    assert torch.equal(m.state["best"]["flat"], best0)
    assert torch.allclose(m.sample(m.eval_z[:, :5]), m.samples(m.eval_z[:, :5], best0))
