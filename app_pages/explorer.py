"""The taxonomy explorer: three views of the taxonomy, node details, filters, tables, plots and exports.

Views (``?view=``): the sunburst map (challenge -> family -> technique), the lineage graph
(``builds_on`` arrows, techniques placed by year and family) and a side-by-side comparison of two to
four techniques (``?compare=a,b``). Map and lineage are clickable and share the details panel.

All state that matters (view, selected node, compared techniques, filters) lives in the URL, so a
link opens exactly the view it was copied from. The URL is read and written here by hand
(``st.query_params``) rather than with ``bind="query-params"``: a bound widget matches the URL
against its *formatted* labels and silently drops what it does not know, while the explorer wants
slugs in the URL and a notice for what it ignores. Logic lives in :mod:`taxonomy.views`.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages import common
from app_pages.figures import shared_figure
from demos.catalog import CATALOG
from taxonomy import views as v
from taxonomy.schema import MODALITIES, Technique

K_Q, K_CH, K_FAM, K_MOD, K_YEARS, K_NODE = "ex_q", "ex_challenge", "ex_family", "ex_modality", "ex_years", "ex_node"
K_VIEW, K_COMPARE = "ex_view", "ex_compare"
K_SUNBURST, K_LINEAGE = "ex_sunburst", "ex_lineage"
K_SYNCED = "_ex_synced_url"  # the URL this page last wrote (or read), to notice links that change it
# Widgets that some views do not draw (the node picker in the compare view, the compare picker in the
# others) lose their session state when not drawn; a copy under these keys carries it across views.
SHADOW = {K_NODE: "_ex_node_keep", K_COMPARE: "_ex_compare_keep"}
PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"

tax = common.taxonomy()
if tax is None:
    st.title("Taxonomy explorer")
    st.info("No valid taxonomy to show: see the error above.")
    st.stop()

lo_year, hi_year = v.year_bounds(tax)
options = v.node_options(tax)
technique_options = sorted(tax.techniques, key=lambda t: tax.techniques[t].name.lower())


def current_url() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in st.query_params}


def normalise(params: dict) -> dict[str, list[str]]:
    return {k: [str(x) for x in (val if isinstance(val, list) else [val])] for k, val in params.items()}


# ---------------------------------------------------------------------------------------------
# URL -> widgets (on first load, and whenever a link changed the URL under us)

url = current_url()
notices: tuple[str, ...] = ()
unknown_node = None
if st.session_state.get(K_SYNCED) != url:
    state = v.parse_query(tax, url)
    st.session_state[K_Q] = state.filters.q
    st.session_state[K_CH] = list(state.filters.challenges)
    st.session_state[K_FAM] = list(state.filters.families)
    st.session_state[K_MOD] = list(state.filters.modalities)
    st.session_state[K_YEARS] = state.filters.years or (lo_year, hi_year)
    st.session_state[K_NODE] = state.node
    st.session_state[K_VIEW] = state.view
    st.session_state[K_COMPARE] = list(state.compare)
    notices, unknown_node = state.notices, state.unknown_node

for key, shadow in SHADOW.items():
    if key not in st.session_state and shadow in st.session_state:
        st.session_state[key] = st.session_state[shadow]

# keep widget state valid for this taxonomy (an upload can change the ids)
st.session_state[K_CH] = [c for c in st.session_state.get(K_CH, []) if c in tax.challenges]
st.session_state[K_FAM] = [f for f in st.session_state.get(K_FAM, []) if f in tax.families]
st.session_state[K_MOD] = [m for m in st.session_state.get(K_MOD, []) if m in MODALITIES]
st.session_state[K_COMPARE] = [t for t in st.session_state.get(K_COMPARE, []) if t in tax.techniques][: v.MAX_COMPARE]
if st.session_state.get(K_VIEW) not in v.VIEWS:
    st.session_state[K_VIEW] = "map"
years = st.session_state.get(K_YEARS) or (lo_year, hi_year)
years = (max(lo_year, min(years)), min(hi_year, max(years)))
st.session_state[K_YEARS] = years if years[0] <= years[1] else (lo_year, hi_year)
if st.session_state.get(K_NODE) not in options:
    st.session_state[K_NODE] = None


def on_sunburst() -> None:
    """A click on a sunburst sector selects that node (the selectbox follows)."""
    event = st.session_state.get(K_SUNBURST) or {}
    points = (event.get("selection") or {}).get("points") or []
    if points:
        key = v.node_from_sunburst_id(tax, str(points[0].get("id", "")))
        if key:
            st.session_state[K_NODE] = key


def on_lineage() -> None:
    """A click on a lineage node selects that technique."""
    event = st.session_state.get(K_LINEAGE) or {}
    points = (event.get("selection") or {}).get("points") or []
    if points:
        key = v.node_from_lineage_point(tax, points[0])
        if key:
            st.session_state[K_NODE] = key


def on_view() -> None:
    if st.session_state.get(K_VIEW) is None:  # clicking the selected segment deselects it
        st.session_state[K_VIEW] = "map"


def reset_filters() -> None:
    st.session_state.update({K_Q: "", K_CH: [], K_FAM: [], K_MOD: [], K_YEARS: (lo_year, hi_year)})


# ---------------------------------------------------------------------------------------------
# Sidebar: filters

uses_per_modality = {m: 0 for m in MODALITIES}
for t in tax.techniques.values():
    for u in t.biomedical_uses:
        uses_per_modality[u.modality] += 1

with st.sidebar:
    st.header("Filters")
    st.text_input("Search names and summaries", key=K_Q, max_chars=v.MAX_QUERY_LEN,
                  placeholder="e.g. gradient penalty")
    st.multiselect("Challenge addressed", list(tax.challenges), key=K_CH,
                   format_func=lambda c: tax.challenges[c].name, placeholder="any challenge")
    st.multiselect("Solution family", list(tax.families), key=K_FAM,
                   format_func=lambda f: tax.families[f].name, placeholder="any family")
    st.multiselect("Imaging modality (of biomedical uses)", list(MODALITIES), key=K_MOD,
                   format_func=lambda m: f"{m} ({uses_per_modality[m]})", placeholder="any modality")
    if lo_year < hi_year:
        st.slider("Year of the primary paper", lo_year, hi_year, key=K_YEARS)
    else:
        st.caption(f"All techniques are from {lo_year}.")
    st.button("Reset filters", on_click=reset_filters, icon=":material/restart_alt:")

filters = v.Filters(
    q=st.session_state[K_Q].strip()[: v.MAX_QUERY_LEN],
    challenges=tuple(st.session_state[K_CH]),
    families=tuple(st.session_state[K_FAM]),
    modalities=tuple(st.session_state[K_MOD]),
    years=None if tuple(st.session_state[K_YEARS]) == (lo_year, hi_year) else tuple(st.session_state[K_YEARS]),
)
techniques = v.filter_techniques(tax, filters)
papers = v.papers_frame(tax, techniques, filters)


def figure(name: str, build, *extra):
    """The figure ``name`` for this taxonomy and these filters, built once for every session."""
    return shared_figure(tax, (name, filters, *extra), build)

# ---------------------------------------------------------------------------------------------
# Header and notices

st.title("Taxonomy explorer")
st.caption(common.source_caption(tax))
for n in notices:
    st.info(n, icon=":material/info:")
if unknown_node:
    st.warning(
        f"There is no technique, challenge or family with the id `{v.shown(unknown_node)}` in this "
        "taxonomy; pick one from the list below or click the sunburst.",
        icon=":material/warning:",
    )
shown_now = (f"Showing all {len(tax.techniques)} techniques." if filters.is_empty()
             else f"{len(techniques)} of {len(tax.techniques)} techniques match the filters.")
st.caption(shown_now + " The address bar always holds this view (selection and filters): copy it to share it.")
st.segmented_control("View", list(v.VIEWS), key=K_VIEW, format_func=lambda x: v.VIEW_LABELS[x],
                     on_change=on_view, label_visibility="collapsed")
view = st.session_state[K_VIEW] or "map"


# ---------------------------------------------------------------------------------------------
# Node details


def node_link(key: str, label: str) -> None:
    """A link that opens ``key`` in the explorer, keeping the current view and filters."""
    st.page_link(common.explorer_page(), label=label,
                 query_params=v.to_query(tax, filters, key, view, st.session_state[K_COMPARE]))


def demo_link(demo_id: str, variant: str, label_suffix: str = "") -> bool:
    """A link that opens a demo page on ``variant``; False when that page is not installed."""
    page = common.demo_page(demo_id)
    if page is None or demo_id not in CATALOG:
        return False
    info = CATALOG[demo_id]
    st.page_link(page, label=f"Open demo: {info.title} · {info.variants.get(variant, variant)}{label_suffix}",
                 icon=":material/science:", query_params={"variant": variant})
    return True


def show_demo_links(t: Technique) -> None:
    shown_any = False
    for d in t.demos:
        shown_any = demo_link(d.id, d.variant) or shown_any
    if not shown_any:
        st.caption(":material/science: No live demo yet"
                   + (" (the demo's page is not installed)" if t.demos else "") + ".")


def show_equation(equation: str | None) -> None:
    """Each top-level part of a long equation on its own line (views.equation_lines); a part still
    wider than the card scrolls inside it (Streamlit styles st.latex's block overflow-x: auto)."""
    for line in v.equation_lines(equation):
        st.latex(line)


def show_technique(t: Technique) -> None:
    st.subheader(t.name)
    st.caption(
        f"{tax.families[t.family].name} · primary challenge: {tax.challenges[t.primary_challenge].name} · "
        f"{t.year} · id `{t.id}`"
    )
    st.markdown(t.summary)
    show_demo_links(t)
    others = [c for c in st.session_state[K_COMPARE] if c != t.id][: v.MAX_COMPARE - 1]
    st.page_link(common.explorer_page(), label="Compare with other techniques", icon=":material/compare:",
                 query_params=v.to_query(tax, filters, v.node_key(tax, v.Node("technique", t.id)), "compare",
                                         [t.id, *others]))
    st.markdown("##### Mechanism")
    st.markdown(t.mechanism)
    show_equation(t.equation)
    st.markdown("##### Challenges addressed")
    st.markdown("\n".join(
        f"- {v.md_escape(tax.challenges[c].name)}" + (" (primary)" if c == t.primary_challenge else "")
        for c in t.challenges
    ))
    later = v.related(tax, t)
    if t.builds_on or later:
        st.markdown("##### Related techniques")
        for b in t.builds_on:
            node_link(b, f"Builds on: {tax.techniques[b].name}")
        for o in later:
            node_link(o.id, f"Built on by: {o.name}")
    st.markdown("##### References")
    keys = list(dict.fromkeys([t.reference, *t.also_see]))
    st.markdown("\n".join(
        ("- **Primary paper:** " if k == t.reference else "- ") + v.reference_markdown(k, tax.references[k])
        for k in keys
    ))
    st.markdown("##### Biomedical uses")
    if not t.biomedical_uses:
        st.caption("None recorded yet.")
    for u in t.biomedical_uses:
        line = f"- **{v.md_escape(u.modality)}** · {v.md_escape(u.task)}"
        if u.note:
            line += f" ({v.md_escape(u.note)})"
        st.markdown(line + "  \n  " + v.reference_markdown(u.ref, tax.references[u.ref]))


def show_group_demos(members: list[Technique]) -> None:
    """The live demos beneath a challenge or family: every demo variant its techniques link."""
    refs = v.demos_under(members, order=list(CATALOG))
    st.markdown(f"##### Live demos beneath it ({len(refs)})")
    if not refs:
        st.caption("None of these techniques links a live demo yet.")
        return
    missing = 0
    for ref in refs:
        names = ", ".join(tax.techniques[t].name for t in ref.techniques)
        if not demo_link(ref.demo, ref.variant, f" (for {names})"):
            missing += 1
    if missing:
        st.caption(f"{missing} linked demo page(s) are not installed.")


def show_group(kind: str, ident: str) -> None:
    members = v.group_members(tax, v.Node(kind, ident))
    if kind == "challenge":
        c = tax.challenges[ident]
        st.subheader(c.name)
        st.caption(f"Challenge · id `{c.id}`")
        st.markdown(c.summary)
        if c.symptoms:
            st.markdown("##### Symptoms")
            st.markdown("\n".join(f"- {v.md_escape(s)}" for s in c.symptoms))
        heading = "Techniques addressing it"
    else:
        fam = tax.families[ident]
        st.subheader(fam.name)
        st.caption(f"Solution family · id `{fam.id}`")
        st.markdown(fam.summary)
        heading = "Techniques in this family"
    show_group_demos(members)
    st.markdown(f"##### {heading} ({len(members)})")
    for t in members:
        node_link(v.node_key(tax, v.Node("technique", t.id)), f"{t.name} ({t.year})")


def show_details() -> None:
    st.selectbox("Open a technique, challenge or family", options, key=K_NODE, index=None,
                 format_func=lambda k: v.node_label(tax, k), placeholder="Pick a technique…")
    selected = v.resolve_node(tax, st.session_state[K_NODE]) if st.session_state[K_NODE] else None
    with st.container(border=True):
        if selected is None:
            st.markdown("Pick a node in the list above, or click the chart, to see its summary, "
                        "mechanism, references, biomedical uses and live demos.")
        elif selected.kind == "technique":
            show_technique(tax.techniques[selected.id])
        else:
            show_group(selected.kind, selected.id)


@st.cache_data(show_spinner=False, max_entries=4)
def shipped_results(folder: str, stamp: tuple) -> dict[str, list[tuple[str, dict]]]:
    """Shipped demo results by demo id: [(name, result)], read once per change of the folder."""
    from engine import pretrained  # JSON only, no torch

    out: dict[str, list[tuple[str, dict]]] = {}
    for path in sorted(Path(folder).glob("*.json")):
        demo = next((d for d in CATALOG if path.stem.startswith(d + "_")), None)
        if demo is None:
            continue
        try:
            out.setdefault(demo, []).append((path.stem[len(demo) + 1:], pretrained.load(path)))
        except pretrained.PretrainedError:
            continue  # the demo page reports a broken file; here it is simply not summarised
    return out


def results_stamp() -> tuple:
    return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in PRETRAINED.glob("*.json")))


