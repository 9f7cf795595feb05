r"""Game options: several generators or discriminators, encoders, labels (group "game": one per recipe).

A game replaces :class:`engine.lab.StandardGame`: it implements ``d_objective(m, real, fake)`` (D's
loss on a real batch and G's detached samples, penalties included) and ``g_objective(m, real, z)``
(the G side's loss on a latent batch), adds its networks in ``setup`` (to ``m.params["G"]`` or
``m.params["D"]``, so the run's optimiser and update rule move them) and may implement the sample
hooks of :class:`engine.lab.Model`:

* ``real(m, x, idx)`` / ``noise(m, z, stream)`` / ``generate(m, z, g_flat)``: the samples as the game's
  D reads them. A sample may carry columns after its two data columns (``tags``): the mode label as a
  one-hot (conditional GAN, AC-GAN), or a latent code (BiGAN, VEEGAN). D reads them when
  ``d_reads_tags`` is true; penalties take D's gradient w.r.t. the data columns only.
* ``pick(m, x)``: one sample per latent from a mixture of generators (MAD-GAN, MGAN);
* ``head(out)``: D's scalar judgement from a multi-output D (what penalties and D's map read);
* ``eval_input(m, x)``: data-space points as D reads them (D's map, the D(real)/D(fake) curves).

Every network is batched over the run's seeds (:class:`engine.mlp.FlatMLP`, its own salt); several
generators or discriminators of one seed are ``copies`` of one FlatMLP. Notation: ``m.loss`` is the
run's loss option (non-saturating by default); where a game has its own loss it says so and refuses
the loss options. All losses are per seed, (S,), means over the batch.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from ..config import bounded
from ..losses import class_cross_entropy as _ce, one_hot as _onehot
from ..lab import DATA, StandardGame, Streams
from ..mlp import FlatMLP, NetSpec
from . import Option, register

Tensor = torch.Tensor

# penalties and regularisers that read one scalar D output (their trait): games with several
# discriminators refuse them, since a penalty on the mean of N outputs is not N penalties
ONE_D = "one_d"


def _m(x: Tensor) -> Tensor:
    """Mean over every axis but the first (seeds)."""
    return x.reshape(x.shape[0], -1).mean(dim=1)


def _penalties(m, kind: str, a: Tensor, b: Tensor) -> Tensor | float:
    total = 0.0
    for pen in m.hooks[kind]:
        total = total + pen(m, a, b)
    return total


def _raw(m, x: Tensor, d_flat: Tensor | None = None) -> Tensor:
    """D's full output (every head) on samples, without the game's ``head``."""
    return m.D(m.prep(x), d_flat)


def _pooled(m, real: Tensor, fakes: list[Tensor], need_real: bool = True) -> tuple[Tensor | None, Tensor]:
    """D's outputs on real samples and on several fake sets pooled into one batch; each fake set is
    as large as the real batch, so the real outputs are repeated once per set: a loss that pairs
    real with fake samples (relativistic) pairs every fake with a real one, and any other loss has
    the same value as on the real batch alone."""
    out_f = m.d(torch.cat(fakes, dim=1))
    out_r = m.d(real).repeat(1, len(fakes), 1) if need_real else None
    return out_r, out_f


def _net(sizes: tuple[int, ...], m, salt: int) -> FlatMLP:
    """An extra network of a game, batched over the run's seeds (LeakyReLU 0.2 like G and D)."""
    return FlatMLP(NetSpec(sizes), m.seeds, salt=salt, device=m.device)


def _hidden(m) -> tuple[int, ...]:
    return (m.s.hidden,) * m.s.depth


class _Game(Option):
    kind, group = "architecture", "game"
    conflicts = ("began", "ebgan")
    conflict_note = "BEGAN's and EBGAN's D is an auto-encoder, which this game's D is not"
    tags = 0  # columns a sample carries after its data
    d_reads_tags = True

    traits = ("own_g",)  # its own G objective: options acting inside StandardGame's (top-k) do not reach it

    d_objective = staticmethod(StandardGame.d_objective)
    g_objective = staticmethod(StandardGame.g_objective)


# ---------------------------------------------------------------------------------------------
# Labelled modes


