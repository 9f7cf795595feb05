"""Demo page: instability, live. A generator stalled by the saturating loss, or a run that diverges at
a high learning rate, beside the fix picked in the URL (``?variant=`` selects the fix, and the fix
selects its scenario and failure). Thin: the maths and training live in demos/instability.py; the
shipped result shows at once for the defaults, anything else runs through the shared job queue.
"""
from __future__ import annotations

import json
import math
import statistics

import pandas as pd
import streamlit as st
import torch

from app_pages import grad_plots as gp
from app_pages import live
from app_pages.plots2d import COLORS
from app_pages.widgets import url_choice
from engine import data2d
from demos import instability as ins
from engine.config import ConfigError, from_overrides
from engine.gan_probe import RING_SIGMA

FIXES = {v: f"{label} ({'stall' if s == 'stall' else 'divergence'})" for v, (label, s, _) in ins.VARIANTS.items()
         if v not in ins.FAILURE.values()}
LIVE_MAX_SEEDS = 16
DEFAULT = ins.Config()

st.title("Instability: a stalled generator, a diverging run")
st.caption("Challenge: **instability and vanishing gradients**. Pick a fix: the failure it answers is trained "
           "beside it on the same seeds. Arrows show where each generator loss pushes the generated points, drawn "
           "to one scale in both panels.")

DEFAULT_FIX = {"stall": "nonsaturating", "diverge": "spectral"}
if (raw := st.query_params.get("variant")) in ins.FAILURE.values():  # a link to a failure opens
    st.query_params["variant"] = DEFAULT_FIX[ins.VARIANTS[raw][1]]  # its scenario with the default fix
c1, c2 = st.columns([3, 1])
fix = url_choice(c1, "Fix", FIXES, "variant", "nonsaturating", what="fix")
seeds = c2.slider("Seeds", 1, LIVE_MAX_SEEDS, 8, key="seeds", bind="query-params")
scenario = ins.VARIANTS[fix][1]
failure = ins.FAILURE[scenario]
overrides: dict = {}
with st.expander("Training settings", expanded=False):
    s = st.columns(4)
    overrides["steps"] = s[0].select_slider("Generator steps", [100, 200, 400, 600, 1000, 2000, 3000], DEFAULT.steps,
                                            key="steps", bind="query-params")
    if scenario == "stall":
        overrides["warmup"] = s[1].select_slider("D steps ahead of G", [0, 50, 100, 300, 1000], DEFAULT.warmup,
                                                 key="warmup", bind="query-params")
        overrides["offset"] = s[2].select_slider("G starts this far right", [0.0, 1.0, 2.0, 3.0, 4.0],
                                                 DEFAULT.offset, key="offset", bind="query-params")
        overrides["g_optimizer"] = url_choice(s[3], "G optimiser", {"sgd": "SGD", "adam": "Adam"}, "g_optimizer",
                                              "sgd", widget=s[3].radio, what="optimiser", horizontal=True)
        overrides["lr_g"] = s[3].select_slider("G learning rate", [1e-3, 5e-3, 0.01, 0.02, 0.05], DEFAULT.lr_g,
                                               key="lr_g", bind="query-params")
        st.caption("D: Adam, learning rate 0.01. G: plain SGD by default, so its step is its gradient times the "
                   "learning rate; choose Adam (with G learning rate 0.001) to see it rescale the tiny saturating "
                   "gradient into a full step.")
    else:
        overrides["diverge_lr"] = s[1].select_slider("SGD learning rate (both nets)", [0.05, 0.1, 0.3, 0.5, 0.7, 1.0],
                                                     DEFAULT.diverge_lr, key="diverge_lr", bind="query-params")
        if fix == "r1":
            overrides["r1_gamma"] = s[2].select_slider("R1 weight γ", [0.1, 0.3, 0.5, 1.0, 3.0], DEFAULT.r1_gamma,
                                                       key="r1_gamma", bind="query-params")
        st.caption("Both networks: plain SGD at this learning rate, the non-saturating loss, 2 hidden layers of 64, "
                   "batch 128. A seed is diverged at its first non-finite loss or gradient.")

try:
    cfg = from_overrides(ins.Config, overrides)
except ConfigError as e:
    st.error(f"Invalid setting: {e}")
    st.stop()

with st.expander("The maths", expanded=False):
    st.markdown(ins.__doc__)

pair = (failure, fix)
labels = {v: ins.VARIANTS[v][0] for v in pair}
colors = {failure: COLORS["failure"], fix: COLORS["fix"]}
real = data2d.sample(data2d.means("ring"), RING_SIGMA, 400, torch.Generator().manual_seed(0)).tolist()


def status(frame: dict | None, step_text: str) -> str:
    if frame and frame.get("diverged_at"):
        return f"diverged at step {frame['diverged_at']} (seed 0)"
    return step_text


