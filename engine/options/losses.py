r"""Loss options: how D scores real against fake samples and what G minimises.

Notation: ``real`` and ``fake`` are D's raw outputs on data and on G's samples, shape (S, B, 1) for S
seeds; D(x) = sigmoid(output) for the sigmoid losses. Each loss returns one value per seed, (S,),
the mean over the batch. log sigmoid(l) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l):
written with softplus so a loss stays exact where D is within 1e-8 of 0 or 1.

Every option of group "loss" replaces the plain GAN's non-saturating loss; one per recipe.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F

from ..config import bounded
from . import Option, register

Tensor = torch.Tensor


def _m(x: Tensor) -> Tensor:
    """Mean over every axis but the first (seeds)."""
    return x.reshape(x.shape[0], -1).mean(dim=1)


class _Loss(Option):
    kind, group = "loss", "loss"
    g_needs_real = False  # does G's loss read D's output on real samples? (relativistic losses do)
    sigmoid = True  # is sigmoid(output) a probability of "real"? (for the D(real)/D(fake) curves)


@register
class Saturating(_Loss):
    r"""The original minimax GAN (Goodfellow et al. 2014).

    L_D = -E[log D(x)] - E[log(1 - D(G(z)))],    L_G = E[log(1 - D(G(z)))]   (minimised).

    G's gradient vanishes when D confidently rejects the fakes: d/dl log(1 - sigmoid(l)) = -sigmoid(l),
    which goes to 0 as D(G(z)) = sigmoid(l) -> 0."""

    id, label, cite = "saturating", "Minimax (saturating) loss", "goodfellow2014"

    @staticmethod
    def d_loss(real: Tensor, fake: Tensor) -> Tensor:
        return _m(F.softplus(-real)) + _m(F.softplus(fake))

    @staticmethod
    def g_loss(fake: Tensor, real: Optional[Tensor]) -> Tensor:
        return _m(-F.softplus(fake))


@register
class NonSaturating(_Loss):
    r"""The plain GAN's loss (Goodfellow et al. 2014, the "-log D trick").

    L_D = -E[log D(x)] - E[log(1 - D(G(z)))],    L_G = -E[log D(G(z))].

    Same fixed point as the minimax game; G's gradient -(1 - sigmoid(l)) is strong exactly when D
    rejects the fakes."""

    id, label, cite = "nonsaturating", "Non-saturating loss", "goodfellow2014"

    d_loss = staticmethod(Saturating.d_loss)

    @staticmethod
    def g_loss(fake: Tensor, real: Optional[Tensor]) -> Tensor:
        return _m(F.softplus(-fake))


@register
class LeastSquares(_Loss):
    r"""Least squares GAN (Mao et al. 2017), with the a-b-c = 0-1-1 coding of their eq. (9):

    L_D = 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2],    L_G = 1/2 E[(D(G(z)) - 1)^2],   D = raw output.

    Fakes far on the correct side of the boundary are still penalised, so G's gradient does not vanish."""

    id, label, cite, sigmoid = "lsgan", "Least squares loss (LSGAN)", "mao2017lsgan", False

    @staticmethod
    def d_loss(real: Tensor, fake: Tensor) -> Tensor:
        return 0.5 * _m((real - 1) ** 2) + 0.5 * _m(fake**2)

    @staticmethod
    def g_loss(fake: Tensor, real: Optional[Tensor]) -> Tensor:
        return 0.5 * _m((fake - 1) ** 2)


@register
class Hinge(_Loss):
    r"""Hinge loss (Lim & Ye 2017, "Geometric GAN"):

    L_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))],    L_G = -E[D(G(z))]."""

    id, label, cite, sigmoid = "hinge", "Hinge loss", "lim2017geometric", False

    @staticmethod
    def d_loss(real: Tensor, fake: Tensor) -> Tensor:
        return _m(F.relu(1 - real)) + _m(F.relu(1 + fake))

    @staticmethod
    def g_loss(fake: Tensor, real: Optional[Tensor]) -> Tensor:
        return -_m(fake)


@dataclass(frozen=True)
class WassersteinParams:
    clip: float = field(default=0.01, metadata=bounded(1e-4, 1.0, "weight clipping bound c (0.01 in the paper)"))
    n_critic: int = field(default=5, metadata=bounded(1, 20, "critic steps per generator step (5 in the paper)"))


