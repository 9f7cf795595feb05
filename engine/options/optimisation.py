r"""Optimisation options: how the two players move (update rules, step sizes, averages, look-ahead).

The default update (:class:`engine.lab.Alternating`) is the one of Goodfellow et al.: D steps, then G
steps against the updated D. Options of group "update" replace it with a whole step of their own;
the others change a knob of it (TTUR, critic steps, an unrolled D for G's loss) or what is sampled
at evaluation (weight averages, the best snapshot).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from ..config import bounded
from . import Option, register

Tensor = torch.Tensor


@dataclass(frozen=True)
class TturParams:
    ratio: float = field(default=0.1, metadata=bounded(0.01, 100.0, "G's learning rate / D's"))


@register
class Ttur(Option):
    r"""Two time-scale update rule (Heusel et al. 2017): G and D get separate learning rates,
    lr_G = ratio x lr_D. With the slower player's step small enough, the pair converges to a local
    Nash equilibrium (stochastic approximation with two time scales). The paper picks the pair per
    experiment (the authors' code: BEGAN D 6e-5 / G 4e-5, WGAN-GP D 3e-4 / G 1e-4, DCGAN on
    CIFAR-10 D 1e-4 / G 5e-4), so there is no paper default ratio; 0.1 is this lab's."""

    id, label, kind, cite = "ttur", "Two time-scale update (TTUR)", "optimisation", "heusel2017"
    Params = TturParams

    def adjust(self, s):
        return replace(s, lr_g=s.lr_d * self.p.ratio)


@dataclass(frozen=True)
class CriticParams:
    n: int = field(default=5, metadata=bounded(1, 20, "D steps per G step (5 in WGAN and WGAN-GP)"))


@register
class CriticSteps(Option):
    r"""n critic steps per generator step (Arjovsky et al. 2017; Gulrajani et al. 2017, n = 5): D is
    trained closer to its optimum before G moves, so G follows a better estimate of the divergence."""

    id, label, kind, cite = "n_critic", "Several D steps per G step (n_critic)", "optimisation", "arjovsky2017wgan"
    Params = CriticParams

    def setup(self, m) -> None:
        m.n_disc = self.p.n


@dataclass(frozen=True)
class UnrollParams:
    k: int = field(default=5, metadata=bounded(1, 20, "look-ahead steps of D (5 in the paper's 2D mixture)"))
    lr: float = field(default=1e-2, metadata=bounded(1e-5, 1.0, "SGD step of the look-ahead"))


@register
class Unrolled(Option):
    r"""Unrolled GAN (Metz et al. 2017): G's loss is computed against D after k look-ahead steps,

    f_K(theta, psi) = f(theta, psi^K),   psi^{k+1} = psi^k - eta grad_psi L_D(theta, psi^k),

    differentiated *through* the unrolling (create_graph), including psi^K's dependence on theta
    through G's samples in the look-ahead losses: that term is how G anticipates that D would follow
    it to a single mode. D itself still takes its ordinary step. The look-ahead uses D's loss on the
    step's real and fake batch (no penalty terms) and plain gradient steps of size ``lr`` (the
    authors' notebook unrolls the steps of D's own optimiser, Adam)."""

    id, label, kind, cite = "unrolled", "Unrolled discriminator", "optimisation", "metz2017"
    Params = UnrollParams
    group = "lookahead"

    def d_params_for_g(self, m, real: Tensor, fake: Tensor) -> Tensor:
        p = m.D.flat
        xr, xf = m.prep(real), m.prep(fake)
        for _ in range(self.p.k):
            loss = m.loss.d_loss(m.d_prepped(xr, p), m.d_prepped(xf, p))
            (g,) = torch.autograd.grad(loss.sum(), p, create_graph=True)
            p = p - self.p.lr * g
        return p


# -- update rules (group "update"): one whole training step each --------------------------------
# Each moves both players once per step with gradients taken at the same point, so "several D steps
# per G step" has no meaning for them: they refuse the n_critic option, and the critic-step count of
# WGAN / WGAN-GP is not used under them (their clipping and penalties are).


