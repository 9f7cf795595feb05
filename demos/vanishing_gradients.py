r"""Vanishing gradients (Arjovsky & Bottou 2017): the generator's gradient as D nears optimality.

The experiment: take a generator G_θ (untrained, or trained ``g_steps`` steps as a plain GAN), freeze
it, and train a *fresh* discriminator against it for ``steps`` iterations. After every
``record_every`` iterations, on a fixed batch of z, measure the norm of the generator's gradient

    ‖∇_θ L_G(θ)‖_2      (over all of G's weights, one value per seed)

under each generator loss, and D's accuracy at telling real from generated samples. Nothing about G
changes: only D gets better, so the curves show what a near-optimal D leaves the generator to learn
from. Writing l = logit D(x), D = sigmoid(l), the per-sample gradient w.r.t. a generated x is

* ``saturating`` -- the original minimax loss L_G = E[log(1 − D(G(z)))] (Goodfellow et al. 2014):
  ∇_x log(1 − D) = −D(x) ∇_x l. A confident D has D(G(z)) ≈ e^l → 0 on the fakes, so the gradient
  vanishes exponentially fast as D's margin grows: the **failure**.
* ``nonsaturating`` -- L_G = −E[log D(G(z))]: ∇_x = −(1 − D(x)) ∇_x l ≈ −∇_x l. Same D, same fixed
  point, but the factor (1 − D) → 1: the gradient keeps (even grows with) D's slope.
* ``lsgan`` -- least squares (Mao et al. 2017, targets 0/1/1): D regresses real → 1, fake → 0 and
  L_G = ½E[(D(G(z)) − 1)²]: ∇_x = (D(x) − 1) ∇_x D ≈ −∇_x D. It vanishes only as D flattens out on
  the fakes, which a finite network trained for finitely many steps does slowly.
* ``wgan_gp`` -- a WGAN-GP critic (Gulrajani et al. 2017), L_D = E[D(G(z))] − E[D(x)] +
  λ E[(‖∇D(x̂)‖ − 1)²], L_G = −E[D(G(z))]: ∇_x = −∇_x D, whose norm the penalty holds near 1
  between the data and the fakes.

The saturating and non-saturating losses are measured against the *same* cross-entropy D. Every D is
trained with Adam (β₁ 0.5, β₂ 0.9 as in WGAN-GP, learning rate ``lr_d`` decaying linearly to 0): the
point is a near-optimal D, and with β₂ = 0.999 Adam's rare oversized steps kicked D off its optimum.
Accuracy: threshold 0 on the logit (cross-entropy D), 0.5 on the output (least squares), the mean of
the critic's average scores on real and fake (a critic has no fixed threshold); on 512 held-out real
and generated samples. ``grad_norm_drop`` is the first recorded norm (the fresh D, iteration 0)
divided by the last. Data: the ring of 8 Gaussians (sd 0.05) or scikit-learn's bundled 8x8 digits.

Measured at the defaults (16 seeds, ``python scripts/bench_instability.py``): the saturating norm
falls by a median 1.4e8 on digits (16/16 seeds ≥ 100×) and 4.9e6 on the ring (15/16: on seed 11
the untrained G's samples reach a mode, no D separates them, and the gradient stays); the
non-saturating norm grows ~600×; least squares ends near where it started (median ×0.8 on the
ring, ×3 on digits); the WGAN-GP critic's ~×10.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine import losses
from engine.config import bounded, check, check_variants
from engine.gan_probe import Data, seed_grad_norms
from engine.metrics import mean_sd
from engine.nets import BatchedMLP, pick_device, seed_generator
from engine.train import torch_threads

DEMO_ID = "vanishing_gradients"
CODE_VERSION = "vanishing_gradients/3"
Z_DIM = {"ring": 2, "digits": 16}
EVAL_N = 512
# D's optimiser: Adam with beta2 = 0.9 (as WGAN-GP's authors) and a learning rate decaying linearly to 0.
# The point is a near-optimal D; with beta2 = 0.999, after a long calm Adam's step on a rare badly
# classified sample is up to ~16x the learning rate, kicking D off its optimum (norms jumped back up
# by decades in our runs), and without the decay the last recorded value rides those kicks.
D_BETAS = (0.5, 0.9)


@dataclass(frozen=True)
class Config:
    dataset: str = field(default="ring", metadata=bounded(help="ring of 8 Gaussians or 8x8 digits", choices=("ring", "digits")))
    # 2,000, not 1,000: on fresh seeds 2000-2031 the saturating drop at 1,000 was as small as 145x (the
    # bar is 100x, and a reviewer's machine saw 7 of 8); at 2,000 the smallest was 344x (docs)
    steps: int = field(default=2000, metadata=bounded(10, 20000, "discriminator iterations against the frozen G"))
    record_every: int = field(default=20, metadata=bounded(1, 1000, "iterations between gradient measurements"))
    g_steps: int = field(default=0, metadata=bounded(0, 5000, "plain-GAN steps that train G before it is frozen (0: untrained)"))
    batch: int = field(default=128, metadata=bounded(8, 1024, "samples per discriminator step"))
    hidden: int = field(default=64, metadata=bounded(4, 512, "units per hidden layer (2 layers, G and D)"))
    lr_d: float = field(default=1e-2, metadata=bounded(1e-6, 1.0, "discriminator learning rate (Adam)"))
    gp_weight: float = field(default=10.0, metadata=bounded(0.0, 100.0, "WGAN-GP: penalty weight λ"))
    seed: int = field(default=0, metadata=bounded(0, 10**6, "first seed; seeds are seed, seed+1, ..."))
    device: str = field(default="auto", metadata=bounded(help="auto (CUDA if present) or cpu", choices=("auto", "cpu")))


# variant -> (label, which discriminator it is measured against, generator loss)
VARIANTS: dict[str, tuple[str, str, Callable]] = {
    "saturating": ("Saturating minimax loss log(1 − D(G(z))) (failure)", "bce", losses.g_loss_saturating),
    "nonsaturating": ("Non-saturating loss −log D(G(z))", "bce", losses.g_loss_nonsaturating),
    "lsgan": ("Least squares (LSGAN)", "lsgan", losses.g_loss_lsgan),
    "wgan_gp": ("WGAN-GP critic", "wgan_gp", losses.g_loss_linear),
}
KINDS = ("bce", "lsgan", "wgan_gp")  # the discriminators, in a fixed order (it sets their random streams)
METRICS = ("grad_norm_first", "grad_norm_last", "grad_norm_drop", "log10_drop", "accuracy")


class Probe:
    """A frozen G and one fresh D per discriminator kind, over S seeds (batched)."""

    def __init__(self, cfg: Config, kinds: list[str], seeds: list[int]):
        self.cfg, self.seeds, self.device = cfg, seeds, pick_device(cfg.device)
        # Random streams per seed and per role: G's pre-training, and each kind's D its own data,
        # noise and penalty streams, so a D sees the same batches whichever other kinds run beside it.
        self.data = Data(cfg.dataset, [seed_generator(s, 3) for s in seeds], self.device)
        self.noise_gens = [seed_generator(s, 4) for s in seeds]
        salt = {k: 10 + 3 * KINDS.index(k) for k in kinds}
        self.kind_data = {k: Data(cfg.dataset, [seed_generator(s, salt[k]) for s in seeds], self.device) for k in kinds}
        self.kind_noise = {k: [seed_generator(s, salt[k] + 1) for s in seeds] for k in kinds}
        self.gp_gen = torch.Generator(device=self.device).manual_seed(1_000_003 * cfg.seed + salt.get("wgan_gp", 0) + 2)
        dim, h = self.data.dim, [cfg.hidden] * 2
        self.G = BatchedMLP([Z_DIM[cfg.dataset], *h, dim], seeds, salt=1, device=self.device)
        if cfg.g_steps:
            self._pretrain_g(cfg.g_steps)
        for p in self.G.parameters():  # frozen: only its gradient is ever read
            p.grad = None
        # every kind's D starts from the same weights (same salt): only the loss differs
        self.D = {k: BatchedMLP([dim, *h, 1], seeds, salt=2, device=self.device) for k in kinds}
        self.opt = {k: torch.optim.Adam(d.parameters(), lr=cfg.lr_d, betas=D_BETAS, foreach=True)
                    for k, d in self.D.items()}
        decay = lambda t: max(0.0, 1 - t / cfg.steps)  # linear to 0: D settles at its optimum
        self.sched = {k: torch.optim.lr_scheduler.LambdaLR(o, decay) for k, o in self.opt.items()}
        evals = [seed_generator(s, 5) for s in seeds]  # fixed evaluation batch: curves show D's change only
        self.z_eval = self.noise(EVAL_N, evals)
        self.real_eval = Data(cfg.dataset, evals, self.device).sample(EVAL_N)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        x = self.G(z)
        return torch.tanh(x) if self.cfg.dataset == "digits" else x  # images live in [-1, 1]

    def noise(self, n: int, gens=None) -> torch.Tensor:
        z = [torch.randn(n, Z_DIM[self.cfg.dataset], generator=g) for g in gens or self.noise_gens]
        return torch.stack(z).to(self.device)

    def d_loss(self, kind: str, real: torch.Tensor, fake: torch.Tensor, D=None) -> torch.Tensor:
        D = D or self.D[kind]
        if kind == "bce":
            return losses.d_loss_bce(D(real), D(fake))
        if kind == "lsgan":
            return losses.d_loss_lsgan(D(real), D(fake))
        return losses.d_loss_wasserstein(D(real), D(fake)) + self.cfg.gp_weight * losses.wgan_gp_penalty(
            D, real, fake, self.gp_gen)

    def _pretrain_g(self, steps: int) -> None:
        """A short plain (non-saturating) GAN run, so G is 'trained briefly' as in Arjovsky & Bottou."""
        h = self.cfg.hidden
        D = BatchedMLP([self.data.dim, h, h, 1], self.seeds, salt=7, device=self.device)
        opt_g = torch.optim.Adam(self.G.parameters(), lr=1e-3, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
        for _ in range(steps):
            n = self.cfg.batch
            loss = self.d_loss("bce", self.data.sample(n), self.generate(self.noise(n)).detach(), D)
            opt_d.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt_d.step()
            g_loss = losses.g_loss_nonsaturating(D(self.generate(self.noise(n))))
            opt_g.zero_grad(set_to_none=True)
            g_loss.sum().backward()
            opt_g.step()

    def d_step(self, kind: str) -> None:
        n = self.cfg.batch
        with torch.no_grad():
            fake = self.generate(self.noise(n, self.kind_noise[kind]))
        loss = self.d_loss(kind, self.kind_data[kind].sample(n), fake)
        self.opt[kind].zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt[kind].step()
        self.sched[kind].step()

    def measure(self, kind: str, variants: list[str]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """‖∇_θ L_G‖ per seed for every variant measured against D[kind], and D's accuracy."""
        D = self.D[kind]
        fake_logit = D(self.generate(self.z_eval))
        g = self.G.params()
        norms = {v: seed_grad_norms(VARIANTS[v][2](fake_logit), g, retain_graph=True) for v in variants}
        with torch.no_grad():
            r, f = D(self.real_eval)[..., 0], fake_logit.detach()[..., 0]
            t = {"bce": torch.zeros(len(self.seeds), 1, device=self.device),
                 "lsgan": torch.full((len(self.seeds), 1), 0.5, device=self.device),
                 "wgan_gp": (r.mean(1, keepdim=True) + f.mean(1, keepdim=True)) / 2}[kind]
            acc = ((r > t).float().mean(1) + (f < t).float().mean(1)) / 2
        return norms, acc


