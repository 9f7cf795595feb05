r"""Penalty options: terms added to D's (or G's) loss, each evaluated where its paper says.

Gradients w.r.t. D's *input* are taken on what D actually reads (:meth:`engine.lab.Model.prep`:
data scaled to unit extent, packed when PacGAN is on), with ``create_graph=True`` so the penalty
itself is differentiated w.r.t. D's weights. Each seed's D output depends only on its own inputs,
so the gradient of the sum over the batch holds every per-sample gradient (for a batch-coupled D,
minibatch stddev or batch norm, it also holds the cross-sample terms, as in the papers' code).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..config import bounded
from . import Option, register

DATA = 2  # data columns of a sample (engine.lab.DATA; a game may append its own after them)

Tensor = torch.Tensor


def _m(x: Tensor) -> Tensor:
    return x.reshape(x.shape[0], -1).mean(dim=1)


def input_grad(m, xp: Tensor, data_only: bool = True) -> Tensor:
    """dD/dx at prepared inputs ``xp`` (S, B, in), differentiable w.r.t. D's weights. With
    ``data_only`` (the default) only the data columns: a conditional or joint D also reads a game's
    label or code columns, which the papers' penalties hold fixed (they penalise dD/dx)."""
    xp = xp.detach().requires_grad_(True)
    out = m.d_prepped(xp)
    (g,) = torch.autograd.grad(out.sum(), xp, create_graph=True)
    return data_columns(m, g) if data_only else g


def data_columns(m, t: Tensor) -> Tensor:
    """The data columns of a prepared (possibly packed) input (S, B, pack * c) -> (S, B, pack * 2)."""
    c = t.shape[-1] // m.pack
    if c == DATA:
        return t
    s, b, _ = t.shape
    return t.reshape(s, b, m.pack, c)[..., :DATA].reshape(s, b, m.pack * DATA)


def data_noise(m, x: Tensor, noise: Tensor) -> Tensor:
    """x + noise on the data columns of samples x (S, n, 2 + tags); a game's columns stay."""
    if x.shape[-1] == DATA:
        return x + noise
    return torch.cat([x[..., :DATA] + noise, x[..., DATA:]], dim=-1)


@dataclass(frozen=True)
class GammaParams:
    gamma: float = field(default=10.0, metadata=bounded(0.0, 1000.0, "penalty weight gamma (10 in the paper's image experiments)"))


@register
class R1(Option):
    r"""R1 (Mescheder, Geiger & Nowozin 2018, eq. 9): a zero-centred gradient penalty on *real* data,

    R1(psi) = gamma/2 E_{x ~ p_data}[ ||grad_x D_psi(x)||^2 ],   D_psi = D's logit,

    added to D's loss. It makes the Dirac-GAN locally convergent: near the equilibrium D cannot
    gain by a slope on the data, so it stops pushing G around it."""

    id, label, kind, cite = "r1", "R1 gradient penalty (real data)", "penalty", "mescheder2018"
    traits = ("one_d",)  # acts on one scalar D output
    Params = GammaParams

    def d_penalty(self, m, real: Tensor, fake: Tensor) -> Tensor:
        g = input_grad(m, m.prep(real))
        return 0.5 * self.p.gamma * _m((g**2).sum(-1))


@register
class R2(Option):
    r"""R2 (Mescheder et al. 2018, eq. 10): the same zero-centred penalty on G's samples,

    R2(theta, psi) = gamma/2 E_{x ~ p_theta}[ ||grad_x D_psi(x)||^2 ]."""

    id, label, kind, cite = "r2", "R2 gradient penalty (fake data)", "penalty", "mescheder2018"
    traits = ("one_d",)  # acts on one scalar D output
    Params = GammaParams

    def d_penalty(self, m, real: Tensor, fake: Tensor) -> Tensor:
        g = input_grad(m, m.prep(fake.detach()))
        return 0.5 * self.p.gamma * _m((g**2).sum(-1))


