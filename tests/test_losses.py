"""Each loss is pinned to its definition, computed here from D = sigmoid(logit) by hand."""
import math

import pytest
import torch

from engine import losses

L = torch.tensor([[-3.0, -0.5, 0.0, 0.7, 4.0]])  # one seed, five logits
D = torch.sigmoid(L)


def test_saturating_is_log_one_minus_d():
    # the original minimax generator loss: minimise E[log(1 - D(G(z)))]
    assert torch.allclose(losses.g_loss_saturating(L), torch.log(1 - D).mean(dim=1), atol=1e-6)


def test_nonsaturating_is_minus_log_d():
    assert torch.allclose(losses.g_loss_nonsaturating(L), -torch.log(D).mean(dim=1), atol=1e-6)


def test_saturating_and_nonsaturating_differ_in_gradient_where_d_rejects_fakes():
    # D(G(z)) ~ 0 (logit -8): the saturating gradient vanishes, the non-saturating one does not
    x = torch.full((1, 4), -8.0, requires_grad=True)
    (g_sat,) = torch.autograd.grad(losses.g_loss_saturating(x).sum(), x)
    (g_ns,) = torch.autograd.grad(losses.g_loss_nonsaturating(x).sum(), x)
    assert g_sat.abs().max() < 1e-3 * g_ns.abs().max()


def test_bce_discriminator():
    real, fake = L, L.flip(1)
    want = (-torch.log(torch.sigmoid(real))).mean(1) + (-torch.log(1 - torch.sigmoid(fake))).mean(1)
    assert torch.allclose(losses.d_loss_bce(real, fake), want, atol=1e-6)


def test_lsgan():
    real, fake = L, L.flip(1)
    assert torch.allclose(losses.d_loss_lsgan(real, fake), 0.5 * ((real - 1) ** 2).mean(1) + 0.5 * (fake**2).mean(1))
    assert torch.allclose(losses.g_loss_lsgan(fake), 0.5 * ((fake - 1) ** 2).mean(1))


def test_hinge_and_wasserstein():
    real, fake = L, L.flip(1)
    assert torch.allclose(losses.d_loss_hinge(real, fake),
                          torch.clamp(1 - real, min=0).mean(1) + torch.clamp(1 + fake, min=0).mean(1))
    assert torch.allclose(losses.d_loss_wasserstein(real, fake), fake.mean(1) - real.mean(1))
    assert torch.allclose(losses.g_loss_linear(fake), -fake.mean(1))


def test_losses_are_per_seed():
    two = torch.cat([L, 2 * L])  # two seeds
    out = losses.g_loss_nonsaturating(two)
    assert out.shape == (2,)
    assert torch.allclose(out[0], losses.g_loss_nonsaturating(L)[0])


def test_r1_is_half_squared_gradient_norm_on_real_data():
    # D(x) = w . x  ->  grad = w everywhere: R1 = 1/2 |w|^2
    w = torch.tensor([3.0, -4.0])
    real = torch.randn(1, 16, 2)
    assert losses.r1_penalty(lambda x: (x * w).sum(-1, keepdim=True), real).item() == pytest.approx(12.5)


def test_wgan_gp_evaluated_on_interpolates_between_real_and_fake():
    real = torch.zeros(1, 256, 2)
    fake = torch.ones(1, 256, 2) * 2.0
    seen = []

    def critic(x):
        seen.append(x.detach().clone())
        return (x**2).sum(-1, keepdim=True)  # grad = 2x: the norm depends on where it is taken

    pen = losses.wgan_gp_penalty(critic, real, fake, torch.Generator().manual_seed(0))
    pts = seen[0]
    # every point lies on the segment from real (0,0) to fake (2,2): x == y, in [0, 2], spread out
    assert torch.allclose(pts[..., 0], pts[..., 1])
    assert pts.min() >= 0 and pts.max() <= 2 and pts.std() > 0.3
    want = ((2 * pts.norm(dim=-1) - 1) ** 2).mean()
    assert pen.item() == pytest.approx(want.item(), rel=1e-5)


def test_loss_table_matches_functions():
    assert losses.LOSSES["saturating"][1] is losses.g_loss_saturating
    assert losses.LOSSES["nonsaturating"][1] is losses.g_loss_nonsaturating
    assert math.isclose(losses.g_loss_saturating(torch.zeros(1, 1)).item(), math.log(0.5), rel_tol=1e-6)
