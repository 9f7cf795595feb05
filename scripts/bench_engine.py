"""Benchmark of the batched multi-seed engine (a script that prints figures, not a timed test).

Prints, on this machine, in one run:
  * seed-steps per second of the batched engine (S seeds as one computation) and of a plain
    per-seed PyTorch loop (nn.Sequential, one Adam per seed, the same networks and batch), and the
    ratio (target: >= 8x at the default demo size, 8 seeds, the same threads);
  * the engine's achieved FLOP rate (FLOPs counted by torch.utils.flop_counter on one step) next
    to a plain large matmul's FLOP rate on the same threads;
  * the wall time of the default comparisons (plain GAN + PacGAN, 8 seeds, ring and grid).

    python scripts/bench_engine.py [--threads 2] [--steps 300] [--skip-demo]
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


def mlp(sizes):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def plain_loop(ts: Settings, seeds: int, steps: int) -> float:
    """The same GAN, one seed at a time, as a newcomer would write it. Returns seconds."""
    mu = data2d.means(ts.testbed)
    scale = data2d.scale(ts.testbed)
    t0 = time.perf_counter()
    for s in range(seeds):
        torch.manual_seed(s)
        g, d = mlp([ts.z_dim, ts.hidden, ts.hidden, 2]), mlp([2, ts.hidden, ts.hidden, 1])
        og = torch.optim.Adam(g.parameters(), lr=ts.lr_g, betas=(ts.beta1, ts.beta2))
        od = torch.optim.Adam(d.parameters(), lr=ts.lr_d, betas=(ts.beta1, ts.beta2))
        gen = torch.Generator().manual_seed(s)
        for _ in range(steps):
            real = data2d.sample(mu, ts.sigma, ts.batch, gen) / scale
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


def batched(ts: Settings, seeds: int, steps: int) -> tuple[float, float]:
    """Seconds for ``steps`` steps of S seeds batched (the recipe engine, plain GAN), and the FLOPs
    of one step."""
    m = Model(make_recipe({}), ts, range(seeds))
    m.rule.update(m)  # warm-up
    with FlopCounterMode(display=False) as fc:
        m.rule.update(m)
    flops = fc.get_total_flops()
    t0 = time.perf_counter()
    for _ in range(steps):
        m.rule.update(m)
    return time.perf_counter() - t0, flops


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
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--skip-demo", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = mc.resolve(mc.Config())
    ts = mc.settings(cfg)
    print(f"torch {torch.__version__}, {args.threads} threads, device cpu; default demo size: batch {ts.batch}, "
          f"hidden {ts.hidden}x{ts.depth}, {args.seeds} seeds, {args.steps} steps")
    t_plain = plain_loop(ts, args.seeds, args.steps)
    t_batch, flops = batched(ts, args.seeds, args.steps)
    sps_plain, sps_batch = args.seeds * args.steps / t_plain, args.seeds * args.steps / t_batch
    print(f"plain per-seed loop : {sps_plain:8.0f} seed-steps/s ({t_plain:.2f} s)")
    print(f"batched engine      : {sps_batch:8.0f} seed-steps/s ({t_batch:.2f} s)")
    print(f"ratio               : {sps_batch / sps_plain:8.1f}x")
    achieved = flops * args.steps / t_batch
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
