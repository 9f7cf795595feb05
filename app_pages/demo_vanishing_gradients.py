"""Demo page: Arjovsky & Bottou's experiment, the saturating loss beside another generator loss.

Thin: the maths and training live in demos/vanishing_gradients.py. Every control is in the URL;
the shipped result (all four losses, 8 seeds) shows at once for the default settings, anything else
runs through the shared job queue (app_pages/live.py) with progress and Stop.
"""
from __future__ import annotations

import dataclasses
import json
import math
import statistics

import pandas as pd
import streamlit as st

from app_pages import grad_plots as gp
from app_pages import live
from app_pages.plots2d import COLORS
from app_pages.widgets import url_choice
from demos import vanishing_gradients as vg
from engine.config import ConfigError, from_overrides

FAILURE = "saturating"
FIXES = {v: vg.VARIANTS[v][0] for v in vg.VARIANTS if v != FAILURE}
LIVE_MAX_SEEDS = 16
DEFAULT = vg.Config()
LOSS_COLORS = {"saturating": COLORS["failure"], "nonsaturating": COLORS["fix"], "lsgan": "#2ca02c",
               "wgan_gp": "#9467bd"}

st.title("Vanishing gradients: a near-optimal discriminator")
st.caption("Challenge: **instability and vanishing gradients**. A generator is frozen and a fresh discriminator "
           "is trained against it, as in Arjovsky & Bottou (2017, arXiv:1701.04862). Only D changes, so the "
           "curves show how much gradient a better and better D leaves the generator under each loss.")

if st.query_params.get("variant") == FAILURE:  # a link to the failure itself (the taxonomy's minimax
    del st.query_params["variant"]  # loss): it is always shown, beside the default comparison
c1, c2, c3 = st.columns([1, 2, 1])
dataset = url_choice(c1, "Data", {"ring": "Ring of 8 (2D)", "digits": "8×8 digits"}, "dataset", "ring",
                     widget=c1.radio, what="dataset", horizontal=True)
fix = url_choice(c2, "Compare the saturating loss with", FIXES, "variant", "nonsaturating", what="loss")
seeds = c3.slider("Seeds", 1, LIVE_MAX_SEEDS, 8, key="seeds", bind="query-params")
with st.expander("Experiment settings", expanded=False):
    s1, s2, s3 = st.columns(3)
    steps = s1.select_slider("D iterations", [200, 500, 1000, 2000, 4000], DEFAULT.steps, key="steps",
                             bind="query-params")
    lr_d = s2.select_slider("D learning rate", [1e-3, 3e-3, 1e-2, 3e-2], DEFAULT.lr_d, key="lr_d",
                            bind="query-params")
    g_steps = s3.select_slider("G trained first (steps)", [0, 100, 300, 1000], DEFAULT.g_steps, key="g_steps",
                               bind="query-params")
    st.caption("D: 2 hidden layers of 64, Adam (β₁ 0.5, β₂ 0.9), learning rate decaying linearly to 0, batch 128. "
               "G: untrained by default (trained first with the non-saturating GAN when asked); its gradient is "
               "measured on a fixed batch of 512 z. WGAN-GP: λ = 10.")

