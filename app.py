"""GAN Clinic: explore the taxonomy of GAN training challenges and open live demos of the fixes.

    streamlit run app.py                               # the shipped taxonomy
    streamlit run app.py -- --taxonomy my.yaml         # another taxonomy file
    GAN_CLINIC_TAXONOMY=my.yaml streamlit run app.py   # the same, by environment variable

Pages: the taxonomy explorer (default), About, and one page per live demo: every demo of
``demos.catalog.CATALOG`` whose page file ``app_pages/demo_<id>.py`` exists, served at ``/<id>``.
Adding a demo page therefore needs no change here.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages import common
from demos.catalog import CATALOG

HERE = Path(__file__).parent
PAGES = HERE / "app_pages"

st.set_page_config(page_title="GAN Clinic", page_icon="🩺", layout="wide")

explorer = st.Page(PAGES / "explorer.py", title="Taxonomy explorer", icon="🧭", url_path="explorer", default=True)
about = st.Page(PAGES / "about.py", title="About", icon="ℹ️", url_path="about")
demos = {
    demo_id: st.Page(PAGES / f"demo_{demo_id}.py", title=info.title, icon="🧪", url_path=demo_id)
    for demo_id, info in CATALOG.items()
    if (PAGES / f"demo_{demo_id}.py").is_file()
}
common.register_pages(explorer=explorer, about=about, demos=demos)

sections = {"GAN Clinic": [explorer, about]}
if demos:
    sections["Live demos"] = list(demos.values())
page = st.navigation(sections)
common.taxonomy_sidebar()
page.run()
