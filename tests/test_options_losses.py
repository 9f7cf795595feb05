"""engine/options/losses.py: every loss pinned on given logits, computed by hand (sp = softplus)."""
import math

import pytest
import torch

from engine.options import OPTIONS, make_recipe
from engine.options.losses import F_DIVERGENCES, pulling_away
from options_helpers import linear, model


def sp(x: float) -> float:
    return math.log1p(math.exp(x))


R = torch.tensor([0.0, 2.0]).view(1, 2, 1)  # D's outputs on two real samples
Fk = torch.tensor([1.0, -3.0]).view(1, 2, 1)  # and on two fakes


def loss(opt_id: str, **params):
    return make_recipe({opt_id: params}).options()[0]


def close(t: torch.Tensor, v: float, tol: float = 1e-5) -> None:
    assert t.shape == (1,), t.shape
    assert abs(float(t.detach()) - v) < tol, (float(t.detach()), v)


def test_saturating_and_nonsaturating_share_d_and_differ_in_g():
    d = (sp(-0) + sp(-2)) / 2 + (sp(1) + sp(-3)) / 2
    for k in ("saturating", "nonsaturating"):
        close(loss(k).d_loss(R, Fk), d)
    close(loss("saturating").g_loss(Fk, None), -(sp(1) + sp(-3)) / 2)  # E[log(1 - D(G(z)))]
    close(loss("nonsaturating").g_loss(Fk, None), (sp(-1) + sp(3)) / 2)  # -E[log D(G(z))]


def test_saturating_gradient_vanishes_where_d_rejects_the_fakes():
    l = torch.tensor([-10.0]).view(1, 1, 1).requires_grad_(True)
    (g_sat,) = torch.autograd.grad(loss("saturating").g_loss(l, None).sum(), l)
    (g_ns,) = torch.autograd.grad(loss("nonsaturating").g_loss(l, None).sum(), l)
    assert abs(float(g_sat)) < 1e-4 and abs(float(g_ns) + 1) < 1e-4  # -sigmoid(l) vs -(1 - sigmoid(l))


def test_least_squares_hinge_wasserstein():
    close(loss("lsgan").d_loss(R, Fk), 0.5 * (1 + 1) / 2 + 0.5 * (1 + 9) / 2)
    close(loss("lsgan").g_loss(Fk, None), 0.5 * (0 + 16) / 2)
    close(loss("hinge").d_loss(R, Fk), (1 + 0) / 2 + (2 + 0) / 2)
    close(loss("hinge").g_loss(Fk, None), 1.0)
    close(loss("wasserstein").d_loss(R, Fk), -1.0 - 1.0)
    close(loss("wasserstein").g_loss(Fk, None), 1.0)
    close(loss("wgan_gp").d_loss(R, Fk), -2.0)


def test_relativistic_pairs_and_average():
    rs = loss("relativistic")
    close(rs.d_loss(R, Fk), (sp(1) + sp(-5)) / 2)  # -log sigmoid(r - f)
    close(rs.g_loss(Fk, R), (sp(-1) + sp(5)) / 2)
    ra = loss("relativistic", average=True)  # mean r = 1, mean f = -1
    close(ra.d_loss(R, Fk), (sp(-1) + sp(-3)) / 2 + (sp(0) + sp(-4)) / 2)
    close(ra.g_loss(Fk, R), (sp(0) + sp(4)) / 2 + (sp(1) + sp(3)) / 2)


@pytest.mark.parametrize("div", sorted(F_DIVERGENCES))
def test_fgan_activation_and_conjugate_per_divergence(div):
    g = {"kl": lambda v: v, "reverse_kl": lambda v: -math.exp(-v), "pearson": lambda v: v,
         "hellinger": lambda v: 1 - math.exp(-v), "js": lambda v: math.log(2) - sp(-v)}[div]
    fstar = {"kl": lambda t: math.exp(t - 1), "reverse_kl": lambda t: -1 - math.log(-t),
             "pearson": lambda t: t * t / 4 + t, "hellinger": lambda t: t / (1 - t),
             "js": lambda t: -math.log(2 - math.exp(t))}[div]
    f = loss("fgan", divergence=div)
    v_r, v_f = [0.3, 1.0], [-0.5, 0.2]
    r, fk = torch.tensor(v_r).view(1, 2, 1), torch.tensor(v_f).view(1, 2, 1)
    expect_d = -(sum(g(v) for v in v_r) / 2 - sum(fstar(g(v)) for v in v_f) / 2)
    close(f.d_loss(r, fk), expect_d, 1e-4)
    close(f.g_loss(fk, None), -sum(g(v) for v in v_f) / 2, 1e-5)


def test_label_smoothing_adds_the_smoothed_target_to_the_bce():
    m = model("label_smoothing.target=0.9")
    m.D = linear(m, [[0.0], [0.0]], [2.0])  # D's logit is 2 everywhere
    x = m.real()
    pen = m.opts[0].d_penalty(m, x, x)
    close(pen, 0.1 * 2.0)
    # -0.9 log D(x) - 0.1 log(1 - D(x)) = -log D(x) + penalty
    smoothed = 0.9 * sp(-2) + 0.1 * sp(2)
    assert abs(sp(-2) + float(pen.detach()) - smoothed) < 1e-6


