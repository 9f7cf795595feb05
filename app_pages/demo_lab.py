"""The Recipe lab: build two recipes (A and B) from the technique options, train them side by side on
the same seeds, and read the samples, D's map, metric curves and a per-seed table. A technique demo
is the lab opened on a preset: ``/lab?variant=<technique id>`` (A = the plain GAN of the technique's
scenario, B = the plain GAN + that technique), with its shipped result and measured rate.

Thin: recipes and scenarios are data (engine/options, demos/presets.py); training runs through the
shared job queue (app_pages/live.py). The whole state is in the URL: preset (``variant``), scenario,
both recipes (``a``, ``b``, text form ``pacgan.pack=4,r1.gamma=1``), seeds and settings overrides.
"""
from __future__ import annotations

import dataclasses
import json

import pandas as pd
import streamlit as st
import torch

from app_pages import live, plots2d
from app_pages.widgets import url_choice
from demos import lab
from demos.presets import PRESETS, SCENARIOS
from engine import testbeds
from engine.config import ConfigError, from_overrides
from engine.claims import claimable
from engine.options import OPTIONS, describe, make_recipe, parse_text

LIVE_MAX_SEEDS, LIVE_MAX_STEPS = 16, 5000
OPTION_INFO = {d["id"]: d for d in describe()}
KIND_ORDER = ("loss", "penalty", "normalisation", "architecture", "optimisation")
COLORS = {"a": plots2d.COLORS["failure"], "b": plots2d.COLORS["fix"]}
PNG = {"toImageButtonOptions": {"format": "png", "scale": 2}, "displaylogo": False}


def url_text(key: str, default: str) -> str:
    """A text setting kept in the URL (``?key=...``); the default stays out of the URL."""
    raw = st.query_params.get(key)
    seen = f"_url_seen_{key}"
    if key not in st.session_state or raw != st.session_state.get(seen):
        st.session_state[key] = raw if raw is not None else default
    return st.session_state[key]


def sync_url(key: str, value: str, default: str) -> None:
    want = None if value == default else value
    if st.query_params.get(key) != want:
        if want is None:
            del st.query_params[key]
        else:
            st.query_params[key] = want
    st.session_state[f"_url_seen_{key}"] = st.query_params.get(key)


# ---- which preset, scenario and recipes ---------------------------------------------------------
st.title("Recipe lab")
st.caption("Two GAN recipes, trained side by side on the same seeds and data. A recipe is the plain GAN plus any "
           "compatible set of technique options; a technique demo opens the lab on that technique's preset.")

presets = {"": "(custom recipes)", **{p: p.replace("_", " ") for p in PRESETS}}
top1, top2, top3 = st.columns([2, 2, 1])
preset = url_choice(top1, "Technique demo", presets, "variant", "", what="technique demo")
default_scenario = PRESETS[preset].scenario if preset else "collapse_ring"
if preset and st.session_state.get("_lab_preset_applied") != preset:  # a preset fills A, B and the scenario
    st.session_state["_lab_preset_applied"] = preset
    for k, v in (("a", ""), ("b", PRESETS[preset].recipe)):
        st.session_state[k] = v
        sync_url(k, v, "" if k == "a" else "pacgan")
    if st.query_params.get("scenario") not in (None, default_scenario):
        del st.query_params["scenario"]
scenario = url_choice(top2, "Scenario (the failure)", {k: s.title for k, s in SCENARIOS.items()}, "scenario",
                      default_scenario, what="scenario")
seeds = top3.slider("Seeds", 1, LIVE_MAX_SEEDS, 8, key="seeds", bind="query-params")
sc = SCENARIOS[scenario]
st.caption(f"**{sc.title}.** {sc.failure_text} Claim rule: {sc.claim_text}")


def text_editor(col, side: str, text: str, default: str) -> None:
    with col.expander("Edit as text", expanded=False):
        typed = st.text_input("Recipe text (option.param=value, comma-separated)", value=text, key=f"_txt_{side}_{text}")
        if typed.strip() != text:
            st.session_state[side] = typed.strip()
            sync_url(side, typed.strip(), default)
            st.rerun()


