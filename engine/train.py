"""The flat training loop of the 2D demos: S seeds of one GAN variant trained as one computation.

A variant is a :class:`GanSetup` (which loss, how many samples D judges at once, which penalty...),
the run-wide knobs are a :class:`TrainSettings`. Both are frozen: a demo file builds them and calls
:func:`train`, which reports to ``on_event`` every ``eval_every`` steps and checks ``should_stop``.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch

from . import data2d, losses
from .metrics import EVAL_SAMPLES, mode_metrics
from .nets import BatchedMLP, pick_device, seed_generator

Event = Callable[[dict], None]


@dataclass(frozen=True)
class GanSetup:
    """What a variant changes; the defaults are the plain (non-saturating) GAN."""

    loss: str = "nonsaturating"  # a key of losses.LOSSES
    pack: int = 1  # PacGAN: D judges `pack` samples concatenated (Lin et al. 2018)
    mbstd: bool = False  # minibatch-stddev feature in D (Karras et al. 2018)
    unroll: int = 0  # G sees D after `unroll` look-ahead steps (Metz et al. 2017)
    unroll_lr: float = 1e-2  # SGD step size of those look-ahead steps
    gp_weight: float = 0.0  # WGAN-GP: lambda * E[(|grad D(x_hat)| - 1)^2] on interpolates
    r1_weight: float = 0.0  # R1: gamma/2 * E_real[|grad D(x)|^2]
    spectral: bool = False  # spectral normalisation of D's weights
    n_disc: int = 1  # D steps per G step


@dataclass(frozen=True)
class TrainSettings:
    dataset: str = "ring"
    sigma: float = 0.05
    steps: int = 1500
    batch: int = 128
    z_dim: int = 2
    hidden: int = 64
    d_hidden: int = 0  # units per hidden layer of D (0: same as G's)
    depth: int = 2  # hidden layers in G and in D
    g_slope: float = 0.2  # LeakyReLU slope in G (0 = ReLU: flat pieces let G separate modes sharply)
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    # beta1 = 0.5 (Radford et al. 2016): the default 0.9 carries momentum across the oscillating
    # game and destabilises GAN training; 0.5 is the DCGAN-era standard every fix here assumes.
    beta1: float = 0.5
    beta2: float = 0.999
    # Linear learning-rate decay to 0 over the last (1 - decay_from) of training (1.0: none). The same
    # schedule for every variant: a short run's samples then settle onto what the GAN has learned
    # instead of being read off mid-oscillation.
    decay_from: float = 1.0
    eval_every: int = 100
    device: str = "auto"


@contextmanager
def torch_threads(n: Optional[int]):
    """Run a block with ``n`` intra-op threads: parallel jobs on 2 cores must not oversubscribe."""
    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def pack_samples(x: torch.Tensor, m: int) -> torch.Tensor:
    """(S, B*m, d) -> (S, B, d*m): m consecutive samples become one input of D."""
    s, n, d = x.shape
    return x.reshape(s, n // m, d * m)


class Run:
    """The networks, optimisers and random streams of one variant over S seeds."""

    def __init__(self, setup: GanSetup, ts: TrainSettings, seeds: Sequence[int]):
        self.setup, self.ts, self.seeds = setup, ts, list(seeds)
        self.device = pick_device(ts.device)
        self.mu = data2d.means(ts.dataset).to(self.device)
        self.scale = data2d.scale(ts.dataset)  # networks see data divided by this (unit extent)
        hid = [ts.hidden] * ts.depth
        self.G = BatchedMLP([ts.z_dim, *hid, 2], seeds, salt=1, slope=ts.g_slope, device=self.device)
        self.D = BatchedMLP([2 * setup.pack, *([ts.d_hidden or ts.hidden] * ts.depth), 1], seeds, salt=2, mbstd=setup.mbstd,
                            spectral=setup.spectral, device=self.device)
        # foreach: one call per op over all tensors instead of a Python loop per tensor (the same
        # numbers, bit for bit; fused=True is faster still but rounds differently)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=ts.lr_g, betas=(ts.beta1, ts.beta2), foreach=True)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=ts.lr_d, betas=(ts.beta1, ts.beta2), foreach=True)
        self.gens = [seed_generator(s, 3) for s in seeds]  # data + noise stream per seed (CPU)
        self.d_loss_fn, self.g_loss_fn = losses.LOSSES[setup.loss]

    # -- sampling ----------------------------------------------------------------------------
    def real(self, n: int) -> torch.Tensor:
        return torch.stack([data2d.sample(self.mu.cpu(), self.ts.sigma, n, g) for g in self.gens]).to(self.device)

    def noise(self, n: int) -> torch.Tensor:
        return torch.stack([torch.randn(n, self.ts.z_dim, generator=g) for g in self.gens]).to(self.device)

    def generate(self, n: int) -> torch.Tensor:
        return self.G(self.noise(n)) * self.scale

    def d(self, x: torch.Tensor, params=None) -> torch.Tensor:
        """D's logits for data-space samples x (S, B*pack, 2) -> (S, B, 1)."""
        return self.D(pack_samples(x / self.scale, self.setup.pack), params)

    # -- one training step -------------------------------------------------------------------
    def d_objective(self, real: torch.Tensor, fake: torch.Tensor, params=None) -> torch.Tensor:
        su = self.setup
        loss = self.d_loss_fn(self.d(real, params), self.d(fake, params))
        if su.gp_weight:  # penalty on the packed, normalised inputs D actually sees
            loss = loss + su.gp_weight * losses.wgan_gp_penalty(
                lambda x: self.D(x, params), pack_samples(real / self.scale, su.pack),
                pack_samples(fake / self.scale, su.pack), self.gens[0], self.device)
        if su.r1_weight:
            loss = loss + su.r1_weight * losses.r1_penalty(lambda x: self.D(x, params),
                                                            pack_samples(real / self.scale, su.pack))
        return loss  # (S,)

    def unrolled_d_params(self, real: torch.Tensor, fake: torch.Tensor) -> list[torch.Tensor]:
        """k SGD steps of D kept in the graph, so G's gradient anticipates D's reply."""
        p = self.D.params()
        for _ in range(self.setup.unroll):
            grads = torch.autograd.grad(self.d_objective(real, fake, p).sum(), p, create_graph=True)
            p = [w - self.setup.unroll_lr * g for w, g in zip(p, grads)]
        return p

    def step(self) -> dict[str, torch.Tensor]:
        n = self.ts.batch * self.setup.pack
        for _ in range(self.setup.n_disc):
            real = self.real(n)
            with torch.no_grad():  # D's step needs G's samples, not a graph through G
                fake = self.generate(n)
            d_loss = self.d_objective(real, fake)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.sum().backward()  # sum over seeds: each seed gets its own gradient
            self.opt_d.step()
        fake = self.generate(n)
        params = self.unrolled_d_params(self.real(n), fake) if self.setup.unroll else None
        g_loss = self.g_loss_fn(self.d(fake, params))
        self.g_grads(g_loss)
        self.opt_g.step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    def g_grads(self, g_loss: torch.Tensor) -> None:
        """Set G's .grad to d(sum of seeds' G losses)/d(G's weights). Only G's: ``.backward()`` would
        also compute D's weight gradients, which G's step never uses."""
        params = self.G.params()
        for p, g in zip(params, torch.autograd.grad(g_loss.sum(), params)):
            p.grad = g

    # -- observation -------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, n: int = EVAL_SAMPLES) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = self.generate(n)
        return x, mode_metrics(x, self.mu, self.ts.sigma)

    @torch.no_grad()
    def d_heatmap(self, seed_index: int = 0, res: int = 40) -> dict:
        """D(x) = sigmoid(logit) on a res x res grid around the data (one seed), for the plots.
        With packing, D judges m copies of the same point."""
        lim = 1.5 * self.scale + 0.5
        axis = torch.linspace(-lim, lim, res)
        gx, gy = torch.meshgrid(axis, axis, indexing="xy")
        pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).to(self.device)
        pts = pts.repeat_interleave(self.setup.pack, 0).unsqueeze(0).expand(len(self.seeds), -1, -1)
        z = torch.sigmoid(self.d(pts))[seed_index, :, 0].reshape(res, res)
        return {"axis": axis.tolist(), "z": z.cpu().tolist()}