@dataclass(frozen=True)
class DraganParams:
    lam: float = field(default=10.0, metadata=bounded(0.0, 100.0, "penalty weight lambda (10 in the paper)"))
    spread: float = field(default=0.5, metadata=bounded(0.0, 5.0, "perturbation size, in sd of the batch (0.5 in the authors' code)"))


@register
class Dragan(Option):
    r"""DRAGAN (Kodali et al. 2017): a gradient penalty around the *real* data only,

    lambda E[(||grad D(x^)||_2 - 1)^2],   x^ = x + alpha (x_p - x),  x_p = x + c sd(x) u,

    u ~ U[0, 1)^d per coordinate, alpha ~ U[0, 1] per sample, c = 0.5 and lambda = 10 as in the
    authors' code. Sharp gradients of D near the data are what it blames for mode collapse."""

    id, label, kind, cite = "dragan", "DRAGAN gradient penalty", "penalty", "kodali2017dragan"
    traits = ("one_d",)  # acts on one scalar D output
    Params = DraganParams

    def d_penalty(self, m, real: Tensor, fake: Tensor) -> Tensor:
        xr = m.prep(real)
        xd = data_columns(m, xr)
        sd = xd.std(dim=1, keepdim=True).mean(dim=2, keepdim=True)
        u = m.aux.uniform(*xd.shape[1:])
        alpha = m.aux.uniform(xr.shape[1], 1)
        g = input_grad(m, xr + _on_data(m, xr, alpha * self.p.spread * sd * u))
        return self.p.lam * _m((g.norm(dim=-1) - 1) ** 2)


@dataclass(frozen=True)
class RothParams:
    gamma: float = field(default=2.0, metadata=bounded(0.0, 100.0, "regulariser weight gamma (2.0 in the paper)"))
    anneal: bool = field(default=False, metadata=bounded(help="anneal gamma by 0.01^(t/T) as in the paper's image runs"))


@register
class NoiseRegularisation(Option):
    r"""Regularising D by training with noise, analytically (Roth et al. 2017): with D = sigmoid(phi),

    Omega(D; P, Q) = E_P[(1 - D(x))^2 ||grad phi(x)||^2] + E_Q[D(x)^2 ||grad phi(x)||^2],

    and D's loss gets + gamma/2 Omega: the cost of convolving both distributions with small noise,
    without drawing the noise. A sigmoid cross-entropy D is assumed (phi = logit)."""

    id, label, kind, cite = "roth", "Noise regularisation (Roth et al.)", "penalty", "roth2017stabilizing"
    traits = ("one_d",)  # acts on one scalar D output
    Params = RothParams
    conflicts = ("lsgan", "hinge", "wasserstein", "wgan_gp", "fgan", "began", "ebgan")
    conflict_note = "Roth et al.'s regulariser is derived for a sigmoid cross-entropy discriminator"

    def setup(self, m) -> None:
        self.total = m.s.steps
        self.t = 0

    def after_step(self, m, step: int) -> None:
        self.t = step

    def d_penalty(self, m, real: Tensor, fake: Tensor) -> Tensor:
        gamma = self.p.gamma * (0.01 ** (self.t / self.total) if self.p.anneal else 1.0)
        total = 0
        for x, weight in ((real, lambda d: (1 - d) ** 2), (fake.detach(), lambda d: d**2)):
            xp = m.prep(x).detach().requires_grad_(True)
            phi = m.d_prepped(xp)
            (g,) = torch.autograd.grad(phi.sum(), xp, create_graph=True)
            g = data_columns(m, g)
            total = total + _m(weight(torch.sigmoid(phi)).squeeze(-1) * (g**2).sum(-1))
        return 0.5 * gamma * total


@dataclass(frozen=True)
class ConsistencyParams:
    lam: float = field(default=10.0, metadata=bounded(0.0, 100.0, "weight lambda (10 in the paper)"))
    shift: float = field(default=0.5, metadata=bounded(0.0, 5.0, "augmentation: jitter sd, in units of the modes' sd"))


