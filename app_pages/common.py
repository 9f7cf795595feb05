"""Helpers shared by GAN Clinic's pages: which taxonomy is active, and the page registry.

Which taxonomy (first that applies):

1. a file uploaded in the sidebar ("Use your own taxonomy"), for this browser session only;
2. ``streamlit run app.py -- --taxonomy FILE``;
3. ``$GAN_CLINIC_TAXONOMY``;
4. the shipped ``taxonomy/data/taxonomy.yaml``.

A file that fails validation never takes the app down: the error (file, line, field, expected) is
shown with ``st.error`` and the shipped taxonomy is used instead.

Pages: ``app.py`` builds the ``st.Page`` objects and registers them here, so a page can link to
another (``demo_page("mode_collapse")``) without importing ``app.py``.
"""
from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
from pathlib import Path
from typing import Optional

import streamlit as st

from taxonomy.load import (
    DEFAULT_BIBLIOGRAPHY,
    DEFAULT_TAXONOMY,
    ENV_VAR,
    Taxonomy,
    TaxonomyError,
    default_bibliography,
    load_taxonomy,
    parse_taxonomy,
)
from taxonomy.views import md_escape

UPLOAD_KEY = "taxonomy_upload"
_UPLOAD_STATE = "_taxonomy_upload_parsed"  # (sha256, Taxonomy | None, error | None)

# ---------------------------------------------------------------------------------------------
# Page registry (filled by app.py on every run; the pages are the same for every session)

_PAGES: dict[str, object] = {}


def register_pages(explorer, about, demos: dict) -> None:
    # replaced in one assignment: a session reading it meanwhile sees the old or the new registry
    global _PAGES
    _PAGES = {"explorer": explorer, "about": about, **{f"demo:{k}": p for k, p in demos.items()}}


def explorer_page():
    return _PAGES.get("explorer")


def about_page():
    return _PAGES.get("about")


def demo_page(demo_id: str):
    """The ``st.Page`` of a live demo, or None when ``app_pages/demo_<id>.py`` does not exist."""
    return _PAGES.get(f"demo:{demo_id}")


def demo_ids_with_pages() -> list[str]:
    return [k.split(":", 1)[1] for k in _PAGES if k.startswith("demo:")]


# ---------------------------------------------------------------------------------------------
# The configured taxonomy


def cli_taxonomy(argv: Optional[list[str]] = None) -> Optional[str]:
    """``--taxonomy FILE`` from the script's arguments (``streamlit run app.py -- --taxonomy F``)."""
    ap = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    ap.add_argument("--taxonomy")
    ns, _ = ap.parse_known_args(sys.argv[1:] if argv is None else argv)
    return ns.taxonomy


def configured_source() -> tuple[Path, str]:
    """(path, where it came from) for the taxonomy this server was started with."""
    cli = cli_taxonomy()
    if cli:
        return Path(cli), "--taxonomy"
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env), f"${ENV_VAR}"
    return DEFAULT_TAXONOMY, "the shipped file"


@st.cache_resource(show_spinner=False, max_entries=8)
def _load_cached(path: str, mtime_ns: int, size: int) -> Taxonomy:
    return load_taxonomy(path)


def load_path(path: Path) -> Taxonomy:
    """Load and validate a taxonomy file, cached per (path, mtime, size): editing the file and
    reloading the page shows the edit, while every session shares one parsed copy."""
    try:
        stat = Path(path).stat()
    except OSError:
        return load_taxonomy(path)  # raises TaxonomyError naming the file
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size)


def base_taxonomy() -> tuple[Optional[Taxonomy], list[str]]:
    """The server's taxonomy and the load errors to show (empty when all went well)."""
    path, origin = configured_source()
    try:
        return load_path(path), []
    except TaxonomyError as e:
        errors = [f"The taxonomy from {origin} is not valid: {e}"]
    if Path(path).resolve() != DEFAULT_TAXONOMY.resolve():
        try:
            tax = load_path(DEFAULT_TAXONOMY)
            errors[-1] += " Showing the shipped taxonomy instead."
            return tax, errors
        except TaxonomyError as e:
            errors.append(f"The shipped taxonomy is not valid either: {e}")
    return None, errors


@st.cache_resource(show_spinner=False, max_entries=2)
def _shipped_bibliography(mtime_ns: int):
    return default_bibliography()


def parse_upload(raw: bytes, name: str) -> Taxonomy:
    """Validate an uploaded taxonomy. Uploads cite from the shipped bibliography plus their own
    ``references:`` section; ``meta.bibliography`` is not followed, so an upload can never make the
    server read another file."""
    bib = _shipped_bibliography(DEFAULT_BIBLIOGRAPHY.stat().st_mtime_ns)
    return parse_taxonomy(raw, name, bibliography=bib)