def show_compare() -> None:
    st.multiselect(f"Techniques to compare (2 to {v.MAX_COMPARE})", technique_options, key=K_COMPARE,
                   max_selections=v.MAX_COMPARE, format_func=lambda k: v.node_label(tax, k),
                   placeholder="Pick two to four techniques…")
    ids = st.session_state[K_COMPARE]
    if len(ids) < 2:
        st.info("Pick at least two techniques to read them side by side (any technique's details also "
                "have a *Compare with other techniques* link).", icon=":material/compare:")
        return
    results = shipped_results(str(PRETRAINED), results_stamp())
    cols = st.columns(len(ids), gap="medium")
    for col, tid in zip(cols, ids):
        t = tax.techniques[tid]
        with col, st.container(border=True):
            st.subheader(t.name)
            node_link(v.node_key(tax, v.Node("technique", t.id)), "Open its details")
            st.caption(f"{t.year} · {tax.families[t.family].name}")
            st.markdown("**Challenges:** " + "; ".join(
                v.md_escape(tax.challenges[c].name) + (" (primary)" if c == t.primary_challenge else "")
                for c in t.challenges))
            st.markdown("##### Mechanism")
            st.markdown(t.mechanism)
            st.markdown("##### Equation")
            if t.equation:
                show_equation(t.equation)
            else:
                st.caption("No equation recorded.")
            st.markdown("##### Demo result")
            if not t.demos:
                st.caption("No live demo yet.")
            for d in t.demos:
                demo_link(d.id, d.variant)
                lines = [line for name, result in results.get(d.id, [])
                         if (line := v.shipped_result_line(name, result, d.variant))]
                st.caption("; ".join(v.md_escape(line) for line in lines) if lines
                           else "No shipped result: the demo page computes it live.")
            st.markdown("##### Primary paper")
            st.markdown(v.reference_markdown(t.reference, tax.references[t.reference]))
    frame = v.compare_frame(tax, ids)
    st.download_button("Download comparison (CSV)", v.to_csv(frame.reset_index(names="field")),
                       file_name="gan-clinic-comparison.csv", mime="text/csv", icon=":material/download:",
                       on_click="ignore")
    st.caption("Demo results are the shipped results' mean metrics over their seeds (figures, not claims; "
               "each demo page states its claim and in how many seeds it holds).")