@register
class Consistency(Option):
    r"""Consistency regularisation (Zhang et al. 2020, CR-GAN): D should not change its mind under a
    semantics-preserving augmentation T of the real data,

    L_D += lambda E_x ||D(x) - D(T(x))||^2,   lambda = 10 (the paper's default).

    On 2D points T is a small Gaussian jitter (sd = ``shift`` x the modes' sd), which keeps a point in
    its mode, as a flip or a small translation keeps an image's content."""

    id, label, kind, cite = "consistency", "Consistency regularisation (CR-GAN)", "penalty", "zhang2020cr"
    traits = ("one_d",)  # acts on one scalar D output
    Params = ConsistencyParams

    def d_penalty(self, m, real: Tensor, fake: Tensor) -> Tensor:
        jitter = self.p.shift * m.tb.sigma * m.aux.normal(real.shape[1], DATA)
        return self.p.lam * _m((m.d(real) - m.d(data_noise(m, real, jitter))) ** 2)


@dataclass(frozen=True)
class InstanceNoiseParams:
    sd: float = field(default=0.2, metadata=bounded(0.0, 2.0, "noise sd, in data units"))
    anneal: bool = field(default=False, metadata=bounded(help="anneal the sd linearly to 0 over training"))


@register
class InstanceNoise(Option):
    r"""Instance noise (Sonderby et al. 2017; analysed by Arjovsky & Bottou 2017): D judges
    x + eps and G(z) + eps, eps ~ N(0, s^2 I), in every training step of both players, so the two
    distributions overlap and D cannot separate them perfectly. The noise is drawn in data units
    (before scaling) and may be annealed to 0."""

    id, label, kind, cite = "instance_noise", "Instance noise", "penalty", "sonderby2017instancenoise"
    Params = InstanceNoiseParams

    def setup(self, m) -> None:
        self.total, self.t = m.s.steps, 0

    def after_step(self, m, step: int) -> None:
        self.t = step

    def d_input(self, x: Tensor, m) -> Tensor:
        sd = self.p.sd * ((1 - self.t / self.total) if self.p.anneal else 1.0)
        return data_noise(m, x, (sd / m.tb.scale) * m.aux.normal(x.shape[1], DATA))


@dataclass(frozen=True)
class NkParams:
    eta: float = field(default=0.5, metadata=bounded(0.0, 100.0, "weight eta of D's gradient norm in G's loss"))


@register
class LocallyStable(Option):
    r"""The locally stable gradient regulariser (Nagarajan & Kolter 2017, "Gradient descent GAN
    optimization is locally stable"): G's loss gets the squared norm of D's own gradient,

    L_G += eta ||grad_psi L_D(theta, psi)||^2,

    so G moves where it reduces the force D feels; they prove local stability for the GAN with it
    (and that the WGAN's gradient dynamics can cycle without it)."""

    id, label, kind, cite = "local_stability", "Locally stable gradient regulariser", "penalty", "nagarajan2017locally"
    traits = ("one_d",)  # acts on one scalar D output
    Params = NkParams

    def g_penalty(self, m, z: Tensor, fake: Tensor) -> Tensor:
        real = m.real()
        d_loss = m.loss.d_loss(*m.d_pair(real, fake))  # fake keeps its graph: the penalty reaches G
        (g,) = torch.autograd.grad(d_loss.sum(), m.D.flat, create_graph=True)
        return self.p.eta * m.D.per_seed(g**2)


def _on_data(m, xp: Tensor, noise: Tensor) -> Tensor:
    """Noise of the data columns' shape (S, B, pack * 2) spread onto a prepared input's columns
    (zeros on a game's label/code columns)."""
    c = xp.shape[-1] // m.pack
    if c == DATA:
        return noise
    s, b, _ = xp.shape
    full = torch.zeros(s, b, m.pack, c, device=xp.device, dtype=xp.dtype)
    full[..., :DATA] = noise.reshape(s, b, m.pack, DATA)
    return full.reshape(s, b, m.pack * c)


# -- newer penalties (issue 19) ------------------------------------------------------------------


