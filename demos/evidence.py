r"""Reading sweep tables: claim rates with Wilson intervals, the technique x testbed matrix, sensitivity
curves, the papers' tables, and the Markdown reports in docs/sweeps/. Imports no torch (the evidence
page opens at once).

The rate at which a claim holds over n seeds, k of which it held in, is p = k / n with the Wilson
score interval (z = 1.96 for 95 %)

    centre = (p + z²/2n) / (1 + z²/n),   half-width = z / (1 + z²/n) · sqrt(p(1 - p)/n + z²/4n²),

which, unlike p ± z·sqrt(p(1 - p)/n), stays inside [0, 1] and is not zero-width at k = 0 or k = n
(16 of 16 seeds: [0.81, 1.00]).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
TABLES = ROOT / "docs" / "sweeps"
SPEC_META = b"gan_clinic_spec"
Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95 % Wilson score interval of k successes in n trials; (nan, nan) for n = 0."""
    if n <= 0:
        return math.nan, math.nan
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z / d * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # at k = 0 (k = n) the lower (upper) end is exactly 0 (1); rounding would leave 1e-17
    return (0.0 if k == 0 else max(0.0, c - h)), (1.0 if k == n else min(1.0, c + h))


@dataclass
class SweepTable:
    name: str
    spec: dict
    rows: pd.DataFrame
    path: Path


def read_table(path: Path) -> SweepTable:
    """One sweep table (Parquet) and the spec stored in its metadata; ValueError naming the file
    when it is not one."""
    import pyarrow.parquet as pq

    try:
        t = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 -- corrupt or not Parquet: say which file
        raise ValueError(f"{path.name}: not a readable Parquet table ({type(e).__name__})") from None
    meta = (t.schema.metadata or {}).get(SPEC_META)
    if meta is None:
        raise ValueError(f"{path.name}: no sweep spec in its metadata (not written by python -m demos sweep)")
    try:
        spec = json.loads(meta)
    except ValueError:
        raise ValueError(f"{path.name}: its stored spec is not valid JSON") from None
    df = t.to_pandas()
    need = {"key", "demo", "variant", "role", "testbed", "point", "seed", "claim", "error"}
    if len(df) and not need <= set(df.columns):
        raise ValueError(f"{path.name}: missing column(s) {', '.join(sorted(need - set(df.columns)))}")
    return SweepTable(spec.get("name", path.stem), spec, df, path)


def load_tables(folder: Path = TABLES) -> tuple[list[SweepTable], list[str]]:
    """Every table in ``folder`` and a message per file that could not be read."""
    tables, errors = [], []
    for p in sorted(Path(folder).glob("*.parquet")):
        try:
            tables.append(read_table(p))
        except ValueError as e:
            errors.append(str(e))
    return tables, errors


# ---------------------------------------------------------------------------------------------
# Rates


