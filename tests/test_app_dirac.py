"""AppTest of the Dirac-GAN page, run on the page file directly (no navigation, no app.py)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from apptest import open_page  # noqa: E402

PAGE = "../app_pages/demo_dirac.py"  # AppTest resolves this relative to this file


def page(**query) -> AppTest:
    return open_page(PAGE, 30, **query)


def distances(at: AppTest) -> list[str]:
    return [m.value for m in at.metric]


def test_renders_defaults_without_exception():
    at = page()
    assert not at.exception and not at.warning
    assert at.selectbox(key="failure").value == "gan" and at.selectbox(key="variant").value == "r1"
    assert len(at.get("plotly_chart")) == 4  # field + norms, failure and fix
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {t.get("name") for t in spec["data"]} >= {"field v", "trajectory", "equilibrium (0, 0)"}
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "Moves away" in text and "Converges" in text
    assert "purely imaginary: circles forever" in text and "negative real part: converges" in text


def test_variant_in_url_selects_the_fix():
    at = page(variant="consensus")
    assert not at.exception and not at.warning
    assert at.selectbox(key="variant").value == "consensus"
    at = page(variant="r1", failure="wgan")
    assert at.selectbox(key="variant").value == "r1" and at.selectbox(key="failure").value == "wgan"
    assert any("R1" in m.value for m in at.markdown)  # the maths expander names the fix


def test_unknown_variant_warns_and_falls_back():
    at = page(variant="bogus")
    assert not at.exception
    assert len(at.warning) == 1 and "bogus" in at.warning[0].value
    assert at.selectbox(key="variant").value == "r1"


def test_changing_h_changes_the_numbers():
    at = page()
    before = distances(at)
    at.number_input(key="h").set_value(0.2).run()
    assert not at.exception and distances(at) != before


def test_absurd_h_is_shown_as_divergence():
    at = page(variant="r1")
    at.number_input(key="h").set_value(5.0).run()
    at.slider(key="steps").set_value(2000).run()
    assert not at.exception
    assert any("Diverged at step" in e.value for e in at.error)


def test_url_fills_the_controls_and_shared_knobs_render_once():
    at = page(failure="r1", variant="consensus", h="0.2", update="alternating", gamma="1.5")
    assert not at.exception
    assert at.number_input(key="h").value == 0.2 and at.radio(key="update").value == "alternating"
    assert at.slider(key="gamma").value == 1.5 and at.number_input(key="n_disc").value == 1
    at.selectbox(key="variant").set_value("instance_noise").run()
    assert at.query_params["variant"] in ("instance_noise", ["instance_noise"])
    assert at.slider(key="sigma").value == 1.0