def test_wgan_gp_penalty_on_a_linear_critic_and_its_settings():
    m = model("wgan_gp")
    assert m.n_disc == 5
    m.D = linear(m, [[3.0], [4.0]], [0.0])  # |grad| = 5 everywhere
    x = m.real()
    close(m.opts[0].d_penalty(m, x, m.generate(m.noise()).detach()), 10 * (5 - 1) ** 2, 1e-3)


def test_wasserstein_clips_after_every_critic_step():
    m = model("wasserstein")
    assert m.n_disc == 5
    with torch.no_grad():
        m.D.flat.fill_(1.0)
    m.apply("D", [torch.zeros_like(m.D.flat)])
    assert float(m.D.flat.detach().abs().max()) <= 0.01 + 1e-9


def test_began_k_moves_once_per_step_by_the_balance():
    m = model("began")
    b = m.loss
    lr, lf = torch.tensor([0.5]).view(1, 1, 1), torch.tensor([0.1]).view(1, 1, 1)
    close(b.d_loss(lr, lf), 0.5)  # k_0 = 0
    b.d_loss(lr, torch.tensor([9.0]).view(1, 1, 1))  # a second evaluation in the same step: ignored
    b.after_step(m, 1)
    k1 = 0.001 * (0.5 * 0.5 - 0.1)
    close(m.state["began_k"], k1, 1e-9)
    close(b.d_loss(lr, lf), 0.5 - k1 * 0.1, 1e-7)
    b.after_step(m, 2)
    b.d_loss(torch.zeros(1, 1, 1), lr)  # balance -0.5 would take k below 0: clipped
    b.after_step(m, 3)
    assert float(m.state["began_k"]) == 0.0
    assert float(b.head(torch.tensor([[[1.0, 2.0]]]), torch.tensor([[[0.5, 3.0]]]))) == pytest.approx(0.75)


def test_an_auto_encoder_d_reconstructs_its_whole_packed_input():
    for k in ("began", "ebgan"):
        m = model(f"{k},pacgan.pack=3")
        assert m.D.spec.autoencoder and m.D.dims[0][0] == 6 and m.D.dims[-1][1] == 6
        assert m.d(m.real()).shape == (1, m.s.batch, 1)


def test_r3gan_is_pairing_loss_plus_r1_and_r2():
    m = model("r3gan.gamma=2")
    r3 = m.loss
    close(r3.d_loss(R, Fk), (sp(1) + sp(-5)) / 2)
    close(r3.g_loss(Fk, R), (sp(-1) + sp(5)) / 2)
    m.D = linear(m, [[3.0], [4.0]], [1.0])
    x = m.real()
    close(r3.d_penalty(m, x, m.generate(m.noise()).detach()), 0.5 * 2 * (25 + 25), 1e-3)


def test_ebgan_margin_energy_and_pulling_away():
    e = loss("ebgan", margin=1.0)
    close(e.d_loss(torch.tensor([0.2]).view(1, 1, 1), torch.tensor([0.5, 3.0]).view(1, 2, 1)), 0.2 + 0.25)
    close(e.g_loss(torch.tensor([0.5, 3.0]).view(1, 2, 1), None), 1.75)
    xp, out = torch.tensor([[[1.0, 2.0]]]), torch.tensor([[[0.0, 4.0]]])
    assert float(e.head(xp, out)) == pytest.approx((1 + 4) / 2)
    s = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # cos^2: 0, 1/2, 1/2 over 6 ordered pairs
    assert float(pulling_away(s)) == pytest.approx(2 * (0 + 0.5 + 0.5) / 6)
    collapsed = torch.tensor([[[1.0, 2.0], [2.0, 4.0], [0.5, 1.0]]])
    assert float(pulling_away(collapsed)) == pytest.approx(1.0)


def test_top_k_keeps_the_best_rated_fakes_on_a_decaying_schedule():
    t = loss("top_k", gamma=0.5, nu=0.25, every=2)
    t.setup(None)
    out = torch.tensor([1.0, 4.0, 2.0, 3.0]).view(1, 4, 1)
    assert t.g_scores(None, out).flatten().tolist() == [4.0, 3.0, 2.0, 1.0]  # k = B at the start
    t.after_step(None, 2)  # one epoch: k = 0.5 B
    assert t.g_scores(None, out).flatten().tolist() == [4.0, 3.0]
    t.after_step(None, 100)  # 0.5^50 < nu: k = nu B
    assert t.fraction() == 0.25 and t.g_scores(None, out).flatten().tolist() == [4.0]


def test_every_loss_option_is_in_the_loss_group_with_paper_fields():
    for k, c in OPTIONS.items():
        if c.group == "loss":
            assert hasattr(c, "d_loss") and hasattr(c, "g_loss"), k
