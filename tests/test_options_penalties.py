"""engine/options/penalties.py: every penalty pinned where its paper evaluates it, on a linear D (whose
input gradient is its weight vector w everywhere) or a linear G, with hand-computed values."""
import math

import pytest
import torch

from options_helpers import Fixed, linear, model


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def pts(m, *xy):
    """Data-space points (1 seed) whose prepared (unit-extent) coordinates are ``xy``."""
    return torch.tensor(xy, dtype=torch.float32).unsqueeze(0) * m.tb.scale


def pen(m, i=0):
    return m.opts[i]


def close(t, v, tol=1e-4):
    assert t.shape == (1,), t.shape
    assert abs(float(t.detach()) - v) < tol, (float(t.detach()), v)


W345 = [[3.0], [4.0]]  # |w| = 5


def test_r1_on_real_data_and_r2_on_fakes():
    for k in ("r1", "r2"):
        m = model(f"{k}.gamma=10")
        m.D = linear(m, W345, [0.7])
        close(pen(m).d_penalty(m, pts(m, (0.1, 0.2)), pts(m, (1.0, -1.0))), 0.5 * 10 * 25)


def test_r1_differentiates_the_data_columns_only_of_a_conditional_d():
    m = model("cgan,r1.gamma=2")
    k = m.tb.k
    m.D = linear(m, [[3.0], [4.0]] + [[100.0]] * k, [0.0])  # large weights on the label columns
    real = m.real()
    assert real.shape[-1] == 2 + k and pen(m, 0).id == "r1"
    close(pen(m, 0).d_penalty(m, real, real), 0.5 * 2 * 25)


def test_dragan_and_wgan_lp_and_zero_gp_on_a_linear_d():
    m = model("dragan")
    m.D = linear(m, W345, [0.0])
    close(pen(m).d_penalty(m, m.real(), m.real()), 10 * (5 - 1) ** 2, 1e-3)
    m = model("wgan_lp")
    m.D = linear(m, W345, [0.0])
    real, fake = m.real(), m.generate(m.noise()).detach()
    close(pen(m).d_penalty(m, real, fake), 10 * (5 - 1) ** 2, 1e-3)
    m.D = linear(m, [[0.3], [0.4]], [0.0])  # |w| = 0.5 < 1: the one-sided penalty is 0
    close(pen(m).d_penalty(m, real, fake), 0.0)
    m = model("zero_gp")
    m.D = linear(m, W345, [0.0])
    close(pen(m).d_penalty(m, real, fake), 10 * 25, 1e-3)


def test_roth_weights_the_squared_gradient_by_the_other_class_probability():
    m = model("roth.gamma=2")
    m.D = linear(m, [[1.0], [0.0]], [0.0])  # phi = x_1, |grad phi| = 1
    real, fake = pts(m, (1.0, 0.0)), pts(m, (-2.0, 0.0))
    omega = (1 - sig(1.0)) ** 2 + sig(-2.0) ** 2
    close(pen(m).d_penalty(m, real, fake), 0.5 * 2 * omega, 1e-5)


def test_consistency_on_real_data_under_a_jitter():
    m = model("consistency.lam=10,consistency.shift=0.5")
    m.D = linear(m, [[1.0], [0.0]], [0.0])
    m.aux = Fixed(normal=[torch.tensor([[[2.0, 7.0]]])])
    jitter = 0.5 * m.tb.sigma * 2.0 / m.tb.scale  # only the first coordinate reaches D
    close(pen(m).d_penalty(m, pts(m, (0.3, 0.3)), None), 10 * jitter**2, 1e-6)


def test_balanced_consistency_adds_the_same_term_on_fakes():
    m = model("bcr")
    m.D = linear(m, [[1.0], [0.0]], [0.0])
    m.aux = Fixed(normal=[torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[3.0, 0.0]]])])
    u = 0.5 * m.tb.sigma / m.tb.scale
    close(pen(m).d_penalty(m, pts(m, (0.0, 0.0)), pts(m, (1.0, 1.0))), 10 * u**2 + 10 * (3 * u) ** 2, 1e-6)