if view == "map":
    left, right = st.columns([1.25, 1], gap="large")  # room for the sunburst at 1366 px
    with left:
        st.plotly_chart(
            figure("sunburst", lambda: v.sunburst_figure(tax, techniques)), key=K_SUNBURST, on_select=on_sunburst, selection_mode="points",
            config={"displaylogo": False}, alt="Sunburst of the taxonomy: challenge, solution family, technique",
        )
        st.caption("Click a sector to open it; click the centre to zoom back out. Each technique sits at "
                   "its primary challenge; a label too small to read is hidden (hover shows it).")
    with right:
        show_details()
elif view == "lineage":
    selected_node = v.resolve_node(tax, st.session_state[K_NODE]) if st.session_state[K_NODE] else None
    lineage_id = selected_node.id if selected_node and selected_node.kind == "technique" else None
    st.plotly_chart(
        figure("lineage", lambda: v.lineage_figure(tax, techniques, lineage_id), lineage_id),
        key=K_LINEAGE, on_select=on_lineage, selection_mode="points", config={"displaylogo": False},
        alt="Lineage of the techniques: an arrow from each technique to those that build on it",
    )
    st.caption("An arrow runs from a technique to each technique that builds on it (only between techniques "
               "the filters keep). Nodes sit at the year of their primary paper, in their family's lane; "
               "click one to open it below.")
    show_details()
