r"""Instability, live: a generator that stalls under the saturating loss, and a run that diverges.

Data: the ring of 8 Gaussians (sd 0.05). Writing l = logit D(x), D = sigmoid(l), the generator loss
ℓ(x) pushes each generated point x along −∇_x ℓ, which the page draws as an arrow.

**Stall** (failure ``saturating``). The generator starts far from the data (its samples shifted
``offset`` = 3 ring radii to the right, a poor early generator) and D is trained ``warmup`` = 300
steps ahead of it, then both train (D: Adam, lr 1e-2; G: plain SGD, lr 0.02). D now rejects every
fake with a logit near −12, and under the original minimax loss ℓ = log(1 − D(x))

    −∇_x ℓ = D(x) ∇_x l ≈ e^l ∇_x l  ≈ 1e-5 ∇_x l:

the arrows have no length, G's SGD step (lr × gradient) is nothing, and the samples stay frozen where
they started while D(fake) sits at 0. The fixes change only the generator's loss:

* ``nonsaturating``: ℓ = −log D(x), −∇_x ℓ = (1 − D(x)) ∇_x l ≈ ∇_x l (Goodfellow et al. 2014);
* ``lsgan``: D regresses real → 1, fake → 0, ℓ = ½(D(x) − 1)², −∇_x ℓ = (1 − D(x)) ∇_x D (Mao 2017);
* ``wgan_gp``: a critic with a gradient penalty, ℓ = −D(x), ‖∇_x ℓ‖ held near 1. λ = 1, as in the
  mode-collapse demo: with λ = 10 the points moved but ended within half their start distance of the
  data in only 6 of 8 seeds (SGD steps along unit-norm arrows overshoot).

G uses plain SGD on purpose: its step is proportional to its gradient, so a vanishing gradient is a
vanishing step. Adam divides each step by a running RMS of the gradient, which rescales a 1e-5
gradient to a full-size step: set ``g_optimizer=adam`` (with ``lr_g`` ≈ 1e-3) and the saturating run
learns here too.

**Divergence** (failure ``high_lr``). The plain non-saturating GAN, both networks trained with plain
SGD at a high learning rate (``diverge_lr`` = 0.7): an unnormalised D's weights and slopes grow, its
gradients grow with them, each SGD step overshoots further, and within a few hundred steps the losses
explode to inf and NaN (at steps 93-307 in 16 of 16 seeds). A seed is *diverged* at the first
step whose D loss, G loss or generator gradient is not finite: from then on it no longer counts in
the curves, the run goes on with the other seeds and ends early once none is left. The fixes keep
the step size:

* ``spectral``: every D weight divided by its largest singular value (Miyato et al. 2018), so D is
  1-Lipschitz and ‖∇_x D‖ ≤ 1 however large the step;
* ``r1``: D's loss + γ/2 E_data‖∇_x D(x)‖², γ = 0.5 (Mescheder et al. 2018). With SGD at this step
  size it works in a window of γ: 0.3, 0.5 and 1 held in 16 of 16 seeds; 0.1 is too weak (8 of 16
  diverged), and from γ = 3 the penalty's own SGD step overshoots (6 of 16; γ = 10: 16 of 16).

Claims per seed: a stalled run ends with its samples at least 90 % as far from the nearest mode as
they started (``dist_ratio`` ≥ 0.9); a learning run ends at most half as far (≤ 0.5); a divergent
run hits a non-finite value; a fixed one never does and ends at most half as far as it started.
Figures over 16 seeds: ``python scripts/bench_instability.py``.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.config import bounded, check, check_variants
from engine.gan_probe import RING_SIGMA, sample_grads
from engine.live_run import LiveRun, Recipe
from engine.metrics import mean_sd
from engine.train import GanSetup, TrainSettings, torch_threads

DEMO_ID = "instability"
CODE_VERSION = "instability/4"


@dataclass(frozen=True)
class Config:
    steps: int = field(default=600, metadata=bounded(10, 5000, "generator steps"))
    batch: int = field(default=128, metadata=bounded(8, 1024, "samples per batch"))
    hidden: int = field(default=64, metadata=bounded(4, 512, "units per hidden layer (2 layers)"))
    warmup: int = field(default=300, metadata=bounded(0, 5000, "stall: D steps before G's first step"))
    offset: float = field(default=3.0, metadata=bounded(0.0, 10.0, "stall: G's samples start this far right of the data"))
    lr_g: float = field(default=0.02, metadata=bounded(1e-6, 1.0, "stall: generator learning rate"))
    lr_d: float = field(default=1e-2, metadata=bounded(1e-6, 1.0, "stall: discriminator learning rate (Adam)"))
    g_optimizer: str = field(default="sgd", metadata=bounded(help="stall: the generator's optimiser", choices=("sgd", "adam")))
    gp_weight: float = field(default=1.0, metadata=bounded(0.0, 100.0, "WGAN-GP: penalty weight λ"))
    n_critic: int = field(default=1, metadata=bounded(1, 10, "WGAN-GP: critic steps per generator step"))
    diverge_lr: float = field(default=0.7, metadata=bounded(1e-4, 10.0, "divergence: SGD step of both networks"))
    r1_gamma: float = field(default=0.5, metadata=bounded(0.0, 100.0, "R1: penalty weight γ"))
    arrows: int = field(default=30, metadata=bounded(0, 200, "generated points drawn with their gradient arrow"))
    eval_every: int = field(default=25, metadata=bounded(1, 5000, "steps between live frames"))
    seed: int = field(default=0, metadata=bounded(0, 10**6, "first seed; seeds are seed, seed+1, ..."))
    device: str = field(default="auto", metadata=bounded(help="auto (CUDA if present) or cpu", choices=("auto", "cpu")))


# variant -> (label, scenario, GanSetup). Within a scenario each fix is one change to its failure.
VARIANTS: dict[str, tuple[str, str, Callable[[Config], GanSetup]]] = {
    "saturating": ("Saturating minimax loss (failure)", "stall", lambda c: GanSetup(loss="saturating")),
    "nonsaturating": ("Non-saturating loss", "stall", lambda c: GanSetup(loss="nonsaturating")),
    "lsgan": ("Least squares (LSGAN)", "stall", lambda c: GanSetup(loss="lsgan")),
    "wgan_gp": ("WGAN-GP", "stall",
                lambda c: GanSetup(loss="wasserstein", gp_weight=c.gp_weight, n_disc=c.n_critic)),
    "high_lr": ("High learning rate, no normalisation (failure)", "diverge", lambda c: GanSetup()),
    "spectral": ("Spectral normalisation", "diverge", lambda c: GanSetup(spectral=True)),
    "r1": ("R1 gradient penalty", "diverge", lambda c: GanSetup(r1_weight=c.r1_gamma)),
}
FAILURE = {"stall": "saturating", "diverge": "high_lr"}
METRICS = ("dist_ratio", "hq_fraction", "modes", "grad_norm_end", "diverged")


def recipe(cfg: Config, scenario: str) -> Recipe:
    if scenario == "stall":
        return Recipe(cfg.g_optimizer, "adam", cfg.lr_g, cfg.lr_d, cfg.warmup, cfg.offset)
    return Recipe("sgd", "sgd", cfg.diverge_lr, cfg.diverge_lr, 0, 0.0)


def settings(cfg: Config) -> TrainSettings:
    return TrainSettings(dataset="ring", sigma=RING_SIGMA, steps=cfg.steps, batch=cfg.batch,
                         hidden=cfg.hidden, eval_every=cfg.eval_every, device=cfg.device)


def arrows(run: LiveRun, n: int) -> dict:
    """Seed 0's first n generated points and −∇_x ℓ at each: where the generator loss pushes them."""
    if n == 0:
        return {"x": [], "y": [], "u": [], "v": []}
    x = run.eval_samples(n)  # the same z every frame, so an arrow's foot moves only when G does
    g = -sample_grads(run.g_loss_fn, run.d, x)[0]
    x = x[0].detach()
    keep = torch.isfinite(x).all(1) & torch.isfinite(g).all(1)
    x, g = x[keep].cpu(), g[keep].cpu()
    return {"x": x[:, 0].tolist(), "y": x[:, 1].tolist(), "u": g[:, 0].tolist(), "v": g[:, 1].tolist()}