def _interpolates(m, real: Tensor, fake: Tensor) -> Tensor:
    """x^ = eps x + (1 - eps) G(z), eps ~ U[0, 1] per (packed) sample, on D's prepared inputs."""
    xr, xf = m.prep(real.detach()), m.prep(fake.detach())
    eps = m.aux.uniform(xr.shape[1], 1)
    return eps * xr + (1 - eps) * xf


@dataclass(frozen=True)
class ZeroGpParams:
    lam: float = field(default=10.0, metadata=bounded(0.0, 1000.0, "penalty weight lambda (10 in the authors' code)"))


@register
class ZeroCentredGP(Option):
    r"""Zero-centred gradient penalty on interpolates (Thanh-Tung, Tran & Venkatesh 2019, "0-GP"):

    lambda E_x^[ ||grad D(x^)||^2 ],   x^ = eps x + (1 - eps) G(z),  eps ~ U[0, 1],

    WGAN-GP's sampling with the centre moved from 1 to 0: D is pushed towards the smooth optimal
    discriminator between the data and G's samples, which the paper shows generalises (D does not
    memorise the finite training set) and keeps training stable. lambda = 10 (the authors' code;
    their D differentiates its sigmoid output, here its logit)."""

    id, label, kind, cite = "zero_gp", "Zero-centred gradient penalty (0-GP)", "penalty", "thanhtung2019generalization"
    Params = ZeroGpParams
    traits = ("one_d", "paired")  # interpolates pair each real with a fake sample

    def d_penalty(self, m, real: Tensor, fake: Tensor) -> Tensor:
        g = input_grad(m, _interpolates(m, real, fake))
        return self.p.lam * _m((g**2).sum(-1))


@dataclass(frozen=True)
class LpParams:
    lam: float = field(default=10.0, metadata=bounded(0.0, 100.0, "penalty weight lambda (10 as WGAN-GP; the paper's own value not verified)"))


@register
class LipschitzPenalty(Option):
    r"""WGAN-LP (Petzka, Fischer & Lukovnikov 2018): the *one-sided* Lipschitz penalty

    lambda E_x^[ max(0, ||grad D(x^)||_2 - 1)^2 ],   x^ on lines between real and fake samples,

    which penalises only gradients steeper than 1: a 1-Lipschitz critic satisfies it everywhere,
    whereas WGAN-GP's two-sided penalty also forces the norm up to 1 where the optimal critic is
    flatter. Meant for a Wasserstein critic (pair it with the ``wasserstein`` loss; weight clipping
    then adds nothing). lambda = 10 as WGAN-GP and the interpolates of Thanh-Tung et al.'s
    reimplementation; Petzka et al.'s own lambda and sampling were not verified here."""

    id, label, kind, cite = "wgan_lp", "One-sided Lipschitz penalty (WGAN-LP)", "penalty", "petzka2018wganlp"
    Params = LpParams
    traits = ("one_d", "paired")  # interpolates pair each real with a fake sample

    def d_penalty(self, m, real: Tensor, fake: Tensor) -> Tensor:
        g = input_grad(m, _interpolates(m, real, fake))
        return self.p.lam * _m(torch.relu(g.norm(dim=-1) - 1) ** 2)


@dataclass(frozen=True)
class LecamParams:
    lam: float = field(default=0.3, metadata=bounded(0.0, 100.0, "weight lambda (0.3 in the authors' BigGAN CIFAR-10 script)"))
    decay: float = field(default=0.99, metadata=bounded(0.0, 0.9999, "EMA decay of the anchors (0.99 in the authors' code)"))
    one_sided: bool = field(default=False, metadata=bounded(help="clip each distance at 0 (relu), as the authors' code does"))


