"""AppTest of the instability page: the fix in the URL picks its scenario and failure, the shipped
result shows first with arrows on the plane, a diverged run is reported as an outcome, and a live
run reaches its table through the job queue."""
import json

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from apptest import open_page, rerun_until, specs, texts  # noqa: E402

PAGE = "../app_pages/demo_instability.py"


def page(**params) -> AppTest:
    return open_page(PAGE, 60, **params)


def arrow_lengths(spec: dict) -> list[float]:
    tr = next(t for t in spec["data"] if t.get("name", "").startswith("−∇ℓ"))
    xs, ys = tr["x"], tr["y"]
    return [abs(complex(xs[i + 1] - xs[i], ys[i + 1] - ys[i])) for i in range(0, len(xs), 3)]


def test_opens_with_the_shipped_stall_and_arrows_that_vanish():
    at = page()
    assert not at.exception and not at.warning
    assert at.selectbox(key="variant").value == "nonsaturating"
    assert "Shipped result" in texts(at)
    planes = [s for s in specs(at) if any(t.get("name") == "data" for t in s["data"])]
    assert len(planes) == 2
    sat, ns = (arrow_lengths(p) for p in planes)
    assert max(sat) < 1e-3 * max(ns)  # the saturating arrows shrink to nothing, on the same scale
    assert any(s["layout"]["yaxis"].get("type") == "log" for s in specs(at))
    table = at.dataframe[0].value
    assert list(table["variant"]) == ["Saturating minimax loss (failure)", "Non-saturating loss"]
    assert list(table["claim holds in"]) == ["8/8 seeds", "8/8 seeds"]


def test_a_divergence_fix_in_the_link_shows_the_divergence_as_an_outcome():
    at = page(variant="spectral")
    assert not at.exception
    assert at.selectbox(key="variant").value == "spectral"
    table = at.dataframe[0].value
    assert list(table["variant"]) == ["High learning rate, no normalisation (failure)", "Spectral normalisation"]
    assert table["diverged"].iloc[0].startswith("8/8") and table["diverged"].iloc[1] == "0/8"
    assert any("seeds diverged" in w.value for w in at.warning)
    assert "diverged at step" in json.dumps(specs(at)[0]["layout"]["title"])


def test_r1_link_shows_its_knob_and_unknown_fix_warns():
    at = page(variant="r1", r1_gamma="1.0")
    assert not at.exception and at.select_slider(key="r1_gamma").value == 1.0
    at = page(variant="bogus")
    assert not at.exception and any("bogus" in w.value for w in at.warning)
    assert at.selectbox(key="variant").value == "nonsaturating"


def test_out_of_range_url_values_do_not_crash():
    at = page(seeds="999", steps="-3", offset="banana", g_optimizer="rmsprop")
    assert not at.exception


def test_live_divergence_run_reaches_its_table():
    at = page(variant="spectral", steps="100", seeds="2", diverge_lr="1.0")
    assert "Shipped result" not in texts(at)
    at.button[0].click().run()
    rerun_until(at, lambda at: at.dataframe, 120)
    assert not at.exception
    assert at.dataframe, "the live run never produced its table"
    assert "Live run, 2 seeds" in texts(at)


@pytest.mark.parametrize("failure, fix", [("saturating", "nonsaturating"), ("high_lr", "spectral")])
def test_a_link_to_a_failure_opens_its_scenario(failure, fix):
    at = page(variant=failure)
    assert not at.exception and not any("Unknown" in w.value for w in at.warning)
    assert at.selectbox(key="variant").value == fix
    assert at.dataframe[0].value["variant"].iloc[0].endswith("(failure)")