def param_widget(f: dict, cur, wkey: str):
    label = f["help"] or f["name"]
    if f.get("choices"):
        options = list(f["choices"])
        return st.selectbox(label, options, index=options.index(cur) if cur in options else 0, key=wkey)
    if f["type"] == "bool":
        return st.checkbox(label, value=bool(cur), key=wkey)
    if f["type"] == "int":
        return st.number_input(label, int(f["lo"]), int(f["hi"]), int(cur), key=wkey)
    return st.number_input(label, float(f["lo"]), float(f["hi"]), float(cur), format="%g", key=wkey)


def recipe_editor(col, side: str, default: str) -> str:
    """A recipe: pick options (grouped by kind) and their parameters; the text form is the state."""
    text = url_text(side, default)
    col.subheader(f"Recipe {side.upper()}")
    try:
        current = {k: dataclasses.asdict(p) for k, p in make_recipe(text).items}
    except ConfigError as e:  # a bad link: say what is wrong and offer the text to fix it
        col.error(f"Recipe {side.upper()}: {e}")
        text_editor(col, side, text, default)
        return text
    labels = {k: f"{OPTION_INFO[k]['label']} ({OPTION_INFO[k]['kind']})" for k in
              sorted(OPTIONS, key=lambda k: (KIND_ORDER.index(OPTIONS[k].kind), OPTIONS[k].label))}
    picked = col.multiselect("Technique options", list(labels), default=list(current), format_func=labels.get,
                             key=f"_opts_{side}_{text}",
                             help="Options of the same group (two losses, two update rules...) cannot be combined.")
    params: dict[str, dict] = {}
    for opt in picked:
        fields = OPTION_INFO[opt]["params"]
        params[opt] = {}
        if fields:
            with col.expander(f"{OPTION_INFO[opt]['label']}: parameters", expanded=False):
                for f in fields:
                    cur = current.get(opt, {}).get(f["name"], f["default"])
                    params[opt][f["name"]] = param_widget(f, cur, f"_p_{side}_{opt}_{f['name']}_{text}")
    try:
        new_text = make_recipe(params).to_text()
    except ConfigError as e:
        col.error(f"Recipe {side.upper()}: {e}")
        new_text = text
    if new_text != text:
        st.session_state[side] = new_text
        sync_url(side, new_text, default)
        st.rerun()
    sync_url(side, text, default)
    col.code(text or "(plain GAN)", language=None)
    text_editor(col, side, text, default)
    return text


ca, cb = st.columns(2)
text_a = recipe_editor(ca, "a", "")
text_b = recipe_editor(cb, "b", "pacgan")

with st.expander("Training settings (blank / 0 = the scenario's own)", expanded=False):
    s = lab.settings(lab.Config(scenario=scenario))
    e1, e2, e3, e4 = st.columns(4)
    steps = e1.number_input(f"Steps (scenario: {s.steps})", 0, LIVE_MAX_STEPS, 0, step=250, key="steps",
                            bind="query-params")
    lr_g = e2.number_input(f"G learning rate (scenario: {s.lr_g:g}; -1 = its own)", -1.0, 1.0, -1.0, format="%g",
                           key="lr_g", bind="query-params")
    lr_d = e3.number_input(f"D learning rate (scenario: {s.lr_d:g}; -1 = its own)", -1.0, 1.0, -1.0, format="%g",
                           key="lr_d", bind="query-params")
    optimizer = e4.selectbox(f"Optimiser (scenario: {s.optimizer})", ["", "adam", "sgd", "rmsprop"], key="optimizer",
                             bind="query-params")
    testbed = e1.selectbox(f"Testbed (scenario: {s.testbed})", ["", *testbeds.TESTBEDS], key="testbed",
                           bind="query-params")
    batch = e2.number_input(f"Batch (scenario: {s.batch})", 0, 1024, 0, step=32, key="batch", bind="query-params")

