"""Probe: what each batched matrix product of a 2D demo's step costs, and whether computing it
transposed, C = (Bᵀ Aᵀ)ᵀ, is faster and gives the same bits (a script that prints figures; the
findings are in docs/classroom.md, "Seventh session").

    python scripts/bench_thin_matmul.py [--seeds 8] [--batch 128] [--threads 1]

For each layer (fan-in -> fan-out) of the MLPs (G: 2 -> 64 -> 64 -> 2, D: 2 -> 64 -> 64 -> 1; 65: D
with minibatch stddev), the three products of its forward and backward: ``fwd`` x W (with the bias:
baddbmm), ``gx`` = grad Wᵀ, ``gw`` = xᵀ grad. Best of 5 x N calls, one thread by default.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from engine.runtime import keep_heap  # noqa: E402


def best_us(f, calls: int) -> float:
    for _ in range(20):
        f()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(calls):
            f()
        times.append((time.perf_counter() - t) / calls * 1e6)
    return min(times)


def transposed(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.bmm(b.transpose(1, 2), a.transpose(1, 2)).transpose(1, 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--calls", type=int, default=1000)
    args = ap.parse_args()
    keep_heap()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    s, n = args.seeds, args.batch
    print(f"{s} seeds, batch {n}, {args.threads} thread(s); times in µs, best of 5 x {args.calls} calls")
    print(f"{'layer':>9} {'product':>4} {'shape (per seed)':>18} {'bmm':>8} {'GFLOP/s':>8} {'(BᵀAᵀ)ᵀ':>9} {'same':>5} "
          f"{'baddbmm':>8} {'(BᵀAᵀ)ᵀ+b':>10} {'same':>5}")
    for fi, fo in ((2, 64), (64, 64), (64, 2), (64, 1), (65, 1)):
        x, w = torch.randn(s, n, fi, generator=g), torch.randn(s, fi, fo, generator=g)
        b, grad = torch.randn(s, 1, fo, generator=g), torch.randn(s, n, fo, generator=g)
        for name, (a, c) in (("fwd", (x, w)), ("gx", (grad, w.transpose(1, 2))), ("gw", (x.transpose(1, 2), grad))):
            t_bmm = best_us(lambda: torch.bmm(a, c), args.calls)
            t_tr = best_us(lambda: transposed(a, c), args.calls)
            same = torch.equal(torch.bmm(a, c), transposed(a, c))
            flops = 2 * s * a.shape[1] * a.shape[2] * c.shape[2]
            line = (f"{fi:>3} -> {fo:<3} {name:>4} {a.shape[1]:>5} x {a.shape[2]:>3} x {c.shape[2]:<3} {t_bmm:8.1f} "
                    f"{flops / t_bmm / 1e3:8.1f} {t_tr:9.1f} {str(same):>5}")
            if name == "fwd":  # the forward pass adds the bias inside the product
                tb = best_us(lambda: torch.baddbmm(b, a, c), args.calls)
                alt = lambda: torch.baddbmm(b.transpose(1, 2), c.transpose(1, 2), a.transpose(1, 2)).transpose(1, 2)  # noqa: E731
                line += f" {tb:8.1f} {best_us(alt, args.calls):10.1f} {str(torch.equal(alt(), torch.baddbmm(b, a, c))):>5}"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
