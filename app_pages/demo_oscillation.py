"""Demo page: non-convergence on a 2D GAN, the plain GAN beside one fix (same seeds, same data).

Thin: the maths and training live in demos/oscillation.py; this page reads the controls (all in
the URL), shows the shipped result for the default configuration at once, and runs anything else
through the shared job queue (app_pages/live.py). Generic controls have page-specific keys
(``osc_steps``, not ``steps``): widget state keyed ``steps`` on another page would otherwise carry
its value, possibly out of this page's range, into this one.
"""
from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from app_pages import live, plots2d
from app_pages.widgets import url_choice
from engine import data2d
from demos import oscillation as osc
from demos.catalog import CATALOG
from engine.config import ConfigError, from_overrides

INFO = CATALOG[osc.DEMO_ID]
FAILURE = INFO.failure
FIXES = [v for v in osc.VARIANTS if v != FAILURE]
# Server-side limits for live runs, whatever the URL asks (the CLI allows more).
LIVE_MAX_SEEDS, LIVE_MAX_STEPS = 16, 6000
KNOBS = {"r1": ("r1_gamma", "Penalty weight γ", [0.01, 0.03, 0.1, 0.3, 1.0]),
         "ttur": ("ttur_g", "G's learning rate ÷ D's", [0.1, 0.2, 0.5, 2.0, 5.0]),
         "ema": ("ema_beta", "Averaging factor β", [0.9, 0.95, 0.99, 0.995, 0.999]),
         "instance_noise": ("noise_sd", "Noise sd s", [0.02, 0.05, 0.1, 0.2, 0.3])}
DEFAULT = osc.Config()

st.title("Non-convergence: a plain GAN beside a fix")
st.caption("Challenge: **non-convergence**. The plain GAN reaches the data and then keeps moving around "
           "it: its distance to the data jitters forever instead of settling. Each fix is one change to "
           "the same GAN, trained on the same seeds.")

# ---- controls (every one bound to the URL, so a link reproduces the view) -------------------
c1, c2 = st.columns([2, 1])
fix = url_choice(c1, "Fix", {v: osc.VARIANTS[v][0] for v in FIXES}, "variant", INFO.default_fix, what="fix")
seeds = c2.slider("Seeds", 1, LIVE_MAX_SEEDS, 8, key="osc_seeds", bind="query-params")
with st.expander("Training settings", expanded=False):
    s1, s2, s3 = st.columns(3)
    steps = s1.number_input("Steps", 100, LIVE_MAX_STEPS, DEFAULT.steps, step=500, key="osc_steps", bind="query-params")
    lr = s2.select_slider("Learning rate (G and D)", [0.02, 0.03, 0.05, 0.1], DEFAULT.lr, key="osc_lr", bind="query-params")
    overrides = {"steps": int(steps), "lr": lr}
    if fix in KNOBS:
        name, label, options = KNOBS[fix]
        overrides[name] = s3.select_slider(label, options, getattr(DEFAULT, name), key=name, bind="query-params")
    st.caption(f"Plain stochastic gradient steps (no momentum) for both networks, batch {DEFAULT.batch}, 2 hidden "
               f"layers of {DEFAULT.hidden}, ring of 8 Gaussians with σ = {DEFAULT.sigma}. Why not Adam: see The maths.")

try:
    cfg = from_overrides(osc.Config, overrides)
except ConfigError as e:
    st.error(f"Invalid setting: {e}")
    st.stop()

with st.expander("The maths", expanded=False):
    st.markdown(osc.__doc__)

real = data2d.sample(data2d.means("ring"), cfg.sigma, 600, torch.Generator().manual_seed(0)).tolist()
colors = {FAILURE: plots2d.COLORS["failure"], fix: plots2d.COLORS["fix"]}
labels = {FAILURE: osc.VARIANTS[FAILURE][0], fix: osc.VARIANTS[fix][0]}


def distance_figure(curves: dict) -> go.Figure:
    """SW to the data per seed (thin) and its mean over seeds (thick), failure and fix on one axis."""
    fig = go.Figure()
    for v in (FAILURE, fix):
        c = curves.get(v) or {}
        per_seed = list(zip(*c.get("sw", []))) if c.get("sw") else []
        for i, ys in enumerate(per_seed):
            fig.add_trace(go.Scatter(x=c["step"], y=ys, mode="lines", line={"color": colors[v], "width": 1},
                                     opacity=0.35, showlegend=False, hoverinfo="skip", name=f"{labels[v]} seed {i}"))
        if per_seed:
            mean = [sum(r) / len(r) for r in c["sw"]]
            fig.add_trace(go.Scatter(x=c["step"], y=mean, mode="lines", name=f"{labels[v]} (mean)",
                                     line={"color": colors[v], "width": 3}))
    fig.update_layout(title={"text": "Distance to the data (sliced Wasserstein), every seed", "font": {"size": 14}},
                      height=300, uirevision="keep", margin={"l": 10, "r": 10, "t": 40, "b": 10}, xaxis_title="step",
                      yaxis={"type": "log", "title": "SW₁"}, legend={"orientation": "h", "y": -0.3})
    return fig