@register
class LeCam(Option):
    r"""LeCam regularisation (Tseng et al. 2021): with alpha_R, alpha_F exponential moving averages of
    D's mean output on real and on fake samples (decay 0.99, zero-debiased),

    R_LC = E_x[ ||D(x) - alpha_F||^2 ] + E_z[ ||D(G(z)) - alpha_R||^2 ],

    added to D's loss with weight lambda: D's outputs on real data are pulled towards where it put
    the fakes and vice versa, which bounds how far apart D can push them (the paper relates it to
    the LeCam divergence). The authors' code clips each distance one-sidedly,
    relu(D(x) - alpha_F)^2 + relu(alpha_R - D(G(z)))^2 (``one_sided``). lambda = 0.3 (their BigGAN
    CIFAR-10 script), decay = 0.99 (their code). The anchors include the current batch (as the code)
    and are kept per seed."""

    id, label, kind, cite = "lecam", "LeCam regularisation", "penalty", "tseng2021lecam"
    Params = LecamParams
    traits = ("one_d",)

    def setup(self, m) -> None:
        zeros = torch.zeros(len(m.seeds), device=m.device)
        m.state["lecam"] = {"real": zeros.clone(), "fake": zeros.clone(), "t": 0}

    def d_penalty(self, m, real: Tensor, fake: Tensor) -> Tensor:
        out_r, out_f = m.d(real), m.d(fake.detach())
        st, b = m.state["lecam"], self.p.decay
        with torch.no_grad():
            st["t"] += 1
            st["real"] = b * st["real"] + (1 - b) * _m(out_r)
            st["fake"] = b * st["fake"] + (1 - b) * _m(out_f)
            debias = 1 - b ** st["t"]
            a_r, a_f = (st["real"] / debias).view(-1, 1, 1), (st["fake"] / debias).view(-1, 1, 1)
        dr, df = out_r - a_f, a_r - out_f
        if self.p.one_sided:
            dr, df = torch.relu(dr), torch.relu(df)
        return self.p.lam * (_m(dr**2) + _m(df**2))


@dataclass(frozen=True)
class BcrParams:
    lam_real: float = field(default=10.0, metadata=bounded(0.0, 100.0, "weight lambda_real (10 in the paper)"))
    lam_fake: float = field(default=10.0, metadata=bounded(0.0, 100.0, "weight lambda_fake (10 in the paper)"))
    shift: float = field(default=0.5, metadata=bounded(0.0, 5.0, "augmentation: jitter sd, in units of the modes' sd"))


@register
class BalancedConsistency(Option):
    r"""Balanced consistency regularisation, bCR (Zhao et al. 2021): CR-GAN's term on real data *and*
    the same term on G's samples,

    L_D += lambda_real E_x ||D(x) - D(T(x))||^2 + lambda_fake E_z ||D(G(z)) - D(T(G(z)))||^2,

    so D is not made consistent on real data only (which the paper finds lets augmentation artefacts
    leak into G). lambda_real = lambda_fake = 10 (the paper). T is a small Gaussian jitter of the
    point (``shift`` x the modes' sd), as for CR-GAN on this 2D lab."""

    id, label, kind, cite = "bcr", "Balanced consistency regularisation (bCR)", "penalty", "zhao2021icr"
    Params = BcrParams
    traits = ("one_d",)
    conflicts = ("consistency",)
    conflict_note = "bCR already contains CR-GAN's term on real data"

    def d_penalty(self, m, real: Tensor, fake: Tensor) -> Tensor:
        total = 0
        for x, lam in ((real, self.p.lam_real), (fake.detach(), self.p.lam_fake)):
            jitter = self.p.shift * m.tb.sigma * m.aux.normal(x.shape[1], DATA)
            total = total + lam * _m((m.d(x) - m.d(data_noise(m, x, jitter))) ** 2)
        return total


@dataclass(frozen=True)
class ZcrParams:
    lam_dis: float = field(default=5.0, metadata=bounded(0.0, 100.0, "weight lambda_dis of D's term (5 in the paper)"))
    lam_gen: float = field(default=0.5, metadata=bounded(0.0, 100.0, "weight lambda_gen of G's term (0.5 in the paper)"))
    sigma: float = field(default=0.03, metadata=bounded(0.0, 1.0, "latent perturbation sd sigma_noise (0.03 in the paper)"))


