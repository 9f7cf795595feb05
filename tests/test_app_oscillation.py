"""AppTest of the non-convergence page, run on the page file directly (no navigation, no app.py)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from apptest import open_page, rerun_until  # noqa: E402

from demos.catalog import CATALOG  # noqa: E402

PAGE = "../app_pages/demo_oscillation.py"  # AppTest resolves this relative to this file
DEFAULT_FIX = CATALOG["oscillation"].default_fix


def page(**query) -> AppTest:
    return open_page(PAGE, 60, **query)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_renders_the_shipped_result_without_exception():
    at = page()
    assert not at.exception and not at.warning and not at.error
    assert at.selectbox(key="variant").value == DEFAULT_FIX
    assert any("Shipped result" in c.value for c in at.caption)
    specs = charts(at)
    assert len(specs) == 5  # two scatters, the distance curves, two D curves
    names = {t.get("name") for s in specs for t in s["data"]}
    assert {"data", "generated", "Plain GAN (failure) (mean)", "D(real)", "D(fake)"} <= names
    df = at.dataframe[0].value
    assert list(df["variant"]) == ["Plain GAN (failure)", CATALOG["oscillation"].variants[DEFAULT_FIX]]
    held = int(df["claim holds in"].iloc[1].split("/")[0])
    assert held >= 7  # the shipped defaults show the effect


@pytest.mark.parametrize("fix", [v for v in CATALOG["oscillation"].variants if v != "gan"])
def test_variant_in_url_selects_the_fix(fix):
    at = page(variant=fix)
    assert not at.exception and not at.warning
    assert at.selectbox(key="variant").value == fix
    assert CATALOG["oscillation"].variants[fix] in list(at.dataframe[0].value["variant"])


def test_unknown_variant_warns_and_falls_back():
    at = page(variant="bogus")
    assert not at.exception
    assert len(at.warning) == 1 and "bogus" in at.warning[0].value
    assert at.selectbox(key="variant").value == DEFAULT_FIX


def test_url_fills_the_knobs_and_a_changed_setting_is_not_the_shipped_result():
    at = page(variant="r1", r1_gamma="0.3", osc_lr="0.1")
    assert not at.exception
    assert at.select_slider(key="r1_gamma").value == 0.3 and at.select_slider(key="osc_lr").value == 0.1
    assert not any("Shipped result" in c.value for c in at.caption)
    assert any("Press Run" in c.value for c in at.caption)


def test_out_of_range_url_value_is_not_trained():
    at = page(osc_steps="999999")
    assert not at.exception
    assert at.number_input(key="osc_steps").value <= 6000


def test_live_run_finishes_and_shows_its_result():
    at = page(osc_steps="100", osc_seeds="2", variant="ttur")
    at.button[0].click().run()
    rerun_until(at, lambda at: any("Live run" in c.value for c in at.caption), 120, every=0.5)
    assert not at.exception
    assert any("Live run, 2 seeds" in c.value for c in at.caption)
    assert len(at.dataframe[0].value) == 2