@register
class Wasserstein(_Loss):
    r"""Wasserstein GAN with weight clipping (Arjovsky, Chintala & Bottou 2017, Algorithm 1):

    L_D = E[D(G(z))] - E[D(x)],    L_G = -E[D(G(z))],

    the critic's weights clipped to [-c, c] after every critic step (a crude Lipschitz bound) and
    ``n_critic`` critic steps per generator step. Paper defaults: c = 0.01, n_critic = 5, RMSProp with
    learning rate 5e-5 (the optimiser and learning rate are the run's settings; presets set them)."""

    id, label, cite, sigmoid = "wasserstein", "Wasserstein loss, weight clipping (WGAN)", "arjovsky2017wgan", False
    Params = WassersteinParams
    conflicts = ("n_critic",)
    conflict_note = "WGAN sets its own number of critic steps (its n_critic parameter)"

    @staticmethod
    def d_loss(real: Tensor, fake: Tensor) -> Tensor:
        return _m(fake) - _m(real)

    @staticmethod
    def g_loss(fake: Tensor, real: Optional[Tensor]) -> Tensor:
        return -_m(fake)

    def setup(self, m) -> None:
        m.n_disc = self.p.n_critic

    def after_d_step(self, m) -> None:
        with torch.no_grad():
            m.D.flat.clamp_(-self.p.clip, self.p.clip)


@dataclass(frozen=True)
class WganGpParams:
    lam: float = field(default=10.0, metadata=bounded(0.0, 100.0, "penalty weight lambda (10 in the paper)"))
    n_critic: int = field(default=5, metadata=bounded(1, 20, "critic steps per generator step (5 in the paper)"))


@register
class WganGp(_Loss):
    r"""WGAN with gradient penalty (Gulrajani et al. 2017, Algorithm 1):

    L_D = E[D(G(z))] - E[D(x)] + lambda E_x^[(||grad D(x^)||_2 - 1)^2],   L_G = -E[D(G(z))],

    x^ = eps x + (1 - eps) G(z), eps ~ U[0, 1] per sample: the penalty is evaluated on random points of
    straight lines between real and fake samples. Paper defaults: lambda = 10, n_critic = 5,
    Adam(1e-4, beta1 = 0, beta2 = 0.9)."""

    id, label, cite, sigmoid = "wgan_gp", "WGAN-GP (Wasserstein + gradient penalty)", "gulrajani2017", False
    Params = WganGpParams
    traits = ("one_d", "paired")  # its penalty acts on one scalar D output, at real/fake interpolates
    conflicts = ("n_critic",)
    conflict_note = "WGAN-GP sets its own number of critic steps (its n_critic parameter)"

    d_loss = staticmethod(Wasserstein.d_loss)
    g_loss = staticmethod(Wasserstein.g_loss)

    def setup(self, m) -> None:
        m.n_disc = self.p.n_critic

    def d_penalty(self, m, real: Tensor, fake: Tensor) -> Tensor:
        from .penalties import input_grad

        xr, xf = m.prep(real.detach()), m.prep(fake.detach())
        eps = m.aux.uniform(xr.shape[1], 1)
        g = input_grad(m, eps * xr + (1 - eps) * xf)
        return self.p.lam * _m((g.norm(dim=-1) - 1) ** 2)


@dataclass(frozen=True)
class RelativisticParams:
    average: bool = field(default=False, metadata=bounded(help="relativistic *average* GAN (RaSGAN) instead of RSGAN"))


@register
class Relativistic(_Loss):
    r"""Relativistic GAN (Jolicoeur-Martineau 2019), with C the raw output and sigma the sigmoid.

    RSGAN (pairs):  L_D = -E[log sigma(C(x_r) - C(x_f))],   L_G = -E[log sigma(C(x_f) - C(x_r))].
    RaSGAN (average): L_D = -E_r[log sigma(C(x_r) - E_f C(x_f))] - E_f[log(1 - sigma(C(x_f) - E_r C(x_r)))],
                      L_G = -E_f[log sigma(C(x_f) - E_r C(x_r))] - E_r[log(1 - sigma(C(x_r) - E_f C(x_f)))].

    D estimates the probability that real data is more realistic than fake data, so G also learns by
    lowering D's score of *real* samples (G's loss reads D on real data)."""

    id, label, cite = "relativistic", "Relativistic loss (RSGAN / RaSGAN)", "jolicoeur2019relativistic"
    Params = RelativisticParams
    g_needs_real = True
    traits = ("paired",)  # pairs each fake with a real sample

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        if not self.p.average:
            return _m(F.softplus(-(real - fake)))
        r = real - fake.mean(dim=1, keepdim=True)
        f = fake - real.mean(dim=1, keepdim=True)
        return _m(F.softplus(-r)) + _m(F.softplus(f))

    def g_loss(self, fake: Tensor, real: Optional[Tensor]) -> Tensor:
        return self.d_loss(fake, real)  # the same game with the roles of real and fake swapped


