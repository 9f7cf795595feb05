"""Demo page: mode collapse on real biomedical image patches, the failure beside one fix.

Thin: data, networks, training and metrics live in engine/patches.py, demos/tissue_patches.py and
engine/patch_classifier.py. The page shows the shipped 8-seed result for the default settings at
once (sample grids of failure and fix with real patches beside them, metric curves, the table),
and runs anything else through the shared job queue (app_pages/live.py) with live grids. Every
control is in the URL; keys carry a ``tp_`` prefix so another page's ``steps`` never lands here.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from app_pages import live, plots2d
from app_pages.figures import png
from app_pages.widgets import url_choice
from engine import patches, pretrained
from demos import tissue_patches as tp
from demos.catalog import CATALOG
from engine.config import ConfigError, from_overrides

INFO = CATALOG[tp.DEMO_ID]
SCENARIO_NAME = {"no_norm": "no normalisation", "fast_g": "fast generator"}
FIXES = {v: f"{label} (vs {SCENARIO_NAME[sc]})" for v, (label, sc, _) in tp.VARIANTS.items() if v not in tp.FAILURE.values()}
LIVE_MAX_SEEDS, LIVE_MAX_STEPS = 8, 4000  # server-side limits for live runs, whatever the URL asks
DEFAULT = tp.Config()
REAL_COLOR = "#7f7f7f"

st.title("Mode collapse on biomedical image patches")
st.caption("Challenge: **mode collapse**. A small convolutional GAN learns 16×16 patches of five real "
           "modalities; the failing one draws mostly one or two tissues. Pick a fix: the failure it answers is "
           "trained beside it on the same seeds. A classifier trained on the real patches counts which modalities "
           "each generator draws.")

if (raw := st.query_params.get("variant")) in tp.FAILURE.values():  # a link to a failure opens
    st.query_params["variant"] = tp.DEFAULT_FIX[tp.VARIANTS[raw][1]]  # its scenario with the default fix
c1, c2 = st.columns([2, 1])
fix = url_choice(c1, "Fix", FIXES, "variant", INFO.default_fix, what="fix")
scenario = tp.VARIANTS[fix][1]
FAILURE = tp.FAILURE[scenario]
seeds = c2.slider("Seeds for a live run", 1, LIVE_MAX_SEEDS, 2, key="tp_seeds", bind="query-params",
                  help="The shipped result has 8 seeds; a live run of 2 seeds takes about a minute and a half on a laptop CPU.")
LR_KEYS = tp.LR_FIELDS[scenario]  # the two learning rates this scenario trains at
with st.expander("Training settings", expanded=False):
    s1, s2, s3, s4 = st.columns(4)
    steps = s1.number_input("Steps", 100, LIVE_MAX_STEPS, DEFAULT.steps, step=250, key="tp_steps", bind="query-params")
    lr_g = s2.select_slider("G learning rate", [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 3e-3], getattr(DEFAULT, LR_KEYS[0]),
                            key=f"tp_{LR_KEYS[0]}", bind="query-params")
    lr_d = s3.select_slider("D learning rate", [5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3], getattr(DEFAULT, LR_KEYS[1]),
                            key=f"tp_{LR_KEYS[1]}", bind="query-params")
    overrides = {"steps": int(steps), LR_KEYS[0]: lr_g, LR_KEYS[1]: lr_d}
    if fix == "pacgan":
        overrides["pack"] = s4.select_slider("Patches per D input (m)", [2, 3, 4], DEFAULT.pack, key="tp_pack",
                                             bind="query-params")
    st.caption(f"Batch {DEFAULT.batch}, latent dimension {DEFAULT.z_dim}, Adam β₁ = 0.5, weights ~ N(0, 0.02); "
               f"{DEFAULT.eval_samples} generated patches per seed are scored. "
               + ("No normalisation scenario: equal learning rates." if scenario == "no_norm" else
                  "Fast generator scenario: batch norm in G and D, G's learning rate ten times D's."))

try:
    cfg = from_overrides(tp.Config, overrides)
except ConfigError as e:
    st.error(f"Invalid setting: {e}")
    st.stop()

with st.expander("The maths", expanded=False):
    st.markdown(tp.__doc__)
with st.expander("The data: sources and licences", expanded=False):
    st.dataframe(pd.DataFrame([{"modality": s.label, "skimage.data": s.loader, "source": s.credit, "licence": s.licence}
                               for s in patches.SOURCES]), hide_index=True, width="stretch")
    st.caption("Patches of the black surround, and patches with no structure (sd < 0.05), are skipped; each image's "
               "1st–99th percentile is mapped to [−1, 1]. Nothing is downloaded: the images ship with scikit-image.")

colors = {FAILURE: plots2d.COLORS["failure"], fix: plots2d.COLORS["fix"]}
labels = {FAILURE: tp.VARIANTS[FAILURE][0], fix: tp.VARIANTS[fix][0]}


def mosaic(grid: list | None, cols: int = 6, scale: int = 4) -> np.ndarray:
    """Patches (n, 16, 16) in [-1, 1] -> one uint8 image, white gaps, each pixel scale x scale."""
    side, gap = tp.SIZE, 2
    rows = -(-tp.GRID // cols)
    out = np.full((rows * (side + gap) - gap, cols * (side + gap) - gap), 255, np.uint8)
    for i, p in enumerate(grid or []):
        r, c = divmod(i, cols)
        out[r * (side + gap):r * (side + gap) + side, c * (side + gap):c * (side + gap) + side] = \
            np.clip((np.asarray(p, np.float32) + 1) * 127.5, 0, 255).astype(np.uint8)
    return out.repeat(scale, 0).repeat(scale, 1)


def modality_line(metrics: list | None) -> str:
    """Seed 0's modality histogram in words."""
    if not metrics:
        return ""
    parts = [f"{patches.SOURCES[k].label.split(' (')[0].lower()} {c}" for k, c in enumerate(metrics[0]["histogram"]) if c]
    return "recognised " + " · ".join(parts) if parts else "no patch recognised as any modality"


