r"""
---
title: Dirac-GAN, the smallest GAN that does not converge
summary: Mescheder, Geiger & Nowozin (2018) in two parameters; which training methods converge, and why.
---

# Dirac-GAN

The generator is a point mass $p_\theta = \delta_\theta$, the data is $\delta_0$ and the
discriminator is linear, $D_\psi(x) = \psi x$. The unique equilibrium is $(\theta, \psi) = (0, 0)$.

$$L(\theta, \psi) = f(\psi\theta) + f(0), \qquad f(t) = -\log(1 + e^{-t})$$

The generator descends $L$ in $\theta$, the discriminator ascends it in $\psi$, i.e. both follow the
vector field
$$v(\theta, \psi) = \big(-\partial_\theta L,\; \partial_\psi L\big)
                      = \big(-\psi f'(\psi\theta),\; \theta f'(\psi\theta)\big),
\qquad f'(t) = \frac{1}{1 + e^{t}},\; f'(0) = \tfrac12,\; f''(0) = -\tfrac14 .$$

Its Jacobian at the equilibrium is a rotation generator,
$$J = \begin{pmatrix} 0 & -f'(0) \\ f'(0) & 0 \end{pmatrix}, \qquad \lambda = \pm f'(0)\,i,$$
so the continuous flow circles forever. Simultaneous gradient steps $x \leftarrow x + h v(x)$ have
the linearised map $I + hJ$ with $|1 \pm i h f'(0)| = \sqrt{1 + h^2/4} > 1$: they spiral out.
Alternating steps (generator, then `n_disc` discriminator steps) have $\det = 1$: they circle.

Methods, each changing $v$ (all closed forms at $(0,0)$, with $f'(0)=\tfrac12$, $f''(0)=-\tfrac14$):

* `gan`, `nsgan` (generator minimises $-f(-\psi\theta)$): same $J$, $\lambda = \pm\tfrac12 i$. Away from
  $(0,0)$ the non-saturating term pulls inwards: at $h = 0.1$ simultaneous steps settle on a cycle of
  radius $\approx 0.45$ and alternating ones creep in (0.07 after 20000 steps); neither converges.
* `wgan`: $f(t) = t$, $v = (-\psi, \theta)$, $\lambda = \pm i$; $\psi$ is clipped to $[-c, c]$,
  which never acts near the equilibrium, so it cannot make it attractive.
* `wgan_gp`: $\nabla_x D = \psi$ everywhere, so the penalty on interpolates is $\lambda(|\psi| - 1)^2$
  and $v_\psi = \theta - 2\lambda(|\psi| - 1)\operatorname{sign}\psi$. It has a kink at $\psi = 0$ that
  pushes $|\psi|$ towards 1: $J$ does not exist at $(0,0)$ and the iterates need not converge. For
  $\psi > 0$ the field is linear with its fixed point at $(-2\lambda, 0)$ (for $\psi < 0$ at
  $(2\lambda, 0)$), on the kink: runs can stall there, the generator $2\lambda$ away from the data.
* `instance_noise`: $L_\sigma = \mathbb{E}_\varepsilon[f(\psi(\theta+\varepsilon)) + f(-\psi\varepsilon)]$,
  $\varepsilon \sim \mathcal N(0, \sigma^2)$, $J = \begin{pmatrix} 0 & -\tfrac12 \\ \tfrac12 & 2f''(0)\sigma^2
  \end{pmatrix}$, $\lambda = -\tfrac{\sigma^2}{4} \pm \sqrt{\tfrac{\sigma^4}{16} - \tfrac14}$.
  The expectation is computed with fixed Gauss-Hermite nodes (24 of them: a fixed, weighted sample that
  is exact for polynomials up to degree 47), so the run is deterministic and $J$ is exact.
* `r1`: the discriminator also descends $\tfrac\gamma2 \mathbb{E}_{p_D}\|\nabla_x D\|^2 = \tfrac\gamma2\psi^2$
  (R2, on fake data, is the same here): $v_\psi \mathrel{-}= \gamma\psi$,
  $\lambda = -\tfrac\gamma2 \pm \sqrt{\tfrac{\gamma^2}{4} - f'(0)^2}$ (complex for $\gamma<1$, real for
  $\gamma>1$).
* `consensus`: both follow $w = v - \gamma \nabla \tfrac12\|v\|^2 = v - \gamma J(x)^\top v$;
  at $(0,0)$ $J_w = J - \gamma J^\top J$, $\lambda = -\gamma f'(0)^2 \pm f'(0)\,i$. Only locally: from
  $(1,1)$ with $\gamma = 2$ the $J^\top v$ term carries it to large $\psi$, where $f'$ saturates and $v$
  vanishes.
* `ttur`: the discriminator's step is `ttur_ratio` times larger, $\lambda = \pm\tfrac i2\sqrt{r}$: still
  a rotation, so two time scales alone do not help here.
* `extragradient` ($x + h\,v(x + h v(x))$, map $I + hJ + h^2J^2$) and `optimism`
  ($x + h(2v_t - v_{t-1})$) keep the field of `gan` but replace the step (`update`, `n_disc` do not
  apply); they converge,
  slowly for small $h$ (extragradient's radius is $|1 - h^2/4 + ih/2| \approx 1 - h^2/8$).

`step_radius` is the spectral radius of the linearised update map at the equilibrium for the chosen
scheme and $h$: $>1$ spirals out, $=1$ circles, $<1$ converges.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from engine.config import ConfigError, bounded

VARIANTS = {
    "gan": "Unregularised GAN (failure)", "nsgan": "Non-saturating GAN", "wgan": "WGAN with weight clipping",
    "wgan_gp": "WGAN-GP", "instance_noise": "Instance noise", "r1": "R1 gradient penalty",
    "consensus": "Consensus optimisation", "extragradient": "Extragradient",
    "optimism": "Optimistic gradient", "ttur": "Two time-scale update (TTUR)",
}


@dataclass(frozen=True)
class Config:
    update: str = field(default="simultaneous", metadata=bounded(help="simultaneous or alternating steps",
                                                                 choices=("simultaneous", "alternating")))
    n_disc: int = field(default=1, metadata=bounded(1, 20, "D steps per G step (alternating)"))
    h: float = field(default=0.1, metadata=bounded(1e-4, 100.0, "step size"))
    steps: int = field(default=500, metadata=bounded(1, 20000, "generator steps"))
    start: tuple[float, float] = field(default=(1.0, 1.0), metadata=bounded(-10.0, 10.0, "theta0,psi0"))
    gamma: float = field(default=0.5, metadata=bounded(0.0, 100.0, "R1 / consensus weight"))
    sigma: float = field(default=1.0, metadata=bounded(0.0, 10.0, "instance-noise standard deviation"))
    clip: float = field(default=0.5, metadata=bounded(0.01, 10.0, "WGAN weight clip c"))
    lam: float = field(default=1.0, metadata=bounded(0.0, 100.0, "WGAN-GP weight lambda"))
    ttur_ratio: float = field(default=3.0, metadata=bounded(0.1, 100.0, "TTUR: discriminator step / h"))


BLOW_UP = 1e12  # |(θ, ψ)| beyond this is divergence; stopping here keeps every reported number finite
# Gauss-Hermite nodes/weights for E over N(0, 1): E[g(ε)] ≈ Σ w_k g(z_k)
_Z, _W = np.polynomial.hermite.hermgauss(24)
_Z, _W = _Z * math.sqrt(2.0), _W / math.sqrt(math.pi)


# ## The objective
def f(t):
    r"""$f(t) = -\log(1 + e^{-t})$, written with `logaddexp` so large $|t|$ cannot overflow."""
    return -np.logaddexp(0.0, -t)


def fp(t):
    r"""$f'(t) = \sigma(-t)$; the tanh form is finite for every $t$."""
    return 0.5 * (1.0 - np.tanh(0.5 * t))