# f-GAN: output activation g_f and Fenchel conjugate f* per divergence (Nowozin et al. 2016, Table 6)
F_DIVERGENCES = {
    "kl": (lambda v: v, lambda t: torch.exp(t - 1)),
    "reverse_kl": (lambda v: -torch.exp(-v), lambda t: -1 - torch.log(-t)),
    "pearson": (lambda v: v, lambda t: 0.25 * t * t + t),
    "hellinger": (lambda v: 1 - torch.exp(-v), lambda t: t / (1 - t)),
    "js": (lambda v: math.log(2) - F.softplus(-v), lambda t: -torch.log(2 - torch.exp(t))),
}


@dataclass(frozen=True)
class FGanParams:
    divergence: str = field(default="reverse_kl", metadata=bounded(
        help="f-divergence: kl, reverse_kl, pearson, hellinger or js", choices=tuple(F_DIVERGENCES)))


@register
class FGan(_Loss):
    r"""f-GAN (Nowozin, Cseke & Tomioka 2016): minimise an f-divergence through its variational bound

    F(theta, w) = E_P[g_f(V_w(x))] - E_Q[f*(g_f(V_w(x)))],

    D maximises F (L_D = -F); G uses the paper's practical generator update, maximising
    E_Q[g_f(V_w(G(z)))] (L_G = -E[g_f(V(G(z)))]). g_f (output activation) and f* (Fenchel conjugate)
    per divergence are those of the paper's Table 6: KL (v, exp(t - 1)), reverse KL (-exp(-v),
    -1 - log(-t)), Pearson chi^2 (v, t^2/4 + t), squared Hellinger (1 - exp(-v), t / (1 - t)),
    Jensen-Shannon (log 2 - log(1 + exp(-v)), -log(2 - exp(t))). Reverse KL is mode seeking, KL
    mass covering: the divergence is the knob that changes how a GAN drops modes."""

    id, label, cite, sigmoid = "fgan", "f-divergence loss (f-GAN)", "nowozin2016fgan", False
    Params = FGanParams

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        g, fstar = F_DIVERGENCES[self.p.divergence]
        return -(_m(g(real)) - _m(fstar(g(fake))))

    def g_loss(self, fake: Tensor, real: Optional[Tensor]) -> Tensor:
        g, _ = F_DIVERGENCES[self.p.divergence]
        return -_m(g(fake))


@dataclass(frozen=True)
class SmoothingParams:
    target: float = field(default=0.9, metadata=bounded(0.5, 1.0, "D's target for real samples (0.9 in the paper)"))


@register
class OneSidedLabelSmoothing(Option):
    r"""One-sided label smoothing (Salimans et al. 2016): D's target for real samples is alpha = 0.9
    instead of 1, and stays 0 for fakes (smoothing the fake side too would let G's samples keep
    D's approval where there is no data):

    L_D = -alpha E[log D(x)] - (1 - alpha) E[log(1 - D(x))] - E[log(1 - D(G(z)))].

    Implemented as the term it adds to the plain D loss: with l = D's logit on x,
    L_D - L_D(alpha = 1) = (1 - alpha) E[log D(x) - log(1 - D(x))] = (1 - alpha) E[l]
    (since log sigmoid(l) - log(1 - sigmoid(l)) = l). Needs a sigmoid cross-entropy loss."""

    id, label, kind, cite = "label_smoothing", "One-sided label smoothing", "penalty", "salimans2016"
    Params = SmoothingParams
    traits = ("one_d",)
    conflicts = ("lsgan", "hinge", "wasserstein", "wgan_gp", "relativistic", "fgan", "began", "r3gan", "ebgan")
    conflict_note = "label smoothing changes the target of a sigmoid cross-entropy loss"

    def d_penalty(self, m, real: Tensor, fake: Tensor) -> Tensor:
        return (1 - self.p.target) * _m(m.d(real))