try:
    cfg = from_overrides(lab.Config, {"scenario": scenario, "a": text_a, "b": text_b, "steps": int(steps),
                                      "lr_g": lr_g, "lr_d": lr_d, "optimizer": optimizer or "",
                                      "testbed": testbed or "", "batch": int(batch)})
    lab.check_recipes(cfg)
    settings = lab.settings(cfg)
except ConfigError as e:
    st.error(f"Invalid setting: {e}")
    st.stop()

if preset:
    p = PRESETS[preset]
    st.info(f"Technique demo: **{preset.replace('_', ' ')}** — recipe `{p.recipe}` against the plain GAN in "
            f"*{SCENARIOS[p.scenario].title.lower()}*. {p.note}", icon=":material/science:")

with st.expander("The maths of each option in A and B", expanded=False):
    for opt in dict.fromkeys([*parse_text(text_a), *parse_text(text_b)]):
        info = OPTION_INFO[opt]
        st.markdown(f"**{info['label']}** (`{opt}`, cites `{info['cite']}`)")
        st.text(info["doc"])

tb = testbeds.make(settings.testbed, settings.sigma)
real = (tb.means[[i % tb.k for i in range(600)]]
        + tb.sigma * torch.randn(600, 2, generator=torch.Generator().manual_seed(0))).tolist()
lim = 1.5 * tb.scale + 0.5
label = {"a": f"A: {make_recipe(text_a).label()}", "b": f"B: {make_recipe(text_b).label()}"}


def draw(frames: dict, curves: dict, step_text: str) -> None:
    """A and B side by side (samples over D's map), then metric curves; the figures are built once per
    job event and shared by every watcher (live.chart)."""
    cols = st.columns(2)
    for col, v in zip(cols, ("a", "b")):
        f = frames.get(v) or {}
        live.chart(col, f"lab_scatter_{v}", lambda f=f, v=v: plots2d.samples_figure(
            real, f.get("samples"), f.get("heatmap"), f"{label[v]} {step_text}", COLORS[v], lim), config=PNG)
    named = {label[v]: curves.get(v) for v in ("a", "b")}
    colors = {label[v]: COLORS[v] for v in ("a", "b")}
    m1, m2, m3 = st.columns(3)
    live.chart(m1, "lab_modes", lambda: plots2d.curves_figure(named, "modes", f"Modes covered (of {tb.k})", colors,
                                                              hline=tb.k), config=PNG)
    live.chart(m2, "lab_w1", lambda: plots2d.curves_figure(named, "w1", "Distance to the data (sliced W1)", colors,
                                                           log_y=True), config=PNG)
    live.chart(m3, "lab_hq", lambda: plots2d.curves_figure(named, "hq_fraction", "High-quality fraction", colors,
                                                           hline=0.5), config=PNG)


def per_seed_table(result: dict) -> pd.DataFrame:
    rows = []
    for v in ("a", "b"):
        for seed, r in zip(result["seeds"], result["variants"][v]["per_seed"]):
            rows.append({"recipe": v.upper(), "seed": seed, **{k: r.get(k) for k in lab.METRICS}})
    return pd.DataFrame(rows)


