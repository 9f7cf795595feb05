"""The tissue-patch demo's training: every variant of :mod:`demos.tissue_patches` trained in lockstep
over S seeds (so the page shows failure and fix at the same step), scored by the patch classifier at
each live frame. The maths, the variants and the claims are in tissue_patches.py; this is plumbing.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Optional, Sequence

import torch

from engine import losses, patches
from engine.metrics import mean_sd
from engine.nets import pick_device, seed_generator
from engine.patch_nets import Discriminator, Generator, diff_augment

if TYPE_CHECKING:
    from .tissue_patches import Config, Setup

SIZE = 16  # patch side (pixels); the classifier ships weights for this size
GRID = 36  # patches per sample grid in live events and results (6 x 6)
METRICS = ("modes", "reverse_kl", "diversity", "frechet_classifier", "hq_fraction")


def make_generator(seeds: Sequence[int], cfg: Config, g_norm: bool) -> Generator:
    """The generator ``cfg`` describes (for training, and for loading a shipped one)."""
    return Generator(seeds, cfg.z_dim, g_norm, (2 * cfg.g_width, cfg.g_width), cfg.g_init == "he", cfg.g_up == "resize")


class PatchRun:
    """Networks, optimisers and random streams of one variant over S seeds."""

    def __init__(self, su: Setup, cfg: Config, seeds: Sequence[int], device: torch.device,
                 lrs: Optional[tuple[float, float]] = None):
        self.su, self.cfg, self.seeds, self.device = su, cfg, list(seeds), device
        lr_g, lr_d = lrs or (cfg.lr_g, cfg.lr_d)
        self.data = patches.build(SIZE)
        self.G = make_generator(seeds, cfg, su.g_norm).to(device)  # G stays in train mode: batch statistics
        self.D = Discriminator(seeds, su, (cfg.d_width, 2 * cfg.d_width), cfg.d_init == "he", cfg.mbstd_group,
                               cfg.mbstd_features).to(device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr_g, betas=(cfg.beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr_d, betas=(cfg.beta1, 0.999))
        self.gens = [seed_generator(s, 3) for s in seeds]  # data + noise, per seed (CPU)
        self.aug_gens = [seed_generator(s, 5) for s in seeds]
        self.aug_policy = tuple(cfg.diffaug_policy.split(","))  # parsed once, not at every D call
        # the same latent points at every frame (the grid shows one set of patches evolving), and
        # drawn from their own stream: evaluating never changes the training run
        self.eval_z = torch.stack([torch.randn(cfg.eval_samples, cfg.z_dim, generator=seed_generator(s, 7))
                                   for s in seeds]).to(device)
        self.d_loss_fn, self.g_loss_fn = losses.LOSSES[su.loss]

    def real(self, n: int) -> torch.Tensor:
        return torch.stack([self.data.sample(n, g)[0][:, 0] for g in self.gens], 1).to(self.device)

    def noise(self, n: int) -> torch.Tensor:
        return torch.stack([torch.randn(n, self.cfg.z_dim, generator=g) for g in self.gens]).to(self.device)

    def d(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (S, B) for patches x (B*pack, S, 16, 16): packed, then augmented if DiffAugment."""
        m, s = self.su.pack, len(self.seeds)
        x = x.view(-1, m, s, SIZE, SIZE).transpose(1, 2).reshape(-1, s * m, SIZE, SIZE)
        if self.su.diffaug:
            x = diff_augment(x, self.aug_gens, self.aug_policy, self.cfg.diffaug_shift)
        return self.D(x)

    def step(self) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.cfg.batch * self.su.pack
        fake = self.G(self.noise(n))
        d_loss = self.d_loss_fn(self.d(self.real(n)), self.d(fake.detach()))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.sum().backward()  # a sum over seeds: each seed gets its own run's gradient
        self.opt_d.step()
        g_loss = self.g_loss_fn(self.d(fake))
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.sum().backward()
        self.opt_g.step()
        return d_loss.detach(), g_loss.detach()

    @torch.no_grad()
    def sample(self) -> torch.Tensor:
        """The evaluation patches of every seed: (S, eval_samples, 1, 16, 16) on the CPU."""
        return self.G(self.eval_z).transpose(0, 1).unsqueeze(2).float().cpu()

    def generator_state(self, i: int) -> dict[str, torch.Tensor]:
        """Seed i's generator alone: the slice of every stacked tensor (loads into Generator([seed]))."""
        s = len(self.seeds)
        return {k: (v.reshape(s, -1)[i].reshape((1 if v.shape[0] == s else v.shape[0] // s, *v.shape[1:]))
                    if v.dim() else v).detach().cpu().clone() for k, v in self.G.state_dict().items()}


def grid(x: torch.Tensor, n: int = GRID) -> list:
    """The first n patches (n, 1, 16, 16) as nested lists rounded to 0.01 (JSON for the page)."""
    return torch.nan_to_num(x[:n, 0], 0.0).clamp(-1, 1).mul(100).round().div(100).tolist()


def train(setups: dict[str, tuple[Setup, tuple[float, float]]], cfg: Config, seeds: Sequence[int], on_event=None,
          should_stop=None) -> dict:
    """``setups``: variant -> (its Setup, its (lr G, lr D))."""
    from engine.patch_classifier import judge

    device = pick_device(cfg.device)
    jd = judge(SIZE, device)  # the classifier scores on the training device (CUDA when there is one)
    runs = {v: PatchRun(su, cfg, seeds, device, lrs) for v, (su, lrs) in setups.items()}
    curves = {v: {"step": [], **{m: [] for m in METRICS}, "d_loss": [], "g_loss": []} for v in runs}
    diverged = {v: [None] * len(seeds) for v in runs}
    spent = {v: 0.0 for v in runs}
    stopped, step, scores = False, 0, {}
    for step in range(1, cfg.steps + 1):
        frame = step % cfg.eval_every == 0 or step == cfg.steps or step == 1
        live = {}
        for v, run in runs.items():
            if all(d is not None for d in diverged[v]):
                continue  # every seed diverged: nothing left to train
            t = time.perf_counter()
            d_loss, g_loss = run.step()
            for i in torch.nonzero(~(torch.isfinite(d_loss) & torch.isfinite(g_loss))).flatten().tolist():
                diverged[v][i] = diverged[v][i] or step
            spent[v] += time.perf_counter() - t
            if frame:
                x = run.sample()
                scores[v] = [jd.score(x[i]) for i in range(len(seeds))]
                c = curves[v]
                c["step"].append(step)
                for m in METRICS:
                    c[m].append(mean_sd([p[m] for p in scores[v]])[0])
                c["d_loss"].append(d_loss.nanmean().item())
                c["g_loss"].append(g_loss.nanmean().item())
                live[v] = {"grid": grid(x[0]), "metrics": scores[v]}
        if frame and on_event:
            on_event({"step": step, "total": cfg.steps, "variants": live,
                      "curves": {v: {k: list(x) for k, x in c.items()} for v, c in curves.items()}})
        if should_stop and should_stop():
            stopped = True
            break
    out = {}
    for v, run in runs.items():
        x = run.sample()
        per_seed = [jd.score(x[i]) | {"wall_time_s": spent[v]} for i in range(len(seeds))]
        out[v] = {"per_seed": per_seed, "curves": curves[v], "diverged_at": diverged[v], "steps_done": step,
                  "stopped": stopped, "grid": grid(x[0]), "wall_time_s": spent[v], "device": str(device),
                  "generator_seed0": run.generator_state(0)}
    return out