@dataclass(frozen=True)
class BeganParams:
    gamma: float = field(default=0.5, metadata=bounded(0.05, 1.0, "diversity ratio gamma = E[L(G(z))] / E[L(x)] (0.5)"))
    lambda_k: float = field(default=0.001, metadata=bounded(0.0, 0.1, "proportional gain of k (0.001 in the paper)"))


@register
class Began(_Loss):
    r"""BEGAN (Berthelot, Schumm & Metz 2017): D is an auto-encoder; L(v) = |v - D(v)|_1 its
    reconstruction error (mean over coordinates).

    L_D = L(x) - k_t L(G(z)),    L_G = L(G(z)),    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1).

    The proportional control of k_t keeps the equilibrium E[L(G(z))] = gamma E[L(x)]: gamma trades
    diversity for quality. Paper defaults: gamma in [0.3, 0.7] (0.5 shown), lambda_k = 0.001, k_0 = 0.
    k is kept per seed and moves once per training step t, with the errors of that step's first D
    loss (other evaluations of D's loss, an unrolled look-ahead or a second extragradient point, do
    not move it)."""

    id, label, cite, sigmoid = "began", "BEGAN (auto-encoder D, equilibrium term)", "berthelot2017began", False
    Params = BeganParams

    def net(self, role: str, spec):
        from dataclasses import replace

        return replace(spec, autoencoder=True) if role == "D" else spec  # D outputs a reconstruction

    def setup(self, m) -> None:
        m.state["began_k"] = torch.zeros(len(m.seeds), device=m.device)
        self.m, self.balance = m, None

    @staticmethod
    def head(xp: Tensor, out: Tensor) -> Tensor:
        """D's scalar output: the auto-encoder's L1 reconstruction error, (S, B, 1)."""
        return (xp - out).abs().mean(dim=-1, keepdim=True)

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        lr, lf = _m(real), _m(fake)
        if self.balance is None:  # the step's D loss: its errors drive the control of k
            self.balance = (self.p.gamma * lr - lf).detach()
        return lr - self.m.state["began_k"] * lf

    def after_step(self, m, step: int) -> None:
        if self.balance is not None:
            m.state["began_k"] = (m.state["began_k"] + self.p.lambda_k * self.balance).clamp(0, 1)
        self.balance = None

    @staticmethod
    def g_loss(fake: Tensor, real: Optional[Tensor]) -> Tensor:
        return _m(fake)


# -- newer losses (issue 19) ---------------------------------------------------------------------


@dataclass(frozen=True)
class R3ganParams:
    gamma: float = field(default=1.0, metadata=bounded(0.0, 1000.0, "weight gamma of R1 and R2 (the paper tunes it per dataset; 1 here)"))


@register
class R3gan(_Loss):
    r"""R3GAN's regularised relativistic loss (Huang et al. 2024): the relativistic pairing loss
    (RpGAN) with both zero-centred penalties,

    L_D = E[softplus(-(D(x) - D(G(z))))] + gamma/2 (E_x ||grad D(x)||^2 + E_z ||grad D(G(z))||^2),
    L_G = E[softplus(-(D(G(z)) - D(x)))],

    i.e. RSGAN with R1 and R2 of one weight (the authors' code: ``(Gamma / 2) * (R1 + R2)``). The
    pairing couples each fake to a real point, which the paper shows removes the mode dropping of
    the plain loss, and R1 + R2 give it local convergence. gamma is tuned per dataset in the paper
    (no single default); 1 here."""

    id, label, cite = "r3gan", "Relativistic + R1 + R2 (R3GAN)", "huang2024r3gan"
    Params = R3ganParams
    g_needs_real = True
    traits = ("one_d", "paired")
    conflicts = ("r1", "r2")
    conflict_note = "R3GAN already contains R1 and R2"

    @staticmethod
    def d_loss(real: Tensor, fake: Tensor) -> Tensor:
        return _m(F.softplus(-(real - fake)))

    @staticmethod
    def g_loss(fake: Tensor, real: Optional[Tensor]) -> Tensor:
        return _m(F.softplus(-(fake - real)))

    def d_penalty(self, m, real: Tensor, fake: Tensor) -> Tensor:
        from .penalties import input_grad

        r1 = _m((input_grad(m, m.prep(real)) ** 2).sum(-1))
        r2 = _m((input_grad(m, m.prep(fake.detach())) ** 2).sum(-1))
        return 0.5 * self.p.gamma * (r1 + r2)


