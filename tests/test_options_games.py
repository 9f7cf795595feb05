"""engine/options/games.py: each game's samples, networks and objectives, pinned with a D whose output
is set by hand (a linear map with zero weights outputs its biases) and on small given tensors."""
import math

import pytest
import torch

from engine.options.games import _ce, _log_softplus
from options_helpers import linear, model


def sp(x: float) -> float:
    return math.log1p(math.exp(x))


def constant_d(m, biases, copies=1):
    """D's output is ``biases`` whatever it reads (one row per copy)."""
    n_in = m.D.spec.sizes[0]
    if copies == 1:
        return linear(m, [[0.0] * len(biases)] * n_in, biases)
    return linear(m, [[[0.0]] * n_in for _ in biases], [[b] for b in biases], copies=copies)


def close(t, v, tol=1e-5):
    assert t.shape == (1,), t.shape
    assert abs(float(t.detach()) - v) < tol, (float(t.detach()), v)


def grad_reaches(loss, flat) -> bool:
    (g,) = torch.autograd.grad(loss.sum(), flat, retain_graph=True, allow_unused=True)
    return g is not None and float(g.abs().sum()) > 0


# -- small helpers -------------------------------------------------------------------------------


def test_cross_entropy_and_log_softplus():
    logits = torch.tensor([[[0.0, 0.0, math.log(2.0)]]])  # softmax (1/4, 1/4, 1/2)
    close(_ce(logits, torch.tensor([2])), math.log(2))
    close(_ce(logits, torch.tensor([[[1.0, 0.0, 0.0]]])), math.log(4))
    x = torch.tensor([-40.0, 0.0, 3.0])
    assert torch.allclose(_log_softplus(x), torch.tensor([-40.0, math.log(math.log(2)), math.log(sp(3))]))


# -- labelled modes ------------------------------------------------------------------------------


def test_conditional_gan_samples_carry_their_labels_and_d_reads_them():
    m = model("cgan", testbed="grid")
    k = m.tb.k
    x, idx = m.real(labels=True)  # the raw draw: data and mode index, no tags
    assert x.shape[-1] == 2 and 0 <= int(idx.min()) and int(idx.max()) < k
    real = m.real()
    assert real.shape[-1] == 2 + k and torch.equal(real[..., 2:].sum(-1), torch.ones(real.shape[:2]))
    z = m.noise()
    assert z.shape[-1] == m.s.z_dim + k and m.G.spec.sizes[0] == m.s.z_dim + k
    fake = m.generate(z)
    assert torch.equal(fake[..., 2:], z[..., m.s.z_dim:])  # G's samples keep the label they were asked for
    assert m.D.spec.sizes[0] == 2 + k
    assert model("cgan,pacgan.pack=2", testbed="grid").D.spec.sizes[0] == 2 * (2 + k)
    assert m.sample().shape == (1, m.s.eval_samples, 2)
    near = m.game.eval_input(m, m.mu[3:4].unsqueeze(0))  # a mode's centre is shown with its own label
    assert int(near[0, 0, 2:].argmax()) == 3


def test_acgan_objectives_with_a_constant_d():
    m = model("acgan")
    k = m.tb.k
    assert m.D.spec.sizes[-1] == 1 + k and m.D.spec.sizes[0] == 2  # D reads the sample only
    m.D = constant_d(m, [0.0] * (1 + k))  # source logit 0, uniform classes
    real, fake = m.real(), m.generate(m.noise()).detach()
    close(m.game.d_objective(m, real, fake), 2 * math.log(2) + 2 * math.log(k))
    close(m.game.g_objective(m, m.real(), m.noise()), math.log(2) + math.log(k))


# -- several generators --------------------------------------------------------------------------


def test_madgan_k_plus_one_class_objectives_and_head():
    m = model("madgan.generators=3")
    k = 3
    z = m.noise()
    fake = m.generate(z)
    assert fake.shape == (1, k * z.shape[1], 2) and m.G.spec.copies == k
    assert m.game.which(m, 6).tolist() == [0, 0, 1, 1, 2, 2]
    m.D = constant_d(m, [0.0] * (k + 1))
    close(m.game.d_objective(m, m.real(), fake.detach()), (k + 1) * math.log(k + 1))  # E_x + sum of k E_z
    close(m.game.g_objective(m, m.real(), z), k * math.log(k + 1))
    assert float(m.game.head(torch.zeros(1, 1, k + 1))) == pytest.approx(-math.log(k))


def test_mixture_samples_one_random_generator_per_latent():
    m = model("madgan.generators=3")
    z = m.eval_z[:, :50]
    per = m.generate(z).view(1, 3, 50, 2)
    shown = m.samples(z)
    which = [[bool(torch.allclose(shown[0, i], per[0, g, i])) for g in range(3)] for i in range(50)]
    assert all(sum(w) >= 1 for w in which)  # each shown sample is one generator's
    assert len({w.index(True) for w in which}) == 3  # and all generators are used
    assert torch.equal(m.samples(z), shown)  # fixed per latent position


def test_mgan_classifier_term_for_both_players():
    m = model("mgan.generators=2,mgan.beta=0.5")
    m.D = constant_d(m, [0.0, 0.0, 0.0])  # source logit 0; classifier uniform over 2 generators
    fake = m.generate(m.noise())
    close(m.game.d_objective(m, m.real(), fake.detach()), 2 * math.log(2) + math.log(2))
    close(m.game.g_objective(m, m.real(), m.noise()), math.log(2) + 0.5 * math.log(2))


# -- several discriminators ----------------------------------------------------------------------