else:
    show_compare()

# ---------------------------------------------------------------------------------------------
# Tables, plots, downloads

st.divider()
tab_t, tab_p, tab_c = st.tabs([
    f"Techniques ({len(techniques)})", f"Biomedical papers ({len(papers)})", "Charts",
])
with tab_t:
    frame = v.techniques_frame(tax, techniques)
    st.dataframe(
        frame, hide_index=True, width="stretch",
        column_order=["name", "family", "primary_challenge", "challenges", "year", "reference",
                      "reference_status", "biomedical_uses", "modalities", "demo"],
        column_config={
            "name": "technique", "primary_challenge": "primary challenge",
            "reference_status": "ref. status", "biomedical_uses": "bio. uses", "demo": "demos",
            "year": st.column_config.NumberColumn(format="%d"),
        },
    )
    c1, c2, _ = st.columns([1, 1, 3])
    c1.download_button("Download BibTeX", v.bibtex(tax, v.cited_keys(tax, techniques)),
                       file_name="gan-clinic-references.bib", mime="application/x-bibtex",
                       icon=":material/download:", on_click="ignore")
    c2.download_button("Download CSV", v.to_csv(frame), file_name="gan-clinic-techniques.csv",
                       mime="text/csv", icon=":material/download:", on_click="ignore")
    st.caption("BibTeX: the survey, then every primary paper, further reading and biomedical use of the "
               "techniques listed. CSV: this table with all columns.")