def fpp(t):
    r"""$f''(t) = -\sigma(t)\sigma(-t)$."""
    return -fp(t) * fp(-t)


# ## The vector field of each method
def vector_field(method: str, cfg: Config, th, ps):
    r"""$(v_\theta, v_\psi)$: the generator's descent direction and the discriminator's ascent direction.
    Works on floats or numpy arrays (for the plotting grid)."""
    th, ps = np.asarray(th, float), np.asarray(ps, float)
    if method in ("wgan", "wgan_gp"):
        vt, vp = -ps, th.copy()
        if method == "wgan_gp":
            vp = vp - 2.0 * cfg.lam * (np.abs(ps) - 1.0) * np.sign(ps)
        return vt, vp
    if method == "instance_noise":
        # noise is added to both real and fake samples before the discriminator sees them
        e = cfg.sigma * _Z
        x, p = th[..., None] + e, ps[..., None]
        a = fp(p * x)
        return -ps * (a @ _W), (x * a - e * fp(-p * e)) @ _W
    s = ps * th
    a = fp(s)
    vt, vp = -ps * (fp(-s) if method == "nsgan" else a), th * a
    if method == "r1":
        vp = vp - cfg.gamma * ps
    elif method == "consensus":
        # J(x) of the plain field, then w = v - γ J^T v (the gradient of γ/2 |v|^2)
        b = fpp(s)
        j11, j12, j21, j22 = -ps * ps * b, -a - s * b, a + s * b, th * th * b
        vt, vp = vt - cfg.gamma * (j11 * vt + j21 * vp), vp - cfg.gamma * (j12 * vt + j22 * vp)
    elif method == "ttur":
        vp = vp * cfg.ttur_ratio
    return vt, vp