def _both_grads(m, create_graph: bool = False):
    """Both players' gradients at the same point (simultaneous evaluation)."""
    real, z = m.real(), m.noise()
    fake = m.generate(z)
    d_loss = m.game.d_objective(m, real, fake.detach())
    g_loss = m.game.g_objective(m, m.real(), z)
    gd = m.grads("D", d_loss, create_graph)
    gg = m.grads("G", g_loss, create_graph)
    return d_loss, g_loss, gd, gg


@register
class Simultaneous(Option):
    r"""Simultaneous gradient descent: both players' gradients are taken at the same point
    (theta_t, psi_t) and both step at once,  theta_{t+1} = theta_t - eta grad_theta L_G(theta_t, psi_t),
    psi_{t+1} = psi_t - eta grad_psi L_D(theta_t, psi_t). The scheme whose Jacobian has eigenvalues
    with zero real part on the Dirac-GAN (Mescheder et al. 2018): it circles or spirals out."""

    id, label, kind, cite, group = "simultaneous", "Simultaneous updates", "optimisation", "mescheder2018", "update"
    conflicts = ("n_critic",)
    conflict_note = "this update rule moves both players once per step"

    @staticmethod
    def update(m):
        d_loss, g_loss, gd, gg = _both_grads(m)
        m.apply("D", gd)
        m.apply("G", gg)
        return d_loss.detach(), g_loss.detach()


@register
class Extragradient(Option):
    r"""Extragradient (Korpelevich 1976; for GANs Gidel et al. 2019): first a *full* step to an
    extrapolated point, then the real step from the original point with the gradient taken there,

    w_{t+1/2} = w_t - eta F(w_t),    w_{t+1} = w_t - eta F(w_{t+1/2}),

    F = both players' gradients, evaluated simultaneously. With Adam this is Gidel et al.'s Extra-Adam:
    both steps are optimiser steps and both gradients enter its moment estimates (as in the authors'
    ExtraAdam: only the weights return to w_t before the second step)."""

    id, label, kind, cite, group = "extragradient", "Extragradient", "optimisation", "gidel2019variational", "update"
    conflicts = ("n_critic",)
    conflict_note = "this update rule moves both players once per step"

    @staticmethod
    def update(m):
        start = [p.detach().clone() for side in ("G", "D") for p in m.params[side]]
        _, _, gd, gg = _both_grads(m)
        m.apply("D", gd)
        m.apply("G", gg)  # now at w_{t+1/2}
        d_loss, g_loss, gd, gg = _both_grads(m)
        with torch.no_grad():  # back to w_t; the optimiser keeps both gradients in its moments
            for p, w in zip([p for side in ("G", "D") for p in m.params[side]], start):
                p.copy_(w)
        m.apply("D", gd)
        m.apply("G", gg)
        return d_loss.detach(), g_loss.detach()


@register
class Optimistic(Option):
    r"""Optimistic gradient descent (Daskalakis et al. 2018): each step adds the difference between
    this step and the last,

    w_{t+1} = w_t - 2 eta g_t + eta g_{t-1}      (plain SGD),

    and for any optimiser w_{t+1} = w_t + 2 delta_t - delta_{t-1}, delta the optimiser's own step
    (with Adam this is their Optimistic Adam). Gradients of both players are taken simultaneously."""

    id, label, kind, cite, group = "optimistic", "Optimistic gradient (OMD)", "optimisation", "daskalakis2018optimism", "update"
    conflicts = ("n_critic",)
    conflict_note = "this update rule moves both players once per step"

    def update(self, m):
        before = [p.detach().clone() for side in ("G", "D") for p in m.params[side]]
        d_loss, g_loss, gd, gg = _both_grads(m)
        m.apply("D", gd)
        m.apply("G", gg)
        params = [p for side in ("G", "D") for p in m.params[side]]
        delta = [p.detach() - b for p, b in zip(params, before)]
        last = m.state.get("optimistic_last")
        if last is not None:
            with torch.no_grad():
                for p, d, dl in zip(params, delta, last):
                    p.add_(d - dl)
        m.state["optimistic_last"] = delta
        return d_loss.detach(), g_loss.detach()