def train(setups: dict[str, GanSetup], ts: TrainSettings, seeds: Sequence[int], on_event: Optional[Event] = None,
          should_stop: Optional[Callable[[], bool]] = None) -> dict[str, dict]:
    """Train every variant of ``setups`` on ``len(seeds)`` seeds, the variants in lockstep (so a
    live view shows failure and fix side by side at the same step). Returns, per variant, final
    samples and metrics per seed, metric curves (mean over seeds), the step each seed diverged at
    (NaN/inf loss; that seed's metrics then count no high-quality sample), and wall time."""
    runs = {name: Run(su, ts, seeds) for name, su in setups.items()}
    keys = ("modes", "hq_fraction", "reverse_kl", "d_loss", "g_loss")
    curves = {name: {"step": [], **{k: [] for k in keys}} for name in runs}
    diverged = {name: [None] * len(seeds) for name in runs}
    spent = {name: 0.0 for name in runs}
    decay_start = int(ts.decay_from * ts.steps)
    stopped, step = False, 0
    for step in range(1, ts.steps + 1):
        frame = step % ts.eval_every == 0 or step == ts.steps or step == 1
        live = {}
        for name, run in runs.items():
            if all(d is not None for d in diverged[name]):
                continue  # every seed of this variant has diverged: nothing left to train
            t = time.perf_counter()
            if step > decay_start:
                frac = (ts.steps - step + 1) / max(1, ts.steps - decay_start)
                for opt, lr in ((run.opt_g, ts.lr_g), (run.opt_d, ts.lr_d)):
                    for group in opt.param_groups:
                        group["lr"] = lr * frac
            out = run.step()
            bad = ~(torch.isfinite(out["d_loss"]) & torch.isfinite(out["g_loss"]))
            for i in torch.nonzero(bad).flatten().tolist():
                diverged[name][i] = diverged[name][i] or step
            if frame:
                samples, m = run.evaluate()
                c = curves[name]
                c["step"].append(step)
                for k in ("modes", "hq_fraction", "reverse_kl"):
                    c[k].append(m[k].mean().item())
                c["d_loss"].append(out["d_loss"].nanmean().item())
                c["g_loss"].append(out["g_loss"].nanmean().item())
                # live frames are smaller than the final one: every poll of every watcher ships them
                live[name] = {"samples": samples[0, :400].cpu().tolist(), "heatmap": run.d_heatmap(res=28),
                              "metrics": {k: v.tolist() for k, v in m.items()}}
            spent[name] += time.perf_counter() - t
        if frame and on_event:
            on_event({"step": step, "total": ts.steps, "variants": live,
                      "curves": {n: {k: list(v) for k, v in c.items()} for n, c in curves.items()}})
        if should_stop and should_stop():
            stopped = True
            break
        if all(d is not None for dv in diverged.values() for d in dv):
            break
    results = {}
    for name, run in runs.items():
        samples, m = run.evaluate()
        results[name] = {
            "samples": samples.cpu(),
            "per_seed": [{k: float(v[i]) for k, v in m.items()} for i in range(len(seeds))],
            "curves": curves[name],
            "diverged_at": diverged[name],
            "steps_done": step,
            "stopped": stopped,
            "heatmap": run.d_heatmap(),
            "wall_time_s": spent[name],
            "device": str(run.device),
        }
    return results