def draw(frames: dict, curves: dict, step_text: str, real: dict | None = None) -> None:
    """Sample grids (failure, fix, real), then the metric curves (mean over seeds)."""
    cols = st.columns(3)
    for col, v in zip(cols, (FAILURE, fix)):
        f = frames.get(v) or {}
        col.markdown(f"**{labels[v]}** {step_text}")
        col.image(live.shared(f"grid_{v}", lambda f=f: png(mosaic(f.get("grid")))), width="stretch")
        col.caption(f"Seed 0: {modality_line(f.get('metrics'))}")
    real = real or REAL
    cols[2].markdown("**Real patches** (training set)")
    cols[2].image(mosaic(real["grid"]), width="stretch")
    cols[2].caption("The five modalities in equal shares.")
    named = {labels[v]: curves.get(v) for v in (FAILURE, fix)}
    lc = {labels[v]: colors[v] for v in (FAILURE, fix)}
    m = st.columns(4)
    live.chart(m[0], "tp_curve_modes", lambda: plots2d.curves_figure(named, "modes", "Modalities covered (of 5)", lc,
                                                                     hline=5))
    live.chart(m[1], "tp_curve_kl", lambda: plots2d.curves_figure(named, "reverse_kl", "Reverse KL to the uniform mix",
                                                                  lc, hline=0))
    live.chart(m[2], "tp_curve_ssim", lambda: plots2d.curves_figure(
        named, "diversity", "Intra-modality SSIM (real: dotted)", lc, hline=real["diversity"]))
    live.chart(m[3], "tp_curve_fd", lambda: plots2d.curves_figure(
        named, "frechet_classifier", "Fréchet distance, classifier features", lc, hline=real["frechet_classifier"]))


@st.cache_data(show_spinner=False)
def real_reference() -> dict:
    return tp.real_reference()


def num(x, d: int = 2) -> str:
    """A figure for the table; '–' where there is none (no covered modality has no SSIM; a shipped
    JSON stores NaN as null)."""
    return "–" if x is None or x != x else f"{x:.{d}f}"


def table(result: dict) -> pd.DataFrame:
    rows = []
    for v in (FAILURE, fix):
        r = result["variants"][v]
        ok = tp.success(result, v, "failure" if v == FAILURE else "fix")
        fmt = lambda m, d=2: f"{num(r['mean'][m], d)} ± {num(r['sd'][m], d)}"  # noqa: E731
        rows.append({"": labels[v], "modalities": fmt("modes", 1), "reverse KL": fmt("reverse_kl"),
                     "SSIM within modality": fmt("diversity"), "Fréchet (classifier)": fmt("frechet_classifier", 1),
                     "recognised": fmt("hq_fraction"), "claim holds in": f"{sum(ok)}/{len(ok)} seeds",
                     "modalities per seed": " ".join(str(int(p["modes"])) for p in r["per_seed"])})
    re = result.get("real") or REAL
    rows.append({"": "Real patches", "modalities": str(re["modes"]), "reverse KL": num(re["reverse_kl"]),
                 "SSIM within modality": num(re["diversity"]), "Fréchet (classifier)": num(re["frechet_classifier"], 1),
                 "recognised": num(re["hq_fraction"]), "claim holds in": "", "modalities per seed": ""})
    return pd.DataFrame(rows)


