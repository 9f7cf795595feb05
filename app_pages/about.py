"""About GAN Clinic: the survey it follows, how the taxonomy was compiled, how to extend it."""
from __future__ import annotations

import streamlit as st

from app_pages import common
from taxonomy import views as v
from taxonomy.load import ENV_VAR

st.title("About GAN Clinic")

tax = common.taxonomy()

st.markdown(
    """
GAN Clinic is a teaching companion for generative adversarial networks (GANs) in biomedical
imaging. It lays out the **training challenges** of GANs (mode collapse, non-convergence,
instability), the **families of solutions** proposed for them and the **techniques** in each family,
and links techniques to **live demos** in which you can watch a failure happen and a fix repair it.
"""
)

st.header("The survey")
if tax is not None and tax.meta.survey in tax.references:
    survey = tax.references[tax.meta.survey]
    st.markdown("The taxonomy follows the structure of this survey:")
    st.markdown("> " + v.reference_markdown(tax.meta.survey, survey))
else:
    st.markdown(
        "Saad, M. M., O'Reilly, R. and Rehmani, M. H. (2024). *A survey on training challenges in "
        "generative adversarial networks for biomedical image analysis*. Artificial Intelligence "
        "Review 57(2). [DOI:10.1007/s10462-023-10624-y](https://doi.org/10.1007/s10462-023-10624-y) · "
        "[arXiv:2201.07646](https://arxiv.org/abs/2201.07646)"
    )

st.header("How the taxonomy was compiled")
if tax is not None:
    st.markdown(f"**{v.md_escape(tax.meta.title)}**, version {tax.meta.version}.")
    st.markdown("Provenance, as recorded in the taxonomy file:")
    st.info(tax.meta.provenance)
    st.markdown(
        "In short: the *structure* (challenge first, then solution families, then techniques) is the "
        "survey's; the entries were written from the primary papers each technique cites. Every "
        "reference carries a status: **verified** (checked against arXiv, the proceedings or the DOI), "
        "**:material/warning: partial** (a detail such as the DOI is missing; the note says what) or **:material/help: unverified**."
    )
    c = tax.counts()
    cols = st.columns(7)
    for col, (label, key) in zip(cols, [
        ("Challenges", "challenges"), ("Solution families", "families"), ("Techniques", "techniques"),
        ("References", "references"), ("Biomedical uses", "biomedical_uses"),
        ("Techniques with a demo", "techniques_with_demo"), ("Live-demo links", "demo_links"),
    ]):
        col.metric(label, c[key])
    status = {}
    for ref in tax.references.values():
        status[ref.status] = status.get(ref.status, 0) + 1
    st.caption("References by status: " + ", ".join(f"{k} {n}" for k, n in sorted(status.items())))
    st.caption(common.source_caption(tax))

st.header("Adding entries")
st.markdown(
    """
1. Edit `taxonomy/data/taxonomy.yaml` (challenges, families, techniques) and
   `taxonomy/data/bibliography.yaml` (references, keyed by citation key). A technique lists every
   live demo variant that shows it as `demos: [{id: dirac, variant: r1}, ...]`; the ids and
   variants are those of `demos/catalog.py` (`python -m demos list`). Files with the older single
   `demo: {id, variant}` key still load: it is read as a one-element `demos:` list.
2. Run `python -m taxonomy check` : it validates the file strictly and names the file, line and field
   of any problem (an unknown key, a citation key missing from the bibliography, a `builds_on`
   cycle, a demo or demo variant that does not exist, a demo link listed twice...).
3. Reload the app: the explorer picks up the change (it caches by file modification time).
"""
)

st.header("Using your own taxonomy file")
st.markdown(
    f"""
- **For everyone on a server:** `streamlit run app.py -- --taxonomy my_taxonomy.yaml`, or set the
  environment variable `{ENV_VAR}=my_taxonomy.yaml`. If the file is not valid, the app shows the
  error and falls back to the shipped taxonomy.
- **Just for you:** open *Use your own taxonomy* in the sidebar and upload a YAML file. It is
  validated the same way and used only in your browser tab.
- Check a file first with `python -m taxonomy check my_taxonomy.yaml`.
"""
)
if common.explorer_page() is not None:
    st.page_link(common.explorer_page(), label="Open the taxonomy explorer", icon=":material/explore:")