@dataclass(frozen=True)
class ConsensusParams:
    gamma: float = field(default=10.0, metadata=bounded(0.0, 100.0, "weight gamma of the consensus term (10 in the paper)"))


@register
class Consensus(Option):
    r"""Consensus optimisation (Mescheder, Nowozin & Geiger 2017): with v = (grad_theta L_G,
    grad_psi L_D) the players' own gradients and L(w) = 1/2 ||v(w)||^2, both players descend

    w_{t+1} = w_t - eta (v(w) + gamma grad_w L(w)),

    taken simultaneously. grad L = J^T v pulls both towards points where the gradient field vanishes,
    damping the rotation that makes simultaneous GD circle (the Jacobian's eigenvalues get a negative
    real part)."""

    id, label, kind, cite, group = "consensus", "Consensus optimisation", "optimisation", "mescheder2017numerics", "update"
    Params = ConsensusParams
    conflicts = ("n_critic",)
    conflict_note = "this update rule moves both players once per step"

    def update(self, m):
        d_loss, g_loss, gd, gg = _both_grads(m, create_graph=True)
        v = [g for g in gd + gg if g is not None]
        reg = 0.5 * sum((g * g).sum() for g in v)
        sides = m.params["D"] + m.params["G"]
        extra = torch.autograd.grad(reg, sides, allow_unused=True)
        nd = len(m.params["D"])
        add = lambda g, e: g.detach() + self.p.gamma * e.detach() if e is not None else g.detach()  # noqa: E731
        m.apply("D", [add(g, e) for g, e in zip(gd, extra[:nd])])
        m.apply("G", [add(g, e) for g, e in zip(gg, extra[nd:])])
        return d_loss.detach(), g_loss.detach()


# -- what is sampled, and averages of the weights -----------------------------------------------


@dataclass(frozen=True)
class EmaParams:
    beta: float = field(default=0.999, metadata=bounded(0.0, 0.99999, "averaging factor beta (0.999 as Karras et al.; Yazici et al.'s code 0.9999)"))


@register
class WeightEMA(Option):
    r"""Exponential moving average of G's weights (Yazici et al. 2019; Karras et al. 2018):

    theta_EMA <- beta theta_EMA + (1 - beta) theta    after every step,

    and samples are drawn from theta_EMA while training continues on the raw weights. Averaging
    cancels the oscillation around the equilibrium that the raw iterates keep doing. beta = 0.999 as
    Karras et al. (2018); Yazici et al.'s code uses 0.9999 over 500k iterations, which on a run of a
    few thousand steps would keep the average near the initial weights."""

    id, label, kind, cite = "ema", "Generator weight averaging (EMA)", "optimisation", "yazici2019averaging"
    Params = EmaParams

    def setup(self, m) -> None:
        m.state["ema"] = m.G.flat.detach().clone()
        m.add_sampler(lambda m, z: m.samples(z, m.state["ema"]))

    def after_step(self, m, step: int) -> None:
        with torch.no_grad():
            m.state["ema"].lerp_(m.G.flat, 1 - self.p.beta)


@dataclass(frozen=True)
class HistParams:
    weight: float = field(default=1.0, metadata=bounded(0.0, 100.0, "weight of the penalty"))


@register
class HistoricalAveraging(Option):
    r"""Historical averaging (Salimans et al. 2016): each player's loss gets

    || theta - (1/t) sum_{i=1}^{t} theta[i] ||^2,

    theta[i] its parameters at past step i, so neither player strays far from where it has been: a
    drag on the cycling of gradient dynamics (inspired by fictitious play)."""

    id, label, kind, cite = "historical_averaging", "Historical averaging", "optimisation", "salimans2016"
    Params = HistParams

    def setup(self, m) -> None:
        m.state["hist"] = {"G": m.G.flat.detach().clone(), "D": m.D.flat.detach().clone(), "t": 1}

    def after_step(self, m, step: int) -> None:
        h = m.state["hist"]
        h["t"] += 1
        with torch.no_grad():
            for side, net in (("G", m.G), ("D", m.D)):
                h[side] += (net.flat.detach() - h[side]) / h["t"]  # running mean of the iterates

    def d_penalty(self, m, real: Tensor, fake: Tensor) -> Tensor:
        return self.p.weight * m.D.per_seed((m.D.flat - m.state["hist"]["D"]) ** 2)

    def g_penalty(self, m, z: Tensor, fake: Tensor) -> Tensor:
        return self.p.weight * m.G.per_seed((m.G.flat - m.state["hist"]["G"]) ** 2)