def draw(frames: dict, curves: dict, step_text: str) -> None:
    """The plane for failure and fix (common arrow scale), then ‖∇θ L_G‖ and D's outputs or loss."""
    scale, ref = gp.arrow_scale([frames.get(v) for v in pair])
    cols = st.columns(2)
    for col, v in zip(cols, pair):
        f = frames.get(v)
        view = (f or {}).get("view") or ((-1.6, max(1.6, cfg.offset + 1.2) if scenario == "stall" else 1.6), (-1.6, 1.6))
        live.chart(col, f"plane_{v}", lambda f=f, v=v, view=view: gp.plane_figure(
            real, f, f"{labels[v]}: {status(f, step_text)}", colors[v], scale, view))
        if f and f["arrows"]["x"]:
            mags = [math.hypot(u, w) for u, w in zip(f["arrows"]["u"], f["arrows"]["v"])]
            col.markdown(f"Median arrow ‖−∇ₓℓ‖ = **{statistics.median(mags):.2g}**"
                         + (f" · seed 0's ‖∇θ L_G‖ = **{f['grad_norm']:.2g}**" if f.get("grad_norm") else ""))
    if ref:
        st.caption(f"Arrow scale: the longest arrows (95th percentile, ‖−∇ₓℓ‖ = {ref:.2g}) are drawn 0.6 long in "
                   "both panels; an arrow you cannot see is a gradient that small. D(x) is shown as a probability "
                   "(sigmoid of D's output; least squares and the critic output raw scores, plotted raw below).")
    g1, g2 = st.columns(2)
    norms = {labels[v]: (c["step"][1:], c["grad_norm"][1:]) for v, c in curves.items() if v in pair and c["step"]}
    live.chart(g1, "norms", lambda: gp.lines_figure(norms, {labels[v]: colors[v] for v in pair},
                                                    "‖∇θ L_G‖ per step (geometric mean over live seeds)",
                                                    "‖∇θ L_G‖", log_y=True))
    if scenario == "stall":
        d = {f"{labels[v]}: D({k})": (c["step"], c[f"d_{k}"]) for v, c in curves.items() if v in pair
             for k in ("real", "fake")}
        dcol = {f"{labels[v]}: D({k})": colors[v] for v in pair for k in ("real", "fake")}
        dash = {f"{labels[v]}: D(fake)": "dot" for v in pair}
        live.chart(g2, "d_out", lambda: gp.lines_figure(
            d, dcol, "D on real (solid) and generated (dotted) samples, mean over seeds", "D(x)", dashes=dash))
    else:
        loss = {labels[v]: (c["step"][1:], c["d_loss"][1:]) for v, c in curves.items() if v in pair and c["step"]}
        live.chart(g2, "d_loss", lambda: gp.lines_figure(
            loss, {labels[v]: colors[v] for v in pair}, "D's loss (mean over live seeds): it explodes before the NaN",
            "D loss", log_y=True))


def table(result: dict) -> pd.DataFrame:
    rows = []
    for v in pair:
        r = result["variants"][v]
        ok = ins.success(result, v)
        div = [d for d in r["diverged_at"] if d]

        def med(k: str, fmt: str, r: dict = r) -> str:
            v = [p[k] for p in r["per_seed"] if p[k] is not None and math.isfinite(p[k])]
            return format(statistics.median(v), fmt) if v else "— (every seed diverged)"

        rows.append({"variant": labels[v], "claim holds in": f"{sum(ok)}/{len(ok)} seeds",
                     "distance to data, end ÷ start": med("dist_ratio", ".2f"),
                     "‖∇θ L_G‖ at the end": med("grad_norm_end", ".2g"),
                     "high-quality fraction": med("hq_fraction", ".2f"),
                     "diverged": f"{len(div)}/{len(ok)}" + (f" (steps {min(div)}–{max(div)})" if div else "")})
    return pd.DataFrame(rows)


def show_result(result: dict, origin: str) -> None:
    draw({v: result["variants"][v]["final"] for v in pair}, {v: result["variants"][v]["curves"] for v in pair},
         f"step {result['steps_done']}")
    for v in pair:
        div = [d for d in result["variants"][v]["diverged_at"] if d]
        if div:
            st.warning(f"{labels[v]}: {len(div)} of {len(result['seeds'])} seeds diverged (a NaN or infinite loss "
                       f"or gradient) at steps {min(div)}–{max(div)}. Each stopped counting at that step; the "
                       "plane shows seed 0's last finite picture.", icon="💥")
    st.dataframe(table(result), hide_index=True, width="stretch")
    claim = ("the failure's samples end at least 90 % as far from the data as they started; the fix's at most "
             "half as far" if scenario == "stall" else
             "the failure hits a NaN; the fix never does and ends at most half as far from the data as it started")
    st.caption(f"{origin} Medians over seeds. Claim per seed: {claim}.")
    if result.get("stopped"):
        st.info("This run was stopped early: the numbers are those at the step it reached.", icon="⏹️")
    st.download_button("Download result (JSON)", json.dumps(result), mime="application/json",
                       file_name=f"instability_{scenario}_{fix}.json")


shipped = None
if seeds == 8 and cfg == DEFAULT:
    shipped = live.shipped_result(ins.DEMO_ID, scenario, ins.CODE_VERSION, cfg, fix)

slot = "instability"
job_spec = live.spec(ins, cfg, list(pair), seeds)
if st.button("▶ Run live" if shipped else "▶ Run", type="primary"):
    live.start(slot, job_spec)

live.show(slot, job_spec, draw, show_result, shipped, seeds, fix, fmt="{}")
