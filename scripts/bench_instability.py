"""Figures for the vanishing-gradient and instability demos at their defaults, over more seeds than
the shipped results: how often each claim holds, the medians the pages show, and wall time.

    python scripts/bench_instability.py                 # 16 seeds, 1 torch thread
    python scripts/bench_instability.py --seeds 8 --only vanishing --threads 2

Wall time is that of this machine at this moment: on a CPU shared with other jobs it is an upper
bound, not a speed target. The two ``extra`` checks measure statements the docs make: the R1 window
of γ at the divergence learning rate, and Adam rescuing the saturating loss in the stall.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demos import instability as ins
from demos import vanishing_gradients as vg


def med(values) -> float:
    v = [x for x in values if x is not None and math.isfinite(x)]
    return statistics.median(v) if v else math.nan


def vanishing(seeds: int, threads: int) -> None:
    for ds in ("ring", "digits"):
        t = time.perf_counter()
        r = vg.run(vg.Config(dataset=ds), list(vg.VARIANTS), seeds, threads=threads)
        print(f"\nvanishing_gradients {ds}: {seeds} seeds, {time.perf_counter() - t:.1f} s ({r['device']})")
        for v, x in r["variants"].items():
            ps, ok = x["per_seed"], vg.success(r, v)
            print(f"  {v:14s} claim {sum(ok):2d}/{len(ok)}  |grad| first {med(p['grad_norm_first'] for p in ps):.2g}"
                  f"  last {med(p['grad_norm_last'] for p in ps):.2g}  first/last median"
                  f" {med(p['grad_norm_drop'] for p in ps):.2g} (min {min(p['grad_norm_drop'] for p in ps):.2g})"
                  f"  D accuracy min {min(p['accuracy'] for p in ps):.3f}")
        t = time.perf_counter()
        vg.run(vg.Config(dataset=ds), ["saturating", "nonsaturating"], 8, threads=threads)
        print(f"  live pair on the page (saturating + non-saturating, 8 seeds): {time.perf_counter() - t:.1f} s")


def instability(seeds: int, threads: int, extra: bool) -> None:
    for scenario in ("stall", "diverge"):
        variants = [v for v, (_, s, _) in ins.VARIANTS.items() if s == scenario]
        r = ins.run(ins.Config(), variants, seeds, threads=threads)
        print(f"\ninstability {scenario}: {seeds} seeds, {r['wall_time_s']:.1f} s")
        for v, x in r["variants"].items():
            ok, div = ins.success(r, v), [d for d in x["diverged_at"] if d]
            print(f"  {v:14s} claim {sum(ok):2d}/{len(ok)}  distance end/start median"
                  f" {med(p['dist_ratio'] for p in x['per_seed']):.2f}  |grad| at the end"
                  f" {med(p['grad_norm_end'] for p in x['per_seed']):.2g}  diverged {len(div)}/{len(ok)}"
                  + (f" at steps {min(div)}-{max(div)}" if div else "") + f"  ({x['wall_time_s']:.1f} s)")
    for pair in (("saturating", "nonsaturating"), ("high_lr", "spectral")):
        t = time.perf_counter()
        ins.run(ins.Config(), list(pair), 8, on_event=lambda e: None, threads=threads)
        print(f"  live pair on the page ({' + '.join(pair)}, 8 seeds, with frames): {time.perf_counter() - t:.1f} s")
    if not extra:
        return
    print("\nR1 window at the divergence learning rate (seeds without divergence):")
    for gamma in (0.1, 0.3, 0.5, 1.0, 3.0, 10.0):
        r = ins.run(dataclasses.replace(ins.Config(), r1_gamma=gamma), ["r1"], seeds, threads=threads)
        print(f"  gamma {gamma:5g}: {sum(d is None for d in r['variants']['r1']['diverged_at'])}/{seeds}")
    cfg = dataclasses.replace(ins.Config(), g_optimizer="adam", lr_g=1e-3)
    r = ins.run(cfg, ["saturating"], seeds, threads=threads)
    moved = [p["dist_ratio"] <= 0.5 for p in r["variants"]["saturating"]["per_seed"]]
    print(f"\nSaturating loss with Adam for G (lr 1e-3): reaches half its start distance in {sum(moved)}/{seeds}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", choices=("vanishing", "instability"))
    ap.add_argument("--no-extra", action="store_true", help="skip the R1 window and the Adam check")
    a = ap.parse_args()
    if a.only != "instability":
        vanishing(a.seeds, a.threads)
    if a.only != "vanishing":
        instability(a.seeds, a.threads, not a.no_extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