overrides = {"dataset": dataset, "steps": steps, "lr_d": lr_d, "g_steps": g_steps,
             "record_every": max(1, int(steps) // 100)}
try:
    cfg = from_overrides(vg.Config, overrides)
except ConfigError as e:
    st.error(f"Invalid setting: {e}")
    st.stop()

with st.expander("The maths", expanded=False):
    st.markdown(vg.__doc__)

shown = (FAILURE, fix)
labels = {v: vg.VARIANTS[v][0] for v in vg.VARIANTS}


def draw(curves: dict, note: str) -> None:
    """Side by side: ‖∇θ L_G‖ of the saturating loss and of the chosen loss (shared log range), then
    D's accuracy. ``curves``: variant -> {step, grad_norm (per seed), accuracy (per seed)}."""
    have = {v: curves.get(v) for v in shown}
    yr = gp.log_range([s for c in have.values() if c for s in c["grad_norm"]])
    cols = st.columns(2)
    for col, v in zip(cols, shown):
        c = have[v] or {"step": [], "grad_norm": [], "accuracy": []}
        live.chart(col, f"norm_{v}", lambda c=c, v=v: gp.norm_figure(
            c["step"], c["grad_norm"], f"{labels[v]} {note}", LOSS_COLORS[v], yr, "discriminator iteration"))
        if c["step"]:
            first = statistics.median(s[0] for s in c["grad_norm"])
            last = statistics.median(s[-1] for s in c["grad_norm"])
            acc = statistics.mean(a[-1] for a in c["accuracy"])
            col.markdown(f"Median ‖∇θ L_G‖: **{first:.2g} → {last:.2g}** "
                         f"({'÷' if last <= first else '×'}{max(first, last) / max(min(first, last), 1e-300):.2g}) "
                         f"at iteration {c['step'][-1]}; D's accuracy **{acc:.3f}**.")
    acc = {labels[v]: (have[v]["step"], [statistics.mean(a) for a in zip(*have[v]["accuracy"])])
           for v in shown if have[v] and have[v]["step"]}
    live.chart(st, "accuracy", lambda: gp.lines_figure(
        acc, {labels[v]: LOSS_COLORS[v] for v in shown},
        "D's accuracy on held-out real and generated samples (mean over seeds)", "accuracy", height=240,
        xtitle="discriminator iteration"))


def table(result: dict) -> pd.DataFrame:
    rows = []
    for v, r in result["variants"].items():
        ps = r["per_seed"]
        ok = vg.success(result, v)
        med = lambda k, ps=ps: statistics.median(p[k] for p in ps if p[k] is not None)
        drop = med("grad_norm_drop")
        rows.append({"loss": labels[v], "‖∇‖ at iteration 0": f"{med('grad_norm_first'):.2g}",
                     "‖∇‖ at the end": f"{med('grad_norm_last'):.2g}",
                     "first ÷ last": f"{drop:.2g}" if math.isfinite(drop) else "∞",
                     "D accuracy": f"{med('accuracy'):.3f}",
                     "claim holds in": f"{sum(ok)}/{len(ok)} seeds"})
    return pd.DataFrame(rows)


def overview(result: dict) -> None:
    """Every loss in the result on one log plot (geometric means), and the frozen generator."""
    left, right = st.columns([3, 2])
    series = {labels[v]: (r["curves"]["step"], [gp.geo_mean(c) for c in zip(*r["curves"]["grad_norm"])])
              for v, r in result["variants"].items()}
    left.plotly_chart(gp.lines_figure(series, {labels[v]: LOSS_COLORS[v] for v in result["variants"]},
                                      "All losses: ‖∇θ L_G‖, geometric mean over seeds", "‖∇θ L_G‖", log_y=True,
                                      height=320, xtitle="discriminator iteration"), width="stretch", key="overview")
    if result["config"]["dataset"] == "digits":
        right.plotly_chart(gp.digits_figure(result["frozen_samples_seed0"], "The frozen generator (seed 0)"),
                           width="stretch", key="frozen")
        right.plotly_chart(gp.digits_figure(result["real_samples"], "Real digits"), width="stretch", key="real")
    else:
        fig = gp.plane_figure(result["real_samples"], {"samples": result["frozen_samples_seed0"]},
                              "The frozen generator (seed 0) and the data", LOSS_COLORS["nonsaturating"], 0,
                              ((-1.6, 1.6), (-1.6, 1.6)), height=320)
        right.plotly_chart(fig, width="stretch", key="frozen")


def show_result(result: dict, origin: str) -> None:
    draw({v: r["curves"] for v, r in result["variants"].items()}, f"(seeds {result['seeds'][0]}–{result['seeds'][-1]})")
    st.dataframe(table(result), hide_index=True, width="stretch")
    st.caption(f"{origin} Medians over seeds. Claim: the saturating loss's gradient falls by at least 100× while "
               "D's accuracy reaches 0.99; every other loss ends with at least a tenth of its starting gradient.")
    sat_ok = vg.success(result, FAILURE)
    if sum(sat_ok) < len(sat_ok):
        st.caption(f"{len(sat_ok) - sum(sat_ok)} seed(s) miss the bar: where the untrained generator's samples "
                   "reach the data, no discriminator separates them perfectly and the gradient does not vanish "
                   "(the theory needs disjoint supports).")
    if result.get("stopped"):
        st.info("This run was stopped early: the numbers are those at the iteration it reached.", icon="⏹️")
    if len(result["variants"]) > 2:
        overview(result)
    st.download_button("Download result (JSON)", json.dumps(result), mime="application/json",
                       file_name=f"vanishing_gradients_{cfg.dataset}.json")


shipped = None
if seeds == 8 and cfg == dataclasses.replace(DEFAULT, dataset=cfg.dataset):
    shipped = live.shipped_result(vg.DEMO_ID, cfg.dataset, vg.CODE_VERSION, cfg)

slot = "vanishing_gradients"
# one group per discriminator kind: losses measured against the same D train together
kinds: dict = {}
for v in shown:
    kinds.setdefault(vg.VARIANTS[v][1], []).append(v)
job_spec = live.spec(vg, cfg, list(shown), seeds, groups=list(kinds.values()))
if st.button("▶ Run live" if shipped else "▶ Run", type="primary"):
    live.start(slot, job_spec)

job = live.current_job(slot)
if job is not None and job.key != job_spec.key:
    job = None  # the controls changed since that run


def draw_live(event):
    if event:
        draw(event["curves"], f"(iteration {event['step']}/{event['total']})")
    else:
        draw({}, "(starting…)")


if job is not None and not job.done:
    live.watch(slot, draw_live)
elif job is not None and job.state == "done":
    with live.frame(("result", job.id)):  # figures built once for every watcher of this job
        show_result(job.result, f"Live run, {seeds} seeds, {job.result['wall_time_s']:.1f} s on "
                                f"{job.result['device']}.")
elif job is not None and job.state == "failed":
    st.error(f"The run failed: {job.error}")
elif shipped is not None:
    with live.frame(("shipped", job_spec.key)):  # ...and once for every session viewing the default
        show_result({**shipped, "variants": {v: shipped["variants"][v] for v in (*shown, *[
            v for v in vg.VARIANTS if v not in shown])}}, "Shipped result for the default settings (press Run live "
                    "to reproduce the two losses above).")
else:
    with live.frame(("empty", job_spec.key)):
        draw({}, "")
    st.caption("Press Run to train the discriminator live.")
