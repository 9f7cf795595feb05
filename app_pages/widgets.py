"""URL-bound choice widgets whose URL value is a slug while the widget shows a readable label.

Why not ``bind="query-params"``: a bound selectbox or radio matches the URL against the
*displayed* label, so ``?variant=pacgan`` would be silently ignored when the option is shown as
"Packing (PacGAN)", and a bad value gives no notice. Here the URL carries the slug, an unknown
slug gets a warning naming it, and the default stays out of the URL (as with bound widgets).
"""
from __future__ import annotations

from typing import Callable, Optional

import streamlit as st


def url_choice(container, label: str, options: dict[str, str], key: str, default: str,
               widget: Optional[Callable] = None, what: str = "option", **kwargs) -> str:
    """``widget`` (default ``container.selectbox``) over ``options`` (slug -> label), synced with
    ``?key=slug``. Returns the chosen slug."""
    raw, seen = st.query_params.get(key), f"_url_seen_{key}"
    bad = None
    if key not in st.session_state or raw != st.session_state.get(seen):  # first run, or a new link
        bad = raw if raw is not None and raw not in options else None
        st.session_state[key] = raw if raw in options else default
    make = widget or container.selectbox
    value = make(label, list(options), format_func=options.get, key=key, **kwargs)
    if bad is not None:
        shown = bad[:40].replace("`", "")
        container.warning(f"Unknown {what} `{shown}` in the link; showing **{options[default]}** instead. "
                          f"Known: {', '.join(options)}.")
    want = None if value == default else value
    if st.query_params.get(key) != want:
        if want is None:
            del st.query_params[key]
        else:
            st.query_params[key] = want
    st.session_state[seen] = st.query_params.get(key)
    return value
