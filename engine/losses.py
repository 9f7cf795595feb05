r"""GAN losses as pure functions of discriminator logits, and the gradient penalties.

Notation: ``real`` and ``fake`` are the discriminator's raw outputs (logits) on data and on
generated samples, shape ``(S, B)`` or ``(S, B, 1)`` for S seeds trained together. Every loss returns
one value per seed, shape ``(S,)``, the mean over the batch; callers sum over seeds so each seed's
gradient is exactly that of its own run. D(x) = sigmoid(logit).

Discriminator (minimised), for the sigmoid losses:
    L_D = -E[log D(x)] - E[log(1 - D(G(z)))]
Generator (minimised):
    saturating (the original minimax):   L_G =  E[log(1 - D(G(z)))]
    non-saturating (Goodfellow 2014):     L_G = -E[log D(G(z))]
    least squares (Mao 2017, a-b-c = 0-1-1): L_D = 1/2 E[(D(x)-1)^2] + 1/2 E[D(G(z))^2],
                                          L_G = 1/2 E[(D(G(z))-1)^2]   (D = raw output here)
    hinge (Lim & Ye 2017):                L_D = E[max(0, 1-D(x))] + E[max(0, 1+D(G(z)))], L_G = -E[D(G(z))]
    Wasserstein (Arjovsky 2017):          L_D = E[D(G(z))] - E[D(x)],                     L_G = -E[D(G(z))]

log(1 - sigmoid(l)) = -softplus(l) and log sigmoid(l) = -softplus(-l): written with softplus so
the saturating loss is computed exactly even where D(G(z)) is within 1e-8 of 0 or 1.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def _m(x: Tensor) -> Tensor:
    """Mean over every axis but the first (seeds)."""
    return x.reshape(x.shape[0], -1).mean(dim=1)


# --- discriminator losses -------------------------------------------------------------------
def d_loss_bce(real: Tensor, fake: Tensor) -> Tensor:
    # -log D(x) = softplus(-l);  -log(1 - D(G(z))) = softplus(l)
    return _m(F.softplus(-real)) + _m(F.softplus(fake))


def d_loss_lsgan(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * _m((real - 1) ** 2) + 0.5 * _m(fake**2)


def d_loss_hinge(real: Tensor, fake: Tensor) -> Tensor:
    return _m(F.relu(1 - real)) + _m(F.relu(1 + fake))


def d_loss_wasserstein(real: Tensor, fake: Tensor) -> Tensor:
    return _m(fake) - _m(real)


# --- class labels (conditional GANs: the lab's games, the medical demos' AC-GAN) ----------------
def one_hot(idx: Tensor, k: int) -> Tensor:
    """Class indices -> one-hot floats with a last axis of size k."""
    return F.one_hot(idx, k).float()


def class_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy per seed, -E[log softmax(logits)_y], ``target`` a one-hot (S, B, K) or an
    index (S, B) or (B,) tensor."""
    logp = F.log_softmax(logits, dim=-1)
    if target.dtype.is_floating_point:
        return _m(-(target * logp).sum(-1))
    if target.dim() == 1:
        target = target.expand(logits.shape[0], -1)
    return _m(-logp.gather(-1, target.unsqueeze(-1)))


# --- generator losses -----------------------------------------------------------------------
def g_loss_saturating(fake: Tensor) -> Tensor:
    """E[log(1 - D(G(z)))], minimised: the original minimax generator loss. Its gradient vanishes
    when D confidently rejects the fakes (D(G(z)) -> 0)."""
    return _m(-F.softplus(fake))


def g_loss_nonsaturating(fake: Tensor) -> Tensor:
    """-E[log D(G(z))]: same fixed point, strong gradient when D rejects the fakes."""
    return _m(F.softplus(-fake))


def g_loss_lsgan(fake: Tensor) -> Tensor:
    return 0.5 * _m((fake - 1) ** 2)


def g_loss_linear(fake: Tensor) -> Tensor:
    """-E[D(G(z))]: the generator loss of WGAN and of the hinge GAN."""
    return -_m(fake)


# name -> (discriminator loss, generator loss)
LOSSES: dict[str, tuple[Callable, Callable]] = {
    "saturating": (d_loss_bce, g_loss_saturating),
    "nonsaturating": (d_loss_bce, g_loss_nonsaturating),
    "lsgan": (d_loss_lsgan, g_loss_lsgan),
    "hinge": (d_loss_hinge, g_loss_linear),
    "wasserstein": (d_loss_wasserstein, g_loss_linear),
}


# --- gradient penalties ---------------------------------------------------------------------
def input_grad(d: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """dD/dx for every sample. Each output depends on its own input only (no batch coupling in the
    critic), so the gradient of the sum gives every per-sample gradient in one backward pass.
    create_graph=True: the penalty itself is differentiated w.r.t. D's weights."""
    x = x.detach().requires_grad_(True)
    out = d(x)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return g


def wgan_gp_penalty(d: Callable, real: Tensor, fake: Tensor, generator: torch.Generator | None = None,
                    device: torch.device | str | None = None) -> Tensor:
    """Gulrajani et al. 2017: E_x̂[(||∇D(x̂)||_2 - 1)^2] at x̂ = eps*x + (1-eps)*G(z), eps ~ U[0,1]
    drawn per sample, i.e. on random points of straight lines between real and fake samples."""
    # eps is drawn on the generator's device (a seeded CPU stream) and then moved to the data's, so
    # the same seed gives the same interpolates on CPU and CUDA
    eps = torch.rand(real.shape[:-1] + (1,), generator=generator).to(device or real.device)
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    g = input_grad(d, x_hat)
    return _m((g.norm(dim=-1) - 1) ** 2)


def r1_penalty(d: Callable, real: Tensor) -> Tensor:
    """Mescheder et al. 2018: R1 = 1/2 E_{x~p_data}[||∇D(x)||^2], evaluated on real data only
    (the caller multiplies by gamma)."""
    g = input_grad(d, real)
    return 0.5 * _m((g**2).sum(dim=-1))