def test_instance_noise_on_data_columns_and_annealed():
    m = model("instance_noise.sd=0.2,instance_noise.anneal=true")
    o = pen(m)
    x = torch.zeros(1, 1, 2)
    m.aux = Fixed(normal=[torch.ones(1, 1, 2), torch.ones(1, 1, 2)])
    assert torch.allclose(o.d_input(x, m), torch.full((1, 1, 2), 0.2 / m.tb.scale))
    o.after_step(m, m.s.steps // 2)
    assert torch.allclose(o.d_input(x, m), torch.full((1, 1, 2), 0.1 / m.tb.scale))


def test_locally_stable_regulariser_is_the_norm_of_ds_gradient():
    m = model("local_stability.eta=0.5")
    m.D = linear(m, [[0.0], [0.0]], [0.0])  # every logit 0: sigmoid = 1/2
    m.real = lambda n=None: pts(m, (1.0, 0.0))
    fake = pts(m, (0.0, 2.0))
    # d L_D / d w = E[-sigmoid(-l_r) x_r] + E[sigmoid(l_f) x_f] = (-1/2, 1);  d / d b = -1/2 + 1/2 = 0
    close(pen(m).g_penalty(m, None, fake), 0.5 * (0.25 + 1.0), 1e-6)


def test_lecam_anchors_are_debiased_emas_of_ds_outputs():
    m = model("lecam")
    m.D = linear(m, [[1.0], [0.0]], [0.0])
    o = pen(m)
    close(o.d_penalty(m, pts(m, (1.0, 0.0)), pts(m, (-1.0, 0.0))), 0.3 * ((1 + 1) ** 2 + (1 + 1) ** 2), 1e-5)
    a_r = (0.99 * 0.01 * 1 + 0.01 * 3) / (1 - 0.99**2)  # the second step's debiased real anchor
    a_f = -1.0
    close(o.d_penalty(m, pts(m, (3.0, 0.0)), pts(m, (-1.0, 0.0))), 0.3 * ((3 - a_f) ** 2 + (a_r + 1) ** 2), 1e-4)
    m = model("lecam.one_sided=true")
    m.D = linear(m, [[1.0], [0.0]], [0.0])
    # D(x) = -1 below the fake anchor 1, D(G(z)) = 1 above the real anchor -1: both relu'd to 0
    close(pen(m).d_penalty(m, pts(m, (-1.0, 0.0)), pts(m, (1.0, 0.0))), 0.0)


def test_latent_consistency_on_a_linear_g_and_d():
    m = model("zcr")
    o = pen(m)
    m.G = linear(m, [[2.0, 0.0], [0.0, 2.0]], [0.0, 0.0])  # G(z) = 2z (before the testbed's scale)
    m.D = linear(m, [[1.0], [0.0]], [0.0])
    n = torch.tensor([[[1.0, -1.0]]])
    m.aux = Fixed(normal=[torch.tensor([[[0.2, 0.4]]]), n])  # z, then the perturbation's N(0, 1) draw
    dz = 0.03 * n
    close(o.d_penalty(m, pts(m, (0.0, 0.0)), None), 5 * float((2 * dz[0, 0, 0]) ** 2), 1e-7)
    z = torch.tensor([[[0.5, 0.5]]])
    m.aux = Fixed(normal=[n])
    close(o.g_penalty(m, z, m.generate(z)), -0.5 * float((2 * dz).pow(2).sum()), 1e-7)


@pytest.mark.parametrize("a,expect", [(30.0, (30 - 20) ** 2), (0.5, (0.5 - 1) ** 2), (5.0, 0.0)])
def test_jacobian_clamping_keeps_gs_stretch_between_the_targets(a, expect):
    m = model("jacobian_clamping")
    m.G = linear(m, [[a, 0.0], [0.0, a]], [0.1, -0.2])  # Q = a for every direction
    m.aux = Fixed(normal=[torch.tensor([[[0.6, 0.8]]])])
    z = torch.tensor([[[0.3, -0.1]]])
    close(pen(m).g_penalty(m, z, m.generate(z)), expect, 1e-3)