@dataclass(frozen=True)
class EbganParams:
    margin: float = field(default=1.0, metadata=bounded(0.0, 100.0, "margin m (data-dependent in the paper; 1 here)"))
    pt: float = field(default=0.1, metadata=bounded(0.0, 10.0, "weight lambda_PT of the pulling-away term (0.1 in the paper)"))


@register
class Ebgan(_Loss):
    r"""EBGAN with the pulling-away term (Zhao, Mathieu & LeCun 2017): D is an auto-encoder whose
    reconstruction error is an energy, D(x) = ||Dec(Enc(x)) - x||^2 (mean over coordinates),

    L_D = D(x) + [m - D(G(z))]^+,     L_G = D(G(z)) + lambda_PT f_PT(S),
    f_PT(S) = 1 / (N (N - 1)) sum_{i != j} ( S_i . S_j / (||S_i|| ||S_j||) )^2,

    S = the encoder's representation of G's batch (here D's last hidden layer). The margin stops
    D from pushing the energy of fakes beyond m; the pulling-away term penalises a batch of fakes
    whose codes point the same way (a collapsed batch). lambda_PT = 0.1 (the paper); the margin is
    set per dataset in the paper (1 here)."""

    id, label, cite, sigmoid = "ebgan", "Energy-based GAN + pulling-away term (EBGAN-PT)", "zhao2017ebgan", False
    Params = EbganParams

    net = Began.net  # D outputs a reconstruction of its input

    @staticmethod
    def head(xp: Tensor, out: Tensor) -> Tensor:
        """D's scalar output: the auto-encoder's squared reconstruction error, (S, B, 1)."""
        return ((xp - out) ** 2).mean(dim=-1, keepdim=True)

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return _m(real) + _m(F.relu(self.p.margin - fake))

    @staticmethod
    def g_loss(fake: Tensor, real: Optional[Tensor]) -> Tensor:
        return _m(fake)

    def g_penalty(self, m, z: Tensor, fake: Tensor) -> Tensor:
        return self.p.pt * pulling_away(m.D(m.prep(fake), features=True)[1])


def pulling_away(s: Tensor) -> Tensor:
    """f_PT of a batch of codes (S, N, h): the mean squared cosine over the N (N - 1) ordered pairs."""
    s = F.normalize(s, dim=-1)
    n = s.shape[1]
    cos2 = torch.bmm(s, s.transpose(1, 2)) ** 2
    off = cos2.sum(dim=(1, 2)) - cos2.diagonal(dim1=1, dim2=2).sum(dim=1)
    return off / (n * (n - 1))


@dataclass(frozen=True)
class TopKParams:
    gamma: float = field(default=0.99, metadata=bounded(0.5, 1.0, "decay of k per 'epoch' (0.99 in the paper)"))
    nu: float = field(default=0.5, metadata=bounded(0.05, 1.0, "minimum fraction of the batch kept (0.5 in the code we read)"))
    every: int = field(default=10, metadata=bounded(1, 10000, "steps per decay of k (an 'epoch' here; ours)"))


@register
class TopK(Option):
    r"""Top-k training (Sinha et al. 2020): G's loss is computed on the k of its B samples that D
    rates most realistic only,

    L_G = (1/k) sum_{i in top-k D(G(z_i))} l(D(G(z_i))),    k = max(gamma^e B, nu B),

    e counting "epochs": the worst-rated samples' gradients point G towards where D is most sure
    there is no data, often away from any mode, so they are thrown away, more of them as training
    goes on. gamma = 0.99 per epoch (the paper), nu = 0.5 (the minimum in the code we read); an
    epoch here is ``every`` steps (ours: this lab has no epochs)."""

    id, label, kind, cite = "top_k", "Top-k training of G", "loss", "sinha2020topk"
    Params = TopKParams
    conflicts = ("paired", "began", "ebgan", "own_g")
    conflict_note = "top-k selects G's samples inside the plain G objective, one score per sample"

    def setup(self, m) -> None:
        self.t = 0

    def after_step(self, m, step: int) -> None:
        self.t = step

    def fraction(self) -> float:
        return max(self.p.gamma ** (self.t // self.p.every), self.p.nu)

    def g_scores(self, m, out_f: Tensor) -> Tensor:
        k = max(1, int(self.fraction() * out_f.shape[1]))
        return torch.topk(out_f, k, dim=1).values
