"""Plotly figures of the vanishing-gradient and instability pages (no Streamlit here).

Gradient norms span many orders of magnitude, so every norm plot has a log y axis, and the two
panels of a side-by-side pair share one y range (a shorter curve must mean a smaller gradient, not
another axis). Arrows on the plane share one length scale across both panels for the same reason.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from app_pages.plots2d import COLORS

GREY = "rgba(90,90,90,0.35)"


def geo_mean(values: Sequence[float]) -> float:
    v = [x for x in values if x is not None and x > 0 and math.isfinite(x)]
    return math.exp(sum(math.log(x) for x in v) / len(v)) if v else math.nan


def log_range(series: Sequence[Sequence[float]], floor: float = 1e-30) -> list[float] | None:
    """A shared log10 y range [lo, hi] over every positive finite value of ``series``."""
    v = [x for s in series for x in s if x is not None and math.isfinite(x) and x > 0]
    if not v:
        return None
    lo, hi = math.log10(max(min(v), floor)), math.log10(max(v))
    return [lo - 0.3, hi + 0.3]


def norm_figure(steps: Sequence[int], per_seed: Sequence[Sequence[float]], title: str, color: str,
                yrange: list[float] | None, xtitle: str, height: int = 320) -> go.Figure:
    """‖∇_θ L_G‖ against steps: every seed thin, their geometric mean bold; log y."""
    fig = go.Figure()
    for i, s in enumerate(per_seed):
        fig.add_trace(go.Scatter(x=list(steps), y=[x if x and x > 0 else None for x in s], mode="lines",
                                 line={"color": color, "width": 1}, opacity=0.3, hoverinfo="skip",
                                 name="one seed", legendgroup="seeds", showlegend=i == 0))
    mean = [geo_mean(col) for col in zip(*per_seed)] if per_seed else []
    fig.add_trace(go.Scatter(x=list(steps), y=mean, mode="lines", line={"color": color, "width": 3},
                             name="geometric mean over seeds"))
    _log_layout(fig, title, yrange, xtitle, height)
    return fig


def lines_figure(steps_by_name: dict[str, tuple[Sequence[int], Sequence[float]]], colors: dict[str, str],
                 title: str, ytitle: str, log_y: bool = False, height: int = 280,
                 dashes: dict[str, str] | None = None, xtitle: str = "step") -> go.Figure:
    fig = go.Figure()
    for name, (x, y) in steps_by_name.items():
        y = [v if v is not None and math.isfinite(v) and (v > 0 or not log_y) else None for v in y]
        fig.add_trace(go.Scatter(x=list(x), y=y, mode="lines", name=name,
                                 line={"color": colors.get(name), "width": 2, "dash": (dashes or {}).get(name)}))
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=height, uirevision="keep",
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.3},
                      xaxis_title=xtitle, yaxis_title=ytitle)
    if log_y:
        fig.update_yaxes(type="log", exponentformat="power")
    return fig


def _log_layout(fig: go.Figure, title: str, yrange, xtitle: str, height: int) -> None:
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=height, uirevision="keep",
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.3},
                      xaxis_title=xtitle)
    fig.update_yaxes(type="log", range=yrange, exponentformat="power", title="‖∇θ L_G‖")


def arrow_scale(frames: Sequence[dict | None], longest: float = 0.6) -> tuple[float, float]:
    """(scale, reference): an arrow of gradient g is drawn ``scale * g`` long; the largest gradient
    in any of ``frames`` (its 95th percentile, so one outlier does not shrink the rest) gets
    ``longest`` data units."""
    mags = sorted(math.hypot(u, v) for f in frames if f for u, v in zip(f["arrows"]["u"], f["arrows"]["v"]))
    ref = mags[int(0.95 * (len(mags) - 1))] if mags else 0.0
    return (longest / ref if ref > 0 else 0.0), ref


def plane_figure(real: Sequence[Sequence[float]], frame: dict | None, title: str, color: str,
                 scale: float, view, height: int = 360) -> go.Figure:
    """Generated samples over data and D(x), with −∇_x ℓ drawn at some of them (common scale)."""
    fig = go.Figure()
    f = frame or {}
    heat = f.get("heatmap")
    if heat:
        fig.add_trace(go.Heatmap(x=heat["x"], y=heat["y"], z=heat["z"], zmin=0, zmax=1, colorscale="Greens",
                                 opacity=0.45, showscale=False, hoverinfo="skip", name="D(x)"))
    fig.add_trace(go.Scattergl(x=[p[0] for p in real], y=[p[1] for p in real], mode="markers", name="data",
                               marker={"size": 4, "color": COLORS["real"]}, hoverinfo="skip"))
    if f.get("samples"):
        fig.add_trace(go.Scattergl(x=[p[0] for p in f["samples"]], y=[p[1] for p in f["samples"]], mode="markers",
                                   name="generated", marker={"size": 4, "color": color, "opacity": 0.6}))
    a = f.get("arrows") or {"x": []}
    if a["x"]:
        nan = float("nan")
        xs, ys, heads = [], [], []
        for x, y, u, v in zip(a["x"], a["y"], a["u"], a["v"]):
            xs += [x, x + scale * u, nan]
            ys += [y, y + scale * v, nan]
            # no head on an arrow too short to see: a head alone would suggest a push that is not there
            heads += [0, 9 if scale * math.hypot(u, v) > 0.03 else 0, 0]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name="−∇ℓ (where the loss pushes)",
                                 line={"color": "black", "width": 1.5},
                                 marker={"symbol": "arrow", "angleref": "previous", "color": "black",
                                         "size": heads}, hoverinfo="skip"))
    (x0, x1), (y0, y1) = view
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=height, uirevision="keep",
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.08},
                      xaxis={"range": [x0, x1], "showgrid": False, "zeroline": False, "constrain": "domain"},
                      yaxis={"range": [y0, y1], "scaleanchor": "x", "showgrid": False, "zeroline": False,
                             "constrain": "domain"})
    return fig


def digits_figure(images: Sequence[Sequence[float]], title: str, cols: int = 8, height: int = 200) -> go.Figure:
    """8x8 images in [-1, 1] tiled in a grid (one heat map, so the figure stays small)."""
    rows = math.ceil(len(images) / cols)
    z = [[None] * (cols * 9) for _ in range(rows * 9)]
    for k, img in enumerate(images):
        r0, c0 = 9 * (k // cols), 9 * (k % cols)
        for i in range(8):
            for j in range(8):
                z[r0 + i][c0 + j] = img[8 * i + j]
    fig = go.Figure(go.Heatmap(z=z, zmin=-1, zmax=1, colorscale="Greys", showscale=False, hoverinfo="skip"))
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=height,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis={"visible": False, "constrain": "domain"},
                      yaxis={"visible": False, "autorange": "reversed", "scaleanchor": "x", "constrain": "domain"})
    return fig
