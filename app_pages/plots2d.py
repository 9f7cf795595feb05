"""Plotly figures of the 2D demos (no Streamlit here: pages call these and show the figure)."""
from __future__ import annotations

from typing import Optional, Sequence

import plotly.graph_objects as go

COLORS = {"failure": "#d62728", "fix": "#1f77b4", "real": "rgba(90,90,90,0.35)"}


def samples_figure(real: Sequence[Sequence[float]], fake: Optional[Sequence[Sequence[float]]],
                   heatmap: Optional[dict], title: str, color: str, lim: float, height: int = 380) -> go.Figure:
    """Generated samples (one seed) over real data, on D's output D(x) as a heat map."""
    fig = go.Figure()
    if heatmap:
        fig.add_trace(go.Heatmap(x=heatmap["axis"], y=heatmap["axis"], z=heatmap["z"], zmin=0, zmax=1,
                                 colorscale="Greens", opacity=0.45, showscale=False, hoverinfo="skip",
                                 name="D(x)"))
    fig.add_trace(go.Scattergl(x=[p[0] for p in real], y=[p[1] for p in real], mode="markers", name="data",
                               marker={"size": 4, "color": COLORS["real"]}, hoverinfo="skip"))
    if fake:
        fig.add_trace(go.Scattergl(x=[p[0] for p in fake], y=[p[1] for p in fake], mode="markers",
                                   name="generated", marker={"size": 4, "color": color, "opacity": 0.8}))
    fig.update_layout(title={"text": title, "font": {"size": 15}}, height=height,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, uirevision="keep",
                      legend={"orientation": "h", "y": -0.05},
                      xaxis={"range": [-lim, lim], "showgrid": False, "zeroline": False, "constrain": "domain"},
                      yaxis={"range": [-lim, lim], "scaleanchor": "x", "showgrid": False, "zeroline": False,
                             "constrain": "domain"})
    return fig


def curves_figure(curves: dict[str, dict], metric: str, title: str, colors: dict[str, str],
                  hline: Optional[float] = None, height: int = 260, log_y: bool = False) -> go.Figure:
    """One metric over training steps, one line per variant (mean over seeds)."""
    fig = go.Figure()
    for label, c in curves.items():
        if c and c.get("step"):
            fig.add_trace(go.Scatter(x=c["step"], y=c[metric], mode="lines+markers", name=label,
                                     line={"color": colors.get(label)}, marker={"size": 4}))
    if hline is not None:
        fig.add_hline(y=hline, line_dash="dot", line_color="grey")
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=height, uirevision="keep",
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, xaxis_title="step",
                      legend={"orientation": "h", "y": -0.3})
    if log_y:
        fig.update_yaxes(type="log")
    return fig
