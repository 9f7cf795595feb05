"""Speed of the medical demos on this machine, one torch thread (prints figures; not a test):

* first grid: seconds from calling ``run`` to the first live event, which carries the first sample
  grids (target: <= 3 s), with the judge already built as on the page (its build time is printed);
* with ``--full``: the wall time of a full comparison, failure and default fix, at the default
  settings over 8 seeds (target: <= 180 s at 32 x 32).

Also the load average and a 1024^2 matmul's GFLOP/s, since the machine is shared.

    nice -n 10 python -m demos.med_bench [--full] [--demo brain_mri|modalities] [--seeds 8]
"""
from __future__ import annotations

import argparse
import importlib
import os
import time

import torch


def gflops() -> float:
    a = torch.randn(1024, 1024)
    a @ a
    t = time.perf_counter()
    for _ in range(5):
        a @ a
    return 5 * 2 * 1024**3 / (time.perf_counter() - t) / 1e9


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m demos.med_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", default="brain_mri", choices=("brain_mri", "modalities"))
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--full", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    from demos import med_gan

    mod = importlib.import_module(f"demos.{a.demo}")
    print(f"load average {os.getloadavg()}, matmul {gflops():.1f} GFLOP/s (1 thread)")
    from engine.med_classifier import judge

    t = time.perf_counter()
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # the first optimiser imports torch._dynamo
    print(f"first torch optimiser (imports torch._dynamo): {time.perf_counter() - t:.2f} s, once per server")
    t = time.perf_counter()
    judge(mod.KIND)  # what the page has done before anyone presses Run (it shows the real images' metrics)
    print(f"judge (classifier, cached images, reference features): {time.perf_counter() - t:.2f} s, once per server")
    t0, first = time.perf_counter(), []

    def on_event(e):
        if not first:
            first.append(time.perf_counter() - t0)

    cfg = mod.Config() if a.full else mod.Config(steps=2)
    res = mod.run(cfg, [med_gan.FAILURE, "batchnorm"], a.seeds, on_event=on_event, threads=1)
    print(f"{a.demo}, {a.seeds} seeds: first grid after {first[0]:.2f} s")
    if a.full:
        print(f"{a.demo}, {a.seeds} seeds, {cfg.steps} steps, failure + batch norm: {res['wall_time_s']:.0f} s")
    print(f"load average {os.getloadavg()}, matmul {gflops():.1f} GFLOP/s")


if __name__ == "__main__":
    main()