def show_result(result: dict, origin: str) -> None:
    frames = {v: {"grid": result["variants"][v]["grid"], "metrics": result["variants"][v]["per_seed"]}
              for v in (FAILURE, fix)}
    draw(frames, {v: result["variants"][v]["curves"] for v in (FAILURE, fix)},
         f"(step {result['variants'][fix]['steps_done']}, seed {result['seeds'][0]})", result.get("real"))
    st.dataframe(table(result), hide_index=True, width="stretch")
    st.caption(f"{origin} {len(result['seeds'])} seeds. Claim: the failure collapses between modalities (at most 2 "
               "of the 5 covered, or reverse KL ≥ 0.7) or within them (SSIM within a modality at least twice the "
               "real patches'); the fix covers at least 4 modalities with reverse KL ≤ 0.35. A "
               "patch is *recognised* when the classifier names a modality (not 'none of these') with p ≥ 0.5; a "
               "modality is covered with ≥ 2 % of the patches. SSIM: lower = more varied.")
    fix_ok = tp.success(result, fix, "fix")
    held, of = tp.MEASURED.get(fix, (0, 0))
    measured = f"over {of} seeds it met the bar in {held} ({held / of:.0%})" if of else "it has not been swept"
    if fix not in tp.CLAIMED_FIXES[scenario]:  # lucky seeds must not read as a working fix
        st.warning(f"Honest note: here {labels[fix]} meets the bar in {sum(fix_ok)}/{len(fix_ok)} seeds; "
                   f"{measured}, under the claim bar of 90 % of at least 16 seeds, so the demo shows it as a "
                   "measured result, not as a fix (README, 'Mode collapse on biomedical image patches').",
                   icon="📏")
    elif sum(fix_ok) < 0.8 * len(fix_ok):
        st.warning(f"Honest note: at these settings {labels[fix]} meets the bar in only {sum(fix_ok)}/{len(fix_ok)} "
                   f"seeds; at the defaults {measured}. Results vary with seeds and settings: it is shown as "
                   "measured, not hidden.", icon="📏")
    if result.get("stopped"):
        st.info("This run was stopped early: the numbers are those at the step it reached.", icon="⏹️")
    for v in (FAILURE, fix):
        d = [x for x in result["variants"][v]["diverged_at"] if x]
        if d:
            st.warning(f"{labels[v]}: {len(d)} seed(s) diverged (NaN loss) at step {min(d)}; their patches are "
                       "scored as they are.", icon="💥")
    st.download_button("Download result (JSON)", json.dumps(result), file_name=f"tissue_patches_{fix}.json",
                       mime="application/json")


def fresh_patches() -> None:
    """New draws from the shipped seed-0 generators: the failure keeps drawing the same tissue."""
    if not st.button("New patches from the shipped generators", key="tp_redraw"):
        return
    draw_seed = int(np.random.default_rng().integers(1 << 30))
    cols = st.columns(3)
    for col, v in zip(cols, (FAILURE, fix)):
        try:
            g = tp.load_generator(tp.checkpoint_path(v), v, cfg)
        except pretrained.PretrainedError as e:
            col.info(f"Cannot redraw: {e}", icon="ℹ️")
            continue
        col.image(mosaic(tp.grid(tp.draw(g, tp.GRID, draw_seed))), caption=f"{labels[v]}, new latent points",
                  width="stretch")


REAL = real_reference()
shipped = None
if cfg == DEFAULT:
    shipped = live.shipped_result(tp.DEMO_ID, scenario, tp.CODE_VERSION, cfg, fix)

slot = tp.DEMO_ID
job_spec = live.spec(tp, cfg, [FAILURE, fix], seeds)
if st.button("▶ Run live" if shipped else "▶ Run", type="primary"):
    live.start(slot, job_spec)

live.show(slot, job_spec, draw, show_result, shipped, seeds, fix)
if shipped is not None and live.current_job(slot) is None:
    fresh_patches()
