"""AppTest of the vanishing-gradient page: shipped result first (log-scale norms, side by side),
URL state, a live run through the job queue to its table, friendly messages for bad links."""

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from apptest import open_page, rerun_until, specs, texts  # noqa: E402

PAGE = "../app_pages/demo_vanishing_gradients.py"


def page(**params) -> AppTest:
    return open_page(PAGE, 60, **params)


def test_opens_with_the_shipped_experiment():
    at = page()
    assert not at.exception and not at.warning
    assert "Shipped result" in texts(at)
    figs = specs(at)
    norms = [f for f in figs if f["layout"].get("yaxis", {}).get("type") == "log"]
    assert len(norms) >= 3  # saturating, non-saturating, and the all-losses overview
    assert norms[0]["layout"]["yaxis"]["range"] == norms[1]["layout"]["yaxis"]["range"]  # one shared scale
    table = at.dataframe[0].value
    assert list(table["loss"])[:2] == ["Saturating minimax loss log(1 − D(G(z))) (failure)",
                                       "Non-saturating loss −log D(G(z))"]
    assert len(table) == 4 and table["claim holds in"].iloc[1] == "8/8 seeds"


def test_url_selects_loss_and_dataset():
    at = page(variant="wgan_gp", dataset="digits")
    assert not at.exception and not at.warning
    assert at.selectbox(key="variant").value == "wgan_gp" and at.radio(key="dataset").value == "digits"
    assert "Shipped result" in texts(at)
    assert any(f["data"][0].get("type") == "heatmap" for f in specs(at))  # the frozen G's digits


def test_unknown_loss_in_the_link_warns():
    at = page(variant="bogus")
    assert not at.exception
    assert len(at.warning) == 1 and "bogus" in at.warning[0].value
    assert at.selectbox(key="variant").value == "nonsaturating"


def test_out_of_range_url_values_do_not_crash():
    at = page(seeds="999", steps="-3", lr_d="banana", g_steps="7")
    assert not at.exception


def test_live_run_reaches_its_table():
    at = page(steps="200", seeds="2")
    assert "Shipped result" not in texts(at)
    at.button[0].click().run()
    rerun_until(at, lambda at: at.dataframe, 120)
    assert not at.exception
    assert at.dataframe, "the live run never produced its table"
    assert "Live run, 2 seeds" in texts(at) and len(at.dataframe[0].value) == 2


def test_taxonomy_link_to_the_failure_opens_without_warning():
    at = page(variant="saturating")  # the minimax-loss technique links here with its failure variant
    assert not at.exception and not at.warning
    assert at.selectbox(key="variant").value == "nonsaturating" and "Shipped result" in texts(at)
