"""Evidence page: how often each claim holds over seeds, read from the shipped sweep tables.

Thin: the tables come from ``python -m demos sweep sweeps/*.yaml`` (demos/sweep.py) and are read by
demos/evidence.py (Wilson intervals, the matrix, sensitivity curves); nothing trains here, so the page
opens at once. ``$GAN_CLINIC_SWEEPS`` points it at another folder of tables.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app_pages import common
from app_pages.evidence_links import demo_link
from demos import evidence

FOLDER = Path(os.environ.get("GAN_CLINIC_SWEEPS") or evidence.TABLES)
MATRIX_KEY = "evidence_matrix"


@st.cache_data(show_spinner=False, max_entries=4)
def _load(folder: str, stamp: tuple) -> tuple[list, list[str], pd.DataFrame]:
    """The tables, the messages about unreadable ones, and the matrix: once per set of files."""
    tables, errors = evidence.load_tables(Path(folder))
    return tables, errors, evidence.matrix(tables)


def load() -> tuple[list, list[str], pd.DataFrame]:
    files = sorted(FOLDER.glob("*.parquet")) if FOLDER.is_dir() else []
    return _load(str(FOLDER), tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files))


@st.cache_data(show_spinner=False, max_entries=16)
def trajectory(method: str) -> list:
    from demos import dirac  # numpy only

    return dirac.simulate(method, dirac.Config())["trajectory"]


def colour(rate: float) -> str:
    """Background for a rate: red (0) through amber to green (1); grey when there is no claim."""
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return "background-color: #eeeeee; color: #555555"
    r, g = (220, int(60 + 330 * rate)) if rate < 0.5 else (int(220 - 300 * (rate - 0.5)), 200)
    return f"background-color: rgb({min(255, r)}, {min(220, g)}, 90); color: #111111"


def cell_text(e: pd.Series) -> str:
    if not e["n"]:
        return "no claim" if not e["errors"] else f"{e['errors']} failed"
    return f"{e['k']}/{e['n']} · {e['lo']:.2f}–{e['hi']:.2f}"


def row_keys(m: pd.DataFrame) -> pd.Series:
    """A technique's row: its variant id and role across demos (WGAN-GP as a fix in three demos is one
    row), named by its shortest label; a configuration other than its testbed's defaults (a grid
    value that is not the testbed itself) gets a row of its own, and a value that is the one the
    demo's page uses for that variant says "(default)"."""
    names = {}
    for (role, v), g in m.groupby(["role", "variant"]):
        names[(role, v)] = min((str(x).replace(" (failure)", "") for x in g["label"]), key=len)

    def key(e: pd.Series) -> str:
        point = json.loads(e["point"] or "{}")
        extra = {k: x for k, x in point.items() if str(x) != e["testbed"]}
        suffix = " · " + ", ".join(f"{k} {x}" + evidence.default_note(e["demo"], e["variant"], e["role"], point, k)
                                   for k, x in extra.items()) if extra else ""
        return f"{'✗ ' if e['role'] == 'failure' else ''}{names[(e['role'], e['variant'])]}{suffix}"

    return m.apply(key, axis=1)


st.title("Evidence: how often each claim holds")
st.caption("Every claim in GAN Clinic is a rate over seeds. This page reads the sweep tables shipped in "
           f"`{FOLDER.relative_to(evidence.ROOT) if FOLDER.is_relative_to(evidence.ROOT) else FOLDER}` "
           "(one row per variant and seed) and shows each claim's rate with its 95 % Wilson interval. "
           "Regenerate a table with `python -m demos sweep sweeps/NAME.yaml` (on Ray; finished cells are skipped).")

tables, errors, m = load()
for e in errors:
    common.show_error(f"Sweep table skipped: {e}")
if not tables:
    st.info(f"No sweep tables in {FOLDER}. Run `python -m demos sweep sweeps/evidence_mode_collapse.yaml` "
            "(and the other specs in sweeps/) to make them.", icon=":material/table:")
    st.stop()
by_name = {t.name: t for t in tables}

# ---- 1. the matrix ------------------------------------------------------------------------------
st.header("Technique × testbed")
m = m.copy()
if m.empty:
    st.info("No table with purpose `matrix` yet.")
