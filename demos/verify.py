"""Full claim verification: every demo's failure and fixes re-run on fresh seeds, one table.

    python -m demos verify [--seeds 16] [--first 1000] [--jobs 2] [--only mode_collapse,lab] [--out docs/verify]

Each *group* trains one demo configuration on ``--seeds`` seeds starting at ``--first`` (seeds the
shipped results and the sweeps never used) and counts, per variant, the seeds in which its claim
holds (the demo's own rule). The table gives the rate, its 95 % Wilson interval and whether it
meets the claim bar (:mod:`engine.claims`: >= 90 % of >= 16 seeds). Groups run in parallel worker
processes with one torch thread each. This is the statistical check CI does not run (CI runs
smoke tests and the claim tests sized by :func:`engine.claims.test_bar`).
"""
from __future__ import annotations

import json
import math
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.claims import CLAIM_MIN_SEEDS, CLAIM_RATE, claimable, wilson

Check = tuple[str, str, Callable[[dict], list[bool]]]  # (variant, role, per-seed rule)


@dataclass(frozen=True)
class Group:
    name: str  # demo:configuration
    run: Callable[[int, int, int], dict]  # (first seed, seeds, threads) -> result
    checks: tuple  # of Check, built lazily (they import the demo)


def _mode_collapse(dataset: str):
    from . import mode_collapse as mc

    by_steps = mc.fixes_by_steps(dataset)  # each fix at its own default steps, beside the failure at the same
    fixes = [v for vs in by_steps.values() for v in vs]
    base = min(by_steps)

    def run(first, n, threads):
        merged: dict = {}
        for steps, vs in by_steps.items():
            r = mc.run(mc.Config(dataset=dataset, seed=first), ["gan", *vs], n, threads=threads)
            merged.setdefault("config", r["config"])
            merged.setdefault("variants", {}).update({v: r["variants"][v] for v in vs})
            merged["variants"][f"gan@{steps}"] = r["variants"]["gan"]
        return merged

    checks = [(f"gan@{s}" if s != base else "gan", "failure", lambda r, s=s: mc.success(r, f"gan@{s}", "failure"))
              for s in by_steps]
    checks += [(v, "fix", lambda r, v=v: mc.success(r, v, "fix")) for v in fixes]
    return Group(f"mode_collapse:{dataset}", run, tuple(checks))


def _oscillation():
    from . import oscillation as osc

    def run(first, n, threads):
        return osc.run(osc.Config(seed=first), list(osc.VARIANTS), n, threads=threads)

    return Group("oscillation:default", run,
                 tuple((v, "fix", lambda r, v=v: osc.success(r, v)) for v in osc.VARIANTS if v != "gan"))


def _vanishing(dataset: str):
    from . import vanishing_gradients as vg

    def run(first, n, threads):
        return vg.run(vg.Config(dataset=dataset, seed=first), list(vg.VARIANTS), n, threads=threads)

    return Group(f"vanishing_gradients:{dataset}", run,
                 tuple((v, "failure" if v == "saturating" else "fix", lambda r, v=v: vg.success(r, v))
                       for v in vg.VARIANTS))


def _instability(scenario: str):
    from . import instability as ins

    variants = [v for v, (_, sc, _) in ins.VARIANTS.items() if sc == scenario]

    def run(first, n, threads):
        return ins.run(ins.Config(seed=first), variants, n, threads=threads)

    return Group(f"instability:{scenario}", run,
                 tuple((v, "failure" if v in ins.FAILURE.values() else "fix", lambda r, v=v: ins.success(r, v))
                       for v in variants))


def _tissue(scenario: str):
    from . import tissue_patches as tp

    failure = tp.FAILURE[scenario]
    fixes = [v for v, (_, sc, _) in tp.VARIANTS.items() if sc == scenario and v != failure]

    def run(first, n, threads):
        return tp.run(tp.Config(seed=first, eval_every=1000), [failure, *fixes], n, threads=threads)

    checks = [(failure, "failure", lambda r: tp.success(r, failure, "failure"))]
    checks += [(v, "fix", lambda r, v=v: tp.success(r, v, "fix")) for v in fixes]
    return Group(f"tissue_patches:{scenario}", run, tuple(checks))