@register
class EarlyStopping(Option):
    r"""Early stopping on a monitored metric (in the spirit of Saad et al. 2024): at every evaluation the
    sliced 1-Wasserstein distance between G's samples and a held-out real set (not the one the metrics
    use) is computed per seed, and the generator with the best value so far is kept; the result is
    sampled from that snapshot. Training itself is unchanged."""

    id, label, kind, cite = "early_stopping", "Early stopping (best monitored snapshot)", "optimisation", "saad2024earlystop"

    def setup(self, m) -> None:
        from ..lab import EVAL_REAL, Streams
        from ..testbeds import directions

        st = Streams(m.seeds, 9, m.device, block=1)
        idx = st.choice(EVAL_REAL, m.tb.weights)
        self.held_out = m.mu[idx] + m.tb.sigma * st.normal(EVAL_REAL, 2)
        self.dirs = directions().to(m.device)
        m.state["best"] = {"flat": m.G.flat.detach().clone(), "score": torch.full((len(m.seeds),), float("inf"))}
        m.add_sampler(lambda m, z: m.samples(z, m.state["best"]["flat"]))

    def on_eval(self, m, step: int, metrics: dict) -> None:
        from ..testbeds import sliced_w1

        with torch.no_grad():
            n = min(m.eval_z.shape[1], self.held_out.shape[1])
            x = torch.nan_to_num(m.samples(m.eval_z[:, :n]), nan=1e6, posinf=1e6, neginf=-1e6)
            score = sliced_w1(x, self.held_out[:, :n], self.dirs).cpu()
            best = m.state["best"]
            better = score < best["score"]
            best["score"] = torch.where(better, score, best["score"])
            best["flat"] = m.G.where_seed(better, m.G.flat.detach(), best["flat"])


# -- newer optimisation options (issue 19) -------------------------------------------------------


@dataclass(frozen=True)
class NegMomentumParams:
    beta: float = field(default=-0.5, metadata=bounded(-0.99, 0.0, "momentum beta (-0.5 in the paper)"))


@register
class NegativeMomentum(Option):
    r"""Negative momentum (Gidel et al. 2019): alternating updates with a *negative* momentum term,

    theta_{t+1} = theta_t - eta grad L(theta_t) + beta (theta_t - theta_{t-1}),   beta = -0.5

    (SGD's heavy ball v <- beta v + g; with Adam, beta1 = beta in its first-moment average, as the
    paper's GAN experiments). On a bilinear game positive momentum makes alternating updates
    diverge faster, while a negative beta damps the rotation, so the players spiral in. It sets the
    run's beta1 for both players; the default alternating update is the paper's."""

    id, label, kind, cite = "negative_momentum", "Negative momentum", "optimisation", "gidel2019negativemomentum"
    Params = NegMomentumParams
    conflicts = ("simultaneous", "extragradient", "optimistic", "consensus", "sga")
    conflict_note = "negative momentum is defined for alternating updates"

    def adjust(self, s):
        return replace(s, beta1=self.p.beta)


@dataclass(frozen=True)
class LookaheadParams:
    k: int = field(default=5, metadata=bounded(1, 1000, "steps between look-ahead steps (5 in the authors' code)"))
    alpha: float = field(default=0.5, metadata=bounded(0.0, 1.0, "step alpha of the slow weights (0.5 in the authors' code)"))