else:
    m["row"] = row_keys(m)
    m["text"] = m.apply(cell_text, axis=1)
    order_rows = list(dict.fromkeys(m.sort_values(["role", "row"], ascending=[True, True])["row"]))
    order_cols = list(dict.fromkeys(m["column"]))
    text = m.pivot_table(index="row", columns="column", values="text", aggfunc="first").reindex(order_rows)[order_cols]
    rate = m.pivot_table(index="row", columns="column", values="rate", aggfunc="first", dropna=False) \
        .reindex(index=order_rows, columns=order_cols)
    shown = text.fillna("")
    shown.index.name, shown.columns.name = "technique", "testbed"
    css = pd.DataFrame([[colour(rate.iat[i, j]) if shown.iat[i, j] else "" for j in range(shown.shape[1])]
                        for i in range(shown.shape[0])], index=shown.index, columns=shown.columns)
    styled = shown.style.apply(lambda _: css, axis=None)
    event = st.dataframe(styled, key=MATRIX_KEY, on_select="rerun", selection_mode="single-cell", width="stretch",
                         height=min(900, 38 + 35 * len(shown)))
    st.caption("Each cell: seeds where the claim held / seeds, and the 95 % Wilson interval of that rate; the colour "
               "is the rate, red (0) to green (1). Rows marked ✗ "
               "are failures: their claim is that the failure shows. Grey: the demo states no per-seed claim for that "
               "row (the plain GAN of the non-convergence demo is the reference each fix is paired with). Click a "
               "cell to open that demo with that configuration.")
    cells = event.selection.cells if event is not None and hasattr(event, "selection") else []
    if cells:
        i, col = cells[0]
        row = shown.index[i] if 0 <= i < len(shown) else None
        hit = m[(m["row"] == row) & (m["column"] == col)]
        if hit.empty:
            st.info("That cell has no sweep: nothing to open.")
        else:
            e = hit.iloc[0]
            spec = by_name[e["sweep"]].spec
            varied = set(json.loads(e["point"])) | set(spec.get("set") or {})
            link = demo_link(e["demo"], e["variant"], e["role"], json.loads(e["config"]), varied)
            page = common.demo_page(e["demo"])
            if link is None:
                st.info(f"`{e['demo']}` has no demo page to open.")
            else:
                params, dropped = link
                url = f"/{e['demo']}?{urlencode(params)}"
                if dropped or page is None:
                    # the page cannot show every setting (or is not registered): say so, and link instead of jumping
                    if dropped:
                        st.warning("The demo page has no control for " + ", ".join(dropped) + "; it opens with "
                                   "its own default for those.")
                    st.markdown(f"[Open {e['demo']} · {e['variant']} with this configuration]({url})")
                else:
                    st.switch_page(page, query_params=params)

# ---- 2. sensitivity ----------------------------------------------------------------------------
sens = [t for t in tables if t.spec.get("purpose") == "sensitivity"]
if sens:
    st.header("Sensitivity: the rate against one setting")
    names = {t.name: t.spec.get("title") or t.name for t in sens}
    pick = st.selectbox("Sweep", list(names), format_func=names.get, key="sweep", bind="query-params")
    t = by_name[pick]
    curve = evidence.sensitivity(t)
    axis = t.spec.get("x") or {}
    fig = go.Figure()
    for v, g in curve.groupby("variant", sort=False):
        g = g[g["n"] > 0]
        fig.add_trace(go.Scatter(x=g["x"].tolist(), y=g["rate"].tolist(), mode="lines+markers",
                                 name=str(g["label"].iloc[0]) if len(g) else v,
                                 error_y={"type": "data", "symmetric": False, "array": (g["hi"] - g["rate"]).tolist(),
                                          "arrayminus": (g["rate"] - g["lo"]).tolist()},
                                 customdata=g[["k", "n"]].values.tolist(),
                                 hovertemplate="%{x:g}: %{customdata[0]}/%{customdata[1]} seeds"))
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10}, yaxis={"range": [-0.03, 1.03],
                      "title": "rate at which the claim holds"}, xaxis={"title": axis.get("label") or axis.get("key"),
                                                                          "type": "log" if axis.get("log") else "linear"})
    st.plotly_chart(fig, width="stretch", key="sensitivity")
    st.caption((t.spec.get("notes") or "").strip() + f" Error bars: 95 % Wilson intervals over {t.spec.get('seeds')} seeds.")

# ---- 3. the papers' tables ---------------------------------------------------------------------
st.header("The papers' tables, side by side")
st.caption("Our runs of each paper's protocol beside its published figures (shared/REFERENCES.md). The presets "
           "are not tuned toward the published numbers; where the paper's schedule is too long for a CPU, the "
           "shipped numbers are the CPU form and the GPU form's spec waits for a GPU.")
from demos.papers import PUBLISHED  # noqa: E402  (torch-free: the preset module imports torch only to train)