def field_grid(method: str, cfg: Config, lim: float = 2.0, n: int = 15) -> dict:
    r"""The field on an $n \times n$ grid over $[-lim, lim]^2$, for quiver / streamline plots."""
    g = np.linspace(-lim, lim, n)
    T, P = np.meshgrid(g, g)
    vt, vp = vector_field(method, cfg, T, P)
    return {"theta": T.tolist(), "psi": P.tolist(), "v_theta": vt.tolist(), "v_psi": vp.tolist()}


# ## The update schemes
def _step(method, cfg, th, ps, prev):
    """One generator step (and its discriminator steps). `prev` is optimism's last field value."""
    h, v = cfg.h, (lambda a, b: tuple(float(u) for u in vector_field(method, cfg, a, b)))
    clip = (lambda p: min(max(p, -cfg.clip), cfg.clip)) if method == "wgan" else (lambda p: p)
    if method == "extragradient":  # look ahead, then step from x with the look-ahead's field
        vt, vp = v(th, ps)
        vt, vp = v(th + h * vt, ps + h * vp)
        return th + h * vt, ps + h * vp, prev
    if method == "optimism":
        vt, vp = v(th, ps)
        pt, pp = prev or (vt, vp)
        return th + h * (2 * vt - pt), ps + h * (2 * vp - pp), (vt, vp)
    if cfg.update == "simultaneous":
        vt, vp = v(th, ps)
        return th + h * vt, clip(ps + h * vp), prev
    # alternating, as in Mescheder et al.: the generator moves, then the discriminator n_disc times;
    # each half-step is a shear of det 1 near (0,0), which is why plain alternating GD circles
    th = th + h * v(th, ps)[0]
    for _ in range(cfg.n_disc):
        ps = clip(ps + h * v(th, ps)[1])
    return th, ps, prev


# ## Linear analysis at the equilibrium
def jacobian(method: str, cfg: Config, eps: float = 1e-6) -> np.ndarray | None:
    """Central finite differences of $v$ at $(0,0)$; None where $v$ is not differentiable there."""
    if method == "wgan_gp":
        return None
    J = np.zeros((2, 2))
    for k, d in enumerate(np.eye(2) * eps):
        J[:, k] = np.subtract(vector_field(method, cfg, *d), vector_field(method, cfg, *-d)) / (2 * eps)
    return J


def closed_form_eigenvalues(method: str, cfg: Config) -> list[complex] | None:
    """The eigenvalues of $J$ at $(0,0)$ from the formulas in the module docstring."""
    d = 0.5  # f'(0)
    root = lambda a, q: [a + np.emath.sqrt(q), a - np.emath.sqrt(q)]  # noqa: E731
    table = {
        "gan": [d * 1j, -d * 1j], "nsgan": [d * 1j, -d * 1j], "extragradient": [d * 1j, -d * 1j],
        "optimism": [d * 1j, -d * 1j], "wgan": [1j, -1j],
        "ttur": [d * math.sqrt(cfg.ttur_ratio) * 1j, -d * math.sqrt(cfg.ttur_ratio) * 1j],
        "r1": root(-cfg.gamma / 2, cfg.gamma ** 2 / 4 - d * d),
        "instance_noise": root(-cfg.sigma ** 2 / 4, cfg.sigma ** 4 / 16 - d * d),
        "consensus": [-cfg.gamma * d * d + d * 1j, -cfg.gamma * d * d - d * 1j],
    }
    return [complex(z) for z in table[method]] if method in table else None