class _Labelled(_Game):
    """Shared by the conditional games: every real sample carries its mode label y (one-hot), G reads
    (z, y) with y drawn from the data's mode weights, and G's samples carry their y."""

    def prepare(self, m) -> None:
        self.k = self.tags = m.tb.k

    def net(self, role: str, spec):
        if role == "G":
            return replace(spec, sizes=(spec.sizes[0] + self.k, *spec.sizes[1:]))
        return spec

    def real(self, m, x: Tensor, idx: Tensor) -> Tensor:
        return torch.cat([x, _onehot(idx, self.k)], dim=-1)

    def noise(self, m, z: Tensor, stream: Streams) -> Tensor:
        y = stream.choice(z.shape[1], m.tb.weights)
        return torch.cat([z, _onehot(y, self.k)], dim=-1)

    def generate(self, m, z: Tensor, g_flat: Tensor | None = None) -> Tensor:
        return torch.cat([m.G(z, g_flat) * m.tb.scale, z[..., -self.k:]], dim=-1)

    def eval_input(self, m, x: Tensor) -> Tensor:
        """A data-space point is shown with the label of its nearest mode."""
        nearest = torch.cdist(x, m.mu.expand(x.shape[0], -1, -1)).argmin(dim=2)
        return torch.cat([x, _onehot(nearest, self.k)], dim=-1)