def rates(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group: n seeds with a claim, k where it held, the rate, its Wilson interval, and how many
    rows failed to run. Rows without a claim (a demo that states none) count in neither."""
    out = []
    for key, g in df.groupby(by, sort=False, dropna=False):
        ok = g[(g["error"].fillna("") == "") & g["claim"].notna()]
        n, k = len(ok), int(ok["claim"].astype(bool).sum())
        lo, hi = wilson(k, n)
        out.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))), "k": k, "n": n,
                    "rate": k / n if n else math.nan, "lo": lo, "hi": hi,
                    "errors": int((g["error"].fillna("") != "").sum()), "seeds": int(g["seed"].nunique())})
    return pd.DataFrame(out)


def claim_counts(path: Path) -> dict[str, tuple[int, int]]:
    """{variant: (seeds where its claim held, seeds with a claim)} of one sweep table, from
    :func:`rates`; ValueError naming the file when it is missing or not a sweep table."""
    r = rates(read_table(Path(path)).rows, ["variant"])
    return {str(x.variant): (int(x.k), int(x.n)) for x in r.itertuples()}


def matrix(tables: list[SweepTable]) -> pd.DataFrame:
    """Long form of the technique x testbed matrix, from every table whose spec's purpose is
    "matrix": one entry per (demo, variant, testbed, point) -- rows are data, not a list here, so
    a new sweep (a recipe preset, another testbed) adds rows and columns by itself."""
    frames = []
    for t in tables:
        if t.spec.get("purpose") != "matrix" or t.rows.empty:
            continue
        r = rates(t.rows, ["demo", "variant", "label", "role", "testbed", "point"])
        configs = t.rows.drop_duplicates(["point"]).set_index("point")["config"]
        r["config"] = r["point"].map(configs)
        r["sweep"] = t.name
        r["column"] = r["demo"] + " · " + r["testbed"]
        frames.append(r)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _resolving_module(demo: str):
    """The demo's module when it resolves defaults per comparison (a ``resolve(cfg, variants)``), else None."""
    import importlib

    from .catalog import CATALOG

    info = CATALOG.get(demo)
    mod = importlib.import_module(info.module) if info is not None and info.module else None
    return mod if hasattr(mod, "resolve") else None


def default_settings(demo: str, variants, point: dict) -> dict:
    """The settings a comparison of ``variants`` (a list, or one variant) of ``demo`` trains with by
    default at ``point``'s testbed, where the demo resolves defaults per comparison (mode collapse:
    the ring's slower fixes, and the failure beside them, train 1,500 steps, the rest 750); {} for
    any other demo. Lets a page say which of several step counts is the one a user gets."""
    import dataclasses

    mod = _resolving_module(demo)
    if mod is None:
        return {}
    try:
        given = {k: v for k, v in point.items() if k in ("dataset", "testbed")}
        return dataclasses.asdict(mod.resolve(mod.Config(**given), [variants] if isinstance(variants, str) else list(variants)))
    except (TypeError, ValueError):
        return {}


def default_note(demo: str, variant: str, role: str, point: dict, key: str) -> str:
    """" (default)" when ``point[key]`` is what ``variant`` trains with by default; for a failure
    whose default changes with the fix beside it, " (default beside X, Y)"; else ""."""
    if default_settings(demo, variant, point).get(key, object()) == point[key]:
        return " (default)"
    mod = _resolving_module(demo)
    if role != "failure" or mod is None:
        return ""
    table = getattr(mod, "VARIANTS", {})
    beside = [str(table[f][0]) for f in table if f != variant
              and default_settings(demo, [variant, f], point).get(key, object()) == point[key]]
    return f" (default beside {', '.join(beside)})" if beside else ""


def x_value(config: dict, axis: dict) -> float:
    x = float(config[axis["key"]])
    return x / float(config[axis["over"]]) if axis.get("over") else x


def sensitivity(t: SweepTable) -> pd.DataFrame:
    """Rate against the spec's x axis, per variant (and per other grid key held fixed)."""
    axis = t.spec.get("x") or {}
    if t.rows.empty or not axis:
        return pd.DataFrame()
    r = rates(t.rows, ["variant", "label", "role", "testbed", "point"])
    configs = t.rows.drop_duplicates(["point"]).set_index("point")["config"].map(json.loads)
    r["x"] = r["point"].map(lambda p: x_value(configs[p], axis))
    return r.sort_values(["variant", "x"]).reset_index(drop=True)


def metric_summary(df: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, sd and standard error over seeds of each metric column, per group (errors left out)."""
    ok = df[df["error"].fillna("") == ""]
    out = []
    for key, g in ok.groupby(by, sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for m in metrics:
            v = pd.to_numeric(g[m], errors="coerce").replace([math.inf, -math.inf], math.nan).dropna() \
                if m in g else pd.Series(dtype=float)
            row[m] = v.mean() if len(v) else math.nan
            row[m + "_sd"] = v.std(ddof=1) if len(v) > 1 else 0.0 if len(v) else math.nan
            row[m + "_se"] = row[m + "_sd"] / math.sqrt(len(v)) if len(v) else math.nan
            row["n"] = len(g)
        out.append(row)
    return pd.DataFrame(out)


def cost(df: pd.DataFrame) -> dict:
    """Cost of a sweep from its rows: cells, task-seconds (one torch thread each), per cell and per
    (variant x seed) trained. Task-seconds are the cells' CPU time where the table has it (what a
    core of its own would take), else their wall time (inflated when the machine was shared)."""
    if df.empty or "cell_wall_s" not in df:
        return {"cells": 0, "task_s": 0.0, "per_cell_s": math.nan, "per_variant_seed_s": math.nan, "measure": "–"}
    cells = df.drop_duplicates("key")
    cpu = pd.to_numeric(cells["cell_cpu_s"], errors="coerce") if "cell_cpu_s" in cells else None
    use_cpu = cpu is not None and cpu.notna().all()
    total = float((cpu if use_cpu else pd.to_numeric(cells["cell_wall_s"], errors="coerce")).fillna(0).sum())
    return {"cells": len(cells), "task_s": total, "per_cell_s": total / max(1, len(cells)),
            "per_variant_seed_s": total / max(1, len(df)), "measure": "CPU" if use_cpu else "wall"}


def cell_costs(df: pd.DataFrame) -> list[float]:
    """Each cell's task-seconds (CPU time where recorded, else wall time)."""
    if df.empty or "cell_wall_s" not in df:
        return []
    cells = df.drop_duplicates("key")
    cpu = pd.to_numeric(cells["cell_cpu_s"], errors="coerce") if "cell_cpu_s" in cells else None
    use = cpu if cpu is not None and cpu.notna().all() else pd.to_numeric(cells["cell_wall_s"], errors="coerce")
    return [float(x) for x in use.fillna(0)]


def makespan(costs: list[float], slots: int) -> float:
    """Wall time of cells of these costs on ``slots`` cores (one task each), scheduled longest first
    onto the least busy core (what Ray's queue does when the long cells are submitted first; within
    4/3 of the best possible). A cell cannot be split: more cores than cells do not help."""
    load = [0.0] * max(1, slots)
    for c in sorted(costs, reverse=True):
        i = min(range(len(load)), key=load.__getitem__)
        load[i] += c
    return max(load)


# ---------------------------------------------------------------------------------------------
# The papers' tables


def paper_comparison(df: pd.DataFrame, published: dict) -> pd.DataFrame:
    """Per (testbed, method): each metric as the paper published it, ours (mean ± standard error
    over seeds) and ours − paper. Methods the paper has and we do not run are listed as such."""
    metrics = list(published["metrics"])
    ours = metric_summary(df, ["testbed", "variant"], [f"m_{m}" for m in metrics]) if not df.empty else pd.DataFrame()
    ours = ours.set_index(["testbed", "variant"]) if not ours.empty else ours
    keys = list(published["rows"]) + [k for k in (ours.index if not ours.empty else []) if k not in published["rows"]]
    pct = {"hq_fraction"}
    out = []
    for testbed, variant in keys:
        pub = published["rows"].get((testbed, variant))
        row = {"testbed": testbed, "method": variant}
        have = not ours.empty and (testbed, variant) in ours.index
        for m in metrics:
            scale = 100 if m in pct else 1
            name = "HQ %" if m in pct else m.replace("_", " ")
            p = pub.get(m) if pub else None
            row[f"{name} (paper)"] = "–" if p is None else f"{p * scale:g}"
            if have:
                o = ours.loc[(testbed, variant)]
                row[f"{name} (ours)"] = f"{o[f'm_{m}'] * scale:.2f} ± {o[f'm_{m}_se'] * scale:.2f}"
                row[f"Δ {name}"] = "–" if p is None else f"{(o[f'm_{m}'] - p) * scale:+.2f}"
            else:
                row[f"{name} (ours)"] = published.get("not_here", {}).get(variant, "not run")
                row[f"Δ {name}"] = "–"
        out.append(row)
    return pd.DataFrame(out)


def dirac_comparison(df: pd.DataFrame) -> pd.DataFrame:
    """Per method: what Mescheder et al. say at the equilibrium (the table's role: a failure is a
    method they find does not converge, sweep.DIRAC_CONVERGES) and our outcome per update scheme."""
    out = []
    for v, g in df.groupby("variant", sort=False):
        # WGAN-GP with finitely many D steps *need not* converge (counted as "not converging": at the
        # defaults it stalls on the kink, 2 lambda from the data)
        said = "need not converge" if v == "wgan_gp" else "does not converge" if g["role"].iloc[0] == "failure" else "converges"
        row = {"method": v, "paper": said}
        for scheme in ("simultaneous", "alternating"):
            h = g[g["testbed"] == scheme]
            row[f"ours, {scheme}"] = "–" if h.empty else f"{h['note'].iloc[0]} (|x| {h['m_ratio'].iloc[0]:.2g} × start)"
        row["agrees"] = "–" if g["claim"].isna().all() else f"{int(g['claim'].sum())}/{int(g['claim'].notna().sum())}"
        out.append(row)
    order = {"failure": 0, "fix": 1}
    return pd.DataFrame(out).sort_values("paper", key=lambda c: c.map(lambda x: order["fix" if x == "converges" else "failure"]),
                                         kind="stable").reset_index(drop=True)


def gradient_decay(df: pd.DataFrame) -> pd.DataFrame:
    """Per testbed, G's pre-training and loss: the median drop of the gradient norm (orders of
    magnitude) and in how many seeds the demo's claim holds."""
    out = []
    ok = df[df["error"].fillna("") == ""]
    for (testbed, g_steps, variant), g in ok.groupby(["testbed", "p_g_steps", "variant"], sort=True):
        drop = pd.to_numeric(g["m_log10_drop"], errors="coerce")
        k, n = int(g["claim"].sum()), int(g["claim"].notna().sum())
        lo, hi = wilson(k, n)
        out.append({"testbed": testbed, "G trained (steps)": int(g_steps), "loss": variant,
                    "median drop (orders of magnitude)": _fmt(float(drop.median()), 1),
                    "D accuracy (median)": _fmt(float(pd.to_numeric(g["m_accuracy"]).median())),
                    "claim holds": f"{k}/{n} [{lo:.2f}–{hi:.2f}]"})
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------
# Reports (Markdown)


def _fmt(x: float, d: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    if abs(x) >= 1e4 or (0 < abs(x) < 1e-3):
        return f"{x:.2e}"
    return f"{x:.{d}f}" if abs(x) >= 0.1 or x == 0 else f"{x:.2g}"  # 0.0055, not 0.01


def _point_text(p: str) -> str:
    d = json.loads(p) if p else {}
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in d.items()) or "defaults"


def report_table(df: pd.DataFrame, metrics: Optional[list[str]] = None) -> list[str]:
    """Markdown lines: per (point, variant) the claim rate with its interval and the metrics' mean ± sd."""
    if df.empty:
        return ["(no rows yet)"]
    metrics = [m for m in metrics or [] if m in df] or [c for c in df.columns if c.startswith("m_")][:4]
    r = rates(df, ["point", "variant", "role", "testbed"])
    s = metric_summary(df, ["point", "variant"], metrics).set_index(["point", "variant"])
    col = "cell_cpu_s" if "cell_cpu_s" in df and df["cell_cpu_s"].notna().all() else "cell_wall_s"
    c = df.drop_duplicates("key").groupby("point")[col].sum()
    head = ["setting", "testbed", "variant", "role", "claim holds", "95 % interval",
            *[m[2:] for m in metrics], "task s (setting)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, row in r.iterrows():
        ms = s.loc[(row["point"], row["variant"])] if (row["point"], row["variant"]) in s.index else None
        claim = f"{row['k']}/{row['n']}" if row["n"] else "–"
        if row["errors"]:
            claim += f" ({row['errors']} rows failed)"
        ci = f"{row['lo']:.2f}–{row['hi']:.2f}" if row["n"] else "–"
        cells = [f"{_fmt(ms[m])} ± {_fmt(ms[m + '_sd'])}" if ms is not None else "–" for m in metrics]
        lines.append("| " + " | ".join([_point_text(row["point"]), row["testbed"], row["variant"], row["role"], claim,
                                        ci, *cells, f"{c.get(row['point'], math.nan):.0f}"]) + " |")
    return lines


def write_report(spec, df: pd.DataFrame, path: Path) -> None:
    """docs/sweeps/NAME.md from the table; also the block between ``<!-- sweep:NAME -->`` and
    ``<!-- /sweep:NAME -->`` in any docs/*.md that has one (prose around it stays)."""
    s = spec.model_dump() if hasattr(spec, "model_dump") else dict(spec)
    k = cost(df)
    versions = sorted(df["code_version"].dropna().unique()) if "code_version" in df else []
    body = report_table(df, [f"m_{m}" for m in s.get("metrics") or []] or None)
    head = [f"# {s.get('title') or s['name']}", "",
            f"Spec `sweeps/{s['name']}.yaml`, demo `{s['demo']}`, {s['seeds']} seeds from {s['first_seed']} "
            f"({s['seeds_per_task']} per task). Table: `{s['name']}.parquet` / `.csv` beside this file. "
            f"Regenerate: `python -m demos sweep sweeps/{s['name']}.yaml` (finished cells are skipped).", ""]
    if s.get("notes"):
        head += [s["notes"].strip(), ""]
    foot = ["", f"Cost: {k['cells']} cells, {k['task_s']:.0f} task-seconds ({k['measure']} time, one torch thread each), "
                f"{_fmt(k['per_cell_s'], 1)} s per cell, {_fmt(k['per_variant_seed_s'], 1)} s per variant and seed. "
                f"Code version: {', '.join(f'`{v}`' for v in versions) or '–'}."]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(head + body + foot) + "\n", encoding="utf-8")
    start, end = f"<!-- sweep:{s['name']} -->", f"<!-- /sweep:{s['name']} -->"
    for doc in (ROOT / "docs").glob("*.md"):
        text = doc.read_text(encoding="utf-8")
        if start in text and end in text:
            a, rest = text.split(start, 1)
            _, b = rest.split(end, 1)
            block = "\n".join(["", f"*Generated from `docs/sweeps/{s['name']}.parquet` by "
                                   f"`python -m demos sweep sweeps/{s['name']}.yaml`.*", "", *body, *foot, ""])
            doc.write_text(a + start + block + end + b, encoding="utf-8")