@register
class LatentConsistency(Option):
    r"""Latent consistency regularisation, zCR (Zhao et al. 2021): perturb the latent, T(z) = z + dz,
    dz ~ N(0, sigma^2 I), and

    L_D += lambda_dis E_z ||D(G(z)) - D(G(T(z)))||^2,     L_G += -lambda_gen E_z ||G(z) - G(T(z))||^2:

    D should not care about a small latent change, while G is rewarded for making one visible, a
    push against collapse (many z to one x). Paper defaults lambda_dis = 5, lambda_gen = 0.5,
    sigma_noise = 0.03. D's term draws its own latents (the same distribution as the batch's);
    G's term uses the batch's."""

    id, label, kind, cite = "zcr", "Latent consistency regularisation (zCR)", "penalty", "zhao2021icr"
    Params = ZcrParams
    traits = ("one_d",)

    def _perturb(self, m, z: Tensor) -> Tensor:
        dz = self.p.sigma * m.aux.normal(z.shape[1], m.s.z_dim)
        return torch.cat([z[..., :m.s.z_dim] + dz, z[..., m.s.z_dim:]], dim=-1)

    def d_penalty(self, m, real: Tensor, fake: Tensor) -> Tensor:
        z = m.aux.normal(real.shape[1], m.s.z_dim)  # own draws: the run's noise stream is untouched
        if hasattr(m.game, "noise"):
            z = m.game.noise(m, z, m.aux)
        with torch.no_grad():
            a, b = m.generate(z), m.generate(self._perturb(m, z))
        return self.p.lam_dis * _m((m.d(a) - m.d(b)) ** 2)

    def g_penalty(self, m, z: Tensor, fake: Tensor) -> Tensor:
        other = m.generate(self._perturb(m, z))
        diff = (fake[..., :DATA] - other[..., :DATA]) / m.tb.scale
        return -self.p.lam_gen * _m((diff**2).sum(-1))


@dataclass(frozen=True)
class JcParams:
    lam_max: float = field(default=20.0, metadata=bounded(0.0, 1000.0, "upper target lambda_max of the quotient (20 in the paper)"))
    lam_min: float = field(default=1.0, metadata=bounded(0.0, 1000.0, "lower target lambda_min of the quotient (1 in the paper)"))
    eps: float = field(default=1.0, metadata=bounded(1e-4, 10.0, "perturbation norm epsilon (1 in the paper)"))


@register
class JacobianClamping(Option):
    r"""Jacobian clamping (Odena et al. 2018): a soft constraint on G's conditioning. For z and
    z' = z + eps d/||d||, d ~ N(0, I),

    Q = ||G(z) - G(z')|| / ||z - z'||,
    L_G += (max(Q, lambda_max) - lambda_max)^2 + (min(Q, lambda_min) - lambda_min)^2,

    per sample, averaged over the batch: G's local stretching is kept in [lambda_min, lambda_max],
    which the paper finds makes the outcome much less dependent on the seed. Defaults lambda_max =
    20, lambda_min = 1, eps = 1 (the paper's Algorithm 1 as reimplementations use it). Q is measured
    on G's own output (before the testbed's scale)."""

    id, label, kind, cite = "jacobian_clamping", "Jacobian clamping (G's conditioning)", "penalty", "odena2018jacobian"
    Params = JcParams

    def g_penalty(self, m, z: Tensor, fake: Tensor) -> Tensor:
        k = m.s.z_dim
        d = m.aux.normal(z.shape[1], k)
        dz = self.p.eps * d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        out, out2 = m.G(z), m.G(torch.cat([z[..., :k] + dz, z[..., k:]], dim=-1))
        q = (out - out2).norm(dim=-1) / dz.norm(dim=-1)
        return _m((torch.clamp(q, min=self.p.lam_max) - self.p.lam_max) ** 2
                  + (torch.clamp(q, max=self.p.lam_min) - self.p.lam_min) ** 2)
