"""Benchmark of the tissue-patch demo's default comparison, as a class would run it: prints figures.

    python scripts/bench_tissue_patches.py [--seeds 2] [--threads 2] [--device auto|cpu] [--scenario no_norm,fast_g]

Times the page's default live run of each scenario (its failure + default fix, default config, ``--seeds`` seeds) end to
end, including the classifier's scoring of every live frame: wall time to the first live frame
(the grids a class sees first), to the end, and the live frames' share. Target (issue 6): <= 90 s
on a 2-core CPU. Run it on a quiet machine: other jobs on 2 cores distort it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demos import tissue_patches as tp  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto", choices=("auto", "cpu"))
    ap.add_argument("--scenario", default=",".join(tp.FAILURE), help="comma-separated scenarios")
    args = ap.parse_args()
    cfg = tp.Config(device=args.device)
    for scenario in args.scenario.split(","):
        failure, fix = tp.FAILURE[scenario], tp.DEFAULT_FIX[scenario]
        events: list[float] = []
        t0 = time.perf_counter()
        r = tp.run(cfg, [failure, fix], args.seeds, on_event=lambda e: events.append(time.perf_counter()),
                   threads=args.threads)
        total = time.perf_counter() - t0
        train = sum(r["variants"][v]["wall_time_s"] for v in r["variants"])
        print(f"{scenario}: default comparison ({failure} + {fix}, {args.seeds} seeds, {cfg.steps} steps, "
              f"{args.threads} threads, {r['variants'][failure]['device']})")
        print(f"  first live frame : {events[0] - t0:6.1f} s")
        print(f"  total wall       : {total:6.1f} s  (target <= 90 s)")
        print(f"  training steps   : {train:6.1f} s; live frames, scoring and the real reference: {total - train:.1f} s "
              f"({len(events)} frames)")
        print(f"  claim            : failure {sum(tp.success(r, failure, 'failure'))}/{args.seeds}, "
              f"fix {sum(tp.success(r, fix, 'fix'))}/{args.seeds}")

if __name__ == "__main__":
    main()
