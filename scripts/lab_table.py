"""Print the technique presets' shipped rates as a Markdown table (for docs/lab.md and the README).

    python scripts/lab_table.py [--verify docs/verify.json]

Reads pretrained/lab_<scenario>.json (python -m demos pretrain lab) and, if given, the fresh-seed
rows of python -m demos verify, and prints one row per preset: scenario, recipe, the seeds in which
the failure showed and the technique undid it, and the mean metrics.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demos import evidence, lab  # noqa: E402
from demos.presets import PRESETS, SCENARIOS  # noqa: E402
from engine import pretrained  # noqa: E402
from engine.claims import claimable  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--verify", help="docs/verify.json from python -m demos verify")
    ap.add_argument("--sweep", default="docs/sweeps/evidence_lab.parquet",
                    help="the fresh-seed sweep of every preset (python -m demos sweep sweeps/evidence_lab.yaml)")
    args = ap.parse_args()
    fresh = {}
    if args.sweep and Path(args.sweep).exists():
        fresh.update(evidence.claim_counts(args.sweep))
    if args.verify and Path(args.verify).exists():
        for r in json.loads(Path(args.verify).read_text()):
            if r["group"].startswith("lab:"):
                fresh[r["variant"]] = (r["held"], r["of"])
    print("| technique | scenario | recipe | failure shows | technique undoes it (shipped seeds) | fresh seeds | claim |")
    print("|---|---|---|---|---|---|---|")
    for scenario in SCENARIOS:
        try:
            res = pretrained.load(pretrained.path_for(lab.DEMO_ID, scenario), lab.CODE_VERSION)
        except pretrained.PretrainedError as e:
            print(f"| ({scenario}: {e}) | | | | | | |")
            continue
        for pid, p in PRESETS.items():
            if p.scenario != scenario or pid not in res["variants"]:
                continue
            fail, fix = lab.claims(res, pid)
            held, of = fresh.get(pid, (None, None))
            fresh_txt = f"{held}/{of}" if held is not None else "-"
            claim = "claimed" if held is not None and claimable(held, of) else "measured"
            print(f"| {pid.replace('_', ' ')} | {scenario} | `{p.recipe}` | {sum(fail)}/{len(fail)} | "
                  f"{sum(fix)}/{len(fix)} | {fresh_txt} | {claim} |")


if __name__ == "__main__":
    main()
