"""Headless demos: ``python -m demos list|config|run|pretrain|verify|sweep``.

    python -m demos run mode_collapse --dataset ring --variants gan,pacgan --seeds 8 \
        --steps 1500 --json OUT.json [--set key=value ...] [--save-samples DIR] [--threads N]
    python -m demos sweep sweeps/evidence_mode_collapse.yaml [--address HOST:PORT] [--dry-run]

``--dataset`` and ``--steps`` are shortcuts for ``--set dataset=...`` / ``--set steps=...``;
unknown keys, values out of range and unknown variants exit with status 2 and a message.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from .catalog import CATALOG, as_json
from engine.config import ConfigError, describe, from_overrides, parse_set_args
from engine.jsonio import jsonable as _jsonable


def _progress(event: dict) -> None:
    print(f"\rstep {event['step']}/{event['total']}", end="", file=sys.stderr, flush=True)


def cmd_run(args) -> int:
    if args.demo not in CATALOG or not CATALOG[args.demo].module:
        print(f"error: unknown demo '{args.demo}'; expected one of: {', '.join(CATALOG)}", file=sys.stderr)
        return 2
    mod = importlib.import_module(CATALOG[args.demo].module)
    try:
        sets = parse_set_args(args.set or [])
        for key in ("dataset", "steps"):
            if getattr(args, key) is not None:
                sets[key] = str(getattr(args, key))
        cfg = from_overrides(mod.Config, sets)
        variants = [v.strip() for v in args.variants.split(",") if v.strip()] if args.variants else None
        info = CATALOG[args.demo]
        variants = variants or [v for v in (info.failure, info.default_fix) if v in mod.VARIANTS]
        bad = [v for v in variants if v not in mod.VARIANTS]
        if bad:
            raise ConfigError(f"unknown variant(s) {', '.join(bad)}; expected some of: {', '.join(mod.VARIANTS)}")
        if not 1 <= args.seeds <= 64:
            raise ConfigError(f"--seeds {args.seeds}: expected 1..64")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    kwargs = {"save_samples": Path(args.save_samples) if args.save_samples else None}
    if args.threads:
        kwargs["threads"] = args.threads
    result = mod.run(cfg, variants, args.seeds, on_event=None if args.quiet else _progress, **kwargs)
    if not args.quiet:
        print(file=sys.stderr)
    text = json.dumps(_jsonable(result), indent=1)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text)
    summary = {v: {"mean": r.get("mean"), "sd": r.get("sd")} for v, r in result["variants"].items()}
    print(json.dumps(_jsonable({"wall_time_s": result.get("wall_time_s"), "variants": summary}), indent=1))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m demos", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="list the demos")
    ls.add_argument("--json", action="store_true")
    cf = sub.add_parser("config", help="print a demo's config fields, defaults and bounds")
    cf.add_argument("demo")
    pt = sub.add_parser("pretrain", help="regenerate a demo's shipped results in pretrained/")
    pt.add_argument("demo")
    pt.add_argument("--seeds", type=int, default=8)
    pt.add_argument("--only", help="comma-separated result names (e.g. ring,grid); default: all")
    pt.add_argument("--threads", type=int, help="torch threads")
    vf = sub.add_parser("verify", help="re-check every demo's claims on fresh seeds; writes a table")
    vf.add_argument("--seeds", type=int, default=16)
    vf.add_argument("--first", type=int, default=1000, help="first seed (default 1000: unseen by shipped results)")
    vf.add_argument("--jobs", type=int, default=2, help="worker processes (one torch thread each)")
    vf.add_argument("--only", help="comma-separated demos or groups, e.g. mode_collapse,lab:oscillation")
    vf.add_argument("--out", default="docs/verify", help="output stem: writes STEM.md and STEM.json")
    r = sub.add_parser("run", help="run a demo headless")
    r.add_argument("demo")
    r.add_argument("--variants", help="comma-separated variants (default: failure and default fix)")
    r.add_argument("--seeds", type=int, default=8)
    r.add_argument("--dataset")
    r.add_argument("--steps", type=int)
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="any config field")
    r.add_argument("--json", metavar="OUT.json", help="write the full result here")
    r.add_argument("--save-samples", metavar="DIR", help="write final samples per variant and seed (.npy)")
    r.add_argument("--threads", type=int, help="torch threads for this run")
    r.add_argument("--quiet", action="store_true", help="no progress on stderr")
    sw = sub.add_parser("sweep", help="run a sweep spec on Ray (see demos/sweep.py and docs/evidence.md)")
    sw.add_argument("spec", help="a sweep spec (YAML), e.g. sweeps/evidence_mode_collapse.yaml")
    sw.add_argument("--address", help="an existing Ray cluster (default: $RAY_ADDRESS, else a local Ray)")
    sw.add_argument("--cpus", type=int, help="local Ray: tasks at once (default: every core)")
    sw.add_argument("--out", help="folder for the table (default: the spec's out, docs/sweeps)")
    sw.add_argument("--seeds", type=int, help="override the spec's seed count (needs --out)")
    sw.add_argument("--nice", type=int, default=0, help="niceness of the driver, a local Ray and its tasks")
    sw.add_argument("--serial", action="store_true", help="run the cells in this process, one after another (no Ray)")
    sw.add_argument("--dry-run", action="store_true", help="list the cells and which are done; run nothing")
    sw.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)
    from engine.runtime import keep_heap

    keep_heap()  # this process trains: reuse warm heap pages (engine/runtime.py)
    if args.cmd == "sweep":
        from . import sweep

        return sweep.main(args)
    if args.cmd == "list":
        demos = as_json()
        print(json.dumps(demos, indent=1) if args.json else "\n".join(f"{d['id']}: {d['title']}" for d in demos))
        return 0
    if args.cmd == "config":
        if args.demo not in CATALOG:
            print(f"error: unknown demo '{args.demo}'; expected one of: {', '.join(CATALOG)}", file=sys.stderr)
            return 2
        mod = importlib.import_module(CATALOG[args.demo].module)
        print(json.dumps(describe(mod.Config), indent=1, default=str))
        return 0
    if args.cmd == "pretrain":
        mod = importlib.import_module(CATALOG[args.demo].module) if args.demo in CATALOG else None
        if mod is None or not hasattr(mod, "pretrain"):
            print(f"error: demo '{args.demo}' has no shipped results to regenerate", file=sys.stderr)
            return 2
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        extra = {"names": args.only.split(",")} if args.only else {}
        for p in mod.pretrain(seeds=args.seeds, on_event=_progress, **extra):
            print(f"\nwrote {p}")
        return 0
    if args.cmd == "verify":
        from .verify import verify, write

        if not 1 <= args.seeds <= 256:
            print(f"error: --seeds {args.seeds}: expected 1..256", file=sys.stderr)
            return 2
        try:
            rows = verify(args.seeds, args.first, args.jobs, args.only.split(",") if args.only else None,
                          progress=lambda line: print(line, file=sys.stderr, flush=True))
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        for path in write(rows, Path(args.out)):
            print(f"wrote {path}")
        return 0
    return cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
