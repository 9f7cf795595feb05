"""The medical demos' sweep: every variant at the default settings over N seeds, a thin loop over the
demo's ``run``. Writes, after each variant (so an interrupted sweep keeps what it finished):

* ``docs/medical_sweeps/<demo>.json``: per variant and seed, the metrics; and the table in
  ``docs/medical_gans.md`` between the demo's markers (rates of the failure and fix claims);
* ``pretrained/<demo>_default.json``: the same result, shipped so the page opens at once.

    nice -n 10 python -m demos.med_sweep brain_mri --seeds 16 [--variants plain,batchnorm] [--seed 0]
    python -m demos.med_sweep brain_mri --adopt plain.json   # a `demos run --json` result at the defaults

Two sweeps of different variants may run at once (one per core): each merges under a lock.
"""
from __future__ import annotations

import argparse
import dataclasses
import fcntl
import importlib
import json
import re
import time
from contextlib import contextmanager
from pathlib import Path

from engine import pretrained
from engine.jsonio import jsonable

from . import med_gan

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "medical_gans.md"
SWEEPS = ROOT / "docs" / "medical_sweeps"
CLAIM_RATE = 0.9  # a claim needs >= 90 % of >= 16 seeds
CLAIM_SEEDS = 16


def settings(config: dict) -> dict:
    """A result's config without the fields that only set how often it was watched (med_gan.CADENCE)."""
    return {k: v for k, v in config.items() if k not in med_gan.CADENCE}


def merge(old: dict | None, new: dict) -> dict:
    """``new``'s variants added to ``old`` when both ran the same code and settings (a variant may have
    its own seeds and frame cadence: each records them), else ``new`` alone."""
    for r in new["variants"].values():
        r["seeds"] = new["seeds"]
        r["cadence"] = {k: new["config"][k] for k in med_gan.CADENCE if k in new["config"]}
    same = old and old.get("code_version") == new["code_version"]
    if same and settings(old.get("config", {})) == settings(new["config"]):
        return {**old, "variants": {**old["variants"], **new["variants"]}, "real": new["real"],
                "wall_time_s": old.get("wall_time_s", 0) + new["wall_time_s"]}
    return new


def rate(ok: list[bool]) -> str:
    return f"{sum(ok)}/{len(ok)} ({100 * sum(ok) / max(len(ok), 1):.0f} %)"


