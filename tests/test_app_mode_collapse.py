"""AppTest of the mode-collapse page: shipped result first, URL state, a live run through the
job queue to its final table, and friendly messages for bad URLs."""
from streamlit.testing.v1 import AppTest

from apptest import open_page, rerun_until, texts  # noqa: E402

PAGE = "../app_pages/demo_mode_collapse.py"


def page(**params) -> AppTest:
    return open_page(PAGE, 60, **params)


def test_opens_with_the_shipped_comparison():
    at = page()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 4  # two sample plots, two metric curves
    assert "Shipped result" in texts(at)
    table = at.dataframe[0].value
    assert list(table["variant"]) == ["Plain GAN (failure)", "Packing (PacGAN)"]


def test_a_slower_fix_opens_on_its_own_shipped_comparison():
    # minibatch stddev trains 1,500 ring steps by default (FIX_STEPS): its shipped file is another one
    at = page(variant="mbstd")
    assert not at.exception
    assert "Shipped result" in texts(at)
    # only pretrained/mode_collapse_ring_1500.json holds minibatch stddev
    assert list(at.dataframe[0].value["variant"]) == ["Plain GAN (failure)", "Minibatch standard deviation"]


def test_variant_in_url_preselects_the_fix():
    at = page(variant="unrolled", dataset="grid")
    assert not at.exception
    assert at.selectbox(key="variant").value == "unrolled"
    assert at.radio(key="dataset").value == "grid"


def test_unknown_variant_gets_a_friendly_warning():
    at = page(variant="bogus")
    assert not at.exception
    assert any("bogus" in w.value for w in at.warning)
    assert at.selectbox(key="variant").value == "pacgan"


def test_out_of_range_url_number_does_not_crash():
    at = page(seeds="999", steps="-4", lr_g="banana")
    assert not at.exception


def test_live_run_reaches_its_result():
    at = page(steps="60", seeds="2")
    assert "Shipped result" not in texts(at)
    at.button[0].click().run()
    rerun_until(at, lambda at: at.dataframe, 90)
    assert not at.exception
    assert at.dataframe, "the live run never produced its table"
    assert "Live run, 2 seeds" in texts(at)