def show_result(result: dict, origin: str) -> None:
    frames = {v: {"samples": result["variants"][v]["samples_seed0"], "heatmap": result["variants"][v]["heatmap"]}
              for v in ("a", "b")}
    draw(frames, {v: result["variants"][v]["curves"] for v in ("a", "b")},
         f"(step {result['variants']['b']['steps_done']}, seed {result['seeds'][0]})")
    fail, fix = lab.claims(result, "b", "a")
    n = len(fix)
    st.markdown(f"**Claim ({sc.claim_text})** — the failure shows in **{sum(fail)}/{n}** seeds under A; "
                f"B undoes it in **{sum(fix)}/{n}** seeds.")
    if preset and result.get("_preset_shipped"):
        fresh = fresh_rates().get(preset)
        if fresh:
            (fk, fn), (k, n_) = fresh
            verdict = ("**claimed** (>= 90 % of >= 16 seeds)" if claimable(k, n_) and claimable(fk, fn)
                       else "under the claim bar (>= 90 % of >= 16 seeds): shown as measured")
            st.markdown(f"On **{n_} fresh seeds** (the evidence sweep, never used to choose the preset): the "
                        f"failure shows in **{fk}/{fn}**, B undoes it in **{k}/{n_}** — {verdict}.")
        st.caption("Above: measured at the preset's defaults over the shipped seeds. Fresh seeds: "
                   "docs/sweeps/evidence_lab.parquet (python -m demos sweep sweeps/evidence_lab.yaml).")
    if sum(fix) < 0.9 * n:
        st.warning(f"Honest note: B meets the scenario's bar in {sum(fix)} of {n} seeds here. It is shown as "
                   "measured: at this scale and these settings the technique does not reliably undo the failure.",
                   icon="📏")
    df = per_seed_table(result)
    summary = df.groupby("recipe")[["modes", "hq_fraction", "late_w1", "fluctuation", "diverged"]].mean().round(3)
    st.dataframe(summary, width="stretch")
    with st.expander("Per seed", expanded=False):
        st.dataframe(df.round(4), hide_index=True, width="stretch")
    st.caption(origin)
    d1, d2 = st.columns(2)
    d1.download_button("Download result (JSON)", json.dumps(result, default=lambda x: None),
                       file_name="recipe_lab.json", mime="application/json")
    d2.download_button("Download per-seed metrics (CSV)", df.to_csv(index=False), file_name="recipe_lab.csv",
                       mime="text/csv")
    for v in ("a", "b"):
        d = [x for x in result["variants"][v]["diverged_at"] if x]
        if d:
            st.warning(f"{label[v]}: {len(d)} seed(s) diverged (a non-finite loss) from step {min(d)}; their "
                       "metrics are reported as missing.", icon="💥")
    if result.get("stopped"):
        st.info("This run was stopped early: the numbers are those at the step it reached.", icon="⏹️")


@st.cache_data(show_spinner=False)
def fresh_rates() -> dict:
    """{preset: ((failure held, of), (fix held, of))} from the fresh-seed sweep of every preset; {}
    when its table is missing or unreadable (the page then shows the shipped rate alone)."""
    from demos import evidence

    try:
        counts = evidence.claim_counts(evidence.TABLES / "evidence_lab.parquet")
    except ValueError:
        return {}
    return {v: (counts.get(f"plain@{p.scenario}", (0, 0)), counts[v]) for v, p in PRESETS.items() if v in counts}


def shipped_for_preset() -> dict | None:
    """The preset's shipped result, as an A/B result, when the view is exactly the preset's defaults."""
    def canon(c):  # a recipe's text may spell a default out (ttur.ratio=0.1 = ttur): compare canonical forms
        return dataclasses.replace(c, a=make_recipe(c.a).to_text(), b=make_recipe(c.b).to_text())

    if not preset or seeds != 8 or canon(cfg) != canon(lab.Config(scenario=PRESETS[preset].scenario, a="",
                                                                   b=PRESETS[preset].recipe)):
        return None
    from engine import pretrained

    try:
        res = pretrained.load(pretrained.path_for(lab.DEMO_ID, scenario), lab.CODE_VERSION)
    except pretrained.PretrainedError as e:
        st.info(f"No shipped result to show ({e}); press Run to train live.", icon="ℹ️")
        return None
    if preset not in res["variants"] or len(res["seeds"]) < seeds:
        return None
    pick = lambda r: {**r, "per_seed": r["per_seed"][:seeds]}  # noqa: E731
    return {**res, "_preset_shipped": True,
            "variants": {"a": pick(res["variants"][f"plain@{scenario}"]), "b": pick(res["variants"][preset])},
            "seeds": res["seeds"][:seeds]}


shipped = shipped_for_preset()
slot = "lab"
job_spec = live.spec(lab, cfg, ["a", "b"], seeds)  # A and B are independent: a lone job trains them apart
if st.button("▶ Run live" if shipped else "▶ Run", type="primary"):
    live.start(slot, job_spec)
live.show(slot, job_spec, draw, show_result, shipped, seeds, "b")