def table(result: dict) -> str:
    """Markdown: per variant, the share of seeds where the failure / fix claim holds, and the means."""
    lines = [f"Default config (code {result['code_version']}), seeds 0, 1, ... as listed per variant; real images: classes {result['real']['classes']}, "
             f"MS-SSIM {result['real']['ms_ssim']:.3f}, precision {result['real']['precision']:.2f}, "
             f"recall {result['real']['recall']:.2f}, Fréchet {result['real']['frechet']:.1f}.", "",
             "| variant | seeds | failure claim holds | fix claim holds | claimed | classes (mean) | reverse KL | Fréchet "
             "| precision | recall | MS-SSIM | s / variant |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    fail_ok = med_gan.success(result, med_gan.FAILURE, "failure") if med_gan.FAILURE in result["variants"] else []
    failure_holds = len(fail_ok) >= CLAIM_SEEDS and sum(fail_ok) >= CLAIM_RATE * len(fail_ok)
    for v, r in result["variants"].items():
        f, x = med_gan.success(result, v, "failure"), med_gan.success(result, v, "fix")
        n = len(x)
        if v == med_gan.FAILURE:
            claimed = "failure" if failure_holds else "no"
        else:
            claimed = "fix" if failure_holds and n >= CLAIM_SEEDS and sum(x) >= CLAIM_RATE * n else "no"
        m = r["mean"]
        lines.append(f"| {r['label']} (`{v}`) | {n} | {rate(f)} | {rate(x)} | {claimed} | {m['classes']:.1f} | "
                     f"{m['reverse_kl']:.2f} | {m['frechet']:.1f} | {m['precision']:.2f} | {m['recall']:.2f} | "
                     f"{m['ms_ssim']:.3f} | {r['wall_time_s']:.0f} |")
    return "\n".join(lines)


def write_doc(demo_id: str, result: dict) -> None:
    start, end = f"<!-- med-sweep:{demo_id} -->", f"<!-- /med-sweep:{demo_id} -->"
    text = DOC.read_text() if DOC.exists() else "# GAN failures and fixes on medical images: sweeps\n"
    block = f"{start}\n{table(result)}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text += f"\n## {demo_id}\n\n{block}\n"
    DOC.write_text(text)


def evidence_rows(demo_id: str, result: dict) -> list[dict]:
    """The sweep as rows of the evidence table (demos.sweep's columns: one per variant and seed), so
    the Evidence page's technique x testbed matrix holds the medical demos beside the others."""
    import socket

    from .sweep import _scalar

    rows = []
    config = json.dumps(result["config"], sort_keys=True)
    for v, r in result["variants"].items():
        role = "failure" if v == med_gan.FAILURE else "fix"
        claims = med_gan.success(result, v, role)
        for i, (s, p) in enumerate(zip(r.get("seeds", result["seeds"]), r["per_seed"])):
            d = r["diverged_at"][i] if i < len(r.get("diverged_at", [])) else None
            rows.append({"sweep": f"evidence_{demo_id}", "key": f"{demo_id}-{v}", "demo": demo_id, "variant": v,
                         "label": r["label"], "role": role, "testbed": result["kind"], "point": "{}",
                         "config": config, "seed": int(s), "claim": bool(claims[i]), "error": "",
                         "code_version": result["code_version"], "host": socket.gethostname(),
                         # one run per variant: the variant's run is the sweep's cell
                         "cell_wall_s": r.get("wall_time_s"), "cell_cpu_s": None, "variant_wall_s": r.get("wall_time_s"),
                         "note": "", **({"m_diverged_at": float(d)} if d else {}),
                         **{f"m_{k}": _scalar(x) for k, x in p.items() if x is None or isinstance(x, (int, float))}})
    return rows


def write_evidence(demo_id: str, result: dict, out: Path = ROOT / "docs" / "sweeps") -> Path:
    """``out/evidence_<demo>.parquet`` (+ .csv, .md): the sweep in the evidence table format."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from . import evidence
    from .sweep import SPEC_META, load_spec

    spec = load_spec(ROOT / "sweeps" / f"evidence_{demo_id}.yaml")  # the notes say how this table was made
    df = pd.DataFrame(evidence_rows(demo_id, result))
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), SPEC_META: spec.model_dump_json().encode()})
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{spec.name}.parquet"
    pq.write_table(table, path)
    df.to_csv(path.with_suffix(".csv"), index=False)
    # the report's header names the spec that reruns it on Ray; its notes say this table came from here
    evidence.write_report(spec, df, path.with_suffix(".md"))
    return path


@contextmanager
def locked():
    """An exclusive lock (SWEEPS/.lock): sweeps running at once (different variants, one per core)
    read, merge and write their results and docs/medical_gans.md one after the other, so none drops
    another's rows."""
    SWEEPS.mkdir(parents=True, exist_ok=True)
    with open(SWEEPS / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def record(demo_id: str, seed: int, new: dict) -> dict:
    """Merge one run's variants into the demo's result on disk and rewrite what the sweep writes."""
    out = SWEEPS / f"{demo_id}_seed{seed}.json"
    shipped = pretrained.path_for(demo_id, "default")
    with locked():
        # carry on from the result on disk now (another sweep may have added variants meanwhile);
        # the full result keeps grids and curves, the docs/ copy drops them to stay small
        result = json.loads(shipped.read_text()) if seed == 0 and shipped.exists() else \
            json.loads(out.read_text()) if out.exists() else None
        result = merge(result, new)
        out.write_text(json.dumps(jsonable({**result, "variants": {
            k: {kk: vv for kk, vv in r.items() if kk not in ("grid", "curves")} for k, r in result["variants"].items()}})))
        write_doc(f"{demo_id}_seed{seed}" if seed else demo_id, result)
        if seed == 0:
            pretrained.save(result, shipped)
            write_evidence(demo_id, result)
    return result


def sweep(demo_id: str, seeds: int, variants: list[str], seed: int = 0, threads: int = 1) -> dict:
    mod = importlib.import_module(f"demos.{demo_id}")
    cfg = mod.Config(seed=seed)
    SWEEPS.mkdir(parents=True, exist_ok=True)
    result = None
    for v in variants:
        t = time.time()
        result = record(demo_id, seed, mod.run(cfg, [v], seeds, threads=threads))
        print(f"{demo_id} {v}: {time.time() - t:.0f} s; failure {rate(med_gan.success(result, v, 'failure'))}, "
              f"fix {rate(med_gan.success(result, v, 'fix'))}", flush=True)
    return result


def adopt(demo_id: str, paths: list[Path]) -> dict:
    """Record results already computed by ``python -m demos run <demo> --json FILE`` (e.g. a
    verification run) as if the sweep had run them: only at the demo's default settings (seed
    aside) and this code version, or it refuses, naming the file and the settings that differ."""
    mod = importlib.import_module(f"demos.{demo_id}")
    result = None
    for p in paths:
        new = json.loads(Path(p).read_text())
        want = dataclasses.asdict(mod.Config(seed=new["config"].get("seed", 0)))
        diff = sorted(k for k in set(want) | set(new["config"]) if want.get(k) != new["config"].get(k))
        if new.get("demo") != demo_id or new.get("code_version") != med_gan.CODE_VERSION or diff:
            raise SystemExit(f"{p}: not a {demo_id} run at the default settings of {med_gan.CODE_VERSION} "
                             f"(demo {new.get('demo')}, code {new.get('code_version')}, differs in: {', '.join(diff) or '-'})")
        result = record(demo_id, new["config"]["seed"], new)
        print(f"{demo_id}: adopted {', '.join(new['variants'])} from {p}", flush=True)
    return result


def fill_grids(demo_id: str) -> None:
    """Give every variant of the shipped result that lacks them a sample grid and curves, from a
    rerun of its first seed alone. The rerun starts from the same weights and data but ends
    differently (batched and single runs round differently, and training amplifies it: the final
    metrics are printed beside the stored ones), so the result keeps the rerun's own metrics
    (``grid_metrics``) and says the curves are one seed's (``curves_seeds``)."""
    mod = importlib.import_module(f"demos.{demo_id}")
    path = pretrained.path_for(demo_id, "default")
    result = json.loads(path.read_text())
    for v, r in result["variants"].items():
        if "grid" in r:
            continue
        one = mod.run(mod.Config(**result["config"]), [v], 1, threads=1)["variants"][v]
        r.update(grid=one["grid"], curves=one["curves"], curves_seeds=1, grid_metrics=one["per_seed"][0])
        a, b = r["per_seed"][0], one["per_seed"][0]
        print(f"{demo_id} {v}: seed 0 stored classes {a['classes']} rKL {a['reverse_kl']:.3f}, "
              f"rerun classes {b['classes']} rKL {b['reverse_kl']:.3f}", flush=True)
        pretrained.save(result, path)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m demos.med_sweep", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("demo", choices=("brain_mri", "modalities"))
    ap.add_argument("--seeds", type=int, default=CLAIM_SEEDS)
    ap.add_argument("--seed", type=int, default=0, help="first seed (0: also writes the shipped result)")
    ap.add_argument("--variants", default=",".join(med_gan.VARIANTS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fill-grids", action="store_true", help="only add missing grids to the shipped result")
    ap.add_argument("--evidence", action="store_true",
                    help="only write docs/sweeps/evidence_<demo>.parquet from the stored sweep (no training)")
    ap.add_argument("--adopt", nargs="+", type=Path, metavar="JSON",
                    help="record these `python -m demos run --json` results (default settings only) instead of training")
    a = ap.parse_args(argv)
    if a.adopt:
        return adopt(a.demo, a.adopt)
    if a.evidence:
        print(write_evidence(a.demo, json.loads((SWEEPS / f"{a.demo}_seed0.json").read_text())))
        return None
    if a.fill_grids:
        return fill_grids(a.demo)
    sweep(a.demo, a.seeds, [v for v in a.variants.split(",") if v], a.seed, a.threads)


if __name__ == "__main__":
    main()
