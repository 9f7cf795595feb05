"""Benchmark of the batched multi-seed engine (a script that prints figures, not a timed test).

Prints, on this machine, in one run:
  * seed-steps per second of the batched engine (S seeds as one computation) and of a plain
    per-seed PyTorch loop (nn.Sequential, one Adam per seed, the same networks and batch), and the
    ratio (target: >= 8x at the default demo size, 8 seeds, the same threads);
  * the engine's achieved FLOP rate (FLOPs counted by torch.utils.flop_counter on one step) next
    to a plain large matmul's FLOP rate on the same threads;
  * the wall time of the default comparisons (plain GAN + PacGAN, 8 seeds, ring and grid).

    python scripts/bench_engine.py [--threads 2] [--steps 600] [--rounds 6] [--skip-demo] [--malloc-default]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from engine import data2d, losses  # noqa: E402
from demos import mode_collapse as mc  # noqa: E402
from engine.lab import Model, Settings  # noqa: E402
from engine.options import make_recipe  # noqa: E402
from engine.runtime import keep_heap  # noqa: E402


def mlp(sizes):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class PlainLoop:
    """The same GAN, one seed at a time, as a newcomer would write it (nn.Sequential, one Adam per
    network, a Python loop over seeds)."""

    def __init__(self, ts: Settings, seeds: int):
        self.ts, self.mu, self.scale = ts, data2d.means(ts.testbed), data2d.scale(ts.testbed)
        self.nets = []
        for s in range(seeds):
            torch.manual_seed(s)
            g, d = mlp([ts.z_dim, ts.hidden, ts.hidden, 2]), mlp([2, ts.hidden, ts.hidden, 1])
            self.nets.append((g, d, torch.optim.Adam(g.parameters(), lr=ts.lr_g, betas=(ts.beta1, ts.beta2)),
                              torch.optim.Adam(d.parameters(), lr=ts.lr_d, betas=(ts.beta1, ts.beta2)),
                              torch.Generator().manual_seed(s)))

    def train(self, steps: int) -> float:
        """``steps`` steps of every seed, one seed after the other. Returns seconds."""
        ts = self.ts
        t0 = time.perf_counter()
        for g, d, og, od, gen in self.nets:
            for _ in range(steps):
                real = data2d.sample(self.mu, ts.sigma, ts.batch, gen) / self.scale
                fake = g(torch.randn(ts.batch, ts.z_dim, generator=gen)).detach()
                ld = losses.d_loss_bce(d(real).T, d(fake).T).sum()
                od.zero_grad()
                ld.backward()
                od.step()
                lg = losses.g_loss_nonsaturating(d(g(torch.randn(ts.batch, ts.z_dim, generator=gen))).T).sum()
                og.zero_grad()
                lg.backward()
                og.step()
        return time.perf_counter() - t0


class Batched:
    """S seeds as one computation: the recipe engine's plain GAN (what the demos train)."""

    def __init__(self, ts: Settings, seeds: int):
        self.m = Model(make_recipe({}), ts, range(seeds))

    def flops(self) -> float:
        with FlopCounterMode(display=False) as fc:
            self.m.rule.update(self.m)
        return fc.get_total_flops()

    def train(self, steps: int) -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            self.m.rule.update(self.m)
        return time.perf_counter() - t0


def matmul_rate(n: int = 1024, reps: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--malloc-default", action="store_true",
                    help="leave glibc's malloc as it is (the comparison for engine.runtime.keep_heap)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    heap = "glibc default" if args.malloc_default else f"heap kept: {keep_heap()}"
    cfg = mc.resolve(mc.Config())
    ts = mc.settings(cfg)
    print(f"torch {torch.__version__}, {args.threads} threads, device cpu, malloc {heap}; default demo size: batch {ts.batch}, "
          f"hidden {ts.hidden}x{ts.depth}, {args.seeds} seeds, {args.steps} steps")
    # Interleaved rounds: this VM's speed drifts by tens of % within a minute, so each round times
    # both loops back to back and the ratio is the median of the rounds' ratios.
    plain, batch = PlainLoop(ts, args.seeds), Batched(ts, args.seeds)
    plain.train(5)  # warm-up (lazy first-use costs)
    batch.train(5)
    flops = batch.flops()
    per = max(1, args.steps // args.rounds)
    rounds = [(plain.train(per), batch.train(per)) for _ in range(args.rounds)]
    t_plain, t_batch = sum(r[0] for r in rounds), sum(r[1] for r in rounds)
    steps = per * args.rounds
    sps_plain, sps_batch = args.seeds * steps / t_plain, args.seeds * steps / t_batch
    ratios = sorted(p / b for p, b in rounds)
    print(f"plain per-seed loop : {sps_plain:8.0f} seed-steps/s ({t_plain:.2f} s)")
    print(f"batched engine      : {sps_batch:8.0f} seed-steps/s ({t_batch:.2f} s)")
    print(f"ratio               : {ratios[len(ratios) // 2]:8.1f}x  (median of {args.rounds} interleaved rounds of "
          f"{per} steps; rounds {ratios[0]:.1f}-{ratios[-1]:.1f}x; totals {t_plain / t_batch:.1f}x)")
    achieved = flops * steps / t_batch
    mm = matmul_rate()
    print(f"engine FLOP rate    : {achieved / 1e9:8.2f} GFLOP/s ({flops / 1e6:.1f} MFLOP per step, counted)")
    print(f"1024^2 matmul rate  : {mm / 1e9:8.2f} GFLOP/s  (engine at {100 * achieved / mm:.1f} % of it: "
          "small matmuls are bound by per-op overhead, which batching pays once per step)")
    if not args.skip_demo:
        for ds in ("ring", "grid"):
            t0 = time.perf_counter()
            r = mc.run(mc.Config(dataset=ds), ["gan", "pacgan"], args.seeds)
            fail, fix = mc.success(r, "gan", "failure"), mc.success(r, "pacgan", "fix")
            print(f"default comparison {ds}: {time.perf_counter() - t0:6.1f} s wall (GAN + PacGAN, {args.seeds} seeds, "
                  f"{r['config']['steps']} steps); collapse {sum(fail)}/{len(fail)}, fix {sum(fix)}/{len(fix)}")


if __name__ == "__main__":
    main()