def step_matrix(method: str, cfg: Config, J: np.ndarray) -> np.ndarray:
    """The linearised update map of the scheme (optimism's state is $(x_t, v_{t-1})$)."""
    h, eye = cfg.h, np.eye(2)
    if method == "extragradient":
        return eye + h * J + h * h * J @ J
    if method == "optimism":
        return np.block([[eye + 2 * h * J, -h * eye], [J, np.zeros((2, 2))]])
    if cfg.update == "simultaneous":
        return eye + h * J
    G, D = eye + h * np.diag([1.0, 0.0]) @ J, eye + h * np.diag([0.0, 1.0]) @ J
    return np.linalg.matrix_power(D, cfg.n_disc) @ G


def reading(eigs: list[complex] | None, tol: float = 1e-9) -> str:
    """The one-line reading of the eigenvalues of $J$ (the continuous-time flow)."""
    if not eigs:
        return ("no Jacobian at (0,0): the kink at psi=0 pushes |psi| to 1; it need not converge "
                "(may stall at theta=±2λ)")
    re = max(z.real for z in eigs)
    if re > tol:
        return "positive real part: spirals out"
    return "negative real part: converges" if re < -tol else "purely imaginary: circles forever"


def analyse(method: str, cfg: Config) -> dict:
    """$J$ at $(0,0)$, its eigenvalues and readings, and the spectral radius of the discrete update."""
    closed, J = closed_form_eigenvalues(method, cfg), jacobian(method, cfg)
    eigs = closed if closed is not None else None if J is None else [complex(z) for z in np.linalg.eigvals(J)]
    radius = None if J is None else float(max(abs(np.linalg.eigvals(step_matrix(method, cfg, J)))))
    # the tolerance keeps round-off on |μ| = 1 reading as "circles"
    step_read = None if radius is None else (
        "update map spirals out" if radius > 1 + 1e-9 else "update map contracts" if radius < 1 - 1e-9
        else "update map circles")
    return {"eigenvalues": [[z.real, z.imag] for z in eigs or []],
            "jacobian": None if J is None else J.tolist(),
            "eig_source": "closed form" if closed else "finite differences" if eigs else "none",
            "reading": reading(eigs), "step_radius": radius, "step_reading": step_read}


# ## Running the demo
def simulate(method: str, cfg: Config, on_event=None, should_stop=None) -> dict:
    """Iterate the scheme from `cfg.start`; a blow-up ends the run and is reported, never raised."""
    th, ps = map(float, cfg.start)
    traj, prev, diverged, stopped = [[th, ps]], None, None, False
    every = max(1, cfg.steps // 20)
    with np.errstate(all="ignore"):  # overflow is an outcome here, reported below
        for k in range(1, cfg.steps + 1):
            th, ps, prev = _step(method, cfg, th, ps, prev)
            if not (math.isfinite(th) and math.isfinite(ps)) or math.hypot(th, ps) > BLOW_UP:
                diverged = k
                break
            traj.append([th, ps])
            if k % every == 0:
                if on_event:
                    on_event({"variant": method, "step": k, "total": cfg.steps, "theta": th, "psi": ps,
                              "norm": math.hypot(th, ps)})
                if should_stop and should_stop():
                    stopped = True
                    break
    norms = [math.hypot(*x) for x in traj]
    d0, d = norms[0], norms[-1]
    if diverged:
        outcome = f"diverged at step {diverged}"
    elif d < 1e-2 * max(d0, 1e-12):
        outcome = "converges"
    else:
        outcome = "moves away" if d > 1.3 * d0 else "does not converge"
    return {"trajectory": traj, "norms": norms, "distance": d, "start_distance": d0, "diverged_at": diverged,
            "stopped": stopped, "outcome": outcome, **analyse(method, cfg),
            "per_seed": [{"distance": d, "ratio": d / d0 if d0 else d}]}


def run(cfg: Config, variants, seeds=1, on_event=None, should_stop=None, save_samples=None) -> dict:
    """The demo contract (demos/__init__.py). Deterministic: `seeds` and `save_samples` are ignored."""
    t0, out, stopped = time.perf_counter(), {}, False
    for name in variants:
        if name not in VARIANTS:
            raise ConfigError(f"unknown variant '{name}'; expected one of: {', '.join(VARIANTS)}")
        r = simulate(name, cfg, on_event, should_stop)
        r["mean"] = dict(r["per_seed"][0])
        r["sd"] = {k: 0.0 for k in r["mean"]}
        out[name], stopped = r, stopped or r["stopped"]
        if stopped:
            break
    return {"demo": "dirac", "config": asdict(cfg), "code_version": CODE_VERSION,
            "wall_time_s": time.perf_counter() - t0, "stopped": stopped, "variants": out}


CODE_VERSION = hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:12]
