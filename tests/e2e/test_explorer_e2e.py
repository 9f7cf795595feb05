"""The explorer in a real browser: the sunburst renders and is clickable, the selectbox opens a
technique, deep links open their node, and no exception is shown anywhere.

Runs against the shipped taxonomy; the expected names and counts are read from it, so the test
follows the data as it grows.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from taxonomy import load_taxonomy
from taxonomy.load import DEFAULT_TAXONOMY
from taxonomy import views as v

pytestmark = pytest.mark.e2e

CHART = "[data-testid='stPlotlyChart']"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tax():
    return load_taxonomy()


def details(page) -> str:
    return page.locator("[data-testid='stMain']").inner_text()


def test_explorer_sunburst_selectbox_and_deep_link(app_page, base_url, tax, ready):
    page, wait_ready = app_page, ready
    page.goto(base_url + "/")
    wait_ready(page)
    page.get_by_role("heading", name="Taxonomy explorer").wait_for()

    # the sunburst: one sector per challenge, (challenge, family) home and technique
    sunburst = page.locator(CHART).first
    sunburst.locator("path.surface").first.wait_for()
    expected = len(v.sunburst_figure(tax, tax.techniques.values()).data[0].ids)
    assert sunburst.locator("path.surface").count() == expected
    assert sunburst.locator("svg path").count() > 10

    # the selectbox (must always work): open a technique by typing its name
    techs = sorted(tax.techniques.values(), key=lambda t: (t.demo is None, t.name))
    first = techs[0]
    box = page.locator("[data-testid='stSelectbox']").filter(has_text="Open a technique")
    box.locator("input").click()
    box.locator("input").fill(first.name)
    page.get_by_role("option", name=v.node_label(tax, first.id), exact=True).click()
    wait_ready(page)
    page.get_by_role("heading", name=first.name, exact=True).wait_for()
    page.get_by_role("heading", name="References", exact=True).wait_for()
    assert re.search(rf"[?&]node={re.escape(first.id)}(&|$)", page.url), page.url
    assert "Mechanism" in details(page)
    demo = page.locator("[data-testid='stPageLink']").filter(has_text="Open demo")
    if first.demo and (ROOT / "app_pages" / f"demo_{first.demo.id}.py").is_file():
        href = demo.locator("a").first.get_attribute("href")
        assert f"{first.demo.id}?variant={first.demo.variant}" in href, href
    else:
        assert demo.count() == 0 and "No live demo yet" in details(page)

    # a click on a challenge sector selects the challenge
    challenge = next(iter(tax.challenges.values()))
    sector = sunburst.locator("g.slice").filter(has_text=challenge.name).locator("path.surface").first
    sector.click(force=True)
    wait_ready(page)
    page.get_by_role("heading", name=challenge.name, exact=True).wait_for()
    assert re.search(rf"[?&]node={re.escape(challenge.id)}(&|$)", page.url), page.url

    # a shared deep link opens exactly that technique (the root URL forwards to /explorer)
    other = techs[-1]
    page.goto(f"{base_url}/?node={other.id}")
    wait_ready(page)
    page.wait_for_url(re.compile(rf"/explorer\?node={re.escape(other.id)}$"))
    page.get_by_role("heading", name=other.name, exact=True).wait_for()
    page.get_by_role("heading", name="References", exact=True).wait_for()
    text = details(page)
    assert tax.references[other.reference].title.split(":")[0][:30] in text
    assert page.locator("[data-testid='stException']").count() == 0

    # an unknown id is a friendly warning, not a traceback
    page.goto(f"{base_url}/explorer?node=nope")
    wait_ready(page)
    page.locator("[data-testid='stAlertContainer']").filter(has_text="nope").wait_for()
    assert page.locator("[data-testid='stException']").count() == 0


def test_own_taxonomy_upload_bad_then_good(app_page, base_url, ready, tmp_path):
    page = app_page
    page.goto(base_url + "/explorer")
    ready(page)
    page.get_by_text("Use your own taxonomy").click()
    shipped = DEFAULT_TAXONOMY.read_text(encoding="utf-8")
    upload = page.locator("[data-testid='stFileUploader'] input[type='file']")

    bad = tmp_path / "bad.yaml"
    bad.write_text(re.sub(r"\n    family: \w+", "\n    family: nope", shipped, count=1), encoding="utf-8")
    upload.set_input_files(str(bad))
    ready(page)
    page.locator("[data-testid='stAlertContainer']").filter(has_text="unknown family").wait_for()
    assert "bad.yaml, line" in page.locator("[data-testid='stAlertContainer']").all_inner_texts()[0]
    page.get_by_role("heading", name="Taxonomy explorer").wait_for()  # still up, on the shipped file

    good = tmp_path / "good.yaml"
    good.write_text(re.sub(r"\n  version: \d+", "\n  version: 99", shipped, count=1), encoding="utf-8")
    upload.set_input_files(str(good))
    ready(page)
    page.get_by_text("good.yaml (your upload, version 99)").wait_for()
    assert page.locator("[data-testid='stPlotlyChart']").first.locator("path.surface").count() > 3