def uploaded_taxonomy() -> tuple[Optional[Taxonomy], Optional[str]]:
    """This session's uploaded taxonomy (or None) and its validation error (or None)."""
    f = st.session_state.get(UPLOAD_KEY)
    if f is None:
        st.session_state.pop(_UPLOAD_STATE, None)
        return None, None
    raw = f.getvalue()
    digest = hashlib.sha256(raw).hexdigest()
    cached = st.session_state.get(_UPLOAD_STATE)
    if cached is None or cached[0] != digest:
        name = Path(f.name).name[:120] or "upload.yaml"
        try:
            cached = (digest, parse_upload(raw, name), None)
        except TaxonomyError as e:
            cached = (digest, None, str(e))
        st.session_state[_UPLOAD_STATE] = cached
    return cached[1], cached[2]


def taxonomy() -> Optional[Taxonomy]:
    """The taxonomy this session sees (its valid upload, else the server's), or None if even
    the shipped file is broken."""
    up, _ = uploaded_taxonomy()
    return up if up is not None else base_taxonomy()[0]


def show_error(message: str) -> None:
    """``st.error`` with text from a file: Markdown-escaped, so it is shown literally."""
    st.error(md_escape(message), icon=":material/error:")


def taxonomy_sidebar() -> Optional[Taxonomy]:
    """The sidebar's "Use your own taxonomy" expander and the load errors. Call before the page."""
    base, errors = base_taxonomy()
    up_error = None
    with st.sidebar.expander("Use your own taxonomy", expanded=False):
        st.caption(
            "Upload a taxonomy YAML file (same format as taxonomy/data/taxonomy.yaml; check it "
            "first with `python -m taxonomy check FILE`). It is used only in this browser tab; "
            "other users keep the shipped taxonomy. Citation keys come from the shipped "
            "bibliography plus the file's own `references:` section."
        )
        st.file_uploader("Taxonomy YAML", type=["yaml", "yml"], key=UPLOAD_KEY)
        up, up_error = uploaded_taxonomy()
        if up is not None:
            c = up.counts()
            st.success(
                f"Using {md_escape(up.source)}: {c['techniques']} techniques, "
                f"{c['references']} references. Remove the file to go back.",
                icon=":material/check_circle:",
            )
    for e in errors:
        show_error(e)
    if up_error:
        show_error(f"Your uploaded taxonomy is not valid, so the shipped one is shown: {up_error}")
    return up if up is not None else base


def source_caption(tax: Taxonomy) -> str:
    up, _ = uploaded_taxonomy()
    c = tax.counts()
    origin = "your upload" if up is tax else ("shipped" if tax.source == DEFAULT_TAXONOMY.name else "configured")
    return (
        f"Taxonomy {md_escape(tax.source)} ({origin}, version {tax.meta.version}): "
        f"{c['challenges']} challenges · {c['families']} solution families · "
        f"{c['techniques']} techniques · {c['references']} references · "
        f"{c['biomedical_uses']} biomedical uses"
    )


# ---------------------------------------------------------------------------------------------
# Widget state belongs to the page that made it


def _forget_initial_url_values(keys: list[str]) -> None:
    """Widgets bound to the URL seed from Streamlit's snapshot of the page's *initial* query string,
    not from ``st.query_params``, so deleting a parameter is not enough: drop it from that snapshot
    too. Internal API (checked on Streamlit 1.67); if it moves, the fuzz test's regression check
    (test_non_finite_numbers_in_every_url_parameter_are_dropped_and_named) fails and says so."""
    from streamlit.runtime.state.session_state_proxy import get_session_state

    with get_session_state().query_params() as qp:
        initial = getattr(qp, "_initial_query_params", None)
        if isinstance(initial, dict):
            for key in keys:
                initial.pop(key, None)


def drop_non_finite_query_params() -> None:
    """Remove URL parameters whose value is a non-finite number (``inf``, ``nan``, ``1e400``) before
    any widget reads them, and say which. No control here accepts one, and Streamlit's own URL
    binding of an integer input raises on it (``int(inf)``), which would take the page down."""
    bad = []
    for key in list(st.query_params):
        for value in st.query_params.get_all(key):
            try:
                x = float(value)
            except (TypeError, ValueError):
                continue  # not a number at all: each page's own check names it
            if not math.isfinite(x):
                bad.append(key)
                del st.query_params[key]
                break
    if bad:
        _forget_initial_url_values(bad)
        st.warning("Ignored URL parameter(s) " + ", ".join(md_escape(k) for k in sorted(bad))
                   + ": not a finite number; the default is used instead.", icon=":material/link_off:")


def forget_other_pages_widgets(page, keep: set[str]) -> None:
    """On moving to another page, drop the previous page's widget values from session_state.

    Why: pages share key names that are also URL parameters (``steps``, ``seeds``, ``variant``)
    but not their ranges; a value left by one page (mode collapse's ``steps=0``, "the dataset's
    default") would otherwise reach another page's widget of the same key and fail its bounds
    (StreamlitValueBelowMinError). Keys starting with ``_`` and those in ``keep`` (sidebar, presenter)
    are global and stay.
    """
    current = getattr(page, "url_path", None) or str(page)
    if st.session_state.get("_current_page") not in (None, current):
        for key in [k for k in st.session_state if isinstance(k, str) and not k.startswith("_") and k not in keep]:
            del st.session_state[key]
    st.session_state["_current_page"] = current
