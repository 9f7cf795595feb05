"""Live demo page: Dirac-GAN (Mescheder, Geiger & Nowozin 2018), a failure and a fix side by side.

The system has two parameters, so it is simulated inline on every rerun (a few ms, cached per
config) instead of through a background job. Every control lives in the URL. The numeric controls
use ``bind="query-params"``; the two variant pickers sync the URL by hand because a bound selectbox
matches the URL against its formatted label, while taxonomy links open ``?variant=<slug>`` and an
unknown slug deserves a notice rather than silent removal.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app_pages.widgets import url_choice

from demos import dirac
from demos.catalog import CATALOG
from engine.config import ConfigError, from_overrides

INFO = CATALOG["dirac"]
LABELS = INFO.variants
KNOBS = {  # method -> (config key, label, min, max, step)
    "r1": ("gamma", "γ (R1 weight)", 0.0, 4.0, 0.05),
    "consensus": ("gamma", "γ (consensus weight)", 0.0, 4.0, 0.05),
    "instance_noise": ("sigma", "σ (instance noise)", 0.0, 3.0, 0.05),
    "wgan": ("clip", "c (weight clip)", 0.05, 2.0, 0.05),
    "wgan_gp": ("lam", "λ (gradient penalty)", 0.0, 5.0, 0.1),
    "ttur": ("ttur_ratio", "r (D step / G step)", 0.1, 10.0, 0.1),
}
MATHS = {
    "gan": r"v = \big(-\psi f'(\psi\theta),\ \theta f'(\psi\theta)\big),\quad \lambda = \pm\tfrac12 i",
    "nsgan": r"v_\theta = -\psi f'(-\psi\theta)\ \text{(generator minimises } -f(-\psi\theta)),"
             r"\quad \lambda = \pm\tfrac12 i",
    "wgan": r"f(t) = t:\ v = (-\psi,\ \theta),\ \psi \leftarrow \mathrm{clip}(\psi, -c, c),"
            r"\quad \lambda = \pm i",
    "wgan_gp": r"v_\psi = \theta - 2\lambda(|\psi| - 1)\,\mathrm{sign}\,\psi"
               r"\quad\text{(no Jacobian at the kink } \psi = 0)",
    "instance_noise": r"L_\sigma = \mathbb{E}_\varepsilon\big[f(\psi(\theta + \varepsilon))"
                      r" + f(-\psi\varepsilon)\big],"
                      r"\quad \lambda = -\tfrac{\sigma^2}{4} \pm \sqrt{\tfrac{\sigma^4}{16} - \tfrac14}",
    "r1": r"v_\psi = \theta f'(\psi\theta) - \gamma\psi,"
          r"\quad \lambda = -\tfrac\gamma2 \pm \sqrt{\tfrac{\gamma^2}{4} - \tfrac14}",
    "consensus": r"w = v - \gamma J(x)^\top v,\quad \lambda = -\tfrac\gamma4 \pm \tfrac12 i",
    "extragradient": r"x \leftarrow x + h\, v\big(x + h\, v(x)\big),\quad \text{map } I + hJ + h^2J^2",
    "optimism": r"x_{t+1} = x_t + h\big(2v(x_t) - v(x_{t-1})\big)",
    "ttur": r"v_\psi \leftarrow r\, v_\psi,\quad \lambda = \pm\tfrac{i}{2}\sqrt{r}",
}


@st.cache_data(max_entries=128, show_spinner=False)
def simulate(overrides: tuple, failure: str, fix: str) -> dict:
    return dirac.run(from_overrides(dirac.Config, dict(overrides)), list(dict.fromkeys([failure, fix])))


def thin(xs: list, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """At most ~n points for Plotly (every plot is serialised on each rerun), last point kept."""
    a = np.asarray(xs, float)
    idx = np.unique(np.r_[np.linspace(0, len(a) - 1, min(n, len(a))).astype(int), len(a) - 1])
    return idx, a[idx]


def field_figure(method: str, cfg, r: dict, lim: float) -> go.Figure:
    g = dirac.field_grid(method, cfg, lim=lim, n=15)
    x, y = np.ravel(g["theta"]), np.ravel(g["psi"])
    u, v = np.ravel(g["v_theta"]), np.ravel(g["v_psi"])
    m = np.hypot(u, v)
    # arrows all point along the flow; length grows with sqrt(|v|) so flat regions still show a direction
    scale = 0.8 * (2 * lim / 14) * np.sqrt(m / max(m.max(), 1e-300)) / np.maximum(m, 1e-300)
    nan = np.full_like(x, np.nan)
    qx = np.column_stack([x, x + u * scale, nan]).ravel()
    qy = np.column_stack([y, y + v * scale, nan]).ravel()
    fig = go.Figure(go.Scatter(x=qx, y=qy, mode="lines+markers", hoverinfo="skip", name="field v",
                               line=dict(color="rgba(120,120,140,0.55)", width=1),
                               marker=dict(symbol="arrow", angleref="previous", color="rgba(120,120,140,0.8)",
                                           size=np.tile([0, 7, 0], len(x)))))
    _, tr = thin(r["trajectory"])
    fig.add_scatter(x=tr[:, 0], y=tr[:, 1], mode="lines", name="trajectory",
                    line=dict(color="#d62728", width=2))
    fig.add_scatter(x=[tr[0, 0]], y=[tr[0, 1]], mode="markers", name="start",
                    marker=dict(color="#d62728", size=9, symbol="circle-open", line=dict(width=2)))
    fig.add_scatter(x=[0], y=[0], mode="markers", name="equilibrium (0, 0)",
                    marker=dict(color="black", size=13, symbol="star"))
    if method == "wgan":
        for c in (-cfg.clip, cfg.clip):
            fig.add_hline(y=c, line=dict(dash="dot", color="grey"))
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=10, b=10), uirevision="dirac", showlegend=False,
                      xaxis=dict(title="θ (generator)", range=[-lim, lim]),
                      yaxis=dict(title="ψ (discriminator)", range=[-lim, lim], scaleanchor="x"))
    return fig


def norm_figure(r: dict, yrange: tuple) -> go.Figure:
    idx, n = thin(r["norms"])
    fig = go.Figure(go.Scatter(x=idx, y=np.maximum(n, 1e-300), mode="lines", line=dict(color="#1f77b4")))
    fig.update_layout(height=230, margin=dict(l=10, r=10, t=10, b=10), uirevision="dirac-norm",
                      xaxis_title="step", yaxis=dict(title="‖(θ, ψ)‖", type="log", range=yrange))
    return fig


def complex_str(re: float, im: float) -> str:
    re, im = re + 0.0, im + 0.0  # no "-0"
    if abs(im) < 1e-12:
        return f"{re:.4g}"
    head = f"{re:.4g} {'+' if im > 0 else '−'} " if abs(re) > 1e-12 else "" if im > 0 else "−"
    return head + f"{abs(im):.4g}i"


def show_numbers(r: dict, cfg) -> None:
    if r["diverged_at"]:
        st.metric("Distance to (0, 0)", "diverged", help="|(θ, ψ)| passed 1e12 or became inf/NaN")
        st.error(f"Diverged at step {r['diverged_at']}: lower h.")
    else:
        ratio = r["distance"] / max(r["start_distance"], 1e-300)
        st.metric("Final distance to (0, 0)", f"{r['distance']:.3g}", delta=f"×{ratio:.3g} of the start",
                  delta_color="off", delta_arrow="off", help=f"|(θ, ψ)| after {len(r['norms']) - 1} steps")
    st.markdown(f"**{r['outcome'].capitalize()}**")
    if r["eigenvalues"]:
        st.markdown("Eigenvalues of J at (0, 0) (" + r["eig_source"] + "):\n\n"
                    + "\n".join(f"- λ = {complex_str(re, im)}" for re, im in r["eigenvalues"]))
    st.caption(f"Reading: {r['reading']}.")
    if r["step_radius"] is not None:
        st.caption(f"Update map at h = {cfg.h:g}: spectral radius {r['step_radius']:.6f} "
                   f"({r['step_reading']}).")


st.title("Dirac-GAN: why GAN training circles")
st.caption(INFO.summary + " After Mescheder, Geiger & Nowozin (2018), *Which Training Methods for GANs do "
           "actually Converge?* (arXiv:1801.04406).")

top = st.columns([2, 1, 1, 1, 1, 1])
update = top[0].radio("Update scheme", ["simultaneous", "alternating"], horizontal=True, key="update",
                      bind="query-params")
h = top[1].number_input("Step size h", 0.001, 5.0, 0.1, 0.05, format="%.3f", key="h", bind="query-params")
steps = top[2].slider("Steps", 10, 5000, 500, 10, key="steps", bind="query-params")
theta0 = top[3].number_input("Start θ₀", -3.0, 3.0, 1.0, 0.1, key="theta0", bind="query-params")
psi0 = top[4].number_input("Start ψ₀", -3.0, 3.0, 1.0, 0.1, key="psi0", bind="query-params")

overrides = {"update": update, "h": h, "steps": steps, "start": (theta0, psi0)}
if update == "alternating":
    overrides["n_disc"] = top[5].number_input("D steps per G step", 1, 5, 1, key="n_disc",
                                              bind="query-params")

# one row of two columns per kind of content, so the failure's and the fix's plots line up
pickers, knob_row, field_row, number_row = (st.columns(2, gap="large") for _ in range(4))
failure = url_choice(pickers[0], "Failure", LABELS, "failure", INFO.failure, what="variant")
fix = url_choice(pickers[1], "Fix", LABELS, "variant", INFO.default_fix, what="variant")
# each method's knob under its picker; r1 and consensus share γ, shown once
for col, m in zip(knob_row, (failure, fix)):
    if m in KNOBS and KNOBS[m][0] not in overrides:
        name, label, lo, hi, step = KNOBS[m]
        default = float(dirac.Config.__dataclass_fields__[name].default)
        overrides[name] = col.slider(label, lo, hi, default, step, key=name, bind="query-params")

try:
    cfg = from_overrides(dirac.Config, overrides)
    out = simulate(tuple(sorted(overrides.items())), failure, fix)
except ConfigError as e:
    st.error(f"Invalid setting: {e}")
    st.stop()

runs = out["variants"]
finite = [abs(v) for r in runs.values() for p in r["trajectory"] for v in p]
lim = float(min(max(2.0, 1.15 * max(finite)), 8.0))
logs = [np.log10(max(n, 1e-300)) for r in runs.values() for n in r["norms"]]
yrange = (max(min(logs), -16) - 0.2, max(logs) + 0.2)

for i, (method, role) in enumerate(((failure, "failure"), (fix, "fix"))):
    r = runs[method]
    field_row[i].plotly_chart(field_figure(method, cfg, r, lim), key=f"field_{role}",
                              config={"displayModeBar": False})
    with number_row[i]:
        plot, numbers = st.columns([3, 2])
        with plot:
            st.plotly_chart(norm_figure(r, yrange), key=f"norm_{role}", config={"displayModeBar": False})
        with numbers:
            show_numbers(r, cfg)

st.caption(f"Simulated {len(runs)} variant(s) × {steps} steps in {out['wall_time_s'] * 1000:.1f} ms "
           f"(numpy float64; code {out['code_version']}).")

with st.expander("The maths"):
    st.markdown(r"Generator $p_\theta = \delta_\theta$, data $\delta_0$, discriminator "
                r"$D_\psi(x) = \psi x$; the generator descends $L$, the discriminator ascends it.")
    st.latex(r"L(\theta, \psi) = f(\psi\theta) + f(0),\qquad f(t) = -\log(1 + e^{-t}),\quad f'(0) = \tfrac12")
    st.latex(r"v(\theta, \psi) = \big(-\partial_\theta L,\ \partial_\psi L\big)"
             r" = \big(-\psi f'(\psi\theta),\ \theta f'(\psi\theta)\big)")
    st.latex(r"J\big|_{(0,0)} = \begin{pmatrix} 0 & -f'(0) \\ f'(0) & 0 \end{pmatrix},"
             r"\qquad \lambda = \pm f'(0)\, i")
    st.markdown(r"Simultaneous steps multiply by $I + hJ$, whose eigenvalues have modulus "
                r"$\sqrt{1 + h^2/4} > 1$: they spiral out. Alternating steps have determinant 1: they "
                "circle. A fix must give $J$ eigenvalues with negative real part (or change the step so "
                "that the update map contracts).")
    for m in dict.fromkeys((failure, fix)):
        st.markdown(f"**{LABELS[m]}**")
        st.latex(MATHS[m])
