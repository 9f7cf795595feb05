"""Presenter mode: for a teacher projecting the app in class.

Turned on by the ``?present=1`` URL flag (``?present=0`` turns it off) or the sidebar's
"Presenter mode" toggle; the state is kept in ``st.session_state``, so it survives page changes
that rewrite the URL (the explorer and the demo pages own their query strings). While it is on:

* :func:`apply_presenter_style` injects one constant stylesheet: larger text, larger plot labels,
  the sidebar, header, toolbar and the page's input widgets hidden (the lesson picks the settings;
  buttons such as Run stay), the main column at the full screen width. Plot heights are the
  pages' own: the plots grow with the width only;
* :func:`preset_bar` shows a one-click "Back" / "Next" pair that steps through a fixed
  sequence of views (challenge in the explorer → the mode-collapse demo with each fix → the
  Dirac-GAN → every other demo page that exists), and an "Exit" button (the only
  way back to the sidebar's controls, since the sidebar is hidden). The links carry the step as
  ``?slide=<n>&present=1``, so a reload stays on it.

``app.py`` calls :func:`hook` once per script run, before the page runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import streamlit as st

from app_pages import common
from demos.catalog import CATALOG

URL_FLAG = "present"
ON = "_presenter_on"  # the session's presenter state (a plain key: widget state is dropped on page switches)
TOGGLE = "presenter_mode"  # the sidebar toggle's key, set from ON on every run
_SEEN = "_presenter_url_seen"  # the ?present value last applied, so a new link wins once
_STEP = "_presenter_step"
SLIDE = "slide"  # ?slide=<n>: the step a Back / Next link opens
_SLIDE_SEEN = "_presenter_slide_seen"
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

# A constant: never formatted with data (no user or file text can reach unsafe HTML).
STYLE = """<style>
html { font-size: 21px; }  /* Streamlit sizes its text and widgets in rem */
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"] { display: none !important; }
[data-testid="stMainBlockContainer"] { max-width: 100% !important; padding: 1rem 1.5rem 3rem 1.5rem !important; }
[data-testid="stPlotlyChart"] .main-svg .xtick text, [data-testid="stPlotlyChart"] .main-svg .ytick text,
[data-testid="stPlotlyChart"] .main-svg .legendtext { font-size: 15px !important; }
[data-testid="stPlotlyChart"] .main-svg .gtitle, [data-testid="stPlotlyChart"] .main-svg .g-xtitle text,
[data-testid="stPlotlyChart"] .main-svg .g-ytitle text { font-size: 18px !important; }
[data-testid="stDataFrame"] { font-size: 1rem; }
/* controls tucked away: the lesson picks the settings; Exit brings them back (Run stays) */
[data-testid="stMain"] :is([data-testid="stSelectbox"], [data-testid="stRadio"], [data-testid="stSlider"],
  [data-testid="stNumberInput"], [data-testid="stMultiSelect"], [data-testid="stTextInput"]) { display: none !important; }