with tab_p:
    if papers.empty:
        st.caption("No biomedical uses recorded for these techniques.")
    else:
        st.dataframe(
            papers, hide_index=True, width="stretch",
            column_order=["technique", "modality", "task", "title", "authors", "year", "venue", "status", "link"],
            column_config={
                "year": st.column_config.NumberColumn(format="%d"),
                "link": st.column_config.LinkColumn(display_text="open"),
            },
        )
with tab_c:
    st.plotly_chart(figure("challenge_family", lambda: v.challenge_family_figure(tax, techniques)),
                    config={"displaylogo": False})
    a, b = st.columns(2)
    with a:
        st.plotly_chart(figure("modality", lambda: v.modality_figure(papers)), config={"displaylogo": False})
    with b:
        st.plotly_chart(figure("timeline", lambda: v.timeline_figure(tax, techniques)), config={"displaylogo": False})

# ---------------------------------------------------------------------------------------------
# Widgets -> URL

wanted = normalise(v.to_query(tax, filters, st.session_state[K_NODE], st.session_state[K_VIEW] or "map",
                              st.session_state[K_COMPARE]))
if current_url() != wanted:
    st.query_params.from_dict(wanted)
st.session_state[K_SYNCED] = wanted
for key, shadow in SHADOW.items():
    st.session_state[shadow] = st.session_state.get(key)
