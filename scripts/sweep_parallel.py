"""Run many sweep jobs at once on a machine with many cores (and maybe a GPU): prints figures only.

    python scripts/sweep_parallel.py jobs.txt --procs 12 --out /tmp/sweep

Each line of jobs.txt is one job: ``NAME ARGS...`` where ARGS go to scripts/sweep_tissue_patches.py
(e.g. ``gbn_fastg --setup g_norm=1 --set lr_g=2e-3 --seeds 8``). Every job runs in its own process
with one torch thread (so N jobs never oversubscribe N cores); its report goes to OUT/NAME.log and
its per-seed figures to OUT/summary.json (small: no sample grids). Lines starting with # are skipped.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ROOT / "scripts" / "sweep_tissue_patches.py"


def run_job(name: str, args: list[str], out: Path) -> dict:
    t0 = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    res_json = out / f"{name}.json"
    p = subprocess.run([sys.executable, str(SWEEP), *args, "--threads", "1", "--json", str(res_json)],
                       cwd=ROOT, env=env, capture_output=True, text=True)
    (out / f"{name}.log").write_text(p.stdout + p.stderr)
    summary = {"name": name, "args": args, "rc": p.returncode, "wall_s": time.perf_counter() - t0,
               "report": p.stdout, "error": p.stderr[-2000:] if p.returncode else ""}
    if res_json.exists():
        r = json.loads(res_json.read_text())
        summary["variants"] = {v: {"per_seed": [{k: s.get(k) for k in ("modes", "reverse_kl", "diversity",
                                                                      "frechet_classifier", "hq_fraction")}
                                                for s in x["per_seed"]],
                                   "curve_modes": x["curves"]["modes"], "curve_rkl": x["curves"]["reverse_kl"],
                                   "wall_time_s": x["wall_time_s"], "device": x.get("device")}
                               for v, x in r["variants"].items()}
        res_json.unlink()  # the full result (grids, curves) is large; the summary keeps what a sweep needs
    print(f"== {name} ({summary['wall_s']:.0f} s, rc {p.returncode}) {' '.join(args)}\n{p.stdout}{summary['error']}",
          flush=True)
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jobs")
    ap.add_argument("--procs", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--out", default="/tmp/sweep")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [shlex.split(line) for line in Path(args.jobs).read_text().splitlines() if line.strip() and not line.startswith("#")]
    results = []
    with ThreadPoolExecutor(args.procs) as pool:  # the summary is rewritten as each job ends: a
        for r in as_completed(pool.submit(run_job, j[0], j[1:], out) for j in jobs):  # killed sweep keeps its finished jobs
            results.append(r.result())
            (out / "summary.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