def run(cfg: Config, variants: list[str], seeds: int = 8, on_event=None, should_stop=None,
        save_samples: Path | None = None, threads: int | None = None) -> dict:
    """Train the fresh discriminators (every kind in lockstep) and record the gradient norms."""
    cfg = check(cfg)
    check_variants(variants, VARIANTS)
    t0 = time.perf_counter()
    seed_list = [cfg.seed + i for i in range(seeds)]
    kinds: dict[str, list[str]] = {}
    for v in variants:
        kinds.setdefault(VARIANTS[v][1], []).append(v)
    with torch_threads(threads):
        probe = Probe(cfg, list(kinds), seed_list)
        curves = {v: {"step": [], "grad_norm": [[] for _ in seed_list], "accuracy": [[] for _ in seed_list]}
                  for v in variants}
        stopped, it = False, 0
        for it in range(cfg.steps + 1):
            if it > 0:
                for k in kinds:
                    probe.d_step(k)
            if it % cfg.record_every == 0 or it == cfg.steps:
                for k, vs in kinds.items():
                    norms, acc = probe.measure(k, vs)
                    for v in vs:
                        curves[v]["step"].append(it)
                        for i in range(len(seed_list)):
                            curves[v]["grad_norm"][i].append(float(norms[v][i]))
                            curves[v]["accuracy"][i].append(float(acc[i]))
                if on_event:
                    on_event({"step": it, "total": cfg.steps, "curves": curves})
            if should_stop and should_stop():
                stopped = True
                break
        samples = probe.generate(probe.z_eval[:, :300 if cfg.dataset == "ring" else 16]).detach().cpu()
        real = probe.real_eval[0, :300 if cfg.dataset == "ring" else 16].cpu()
    out = {"demo": DEMO_ID, "code_version": CODE_VERSION, "config": dataclasses.asdict(cfg),
           "seeds": seed_list, "iterations_done": it, "stopped": stopped, "device": str(probe.device),
           "frozen_samples_seed0": samples[0].tolist(), "real_samples": real.tolist(), "variants": {}}
    for v in variants:
        c = curves[v]
        per_seed = []
        for i in range(len(seed_list)):
            first, last = c["grad_norm"][i][0], c["grad_norm"][i][-1]
            drop = first / last if last > 0 else math.inf
            per_seed.append({"grad_norm_first": first, "grad_norm_last": last, "grad_norm_drop": drop,
                             "log10_drop": math.log10(drop) if 0 < drop < math.inf else math.inf,
                             "accuracy": c["accuracy"][i][-1]})
        summary = {m: mean_sd([p[m] for p in per_seed]) for m in METRICS}
        out["variants"][v] = {"label": VARIANTS[v][0], "discriminator": VARIANTS[v][1], "per_seed": per_seed,
                              "mean": {m: s[0] for m, s in summary.items()},
                              "sd": {m: s[1] for m, s in summary.items()}, "curves": c}
    out["wall_time_s"] = time.perf_counter() - t0
    return out


def success(result: dict, variant: str) -> list[bool]:
    """Per seed, whether the demo's claim holds for ``variant``: the saturating norm falls by at
    least two orders of magnitude while D's accuracy reaches 0.99; every other loss's norm does not
    vanish (it ends at least a tenth of where it started)."""
    ps = result["variants"][variant]["per_seed"]
    if variant == "saturating":
        return [p["grad_norm_drop"] >= 100 and p["accuracy"] >= 0.99 for p in ps]
    return [p["grad_norm_drop"] <= 10 for p in ps]


def pretrain(root: Path | None = None, seeds: int = 8, on_event=None, names=None) -> list[Path]:
    """Regenerate the shipped results: every loss at the default config, per dataset (``names``:
    some of ring, digits)."""
    from engine import pretrained

    bad = set(names or ()) - {"ring", "digits"}
    if bad:
        raise ValueError(f"unknown result name(s) {sorted(bad)}; expected ring, digits")
    paths = []
    for ds in names or ("ring", "digits"):
        result = run(Config(dataset=ds), list(VARIANTS), seeds, on_event=on_event)
        paths.append(pretrained.path_for(DEMO_ID, ds, root))
        pretrained.save(result, paths[-1])
    return paths
