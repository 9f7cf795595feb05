"""GAN Clinic: explore the taxonomy of GAN training challenges and open live demos of the fixes.

    streamlit run app.py                               # the shipped taxonomy
    streamlit run app.py -- --taxonomy my.yaml         # another taxonomy file
    GAN_CLINIC_TAXONOMY=my.yaml streamlit run app.py   # the same, by environment variable

Pages: the taxonomy explorer (``/explorer``, also what ``/`` opens), About (``/about``), the evidence
from the shipped sweep tables (``/evidence``), and one
page per live demo: every demo of ``demos.catalog.CATALOG`` whose page file
``app_pages/demo_<id>.py`` exists, served at ``/<id>``. Adding a demo page needs no change here.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages import common, presenter
from demos.catalog import CATALOG

HERE = Path(__file__).parent
PAGES = HERE / "app_pages"

st.set_page_config(page_title="GAN Clinic", page_icon=":material/biotech:", layout="wide")

explorer = st.Page(PAGES / "explorer.py", title="Taxonomy explorer", icon=":material/explore:", url_path="explorer")
about = st.Page(PAGES / "about.py", title="About", icon=":material/info:", url_path="about")
evidence = st.Page(PAGES / "evidence.py", title="Evidence", icon=":material/analytics:", url_path="evidence")
demos = {
    demo_id: st.Page(PAGES / f"demo_{demo_id}.py", title=info.title, icon=":material/science:", url_path=demo_id)
    for demo_id, info in CATALOG.items()
    if (PAGES / f"demo_{demo_id}.py").is_file()
}
common.register_pages(explorer=explorer, about=about, demos=demos)


def home() -> None:
    """``/`` opens the explorer at ``/explorer``, keeping the query string, so shared links of
    either form work. (Streamlit serves a default page only at ``/``, never at its url_path.)"""
    st.switch_page(explorer, query_params={k: st.query_params.get_all(k) for k in st.query_params})


page = st.navigation([st.Page(home, title="Home", url_path="home", default=True), explorer, about, evidence,
                      *demos.values()], position="hidden")
common.drop_non_finite_query_params()  # before any widget reads the URL

with st.sidebar:
    st.caption("GAN Clinic")
    st.page_link(explorer, label="Taxonomy explorer", icon=":material/explore:")
    st.page_link(about, label="About", icon=":material/info:")
    st.page_link(evidence, label="Evidence", icon=":material/analytics:")
    if demos:
        st.caption("Live demos")
        for demo_page in demos.values():
            st.page_link(demo_page, label=demo_page.title, icon=":material/science:")
common.taxonomy_sidebar()
common.forget_other_pages_widgets(page, keep={common.UPLOAD_KEY, presenter.ON, presenter.TOGGLE})
presenter.hook(page)  # presenter mode (?present=1): style and Back / Next lesson bar
page.run()