@register
class LookaheadMinmax(Option):
    r"""Lookahead-minmax (Chavdarova et al. 2021): every k steps both players' slow weights phi take a
    step towards their fast weights theta, and the fast weights restart from there,

    phi <- phi + alpha (theta - phi),   theta <- phi   (every k steps, for G and D jointly),

    a convex combination of the current and a past iterate: it cancels the rotation of the game's
    vector field and the variance of stochastic gradients. Defaults k = 5, alpha = 0.5 (the
    authors' code). The slow weights start at the initial weights; the optimiser's state is kept."""

    id, label, kind, cite = "lookahead_minmax", "Lookahead-minmax", "optimisation", "chavdarova2021lookahead"
    Params = LookaheadParams

    def setup(self, m) -> None:
        m.state["lookahead"] = [p.detach().clone() for side in ("G", "D") for p in m.params[side]]

    def after_step(self, m, step: int) -> None:
        if step % self.p.k:
            return
        with torch.no_grad():
            for p, slow in zip([p for side in ("G", "D") for p in m.params[side]], m.state["lookahead"]):
                slow.add_(self.p.alpha * (p - slow))
                p.copy_(slow)


@dataclass(frozen=True)
class SgaParams:
    lam: float = field(default=1.0, metadata=bounded(0.0, 100.0, "adjustment weight lambda (1 in the authors' notebook)"))
    align: bool = field(default=True, metadata=bounded(help="choose lambda's sign by alignment (the paper's Algorithm 1)"))


@register
class SymplecticGradientAdjustment(Option):
    r"""Symplectic gradient adjustment (Balduzzi et al. 2018): with xi = (grad_theta L_G, grad_psi L_D)
    the simultaneous gradient, H = grad xi its Jacobian and A = (H - H^T)/2 its antisymmetric part
    (the rotation of the game), both players descend

    xi_lambda = xi + lambda A^T xi,   A^T xi = (H^T xi - H xi) / 2,

    with, in the aligned version, lambda's sign set by sign(<xi, H^T xi> <A^T xi, H^T xi> / d + eps),
    eps = 0.1, d the number of parameters: the adjustment then points towards stable fixed points and
    away from unstable ones. H^T xi is the gradient of ||xi||^2 / 2; H xi a Jacobian-vector product
    (double backward). The sign is chosen per seed (each seed is its own game). lambda = 1, eps =
    0.1 (the authors' notebook)."""

    id, label, kind, cite, group = "sga", "Symplectic gradient adjustment (SGA)", "optimisation", "balduzzi2018sga", "update"
    Params = SgaParams
    conflicts = ("n_critic", "game")
    conflict_note = "SGA adjusts the joint gradient of one G and one D, moving both once per step"
    EPS = 0.1

    def update(self, m):
        d_loss, g_loss, gd, gg = _both_grads(m, create_graph=True)
        params = [m.G.flat, m.D.flat]
        xi = [gg[0], gd[0]]
        ht_xi = torch.autograd.grad(0.5 * sum((g * g).sum() for g in xi), params, retain_graph=True)
        u = [torch.zeros_like(p, requires_grad=True) for p in params]  # H xi = d/du (H^T u . xi)
        jt_u = torch.autograd.grad(xi, params, grad_outputs=u, create_graph=True)
        h_xi = torch.autograd.grad(jt_u, u, grad_outputs=[g.detach() for g in xi])
        at_xi = [0.5 * (ht - h) for ht, h in zip(ht_xi, h_xi)]
        lam = torch.full((len(m.seeds),), self.p.lam, device=m.device)
        if self.p.align:
            per_seed = lambda a, b: m.G.per_seed(a[0] * b[0]) + m.D.per_seed(a[1] * b[1])  # noqa: E731
            n = m.G.per_seed(torch.ones_like(m.G.flat)) + m.D.per_seed(torch.ones_like(m.D.flat))
            xi_d = [g.detach() for g in xi]
            lam = lam * torch.sign(per_seed(xi_d, ht_xi) * per_seed(at_xi, ht_xi) / n + self.EPS)
        adj = [g.detach() + lam[net.seed_of] * a for g, a, net in zip(xi, at_xi, (m.G, m.D))]
        m.apply("D", [adj[1]])
        m.apply("G", [adj[0]])
        return d_loss.detach(), g_loss.detach()
