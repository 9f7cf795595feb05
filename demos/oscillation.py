r"""Non-convergence on a 2D GAN: a plain GAN keeps jittering around the data; the fixes settle.

The data is the ring of 8 Gaussians (:mod:`engine.data2d`, σ = 0.05). The failure is the plain
non-saturating GAN trained by plain stochastic gradient steps of equal size h for G and D,

    min_D  -E_x[log D(x)] - E_z[log(1 - D(G(z)))],      min_G  -E_z[log D(G(z))].

Near the equilibrium (p_G = p_data, D ≡ 1/2) the Jacobian of this game has eigenvalues with large
imaginary and ~0 real parts, as in the Dirac-GAN (Mescheder et al. 2018): G's mass and D's decision
regions chase each other around the modes, and with steps of finite size they never settle. Each
fix is one change to that failure:

* ``r1`` -- R1 penalty (Mescheder et al. 2018): D also minimises γ/2 E_{x~data}‖∇_x D(x)‖², which
  damps D where the data is and gives the rotation a negative real part (γ = 0.1).
* ``ttur`` -- two time-scale update rule (Heusel et al. 2017): lr_G = 0.1 lr_D. D stays near its
  best reply and G moves slowly along a field that rotates less. (The paper's pairs differ by 3-5x,
  in both directions; here 5x holds in 7/8 seeds, 10x in 8/8, and a 5x *faster* G makes it worse.)
* ``ema`` -- generator weight averaging (Yazıcı et al. 2019): training is untouched; samples come
  from θ_EMA ← β θ_EMA + (1 - β) θ (β = 0.99), updated after every step, which averages the raw
  weights' orbit around the equilibrium. D and its curves are those of the plain GAN.
* ``instance_noise`` -- instance noise (Sønderby et al. 2017): real and fake samples get N(0, s²)
  noise (s = 0.2) before D sees them, in D's and G's losses. Both distributions are smoothed by the
  same kernel, so the optimum is unchanged, but D can no longer draw the sharp borders G overshoots.

Why SGD, not Adam: Adam divides each step by a running RMS of the gradient, so near the equilibrium,
where the gradient is small and mostly minibatch noise, it still takes steps of size ~lr in random
directions. Every variant then jitters by the same amount and only averaging (EMA) settles; with
Adam (lr 2e-3, β₁ 0.5) R1 and instance noise hold in 0/8 seeds (``docs/sweep_oscillation.md``).
``optimizer=adam`` (``momentum`` is then β₁) reproduces that.

How convergence is measured (fixed evaluation sets, so only the networks change between frames):
per seed, a fixed real set X (n points) and fixed latents Z give Y = G(Z); the distance is the
sliced 1-Wasserstein distance over K fixed directions u_k = (cos πk/K, sin πk/K),

    SW(X, Y) = 1/K Σ_k W₁(⟨X, u_k⟩, ⟨Y, u_k⟩),   W₁ of two n-point sets = mean |sort(a) - sort(b)|.

A run has converged when SW stops moving. Its *fluctuation* is the standard deviation of SW over
the last ``tail`` fraction of evaluations; its *late distance* is the mean over that window (one
evaluation alone could catch an oscillating GAN at a lucky moment). The claim, per seed: the plain
GAN fluctuates at least 2x more than the fix, and the fix ends at most as far from the data. D(real)
and D(fake) are D's mean outputs on X and Y. Defaults come from ``scripts/sweep_oscillation.py``
(``docs/sweep_oscillation.md``).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from engine import data2d, testbeds
from engine.config import bounded, check, check_variants
from engine.metrics import mean_sd
from engine.nets import seed_generator
from engine.train import GanSetup, Run, TrainSettings, torch_threads

DEMO_ID = "oscillation"
CODE_VERSION = "oscillation/1"


@dataclass(frozen=True)
class Config:
    sigma: float = field(default=0.05, metadata=bounded(0.01, 0.5, "sd of each of the ring's 8 modes"))
    steps: int = field(default=3000, metadata=bounded(50, 20000, "generator steps"))
    batch: int = field(default=128, metadata=bounded(8, 1024, "samples per batch"))
    hidden: int = field(default=64, metadata=bounded(4, 512, "units per hidden layer"))
    optimizer: str = field(default="sgd", metadata=bounded(help="sgd (plain gradient steps) or adam", choices=("sgd", "adam")))
    lr: float = field(default=0.05, metadata=bounded(1e-5, 1.0, "learning rate of G and D (TTUR: D's)"))
    momentum: float = field(default=0.0, metadata=bounded(0.0, 0.99, "SGD momentum, or Adam's β₁"))
    r1_gamma: float = field(default=0.1, metadata=bounded(0.0, 100.0, "R1: penalty weight γ"))
    ttur_g: float = field(default=0.1, metadata=bounded(0.01, 100.0, "TTUR: G's learning rate / D's"))
    ema_beta: float = field(default=0.99, metadata=bounded(0.0, 0.9999, "EMA: averaging factor β"))
    noise_sd: float = field(default=0.2, metadata=bounded(0.0, 2.0, "instance noise: sd s"))
    eval_every: int = field(default=20, metadata=bounded(1, 1000, "steps between distance evaluations"))
    frame_every: int = field(default=100, metadata=bounded(10, 5000, "steps between live frames"))
    eval_samples: int = field(default=1000, metadata=bounded(100, 10000, "points in the fixed evaluation sets"))
    projections: int = field(default=32, metadata=bounded(2, 512, "directions of the sliced distance"))
    tail: float = field(default=0.3, metadata=bounded(0.05, 1.0, "late window: last fraction of evaluations"))
    seed: int = field(default=0, metadata=bounded(0, 10**6, "first seed; seeds are seed, seed+1, ..."))
    device: str = field(default="auto", metadata=bounded(help="auto (CUDA if present) or cpu", choices=("auto", "cpu")))


# variant -> (label, what it changes). Each fix is one difference from "gan".
VARIANTS: dict[str, tuple[str, dict]] = {
    "gan": ("Plain GAN (failure)", {}),
    "r1": ("R1 gradient penalty", {"r1": True}),
    "ttur": ("Two time-scale update (TTUR)", {"ttur": True}),
    "ema": ("Generator weight averaging (EMA)", {"ema": True}),
    "instance_noise": ("Instance noise", {"noise": True}),
}
METRICS = ("sw_final", "sw_fluct", "d_real", "d_fake")


def directions(k: int) -> torch.Tensor:
    """K unit vectors evenly spread over half a circle (u and -u give the same W₁)."""
    a = torch.arange(k, dtype=torch.float64) * (math.pi / k)
    return torch.stack([a.cos(), a.sin()], 1).float()


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """SW₁ between equal-size point sets, batched over seeds: x, y (S, n, 2) -> (S,). A seed with a
    non-finite point gets NaN (a diverged run has no distance)."""
    return testbeds.sliced_w1(x, y, dirs.to(x))  # the lab's distance: 1D W₁ is the mean gap of sorted sets


class OscRun(Run):
    """One variant over S seeds: the engine's Run plus instance noise and a generator EMA."""

    def __init__(self, variant: str, cfg: Config, seeds: list[int]):
        opts = VARIANTS[variant][1]
        ts = TrainSettings(dataset="ring", sigma=cfg.sigma, steps=cfg.steps, batch=cfg.batch, hidden=cfg.hidden,
                           lr_g=cfg.lr * (cfg.ttur_g if opts.get("ttur") else 1.0), lr_d=cfg.lr,
                           beta1=cfg.momentum, device=cfg.device)
        super().__init__(GanSetup(r1_weight=cfg.r1_gamma if opts.get("r1") else 0.0), ts, seeds)
        if cfg.optimizer == "sgd":  # replaces the engine's Adam (see the module docstring for why)
            self.opt_g = torch.optim.SGD(self.G.parameters(), lr=ts.lr_g, momentum=cfg.momentum, foreach=True)
            self.opt_d = torch.optim.SGD(self.D.parameters(), lr=ts.lr_d, momentum=cfg.momentum, foreach=True)
        self.noise_sd = cfg.noise_sd if opts.get("noise") else 0.0
        self.beta = cfg.ema_beta if opts.get("ema") else None
        # the average starts at the initial weights: evaluated on it, EMA lags the raw G by ~1/(1-β) steps
        self.avg = [p.detach().clone() for p in self.G.params()] if self.beta is not None else None
        # fixed evaluation sets, one per seed, from streams training never touches
        gens = [seed_generator(s, 11) for s in seeds]
        self.x_eval = torch.stack([data2d.sample(self.mu.cpu(), cfg.sigma, cfg.eval_samples, g) for g in gens]).to(self.device)
        self.z_eval = torch.stack([torch.randn(cfg.eval_samples, ts.z_dim, generator=g) for g in gens]).to(self.device)
        self.dirs = directions(cfg.projections).to(self.device)

    def d(self, x: torch.Tensor, params=None) -> torch.Tensor:
        """D's logits; instance noise is added here, so D's loss and G's loss both see it."""
        if self.noise_sd and torch.is_grad_enabled():  # training only: evaluation reads D on clean points
            x = x + self.noise_sd * torch.stack([torch.randn(x.shape[1:], generator=g) for g in self.gens]).to(x)
        return super().d(x, params)

    def step(self) -> dict[str, torch.Tensor]:
        out = super().step()
        if self.avg is not None:
            with torch.no_grad():
                for a, p in zip(self.avg, self.G.params()):
                    a.lerp_(p, 1 - self.beta)
        return out

    @torch.no_grad()
    def measure(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Samples of the fixed latents (from the averaged G for EMA) and per-seed SW, D(real), D(fake)."""
        y = self.G(self.z_eval, self.avg) * self.scale
        return y, {"sw": sliced_wasserstein(y, self.x_eval, self.dirs),
                   "d_real": torch.sigmoid(self.d(self.x_eval)).mean(dim=(1, 2)),
                   "d_fake": torch.sigmoid(self.d(y)).mean(dim=(1, 2))}


def summarise(hist: dict[str, list], tail: float) -> list[dict]:
    """Per seed: final distance (mean SW over the late window), its fluctuation (sd), D(real), D(fake)."""
    sw = torch.tensor(hist["sw"])  # (evaluations, S)
    k = max(2, math.ceil(tail * len(sw)))
    late = sw[-k:]
    fl = late.std(dim=0, unbiased=False)
    return [{"sw_final": float(late[:, i].mean()), "sw_fluct": float(fl[i]), "sw_last": float(sw[-1, i]),
             "d_real": hist["d_real"][-1][i], "d_fake": hist["d_fake"][-1][i]} for i in range(sw.shape[1])]


def run(cfg: Config, variants: list[str], seeds: int = 8, on_event=None, should_stop=None,
        save_samples: Optional[Path] = None, threads: Optional[int] = None) -> dict:
    """Train each variant on ``seeds`` seeds (batched, variants in lockstep) and summarise."""
    cfg = check(cfg)
    check_variants(variants, VARIANTS)
    t0 = time.perf_counter()
    seed_list = [cfg.seed + i for i in range(seeds)]
    out = {"demo": DEMO_ID, "code_version": CODE_VERSION, "config": dataclasses.asdict(cfg),
           "seeds": seed_list, "variants": {}}
    with torch_threads(threads):
        runs = {v: OscRun(v, cfg, seed_list) for v in variants}
        hist = {v: {"step": [], "sw": [], "d_real": [], "d_fake": []} for v in variants}
        diverged = {v: [None] * seeds for v in variants}
        spent = {v: 0.0 for v in variants}
        stopped, step = False, 0
        for step in range(1, cfg.steps + 1):
            frame = step % cfg.frame_every == 0 or step == cfg.steps
            evaluate = frame or step == 1 or step % cfg.eval_every == 0
            live = {}
            for v, r in runs.items():
                t = time.perf_counter()
                if not all(diverged[v]):  # a NaN seed stays NaN; the others train on
                    o = r.step()
                    bad = ~(torch.isfinite(o["d_loss"]) & torch.isfinite(o["g_loss"]))
                    for i in torch.nonzero(bad).flatten().tolist():
                        diverged[v][i] = diverged[v][i] or step
                if evaluate:
                    y, m = r.measure()
                    hist[v]["step"].append(step)
                    for k, x in m.items():
                        hist[v][k].append([round(float(a), 5) for a in x])
                    if frame:
                        live[v] = {"samples": y[0, :600].cpu().tolist(), "heatmap": r.d_heatmap()}
                spent[v] += time.perf_counter() - t
            if live and on_event:
                on_event({"step": step, "total": cfg.steps, "variants": live,
                          "curves": {v: {k: list(x) for k, x in h.items()} for v, h in hist.items()}})
            if should_stop and should_stop():
                stopped = True
                break
        for v, r in runs.items():
            y, _ = r.measure()
            per_seed = summarise(hist[v], cfg.tail)
            stats = {m: mean_sd([p[m] for p in per_seed]) for m in METRICS}
            out["variants"][v] = {
                "label": VARIANTS[v][0], "per_seed": per_seed,
                "mean": {m: s[0] for m, s in stats.items()}, "sd": {m: s[1] for m, s in stats.items()},
                "curves": hist[v],  # per evaluation, one value per seed
                "diverged_at": diverged[v], "steps_done": step, "heatmap": r.d_heatmap(),
                "samples_seed0": [[round(a, 4) for a in p] for p in y[0, :600].cpu().tolist()],
                "wall_time_s": spent[v], "device": str(r.device)}
            if save_samples is not None:  # final samples of the fixed latents, per seed (.npy, as the CLI says)
                import numpy as np

                Path(save_samples).mkdir(parents=True, exist_ok=True)
                for i, s in enumerate(seed_list):
                    np.save(Path(save_samples) / f"{v}_seed{s}.npy", y[i].cpu().numpy())
    out["stopped"] = stopped
    out["wall_time_s"] = time.perf_counter() - t0
    return out


# a fix "settles" when its late fluctuation is at most 1/RATIO of the failure's (same seed)
RATIO = 2.0


def _finite(p: dict) -> bool:
    return all(isinstance(p.get(m), (int, float)) and math.isfinite(p[m]) for m in ("sw_final", "sw_fluct"))


def success(result: dict, variant: str, failure: str = "gan") -> list[bool]:
    """Per seed (paired: same seed, same initial weights), whether the claim holds for ``variant``:
    the failure's late SW fluctuates >= RATIO times more than the fix's, and the fix ends at most as
    far from the data. A fix seed that diverged (NaN/null) fails; a failure seed that diverged
    certainly did not settle, so a finite fix seed beats it."""
    out = []
    for a, b in zip(result["variants"][failure]["per_seed"], result["variants"][variant]["per_seed"]):
        out.append(_finite(b) and (not _finite(a) or (a["sw_fluct"] >= RATIO * b["sw_fluct"]
                                                      and b["sw_final"] <= a["sw_final"])))
    return out


def pretrain(root: Optional[Path] = None, seeds: int = 8, on_event=None) -> list[Path]:
    """Regenerate the shipped result: every variant at the default config."""
    from engine import pretrained

    path = pretrained.path_for(DEMO_ID, "default", root)
    pretrained.save(run(Config(), list(VARIANTS), seeds, on_event=on_event), path)
    return [path]