for key, pub in PUBLISHED.items():
    st.subheader(pub["title"])
    forms = [t for t in tables if t.spec.get("paper") == key]
    if not forms:
        st.info(f"No table for this paper yet: `python -m demos sweep sweeps/paper_{key}_cpu.yaml`.")
        continue
    t = sorted(forms, key=lambda t: t.spec.get("form") != "gpu")[0]  # the GPU form when it has been run
    comp = evidence.paper_comparison(t.rows, pub)
    st.dataframe(comp, hide_index=True, width="stretch")
    st.caption(f"Ours: **{t.spec.get('form', '?').upper()} form** (`sweeps/{t.name}.yaml`), mean ± standard error over "
               f"{t.spec.get('seeds')} runs; the paper: mean over {pub['runs']} runs. Δ = ours − paper. "
               + (t.spec.get("notes") or "").strip()
               + ("" if t.spec.get("form") == "gpu" else " GPU form: not measured yet (no GPU in this session)."))

dirac_t = next((t for t in tables if t.spec.get("paper") == "mescheder2018"), None)
st.subheader("Mescheder et al. (2018): the Dirac-GAN's trajectories")
if dirac_t is None:
    st.info("No Dirac-GAN table yet: `python -m demos sweep sweeps/evidence_dirac.yaml`.")
else:
    st.dataframe(evidence.dirac_comparison(dirac_t.rows), hide_index=True, width="stretch")
    methods = st.multiselect("Trajectories (simultaneous steps, h = 0.1, from (1, 1))", list(dirac_t.rows["variant"].unique()),
                             default=["gan", "wgan_gp", "r1", "consensus"], key="dirac_methods",
                             bind="query-params")
    fig = go.Figure()
    for meth in methods:
        tr = trajectory(meth)
        fig.add_trace(go.Scatter(x=[p[0] for p in tr], y=[p[1] for p in tr], mode="lines", name=meth))
    fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", marker={"symbol": "x", "size": 10, "color": "black"},
                             name="equilibrium"))
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis={"title": "θ (generator)"},
                      yaxis={"title": "ψ (discriminator)", "scaleanchor": "x"})
    st.plotly_chart(fig, width="stretch", key="dirac")
    st.caption("The paper's statement per method against our outcome at the demo's defaults (500 steps). The paper's "
               "own form needs no GPU: the Dirac-GAN is two numbers.")

ab = next((t for t in tables if t.spec.get("paper") == "arjovsky2017"), None)
st.subheader("Arjovsky & Bottou (2017): the generator's gradient against a near-optimal discriminator")
if ab is None:
    st.info("No table yet: `python -m demos sweep sweeps/paper_arjovsky_bottou.yaml`.")
else:
    st.dataframe(evidence.gradient_decay(ab.rows), hide_index=True, width="stretch")
    st.caption("The paper: with the original cost the gradient norm falls by orders of magnitude as D is trained "
               "against a frozen DCGAN generator (LSUN bedrooms; qualitative here: shared/REFERENCES.md holds no "
               "number). Ours: " + (ab.spec.get("notes") or "").strip())

# ---- 4. cost and downloads ---------------------------------------------------------------------
st.header("What the evidence costs")
costs = pd.DataFrame([{"sweep": t.name, "purpose": t.spec.get("purpose"), **evidence.cost(t.rows)} for t in tables])
matrix_cells = [c for t in tables if t.spec.get("purpose") == "matrix" for c in evidence.cell_costs(t.rows)]
c1, c2 = st.columns(2)
machines = c1.number_input("Machines", 1, 1000, 1, key="machines", bind="query-params")
cores = c2.number_input("Cores per machine (one task each)", 1, 256, 2, key="cores", bind="query-params")
st.markdown(f"The whole technique × testbed matrix as shipped is **{sum(matrix_cells) / 3600:.2f} task-hours** in "
            f"{len(matrix_cells)} cells (one torch thread per task); on {machines} machine(s) × {cores} cores it takes "
            f"about **{evidence.makespan(matrix_cells, machines * cores) / 60:.0f} minutes** plus Ray's start-up "
            f"(longest cells first; a cell is one setting × one seed block and cannot be split, so beyond "
            f"{len(matrix_cells)} cores the longest cell, {max(matrix_cells, default=0) / 60:.0f} minutes, is the floor: "
            "lower `seeds_per_task` for more, cheaper-per-core cells).")
st.dataframe(costs.rename(columns={"task_s": "task-seconds", "per_cell_s": "s per cell",
                                   "per_variant_seed_s": "s per variant × seed"}).round(1),
             hide_index=True, width="stretch")
st.caption("Measured on the 2-core machine this project is built on, shared with other jobs: see docs/evidence.md "
           "for the load at the time.")
pick = st.selectbox("Download a table", list(by_name), key="download_table", bind="query-params")
st.download_button("Download (CSV)", by_name[pick].rows.to_csv(index=False), file_name=f"{pick}.csv", mime="text/csv")
st.download_button("Download (Parquet)", by_name[pick].path.read_bytes(), file_name=f"{pick}.parquet",
                   mime="application/octet-stream")