def test_gman_softmax_weighted_generator_loss():
    m = model("gman.discriminators=2,gman.lam=1")
    assert m.D.spec.copies == 2
    m.D = constant_d(m, [0.0, 2.0], copies=2)
    real, fake = m.real(), m.generate(m.noise()).detach()
    close(m.game.d_objective(m, real, fake), (sp(0) + sp(0)) + (sp(-2) + sp(2)))
    losses = [sp(0), sp(-2)]
    w = [math.exp(v) / sum(math.exp(u) for u in losses) for v in losses]
    close(m.game.g_objective(m, m.real(), m.noise()), sum(a * b for a, b in zip(w, losses)))
    m0 = model("gman.discriminators=2,gman.lam=0")
    m0.D = constant_d(m0, [0.0, 2.0], copies=2)
    close(m0.game.g_objective(m0, m0.real(), m0.noise()), sum(losses) / 2)  # lambda = 0: the mean


def test_d2gan_objectives_with_constant_discriminators():
    m = model("d2gan")
    m.D = constant_d(m, [0.0, 0.0], copies=2)  # D1 = D2 = softplus(0) = log 2
    l2 = math.log(2)
    close(m.game.d_objective(m, m.real(), m.generate(m.noise()).detach()), -math.log(l2) + l2 + l2 - math.log(l2))
    close(m.game.g_objective(m, m.real(), m.noise()), -l2 + math.log(l2))
    assert float(m.game.head(torch.tensor([[[1.0, -1.0]]]))) == pytest.approx(0.5 * (math.log(sp(1)) - math.log(sp(-1))))


# -- encoders ------------------------------------------------------------------------------------


def test_veegan_joint_pairs_and_generator_objective():
    m = model("veegan", z_dim=3)
    assert m.D.spec.sizes[0] == 2 + 3 and m.game.E.flat is m.params["G"][1]
    x, z = m.real(), m.noise()
    assert torch.allclose(x[..., 2:], m.game.encode(m, x[..., :2]))
    fake = m.generate(z)
    assert torch.equal(fake[..., 2:], z)
    m.D = constant_d(m, [1.5])
    recon = ((z - m.game.encode(m, fake[..., :2])) ** 2).sum(-1).mean()
    close(m.game.g_objective(m, x, z), -1.5 + float(recon.detach()))


def test_bigan_generator_and_encoder_take_ds_loss_with_labels_swapped():
    m = model("bigan")
    m.D = constant_d(m, [0.7])
    close(m.game.g_objective(m, m.real(), m.noise()), sp(-0.7) + sp(0.7))
    m = model("bigan")
    real = m.real()
    assert grad_reaches(m.game.g_objective(m, real, m.noise()), m.game.E.flat)


def test_vaegan_prior_and_gradient_routing_of_algorithm_1():
    m = model("vaegan")
    e = m.game.E
    last = e.depth - 1
    with torch.no_grad():  # encoder outputs mu = 1, log sigma^2 = 0 everywhere
        v = e.views()
        v[f"w{last}"].zero_()
        v[f"b{last}"].copy_(torch.tensor([1.0] * m.s.z_dim + [0.0] * m.s.z_dim).view(1, 1, -1))
    p = m.game.parts(m, m.real(), m.noise())
    close(p["prior"], 0.5 * m.s.z_dim)  # KL(N(1, 1) || N(0, 1)) per dimension = 1/2
    m = model("vaegan")
    assert any(q is m.game.E.flat for q in m.params["G"])
    p = m.game.parts(m, m.real(), m.noise())
    enc, dec = m.game.E.flat, m.G.flat
    assert grad_reaches(p["llike_enc"], enc) and not grad_reaches(p["llike_enc"], dec)
    assert grad_reaches(p["llike_dec"], dec) and not grad_reaches(p["llike_dec"], enc)
    assert grad_reaches(p["adv"], dec) and not grad_reaches(p["adv"], enc)


def test_alphagan_networks_and_gradient_routing():
    m = model("alphagan")
    assert any(q is m.game.E.flat for q in m.params["G"]) and any(q is m.game.C.flat for q in m.params["D"])
    p = m.game.parts(m, m.real(), m.noise())
    enc, dec = m.game.E.flat, m.G.flat
    assert grad_reaches(p["l1"], enc) and grad_reaches(p["l1"], dec)
    assert grad_reaches(p["adv"], dec) and not grad_reaches(p["adv"], enc)
    assert grad_reaches(p["code_adv"], enc) and not grad_reaches(p["code_adv"], dec)


def test_mode_regularised_encoder_learns_from_the_regularisers_only():
    m = model("mode_regularised.lam1=0,mode_regularised.lam2=0")
    assert not grad_reaches(m.game.g_objective(m, m.real(), m.noise()), m.game.E.flat)
    m = model("mode_regularised")
    assert grad_reaches(m.game.g_objective(m, m.real(), m.noise()), m.game.E.flat)


# -- generator objectives ------------------------------------------------------------------------


def test_feature_matching_matches_mean_hidden_features():
    m = model("feature_matching")
    real, z = m.real(), m.noise()
    f_r = m.D(m.prep(real), features=True)[1].mean(1)
    f_f = m.D(m.prep(m.generate(z)), features=True)[1].mean(1)
    close(m.game.g_objective(m, real, z), float(((f_r - f_f) ** 2).sum().detach()))


def test_mode_seeking_ratio_of_sample_to_latent_distances():
    m = model("mode_seeking.lam=1")
    fake = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 5.0]]]) * m.tb.scale
    z = torch.tensor([[[0.0, 0.0], [0.0, 0.0], [0.5, 0.5], [0.5, 0.5]]])
    ratio = ((2 + 2 + 2 + 4) / 4) / 0.5  # mean |G(z1) - G(z2)| / mean |z1 - z2|
    close(m.opts[0].g_penalty(m, z, fake), 1 / (ratio + 1e-5))