def run(cfg: Config, variants: list[str], seeds: int = 8, on_event=None, should_stop=None,
        save_samples: Path | None = None, threads: int | None = None) -> dict:
    """Train every variant on ``seeds`` seeds (batched), in lockstep so the page shows them side by side."""
    cfg = check(cfg)
    check_variants(variants, VARIANTS)
    t0 = time.perf_counter()
    seed_list = [cfg.seed + i for i in range(seeds)]
    ts = settings(cfg)
    with torch_threads(threads):
        runs = {v: LiveRun(VARIANTS[v][2](cfg), ts, seed_list, recipe(cfg, VARIANTS[v][1])) for v in variants}
        every = max(1, cfg.steps // 300)  # curves keep at most ~300 points
        stopped, step = False, 0
        for step in range(cfg.steps + 1):
            for r in runs.values():
                r.advance(step, record=step % every == 0 or step == cfg.steps)
            if on_event and (step % cfg.eval_every == 0 or step == cfg.steps):
                on_event({"step": step, "total": cfg.steps, "curves": {v: r.curves for v, r in runs.items()},
                          "variants": {v: r.frame(cfg.arrows, arrows) for v, r in runs.items()}})
            if should_stop and should_stop():
                stopped = True
                break
            if all(r.all_diverged for r in runs.values()):
                break
    out = {"demo": DEMO_ID, "code_version": CODE_VERSION, "config": dataclasses.asdict(cfg),
           "seeds": seed_list, "steps_done": step, "stopped": stopped, "variants": {}}
    for v, r in runs.items():
        per_seed = r.per_seed()
        summary = {m: mean_sd([p[m] for p in per_seed]) for m in METRICS}
        out["variants"][v] = {
            "label": VARIANTS[v][0], "scenario": VARIANTS[v][1], "recipe": dataclasses.asdict(r.recipe),
            "per_seed": per_seed, "mean": {m: s[0] for m, s in summary.items()},
            "sd": {m: s[1] for m, s in summary.items()}, "diverged_at": r.diverged_at, "curves": r.curves,
            "final": r.frame(cfg.arrows, arrows), "device": str(r.device), "wall_time_s": r.spent}
        if save_samples is not None:
            _save(Path(save_samples), v, seed_list, r)
    out["wall_time_s"] = time.perf_counter() - t0
    return out


def _save(folder: Path, variant: str, seeds: list[int], r: LiveRun) -> None:
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    x = r.last_samples.cpu().numpy()
    for i, s in enumerate(seeds):
        np.save(folder / f"{variant}_seed{s}.npy", x[i])


def success(result: dict, variant: str) -> list[bool]:
    """Per seed, whether the claim (see the module docstring) holds for ``variant``."""
    r = result["variants"][variant]
    failure = variant in FAILURE.values()
    out = []
    for p, d in zip(r["per_seed"], r["diverged_at"]):
        ratio = p["dist_ratio"] if p["dist_ratio"] is not None else math.nan
        if r["scenario"] == "stall":
            out.append(d is None and (ratio >= 0.9 if failure else ratio <= 0.5))
        else:
            out.append(d is not None if failure else d is None and ratio <= 0.5)
    return out


def pretrain(root: Path | None = None, seeds: int = 8, on_event=None, names=None) -> list[Path]:
    """Regenerate the shipped results: every variant of each scenario at the default config
    (``names``: some of stall, diverge)."""
    from engine import pretrained

    bad = set(names or ()) - set(FAILURE)
    if bad:
        raise ValueError(f"unknown result name(s) {sorted(bad)}; expected stall, diverge")
    paths = []
    for scenario in names or ("stall", "diverge"):
        result = run(Config(), [v for v in VARIANTS if VARIANTS[v][1] == scenario], seeds, on_event=on_event)
        paths.append(pretrained.path_for(DEMO_ID, scenario, root))
        pretrained.save(result, paths[-1])
    return paths