[data-testid="stMain"] h1 { font-size: 2.2rem !important; padding-top: 0.5rem !important; }
</style>"""


@dataclass(frozen=True)
class Preset:
    page: str  # "explorer", "about" or a demo id
    params: dict = field(default_factory=dict)
    title: str = ""


# The lesson: a challenge in the explorer, then its demo with one fix after another.
LESSON = [
    Preset("explorer", {"node": "mode_collapse"}, "The challenge: mode collapse"),
    Preset("mode_collapse", {"variant": "pacgan"}, "Mode collapse on the ring: plain GAN vs packing (PacGAN)"),
    Preset("mode_collapse", {"variant": "unrolled"}, "Mode collapse: plain GAN vs unrolled discriminator"),
    Preset("mode_collapse", {"variant": "mbstd"}, "Mode collapse: plain GAN vs minibatch standard deviation"),
    Preset("mode_collapse", {"variant": "wgan_gp"}, "Mode collapse: plain GAN vs WGAN-GP"),
    Preset("tissue_patches", {"variant": "batchnorm"}, "Mode collapse on tissue patches: no normalisation vs batch norm"),
    Preset("tissue_patches", {"variant": "mbstd"}, "Mode collapse on tissue patches: a fast generator vs minibatch stddev"),
    Preset("explorer", {"node": "non_convergence"}, "The challenge: non-convergence"),
    Preset("dirac", {"variant": "r1"}, "Dirac-GAN: plain GAN circles, R1 converges"),
    Preset("dirac", {"variant": "consensus"}, "Dirac-GAN: consensus optimisation"),
]


def presets() -> list[Preset]:
    """The lesson's steps whose pages exist, then one step per other demo page (so a demo added
    later joins the sequence without an edit here)."""
    out = [p for p in LESSON if _page(p.page) is not None]
    shown = {p.page for p in out}
    for demo_id in common.demo_ids_with_pages():
        if demo_id not in shown and demo_id in CATALOG:
            info = CATALOG[demo_id]
            params = {"variant": info.default_fix} if info.default_fix else {}
            out.append(Preset(demo_id, params, info.title))
    return out


def _page(name: str):
    if name == "explorer":
        return common.explorer_page()
    if name == "about":
        return common.about_page()
    return common.demo_page(name)


def read_url_flag() -> None:
    """Apply ``?present=...`` when the link brings a new value; any other value is ignored
    (an unrecognised value leaves the mode as it is)."""
    raw = st.query_params.get(URL_FLAG)
    if raw is not None and raw != st.session_state.get(_SEEN):
        value = raw.strip().lower()
        if value in TRUE:
            st.session_state[ON] = True
        elif value in FALSE:
            st.session_state[ON] = False
    st.session_state[_SEEN] = raw


def presenting() -> bool:
    return bool(st.session_state.get(ON, False))


def apply_presenter_style() -> None:
    st.html(STYLE)  # constant CSS from this module, never data


def current_step(steps: list[Preset], page_path: Optional[str]) -> int:
    """The step shown now: the one a Back / Next link names (``?slide=<n>``, 1-based) when the
    link is new; else the stored one while its page is open; else the first step of the open page
    whose parameters the URL carries (a typed link), else the first step of that page; else the
    stored one. A bad ``slide`` is ignored."""
    top = max(len(steps) - 1, 0)
    stored = min(max(int(st.session_state.get(_STEP, 0)), 0), top)
    raw = st.query_params.get(SLIDE)
    if raw is not None and raw != st.session_state.get(_SLIDE_SEEN):
        st.session_state[_SLIDE_SEEN] = raw
        if raw.strip().isdigit():
            return min(max(int(raw) - 1, 0), top)
    st.session_state[_SLIDE_SEEN] = raw
    if not steps or page_path is None or _url_path(steps[stored]) == page_path:
        return stored
    url = {k: st.query_params.get(k) for k in st.query_params}
    on_page = [i for i, p in enumerate(steps) if _url_path(p) == page_path]
    for i in on_page:
        if all(url.get(k) == str(v) for k, v in steps[i].params.items()):
            return i
    return on_page[0] if on_page else stored


def _url_path(p: Preset) -> str:
    page = _page(p.page)
    return getattr(page, "url_path", p.page)


def link_params(steps: list[Preset], i: int) -> dict[str, str]:
    """The query string of step ``i``'s link: its parameters, its place (``slide``) and the
    presenter flag (so a reload, which starts a new session, stays in presenter mode)."""
    return {**{k: str(v) for k, v in steps[i].params.items()}, SLIDE: str(i + 1), URL_FLAG: "1"}


def _exit() -> None:
    st.session_state[ON] = False
    for k in (URL_FLAG, SLIDE):  # a reload must not switch it back on
        if k in st.query_params:
            del st.query_params[k]


def _toggled() -> None:
    st.session_state[ON] = bool(st.session_state.get(TOGGLE))


def _same_page(steps: list[Preset], i: int) -> None:
    st.session_state[_STEP] = i
    st.query_params.update(link_params(steps, i))


def _step_control(col, steps: list[Preset], i: int, here: Optional[str], label: str, icon: str,
                  disabled: bool, **kwargs) -> None:
    """A control that opens step ``i``: a page link to another page (it navigates as the sidebar
    does), or, for a step on the page already open, a button that rewrites the page's query
    string in place (keeping the page's other settings). Why not a page link to the open page:
    in Chromium it reran the page with the new parameters but left the address bar at the old
    ones. Why not ``st.switch_page``: a page link is a plain navigation, as in the sidebar."""
    if disabled or _url_path(steps[i]) != here:
        col.page_link(_page(steps[i].page), label=label, icon=icon, query_params=link_params(steps, i),
                      disabled=disabled, **kwargs)
    else:
        col.button(label, icon=icon, key=f"presenter_{label.lower()}", on_click=_same_page, args=(steps, i),
                   type="tertiary", **kwargs)


def preset_bar(page_path: Optional[str] = None) -> None:
    """"Back" · "Step i of n: title" · "Next" · "Exit", above the page."""
    steps = presets()
    if not steps:
        return
    i = current_step(steps, page_path)
    st.session_state[_STEP] = i
    back, title, nxt, leave = st.columns([1, 7, 1, 1], vertical_alignment="center")
    _step_control(back, steps, max(i - 1, 0), page_path, "Back", ":material/arrow_back:", i == 0)
    title.markdown(f"**Step {i + 1} of {len(steps)}:** {steps[i].title}")
    _step_control(nxt, steps, min(i + 1, len(steps) - 1), page_path, "Next", ":material/arrow_forward:",
                  i == len(steps) - 1, icon_position="right")
    leave.button("Exit", key="presenter_exit", icon=":material/close:", on_click=_exit, width="stretch",
                 help="Leave presenter mode (the sidebar comes back)")


def hook(page=None) -> None:
    """Called by app.py once per run, before the page: the sidebar toggle, the URL flag and,
    when presenting, the style and the preset bar."""
    read_url_flag()
    st.session_state[TOGGLE] = presenting()
    st.sidebar.toggle("Presenter mode", key=TOGGLE, on_change=_toggled, help="For projecting: large text and plots, the "
                      "sidebar hidden, and Back / Next buttons through a preset lesson. Also ?present=1.")
    if presenting():
        apply_presenter_style()
        preset_bar(getattr(page, "url_path", None))