def d_figure(c: dict, v: str) -> go.Figure:
    """D(real) and D(fake) of the first seed (the one in the scatter plot); 1/2 is the equilibrium."""
    fig = go.Figure()
    if c and c.get("step"):
        for k, dash in (("d_real", "solid"), ("d_fake", "dash")):
            fig.add_trace(go.Scatter(x=c["step"], y=[r[0] for r in c[k]], mode="lines", name=k.replace("d_", "D(") + ")",
                                     line={"color": colors[v], "dash": dash}))
    fig.add_hline(y=0.5, line_dash="dot", line_color="grey")
    fig.update_layout(title={"text": f"{labels[v]}: D(real) and D(fake), first seed", "font": {"size": 14}},
                      height=260, uirevision="keep", margin={"l": 10, "r": 10, "t": 40, "b": 10}, xaxis_title="step",
                      yaxis={"range": [0, 1]}, legend={"orientation": "h", "y": -0.3})
    return fig


def draw(frames: dict, curves: dict, step_text: str) -> None:
    """Side by side: samples over data and D(x); then distance and D curves."""
    cols = st.columns(2)
    for col, v in zip(cols, (FAILURE, fix)):
        f = frames.get(v) or {}
        live.chart(col, f"scatter_{v}", lambda f=f, v=v: plots2d.samples_figure(
            real, f.get("samples"), f.get("heatmap"), f"{labels[v]} {step_text}", colors[v], 1.6))
    live.chart(st, "curve_sw", lambda: distance_figure(curves))
    cols = st.columns(2)
    for col, v in zip(cols, (FAILURE, fix)):
        live.chart(col, f"curve_d_{v}", lambda v=v: d_figure(curves.get(v), v))


def table(result: dict) -> pd.DataFrame:
    ok = osc.success(result, fix, FAILURE)
    rows = []
    for v in (FAILURE, fix):
        r = result["variants"][v]
        fmt = lambda m, d=3: f"{r['mean'][m]:.{d}f} ± {r['sd'][m]:.{d}f}"  # noqa: E731
        rows.append({"variant": labels[v], "late distance": fmt("sw_final"), "fluctuation": fmt("sw_fluct", 4),
                     "D(real)": fmt("d_real", 2), "D(fake)": fmt("d_fake", 2),
                     "claim holds in": "" if v == FAILURE else f"{sum(ok)}/{len(ok)} seeds",
                     "fluctuation per seed": " ".join(f"{p['sw_fluct']:.3f}" if osc._finite(p) else "NaN"
                                                      for p in r["per_seed"])})
    return pd.DataFrame(rows)


def show_result(result: dict, origin: str) -> None:
    frames = {v: {"samples": result["variants"][v]["samples_seed0"], "heatmap": result["variants"][v]["heatmap"]}
              for v in (FAILURE, fix)}
    draw(frames, {v: result["variants"][v]["curves"] for v in (FAILURE, fix)},
         f"(step {result['variants'][fix]['steps_done']}, seed {result['seeds'][0]})")
    st.dataframe(table(result), hide_index=True, width="stretch")
    c = result["config"]
    st.caption(f"{origin} Late distance: mean sliced-Wasserstein distance to a fixed real set over the last "
               f"{c['tail']:.0%} of evaluations (two samples of the data are ~0.02 apart); fluctuation: its sd "
               f"over that window. Claim: the plain GAN's fluctuation is ≥ {osc.RATIO:g}× the fix's and the fix "
               "ends at most as far from the data, on the same seed.")
    if result.get("stopped"):
        st.info("This run was stopped early: the numbers are those at the step it reached.", icon="⏹️")
    for v in (FAILURE, fix):
        d = [x for x in result["variants"][v]["diverged_at"] if x]
        if d:
            st.warning(f"{labels[v]}: {len(d)} seed(s) diverged (NaN loss) at step {min(d)}; they have no "
                       "distance.", icon="💥")
    st.download_button("Download result (JSON)", json.dumps(result), file_name=f"oscillation_{fix}.json",
                       mime="application/json")


# ---- the shipped result for the defaults, else a live run -----------------------------------
shipped = None
if seeds == 8 and cfg == DEFAULT:
    shipped = live.shipped_result(osc.DEMO_ID, "default", osc.CODE_VERSION, cfg, fix)

slot = osc.DEMO_ID
job_spec = live.spec(osc, cfg, [FAILURE, fix], seeds)
if st.button("▶ Run live" if shipped else "▶ Run", type="primary"):
    live.start(slot, job_spec)

live.show(slot, job_spec, draw, show_result, shipped, seeds, fix)