def _lab(scenario: str):
    from . import lab
    from .presets import PRESETS

    ids = [p for p, pr in PRESETS.items() if pr.scenario == scenario]

    def run(first, n, threads):
        return lab.run(lab.Config(scenario=scenario, seed=first), ids, n, threads=threads)

    checks = [(f"plain@{scenario}", "failure", lambda r: lab.claims(r, ids[0])[0])]
    checks += [(p, "fix", lambda r, p=p: lab.claims(r, p)[1]) for p in ids]
    return Group(f"lab:{scenario}", run, tuple(checks))


def groups() -> list[Group]:
    from .presets import SCENARIOS

    return [_mode_collapse("ring"), _mode_collapse("grid"), _oscillation(), _vanishing("ring"), _vanishing("digits"),
            _instability("stall"), _instability("diverge"), _tissue("no_norm"), _tissue("fast_g"),
            *[_lab(s) for s in SCENARIOS]]


def _run_group(name: str, first: int, n: int) -> list[dict]:
    """One group in a worker process (one torch thread): its rows."""
    import torch

    torch.set_num_threads(1)
    g = next(g for g in groups() if g.name == name)
    t0 = time.perf_counter()
    result = g.run(first, n, 1)
    wall = time.perf_counter() - t0
    rows = []
    for variant, role, rule in g.checks:
        ok = rule(result)
        lo, hi = wilson(sum(ok), len(ok))
        rows.append({"group": name, "variant": variant, "role": role, "held": int(sum(ok)), "of": len(ok),
                     "rate": sum(ok) / max(1, len(ok)), "wilson_lo": lo, "wilson_hi": hi,
                     "claimable": claimable(sum(ok), len(ok)), "first_seed": first, "wall_s": wall})
    return rows


def verify(seeds: int = 16, first: int = 1000, jobs: int = 2, only: list[str] | None = None,
           progress: Callable[[str], None] = print) -> list[dict]:
    names = [g.name for g in groups() if not only or any(g.name == o or g.name.split(":")[0] == o for o in only)]
    if not names:
        raise ValueError(f"--only {only}: no such group; groups: {', '.join(g.name for g in groups())}")
    rows: list[dict] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_run_group, n, first, seeds): n for n in names}
        for i, fut in enumerate(as_completed(futures), 1):
            name = futures[fut]
            try:
                got = fut.result()
            except Exception as e:  # a failing group is a row, not the end of the verification
                got = [{"group": name, "variant": "-", "role": "error", "held": 0, "of": 0, "rate": math.nan,
                        "wilson_lo": math.nan, "wilson_hi": math.nan, "claimable": False, "error": f"{type(e).__name__}: {e}"}]
            rows.extend(got)
            progress(f"[{i}/{len(names)}] {name}: " + ", ".join(f"{r['variant']} {r['held']}/{r['of']}" for r in got))
    order = {n: i for i, n in enumerate(names)}
    return sorted(rows, key=lambda r: order[r["group"]])


def write(rows: list[dict], out: Path) -> tuple[Path, Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    js, md = out.with_suffix(".json"), out.with_suffix(".md")
    from engine.jsonio import jsonable

    js.write_text(json.dumps(jsonable(rows), indent=1))
    lines = ["# Claim verification on fresh seeds", "",
             f"`python -m demos verify` — a claim needs >= {CLAIM_RATE:.0%} of >= {CLAIM_MIN_SEEDS} seeds; "
             "95 % Wilson interval in brackets.", "",
             "| group | variant | role | holds in | rate [95 % CI] | meets the claim bar |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["role"] == "error":
            lines.append(f"| {r['group']} | - | error | - | - | {r.get('error', '')} |")
            continue
        lines.append(f"| {r['group']} | {r['variant']} | {r['role']} | {r['held']}/{r['of']} | "
                     f"{r['rate']:.0%} [{r['wilson_lo']:.0%}, {r['wilson_hi']:.0%}] | {'yes' if r['claimable'] else 'no'} |")
    seeds = sorted({(r.get("first_seed"), r["of"]) for r in rows if r.get("first_seed") is not None})
    lines += ["", f"Seeds: {', '.join(f'{a}-{a + n - 1}' for a, n in seeds)}."]
    md.write_text("\n".join(lines) + "\n")
    return js, md
