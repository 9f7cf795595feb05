"""A :class:`engine.train.Run` that also measures what the instability demo shows, step by step.

Beyond the engine's Run it has: a :class:`Recipe` (optimiser and learning rate per network, D steps
ahead of G, where G's samples start); the generator's gradient norm ‖∇_θ L_G‖ per seed at every
step; D's output on real and fake samples; per-seed divergence (the first step with a non-finite D
loss, G loss or gradient) after which that seed no longer counts; frames for the live page.

Measurements never disturb training: evaluation samples are G's outputs at a fixed set of z per
seed (drawn afresh from their own stream every time, so a point on screen moves only when G moves),
and spectral normalisation's power-iteration vectors are restored after every evaluation forward
pass, so a run gives the same numbers whether or not anyone is watching it (a test pins this).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from . import losses
from .metrics import mode_metrics
from .nets import seed_generator
from .train import GanSetup, Run, TrainSettings

EVAL_N = 1000


@dataclass(frozen=True)
class Recipe:
    g_opt: str  # "sgd" | "adam"
    d_opt: str
    lr_g: float
    lr_d: float
    warmup: int  # D steps before G's first step
    offset: float  # G's samples start shifted this far along x (data units)


def _optimiser(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, foreach=True)
    return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999), foreach=True)  # foreach: same numbers, fewer calls


class LiveRun(Run):
    def __init__(self, setup: GanSetup, ts: TrainSettings, seeds: Sequence[int], recipe: Recipe):
        super().__init__(setup, ts, seeds)
        self.recipe, self.spent = recipe, 0.0
        if recipe.offset:
            with torch.no_grad():  # the output layer's bias moves every generated point
                self.G.biases[-1][:, :, 0] += recipe.offset / self.scale
        self.opt_g = _optimiser(recipe.g_opt, self.G.parameters(), recipe.lr_g)
        self.opt_d = _optimiser(recipe.d_opt, self.D.parameters(), recipe.lr_d)
        self.prob = setup.loss in ("saturating", "nonsaturating")  # D's output is a probability
        # WGAN-GP's interpolation weights: their own stream, on the device (a CPU generator cannot
        # draw CUDA tensors, and seed 0's data stream should not depend on whether a penalty runs)
        self.gp_gen = torch.Generator(device=self.device).manual_seed(1_000_003 * self.seeds[0] + 8)
        n = len(self.seeds)
        self.diverged_at: list = [None] * n
        self.norm_log: list[torch.Tensor] = []  # per-seed ‖∇_θ L_G‖ at every G step
        self.curves = {k: [] for k in ("step", "grad_norm", "d_real", "d_fake", "d_loss", "g_loss", "alive")}
        self.start_dist = self.dist_to_data(self.eval_samples())
        self._frame0: dict = {}

    # -- measuring without side effects ------------------------------------------------------
    def eval_samples(self, n: int = EVAL_N) -> torch.Tensor:
        """G's samples at a fixed set of z per seed (the same every call): a point moves only when G does."""
        gens = [seed_generator(s, 6) for s in self.seeds]
        z = torch.stack([torch.randn(n, self.ts.z_dim, generator=g) for g in gens]).to(self.device)
        with torch.no_grad():
            return self.G(z) * self.scale

    def dist_to_data(self, x: torch.Tensor) -> torch.Tensor:
        """Mean distance from each seed's samples to their nearest mode, (S,)."""
        return torch.cdist(x, self.mu.expand(len(self.seeds), -1, -1)).min(2).values.mean(1)

    def _keep_sn(self, fn: Callable):
        saved = [u.clone() for u in self.D.u]
        try:
            return fn()
        finally:
            self.D.u = saved

    @property
    def alive(self) -> torch.Tensor:
        return torch.tensor([d is None for d in self.diverged_at], device=self.device)

    @property
    def all_diverged(self) -> bool:
        return all(d is not None for d in self.diverged_at)

    # -- training ----------------------------------------------------------------------------
    def _squash(self, logits: torch.Tensor) -> torch.Tensor:
        """D's output as the page plots it: a probability for the cross-entropy losses, raw otherwise."""
        return (torch.sigmoid(logits) if self.prob else logits).mean((1, 2))

    def d_step(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, su = self.ts.batch, self.setup
        real = self.real(n)
        with torch.no_grad():  # D's step needs G's samples, not a graph through G
            fake = self.generate(n)
        lr_, lf = self.d(real), self.d(fake)
        loss = self.d_loss_fn(lr_, lf)
        if su.gp_weight:
            loss = loss + su.gp_weight * losses.wgan_gp_penalty(self.D, real / self.scale, fake / self.scale,
                                                                self.gp_gen)
        if su.r1_weight:
            loss = loss + su.r1_weight * losses.r1_penalty(self.D, real / self.scale)
        self.opt_d.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt_d.step()
        return loss.detach(), self._squash(lr_.detach()), self._squash(lf.detach())

    def advance(self, step: int, record: bool) -> None:
        """Step 0: D's warm-up only. Step t >= 1: one D step, then one G step."""
        if self.all_diverged:
            return
        t = time.perf_counter()
        nan = torch.full((len(self.seeds),), math.nan, device=self.device)
        if step == 0:
            d_loss, g_loss, norm = nan, nan, nan
            for _ in range(self.recipe.warmup):
                d_loss, d_real, d_fake = self.d_step()
            if not self.recipe.warmup:
                with torch.no_grad():
                    d_real = self._keep_sn(lambda: self._squash(self.d(self.real(self.ts.batch))))
                    d_fake = self._keep_sn(lambda: self._squash(self.d(self.generate(self.ts.batch))))
        else:
            for _ in range(self.setup.n_disc):
                d_loss, d_real, d_fake = self.d_step()
            g_loss = self.g_loss_fn(self.d(self.generate(self.ts.batch)))
            self.g_grads(g_loss)
            norm = grad_norms(self.G.params(), len(self.seeds))
            self.opt_g.step()
            g_loss = g_loss.detach()
            self.norm_log.append(norm)
            bad = ~(torch.isfinite(d_loss) & torch.isfinite(g_loss) & torch.isfinite(norm))
            for i in torch.nonzero(bad).flatten().tolist():
                self.diverged_at[i] = self.diverged_at[i] or step
        if record:
            self._record(step, d_loss, g_loss, norm, d_real, d_fake)
        self.spent += time.perf_counter() - t

    def _record(self, step, d_loss, g_loss, norm, d_real, d_fake) -> None:
        ok = self.alive
        c = self.curves

        def mean(v: torch.Tensor, log: bool = False) -> float:
            v = v[ok & torch.isfinite(v) & ((v > 0) if log else True)]
            if not len(v):
                return math.nan
            return float(v.double().log().mean().exp()) if log else float(v.double().mean())

        c["step"].append(step)
        c["grad_norm"].append(mean(norm, log=True))  # geometric mean over the live seeds
        c["d_real"].append(mean(d_real))
        c["d_fake"].append(mean(d_fake))
        c["d_loss"].append(mean(d_loss))
        c["g_loss"].append(mean(g_loss))
        c["alive"].append(int(ok.sum()))

    # -- frames and results ------------------------------------------------------------------
    def frame(self, n_arrows: int, arrows: Callable) -> dict:
        """Seed 0's samples, gradient arrows and D(x) map; frozen at its last finite frame once
        seed 0 has diverged."""
        if self.diverged_at[0] is not None and self._frame0:
            return {**self._frame0, "diverged_at": self.diverged_at[0]}
        x = self.eval_samples(400)[0]
        x = x[torch.isfinite(x).all(1)].cpu()
        arr = self._keep_sn(lambda: arrows(self, n_arrows))
        heat = self._keep_sn(self.heatmap)
        norm = float(self.norm_log[-1][0]) if self.norm_log else math.nan
        self._frame0 = {"samples": x.tolist(), "arrows": arr, "heatmap": heat, "view": self.view(),
                        "grad_norm": norm if math.isfinite(norm) else None,
                        "diverged_at": self.diverged_at[0]}
        return self._frame0

    def view(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The plane the page shows: the ring plus, to the right, where G's samples started."""
        r = 1.6 * self.scale
        return (-r, max(r, self.recipe.offset + 1.2 * self.scale)), (-r, r)

    @torch.no_grad()
    def heatmap(self, res: int = 36) -> dict:
        """sigmoid(D's output) for seed 0 on a grid over :meth:`view` (None where not finite)."""
        (x0, x1), (y0, y1) = self.view()
        nx = max(res, int(res * (x1 - x0) / (y1 - y0)))
        xs, ys = torch.linspace(x0, x1, nx), torch.linspace(y0, y1, res)
        gx, gy = torch.meshgrid(xs, ys, indexing="xy")
        pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).to(self.device)
        z = torch.sigmoid(self.d(pts.unsqueeze(0).expand(len(self.seeds), -1, -1)))[0, :, 0].reshape(res, nx)
        z = [[v if math.isfinite(v) else None for v in row] for row in z.cpu().tolist()]
        return {"x": xs.tolist(), "y": ys.tolist(), "z": z}

    @property
    def last_samples(self) -> torch.Tensor:
        return self.eval_samples(2500)

    def per_seed(self) -> list[dict]:
        x = self.eval_samples(2500)
        m = mode_metrics(x, self.mu, self.ts.sigma)
        ratio = self.dist_to_data(x) / self.start_dist
        tail = self.norm_log[-max(1, len(self.norm_log) // 10):]
        out = []
        for i, d in enumerate(self.diverged_at):
            norms = torch.stack([n[i] for n in tail]).double() if tail else torch.tensor([math.nan])
            ok = d is None and bool(torch.isfinite(ratio[i]))
            end = float(norms.clamp(min=1e-300).log().mean().exp())  # geometric mean, last 10 % of steps
            out.append({"dist_ratio": float(ratio[i]) if ok else math.nan,
                        "hq_fraction": float(m["hq_fraction"][i]), "modes": float(m["modes"][i]),
                        "grad_norm_end": end if ok else math.nan,
                        "diverged": float(d is not None)})  # its mean over seeds: the fraction diverged
        return out


def grad_norms(params: Sequence[torch.Tensor], s: int) -> torch.Tensor:
    """‖.grad‖ per seed of batched parameters after a backward pass, (S,), in float64."""
    sq = sum((p.grad.reshape(s, -1).double() ** 2).sum(1) for p in params if p.grad is not None)
    return sq.sqrt()