@register
class ConditionalGAN(_Labelled):
    r"""Conditional GAN (Mirza & Osindero 2014): both players see the label y of the mode,

    min_G max_D  E_{x,y}[log D(x, y)] + E_{z,y}[log(1 - D(G(z, y), y))],

    G(z, y) reads the latent and the label's one-hot, D(x, y) the sample and its label (concatenated),
    y ~ the data's mode weights for G's samples. Any loss composes (the run's loss on D(x, y)).
    The labels tell G which mode to produce, so a conditional G cannot drop a mode it is asked for.
    No hyperparameters."""

    id, label, cite = "cgan", "Conditional GAN (labelled modes)", "mirza2014cgan"
    traits = ()  # StandardGame's objectives: every loss and G-side option composes

    def net(self, role: str, spec):
        if role == "D":  # D reads pack x (2 data + k label) columns
            return replace(spec, sizes=(spec.sizes[0] // DATA * (DATA + self.k), *spec.sizes[1:]))
        return super().net(role, spec)


@register
class AuxiliaryClassifierGAN(_Labelled):
    r"""AC-GAN (Odena, Olah & Shlens 2017): G(z, c) is conditioned on a class c; D reads the sample only
    and outputs a source logit and K class logits. With

    L_S = E[log P(S = real | x_real)] + E[log P(S = fake | x_fake)],
    L_C = E[log P(C = c | x_real)] + E[log P(C = c | x_fake)],

    D maximises L_S + L_C and G maximises L_C - L_S: both players add the class log-likelihood (the
    source part here is the run's loss, non-saturating by default as in the paper's code). No
    hyperparameters (both class terms weigh 1)."""

    id, label, cite = "acgan", "Auxiliary-classifier GAN (AC-GAN)", "odena2017acgan"
    d_reads_tags = False
    conflicts = ("began", "ebgan", "pacgan", "lookahead")
    conflict_note = "AC-GAN classifies single samples with its own objectives"

    def net(self, role: str, spec):
        if role == "D":
            return replace(spec, sizes=(*spec.sizes[:-1], 1 + self.k))
        return super().net(role, spec)

    @staticmethod
    def head(out: Tensor) -> Tensor:
        return out[..., :1]

    def d_objective(self, m, real: Tensor, fake: Tensor) -> Tensor:
        out_r, out_f = _raw(m, real), _raw(m, fake)
        loss = m.loss.d_loss(out_r[..., :1], out_f[..., :1])
        loss = loss + _ce(out_r[..., 1:], real[..., DATA:]) + _ce(out_f[..., 1:], fake[..., DATA:])
        return loss + _penalties(m, "d_penalty", real, fake)

    def g_objective(self, m, real: Tensor, z: Tensor) -> Tensor:
        fake = m.generate(z)
        out_f = _raw(m, fake)
        src_r = _raw(m, real)[..., :1] if m.loss.g_needs_real else None
        loss = m.loss.g_loss(out_f[..., :1], src_r) + _ce(out_f[..., 1:], fake[..., DATA:])
        return loss + _penalties(m, "g_penalty", z, fake)


# ---------------------------------------------------------------------------------------------
# Several generators


class _Mixture(_Game):
    """k generators (``copies`` of G), all run on the same latents; G's batch is the k generators'
    samples one after another, (S, k*B, 2); a sample shown is from a random generator."""

    conflicts = ("began", "ebgan", "pacgan", "lookahead", "mode_seeking", "paired")
    conflict_note = "D judges k x B fakes against B real samples, which cannot be paired one to one"

    def net(self, role: str, spec):
        if role == "G":
            return replace(spec, copies=self.p.generators)
        return replace(spec, sizes=(*spec.sizes[:-1], self.d_outputs()))

    def setup(self, m) -> None:
        self._pick: dict[int, Tensor] = {}
        self._pick_stream = Streams(m.seeds, 12, m.device, block=1)

    def generate(self, m, z: Tensor, g_flat: Tensor | None = None) -> Tensor:
        s, b, _ = z.shape
        k = self.p.generators
        out = m.G(z, g_flat).reshape(s, b, k, DATA).transpose(1, 2)  # (S, k, B, 2)
        return out.reshape(s, k * b, DATA) * m.tb.scale

    def which(self, m, n_fake: int) -> Tensor:
        """The generator of each of k x B fakes: 0 (B times), 1 (B times), ..."""
        k = self.p.generators
        return torch.arange(k, device=m.device).repeat_interleave(n_fake // k)

    def pick(self, m, x: Tensor) -> Tensor:
        """One sample per latent, each from a generator drawn uniformly at random (fixed per latent
        position, so the evaluation set moves only when G moves)."""
        k = self.p.generators
        s, kb, d = x.shape
        b = kb // k
        if b not in self._pick:
            self._pick[b] = (self._pick_stream.uniform(b) * k).long().clamp(max=k - 1)  # (S, B)
        idx = self._pick[b]
        per = x.reshape(s, k, b, d)
        return per.gather(1, idx.view(s, 1, b, 1).expand(s, 1, b, d)).squeeze(1)


@dataclass(frozen=True)
class MadGanParams:
    generators: int = field(default=4, metadata=bounded(2, 16, "number k of generators (4 in the authors' code)"))


@register
class MadGan(_Mixture):
    r"""MAD-GAN (Ghosh et al. 2018): k generators G_1..G_k and one D with k + 1 softmax outputs, class
    k + 1 = "real", class i = "made by G_i". D maximises

    E_x[log D_{k+1}(x)] + sum_i E_z[log D_i(G_i(z))],

    so to fool D the generators must also be told apart from one another: they spread over different
    modes. Each G_i minimises E_z[-log D_{k+1}(G_i(z))] (the authors' code; the minimax form with the
    -log D trick). All generators read the same z (the authors' code); here they share no layers (the
    paper shares all but the last). Default k = 4 (the authors' code). MAD-GAN has its own loss."""

    id, label, cite = "madgan", "Multiple generators, k+1-class D (MAD-GAN)", "ghosh2018madgan"
    Params = MadGanParams
    conflicts = _Mixture.conflicts + ("loss", "label_smoothing", "local_stability")
    conflict_note = "MAD-GAN has its own (k+1)-class loss"

    def d_outputs(self) -> int:
        return self.p.generators + 1

    def head(self, out: Tensor) -> Tensor:
        """The log-odds of "real" against any generator: l_real - logsumexp(l_1..l_k)."""
        k = self.p.generators
        return out[..., k:] - torch.logsumexp(out[..., :k], dim=-1, keepdim=True)

    def d_objective(self, m, real: Tensor, fake: Tensor) -> Tensor:
        k = self.p.generators
        out_r, out_f = _raw(m, real), _raw(m, fake)
        real_cls = torch.full((out_r.shape[1],), k, device=m.device)
        # the paper's sum of k + 1 expectations (each generator's fakes are a 1/k share of the batch)
        loss = _ce(out_r, real_cls) + k * _ce(out_f, self.which(m, out_f.shape[1]))
        return loss + _penalties(m, "d_penalty", real, fake)

    def g_objective(self, m, real: Tensor, z: Tensor) -> Tensor:
        k = self.p.generators
        fake = m.generate(z)
        out_f = _raw(m, fake)
        loss = k * _ce(out_f, torch.full((out_f.shape[1],), k, device=m.device))  # sum over generators
        return loss + _penalties(m, "g_penalty", z, fake)


@dataclass(frozen=True)
class MganParams:
    generators: int = field(default=4, metadata=bounded(2, 16, "number K of generators (10 in the authors' CIFAR-10 code)"))
    beta: float = field(default=0.01, metadata=bounded(0.0, 10.0, "diversity weight beta (0.01 in the authors' code)"))


@register
class Mgan(_Mixture):
    r"""MGAN (Hoang et al. 2018): K generators, a discriminator D and a classifier C that tells which
    generator made a sample (C shares D's body, its own last layer: D outputs 1 + K logits),

    min_{G_1..K, C} max_D  E_x[log D(x)] + E_{x ~ P_model}[log(1 - D(x))]
                           - beta sum_k pi_k E_{x ~ P_{G_k}}[log C_k(x)],

    pi_k = 1/K. D's step minimises its loss plus C's cross-entropy on G's samples; the generators
    minimise the run's G loss (non-saturating, as the paper) plus beta times C's cross-entropy: they
    cooperate with C in being told apart, which maximises the divergence among them. At the
    equilibrium the mixture matches the data while the generators differ. Defaults: beta = 0.01 (the
    authors' code); K = 4 here (their CIFAR-10 code uses 10). All generators read the same z (their
    code's default)."""

    id, label, cite = "mgan", "Multiple generators + classifier (MGAN)", "hoang2018mgan"
    Params = MganParams

    def d_outputs(self) -> int:
        return 1 + self.p.generators

    @staticmethod
    def head(out: Tensor) -> Tensor:
        return out[..., :1]

    def d_objective(self, m, real: Tensor, fake: Tensor) -> Tensor:
        out_r, out_f = _raw(m, real), _raw(m, fake)
        loss = m.loss.d_loss(out_r[..., :1], out_f[..., :1]) + _ce(out_f[..., 1:], self.which(m, out_f.shape[1]))
        return loss + _penalties(m, "d_penalty", real, fake)

    def g_objective(self, m, real: Tensor, z: Tensor) -> Tensor:
        fake = m.generate(z)
        out_f = _raw(m, fake)
        loss = m.loss.g_loss(out_f[..., :1], None) + self.p.beta * _ce(out_f[..., 1:], self.which(m, out_f.shape[1]))
        return loss + _penalties(m, "g_penalty", z, fake)


# ---------------------------------------------------------------------------------------------
# Several discriminators


@dataclass(frozen=True)
class GmanParams:
    discriminators: int = field(default=5, metadata=bounded(2, 16, "number N of discriminators (5 in the authors' code)"))
    lam: float = field(default=1.0, metadata=bounded(0.0, 100.0, "softmax weight lambda (1 in the authors' code; 0 = the mean)"))


@register
class Gman(_Game):
    r"""GMAN (Durugkar, Gemp & Mahadevan 2017): N discriminators D_1..D_N, each trained on its own loss
    against G; G minimises a softmax-weighted mean of its losses against them,

    L_G = sum_i w_i L_G^i,   w = softmax(lambda L_G^1, ..., lambda L_G^N),

    lambda = 0: the arithmetic mean (a forgiving teacher); lambda -> infinity: the harshest
    discriminator only (the max). The weights are not detached (as the authors' code). Defaults:
    N = 5, lambda = 1 (the authors' code). The discriminators differ by initialisation and all judge
    the same minibatch (the authors' code gives each its own minibatch of the same size). Any loss
    composes; penalties on one D's output are refused (a penalty on the mean of N outputs is not N
    penalties)."""

    id, label, cite = "gman", "Multiple discriminators (GMAN)", "durugkar2017gman"
    Params = GmanParams
    conflicts = ("began", "ebgan", "lookahead", ONE_D)
    conflict_note = "GMAN has N discriminators, and this option acts on one D's output"

    def net(self, role: str, spec):
        return replace(spec, copies=self.p.discriminators) if role == "D" else spec

    @staticmethod
    def head(out: Tensor) -> Tensor:
        return out.mean(dim=-1, keepdim=True)

    def d_objective(self, m, real: Tensor, fake: Tensor) -> Tensor:
        out_r, out_f = _raw(m, real), _raw(m, fake)
        loss = sum(m.loss.d_loss(out_r[..., i:i + 1], out_f[..., i:i + 1]) for i in range(out_r.shape[-1]))
        return loss + _penalties(m, "d_penalty", real, fake)

    def g_objective(self, m, real: Tensor, z: Tensor) -> Tensor:
        fake = m.generate(z)
        out_f = _raw(m, fake)
        out_r = _raw(m, real) if m.loss.g_needs_real else None
        losses = torch.stack([m.loss.g_loss(out_f[..., i:i + 1], None if out_r is None else out_r[..., i:i + 1])
                              for i in range(out_f.shape[-1])], dim=1)  # (S, N)
        w = torch.softmax(self.p.lam * losses, dim=1)
        return (w * losses).sum(dim=1) + _penalties(m, "g_penalty", z, fake)


def _log_softplus(x: Tensor) -> Tensor:
    """log(softplus(x)), exact where softplus underflows (softplus(x) ~ e^x for x << 0)."""
    small = x < -20
    return torch.where(small, x, torch.log(F.softplus(torch.where(small, torch.zeros_like(x), x))))


@dataclass(frozen=True)
class D2ganParams:
    alpha: float = field(default=1.0, metadata=bounded(0.01, 10.0, "weight alpha of D1's log term (1 in the authors' 2D code)"))
    beta: float = field(default=1.0, metadata=bounded(0.01, 10.0, "weight beta of D2's log term (1 in the authors' 2D code)"))


@register
class D2gan(_Game):
    r"""D2GAN (Nguyen et al. 2017): two discriminators with positive outputs D1, D2 = softplus(.),
    D1 rewarding data and D2 rewarding G's samples,

    min_G max_{D1,D2}  alpha E_x[log D1(x)] + E_z[-D1(G(z))] + E_x[-D2(x)] + beta E_z[log D2(G(z))],

    L_D = E_x[-alpha log D1(x) + D2(x)] + E_z[D1(G(z)) - beta log D2(G(z))],
    L_G = E_z[-D1(G(z)) + beta log D2(G(z))].

    At the optimal discriminators G minimises alpha KL(P_data || P_G) + beta KL(P_G || P_data): the KL
    covers modes and the reverse KL keeps samples on them. Defaults alpha = beta = 1 (the authors'
    2D-mixture code). D2GAN has its own loss; D's map shows (log D1 - log D2) / 2, a log density
    ratio up to a constant."""

    id, label, cite = "d2gan", "Dual discriminators, KL + reverse KL (D2GAN)", "nguyen2017d2gan"
    Params = D2ganParams
    conflicts = ("began", "ebgan", "lookahead", "loss", ONE_D)
    conflict_note = "D2GAN has two discriminators and its own loss"

    def net(self, role: str, spec):
        return replace(spec, copies=2) if role == "D" else spec

    @staticmethod
    def head(out: Tensor) -> Tensor:
        return 0.5 * (_log_softplus(out[..., :1]) - _log_softplus(out[..., 1:]))

    def d_objective(self, m, real: Tensor, fake: Tensor) -> Tensor:
        a, b = self.p.alpha, self.p.beta
        out_r, out_f = _raw(m, real), _raw(m, fake)
        loss = _m(-a * _log_softplus(out_r[..., 0]) + F.softplus(out_r[..., 1]))
        loss = loss + _m(F.softplus(out_f[..., 0]) - b * _log_softplus(out_f[..., 1]))
        return loss + _penalties(m, "d_penalty", real, fake)

    def g_objective(self, m, real: Tensor, z: Tensor) -> Tensor:
        fake = m.generate(z)
        out_f = _raw(m, fake)
        loss = _m(-F.softplus(out_f[..., 0]) + self.p.beta * _log_softplus(out_f[..., 1]))
        return loss + _penalties(m, "g_penalty", z, fake)


# ---------------------------------------------------------------------------------------------
# Encoders and reconstructors


class _Joint(_Game):
    """D reads joint (x, z) pairs: real pairs (x, E(x)) through an encoder, fake pairs (G(z), z)."""

    conflicts = ("began", "ebgan", "lookahead")

    def prepare(self, m) -> None:
        self.tags = m.s.z_dim

    def net(self, role: str, spec):
        if role == "D":
            return replace(spec, sizes=(spec.sizes[0] // DATA * (DATA + self.tags), *spec.sizes[1:]))
        return spec

    def setup(self, m) -> None:
        self.E = _net((DATA, *_hidden(m), m.s.z_dim), m, salt=self.salt)
        m.params["G"].append(self.E.flat)  # trained with G, on the G side's objective

    def encode(self, m, x: Tensor) -> Tensor:
        return self.E(x / m.tb.scale)

    def real(self, m, x: Tensor, idx: Tensor) -> Tensor:
        return torch.cat([x, self.encode(m, x)], dim=-1)

    def generate(self, m, z: Tensor, g_flat: Tensor | None = None) -> Tensor:
        return torch.cat([m.G(z, g_flat) * m.tb.scale, z], dim=-1)

    def eval_input(self, m, x: Tensor) -> Tensor:
        return self.real(m, x, None)


@register
class Veegan(_Joint):
    r"""VEEGAN (Srivastava et al. 2017): a reconstructor F: x -> z learns to invert G, and D judges
    (z, x) pairs: generator pairs (z, G(z)) against reconstructor pairs (F(x), x), with the logistic
    loss (D's logit here is positive on reconstructor pairs, the paper's D_omega with its sign
    flipped). G and F minimise the paper's estimate of their objective,

    O^(gamma, theta) = (1/N) sum_i D_omega(z_i, G(z_i)) + (1/N) sum_i ||z_i - F(G(z_i))||_2^2,

    i.e. L_{G,F} = -E_z[l(z, G(z))] + E_z[||z - F(G(z))||^2], l = our logit: a KL estimate plus an
    auto-encoder of the *noise*. A G that collapses maps many z to one x, which F cannot invert.
    No weights to tune (d = squared l2, as the paper). VEEGAN has its own loss."""

    id, label, cite = "veegan", "Reconstructor network (VEEGAN)", "srivastava2017veegan"
    conflicts = ("began", "ebgan", "lookahead", "loss")
    conflict_note = "VEEGAN has its own (logistic) loss"
    salt = 21

    def g_objective(self, m, real: Tensor, z: Tensor) -> Tensor:
        fake = m.generate(z)
        recon = ((z - self.encode(m, fake[..., :DATA])) ** 2).sum(-1)
        loss = -_m(m.d(fake)) + _m(recon)
        return loss + _penalties(m, "g_penalty", z, fake)


@register
class BiGan(_Joint):
    r"""BiGAN / ALI (Donahue, Krähenbühl & Darrell 2017; Dumoulin et al. 2017): an encoder E: x -> z,
    and D judges joint pairs (x, E(x)) against (G(z), z),

    min_{G,E} max_D  E_x[log D(x, E(x))] + E_z[log(1 - D(G(z), z))].

    D minimises the run's loss on these pairs; G and E minimise D's loss with the labels swapped (the
    "inverted labels" both papers train with: -log D(G(z), z) - log(1 - D(x, E(x))) for the default
    loss). At the optimum E inverts G. A deterministic encoder (BiGAN's); ALI's is stochastic."""

    id, label, cite = "bigan", "Encoder + joint discriminator (BiGAN / ALI)", "donahue2017bigan"
    conflicts = ("began", "ebgan", "lookahead", "saturating")
    conflict_note = "BiGAN trains G and E with inverted labels (a non-saturating objective)"
    salt = 22

    def g_objective(self, m, real: Tensor, z: Tensor) -> Tensor:
        fake = m.generate(z)
        loss = m.loss.d_loss(m.d(fake), m.d(real))
        return loss + _penalties(m, "g_penalty", z, fake)


@dataclass(frozen=True)
class VaeGanParams:
    gamma: float = field(default=1.0, metadata=bounded(0.0, 100.0, "weight gamma of reconstruction vs fooling D in the decoder's loss"))


@register
class VaeGan(_Game):
    r"""VAE-GAN (Larsen et al. 2016): a VAE whose decoder is G, with the reconstruction error measured
    in D's hidden-feature space. Enc(x) = (mu, log sigma^2), z~ = mu + sigma eps;
    L_prior = KL(N(mu, sigma^2) || N(0, I)), L_llike = 1/2 ||f(x) - f(G(z~))||^2 (f = D's last hidden
    layer, a Gaussian observation model there). The three players move on

    encoder: L_prior + L_llike,   decoder G: gamma L_llike + L_adv,   D: its loss on x against G(z)
    and G(z~),

    the encoder getting no adversarial gradient and D no reconstruction gradient (Algorithm 1). The
    adversarial parts are the run's loss (non-saturating by default) with the prior samples and the
    reconstructions pooled as fakes (each a half share; the paper sums the two terms). gamma is the
    paper's knob (no default given; 1 here)."""

    id, label, cite, kind = "vaegan", "VAE-GAN (learned feature-space reconstruction)", "larsen2016vaegan", "architecture"
    Params = VaeGanParams
    conflicts = ("began", "ebgan", "lookahead")

    def setup(self, m) -> None:
        self.E = _net((DATA, *_hidden(m), 2 * m.s.z_dim), m, salt=23)
        m.params["G"].append(self.E.flat)

    def encode(self, m, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.E(x[..., :DATA] / m.tb.scale).chunk(2, dim=-1)
        z = mu + torch.exp(0.5 * logvar) * m.aux.normal(x.shape[1], mu.shape[-1])
        return mu, logvar, z

    def d_objective(self, m, real: Tensor, fake: Tensor) -> Tensor:
        with torch.no_grad():
            rec = m.generate(self.encode(m, real)[2])
        loss = m.loss.d_loss(*_pooled(m, real, [fake, rec]))
        return loss + _penalties(m, "d_penalty", real, fake)

    def parts(self, m, real: Tensor, z: Tensor) -> dict[str, Tensor]:
        """The G side's terms, each reaching only the networks Algorithm 1 updates with it."""
        mu, logvar, z_enc = self.encode(m, real)
        feats = lambda x: m.D(m.prep(x), features=True)[1]  # noqa: E731
        f_real = feats(real)
        rec = m.generate(z_enc.detach())
        fake = m.generate(z)
        return {
            "prior": _m(0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)),  # encoder
            "llike_enc": _m(0.5 * ((f_real - feats(m.generate(z_enc, m.G.flat.detach()))) ** 2).sum(-1)),  # encoder
            "llike_dec": _m(0.5 * ((f_real - feats(rec)) ** 2).sum(-1)),  # decoder
            "adv": m.loss.g_loss(*reversed(_pooled(m, real, [fake, rec], m.loss.g_needs_real))),  # decoder
            "fake": fake,
        }

    def g_objective(self, m, real: Tensor, z: Tensor) -> Tensor:
        p = self.parts(m, real, z)
        loss = p["prior"] + p["llike_enc"] + self.p.gamma * p["llike_dec"] + p["adv"]
        return loss + _penalties(m, "g_penalty", z, p["fake"])


@dataclass(frozen=True)
class AlphaGanParams:
    lam: float = field(default=1.0, metadata=bounded(0.0, 100.0, "weight lambda of the L1 reconstruction"))


@register
class AlphaGan(_Game):
    r"""alpha-GAN (Rosca et al. 2017): an auto-encoder (encoder E, decoder G) and two discriminators,
    D on data (real x against G(z) and reconstructions G(E(x))) and a code discriminator C (prior
    z ~ N(0, I) against codes E(x)),

    encoder: lambda ||x - G(E(x))||_1 + L_adv(C(E(x))),
    G:       lambda ||x - G(E(x))||_1 + L_adv(D(G(z)), D(G(E(x)))),
    D:       its loss on x against G(z) and G(E(x));  C: its loss on z against E(x),

    the L1 term making G cover every x (no mode can be missed without a reconstruction error) and C
    matching the codes to the prior so that G(z) samples well. The adversarial parts are the run's
    loss (non-saturating by default, as the paper's practical choice), G's two fake sets pooled.
    lambda: the paper's knob (no default verified here; 1)."""

    id, label, cite = "alphagan", "Auto-encoder + code discriminator (alpha-GAN)", "rosca2017alphagan"
    Params = AlphaGanParams
    conflicts = ("began", "ebgan", "lookahead")

    def setup(self, m) -> None:
        z_dim = m.s.z_dim
        self.E = _net((DATA, *_hidden(m), z_dim), m, salt=24)
        self.C = _net((z_dim, *(m.s.d_hidden or m.s.hidden,) * m.s.depth, 1), m, salt=25)
        m.params["G"].append(self.E.flat)
        m.params["D"].append(self.C.flat)

    def d_objective(self, m, real: Tensor, fake: Tensor) -> Tensor:
        with torch.no_grad():
            code = self.E(real[..., :DATA] / m.tb.scale)
            rec = m.generate(code)
        prior = m.aux.normal(code.shape[1], code.shape[2])
        loss = m.loss.d_loss(*_pooled(m, real, [fake, rec]))
        loss = loss + m.loss.d_loss(self.C(prior), self.C(code))
        return loss + _penalties(m, "d_penalty", real, fake)

    def parts(self, m, real: Tensor, z: Tensor) -> dict[str, Tensor]:
        """The G side's terms: l1 reaches E and G, adv only G, code_adv only E."""
        x = real[..., :DATA]
        code = self.E(x / m.tb.scale)
        fake = m.generate(z)
        out_r, out_f = _pooled(m, real, [fake, m.generate(code.detach())], m.loss.g_needs_real)
        return {
            "l1": _m((x - m.generate(code)[..., :DATA]).abs().sum(-1) / m.tb.scale),
            "adv": m.loss.g_loss(out_f, out_r),
            "code_adv": m.loss.g_loss(self.C(code), self.C(m.aux.normal(*code.shape[1:])) if m.loss.g_needs_real else None),
            "fake": fake,
        }

    def g_objective(self, m, real: Tensor, z: Tensor) -> Tensor:
        p = self.parts(m, real, z)
        return self.p.lam * p["l1"] + p["adv"] + p["code_adv"] + _penalties(m, "g_penalty", z, p["fake"])


@dataclass(frozen=True)
class ModeRegParams:
    lam1: float = field(default=0.2, metadata=bounded(0.0, 100.0, "weight lambda1 of the geometric (reconstruction) regulariser"))
    lam2: float = field(default=0.4, metadata=bounded(0.0, 100.0, "weight lambda2 of the mode regulariser"))


@register
class ModeRegularised(_Game):
    r"""Mode-regularised GAN (Che et al. 2017): an encoder E: x -> z and two regularisers on the G side,

    L_G = L_adv(D(G(z))) + E_x[lambda1 ||x - G(E(x))||^2 + lambda2 L_adv(D(G(E(x))))],
    L_E = E_x[lambda1 ||x - G(E(x))||^2 + lambda2 L_adv(D(G(E(x))))],

    L_adv = the run's G loss (-log D for the default). The geometric regulariser pulls G(E(x)) onto
    every data point, the mode regulariser makes those reconstructions look real: a mode that has
    data gets G's mass. D is trained as usual. (The paper writes the mode term as lambda2 log D(G(E(x)));
    its intent, reconstructions judged real, is -log D in a minimised loss, as used here.) Defaults
    lambda1 = 0.2, lambda2 = 0.4: not verified against the paper here (treat them as ours)."""

    id, label, cite, kind = "mode_regularised", "Mode-regularised GAN (encoder + 2 regularisers)", "che2017moderegularized", "loss"
    Params = ModeRegParams
    conflicts = ("began", "ebgan", "lookahead")

    def setup(self, m) -> None:
        self.E = _net((DATA, *_hidden(m), m.s.z_dim), m, salt=26)
        m.params["G"].append(self.E.flat)

    def g_objective(self, m, real: Tensor, z: Tensor) -> Tensor:
        fake = m.generate(z)
        out_r = m.d(real) if m.loss.g_needs_real else None
        x = real[..., :DATA]
        rec = m.generate(self.E(x / m.tb.scale))
        geometric = _m(((x - rec[..., :DATA]) / m.tb.scale).pow(2).sum(-1))
        loss = m.loss.g_loss(m.d(fake), out_r) + self.p.lam1 * geometric + self.p.lam2 * m.loss.g_loss(m.d(rec), out_r)
        return loss + _penalties(m, "g_penalty", z, fake)


# ---------------------------------------------------------------------------------------------
# Generator objectives


@register
class FeatureMatching(_Game):
    r"""Feature matching (Salimans et al. 2016): G no longer maximises D's output but matches the
    statistics of D's last hidden layer f on real data,

    L_G = || E_x f(x) - E_z f(G(z)) ||_2^2,

    D trained as usual. G then chases a moving statistic instead of D's current optimum, which damps
    overtraining on the current D. No hyperparameters."""

    id, label, cite, kind = "feature_matching", "Feature matching", "salimans2016", "loss"
    conflicts = ("began", "ebgan", "lookahead")

    def g_objective(self, m, real: Tensor, z: Tensor) -> Tensor:
        fake = m.generate(z)
        f_real = m.D(m.prep(real), features=True)[1].mean(dim=1)
        f_fake = m.D(m.prep(fake), features=True)[1].mean(dim=1)
        return ((f_real - f_fake) ** 2).sum(-1) + _penalties(m, "g_penalty", z, fake)


@dataclass(frozen=True)
class ModeSeekingParams:
    lam: float = field(default=1.0, metadata=bounded(0.0, 100.0, "weight lambda_ms (1 in the authors' code)"))


@register
class ModeSeeking(Option):
    r"""Mode-seeking loss (Mao et al. 2019, MSGAN): for two latents z1, z2 G should produce samples as
    far apart as the latents are,

    L_ms = max_G  d_I(G(z1), G(z2)) / d_z(z1, z2),

    added to G's loss as lambda / (L_ms + eps) (the authors' code: d = mean absolute difference,
    eps = 1e-5, lambda = 1). The pairs are the two halves of G's batch (the authors' code feeds both
    to D too). A collapsing G maps distant latents to one point: a ratio near 0, a large penalty.
    (The paper pairs latents under one condition; with the conditional GAN the halves' labels differ.)"""

    id, label, kind, cite = "mode_seeking", "Mode-seeking loss (MSGAN)", "loss", "mao2019msgan"
    Params = ModeSeekingParams
    EPS = 1e-5

    def g_penalty(self, m, z: Tensor, fake: Tensor) -> Tensor:
        h = z.shape[1] // 2
        x = fake[..., :DATA] / m.tb.scale
        zz = z[..., :m.s.z_dim]
        ratio = _m((x[:, :h] - x[:, h:2 * h]).abs()) / _m((zz[:, :h] - zz[:, h:2 * h]).abs())
        return self.p.lam / (ratio + self.EPS)
