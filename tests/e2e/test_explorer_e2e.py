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
    techs = sorted(tax.techniques.values(), key=lambda t: (not t.demos, t.name))
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
    installed = [d for d in first.demos if (ROOT / "app_pages" / f"demo_{d.id}.py").is_file()]
    if installed:
        hrefs = [a.get_attribute("href") for a in demo.locator("a").all()]
        assert len(hrefs) == len(installed), hrefs
        for d, href in zip(installed, hrefs):
            assert f"{d.id}?variant={d.variant}" in href, href
    else:
        assert demo.count() == 0 and "No live demo yet" in details(page)

    # a click on a challenge sector selects the challenge
    challenge = next(iter(tax.challenges.values()))
    drawn = v.label_lines(challenge.name, 12).replace("<br>", "")  # a wrapped label's lines are tspans
    sector = sunburst.locator("g.slice").filter(has_text=re.compile(rf"^{re.escape(drawn)}$")).locator("path.surface").first
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


# ---------------------------------------------------------------------------------------------
# the map reads at a projector's and a desktop's size; lineage and compare work with URL state


def _effective_label_sizes(chart) -> list[tuple[str, float]]:
    """(text, drawn font size in px) of every sunburst label Plotly draws (hidden ones excluded)."""
    return chart.evaluate("""el => [...el.querySelectorAll('g.slice text')]
        .filter(t => getComputedStyle(t).display !== 'none' && t.getBBox().width > 0)
        .map(t => {
            const m = /scale\\(([0-9.e-]+)/.exec(t.getAttribute('transform') || '');
            return [t.textContent, parseFloat(getComputedStyle(t).fontSize) * (m ? parseFloat(m[1]) : 1)];
        })""")


def test_sunburst_labels_are_legible_at_projector_and_desktop_sizes(browser, base_url, ready, tax):
    """Every label Plotly draws is at least SUNBURST_MIN_FONT px (smaller ones are hidden, hover
    still names them), and every challenge is named, at 1366x768 and at 1920x1080."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(base_url + "/explorer")
        ready(page)
        chart = page.locator(CHART).first
        for width, height in [(1366, 768), (1920, 1080)]:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(800)  # Plotly redraws on resize
            chart.locator("g.slice text").first.wait_for(state="attached")
            labels = _effective_label_sizes(chart)
            assert len(labels) >= 20, (width, labels)
            small = [(t, round(px, 1)) for t, px in labels if px < v.SUNBURST_MIN_FONT - 0.5]
            assert not small, (width, small)
            drawn = " ".join(t for t, _ in labels).replace("-", "")
            for c in tax.challenges.values():
                assert c.name.replace("-", "").split()[0] in drawn, (width, c.name, drawn[:300])
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        context.close()


def test_lineage_graph_click_and_filters(app_page, base_url, ready, tax):
    page = app_page
    target = next(t for t in tax.techniques.values() if t.builds_on and t.family == "loss")
    page.goto(f"{base_url}/explorer?view=lineage&family=loss")
    ready(page)
    chart = page.locator(CHART).first
    chart.locator("path.point").first.wait_for()
    # only the filtered family is drawn: one trace, one point per loss technique
    expected = sum(1 for t in tax.techniques.values() if t.family == "loss")
    assert chart.locator("g.trace.scatter").count() == 1
    assert chart.locator("path.point").count() == expected
    # a click on a node opens that technique below and puts it in the URL
    label = v.short_name(target.name, 12, 1)
    texts = chart.locator("g.textpoint text").all_text_contents()
    chart.locator("path.point").nth(texts.index(label)).click(force=True)
    ready(page)
    page.get_by_role("heading", name=target.name, exact=True).wait_for()
    page.wait_for_url(re.compile(rf"node={re.escape(target.id)}"))
    assert "view=lineage" in page.url and "family=loss" in page.url
    # the view is a link: reloading it shows the same graph with the node marked
    page.reload()
    ready(page)
    page.get_by_role("heading", name=target.name, exact=True).wait_for()
    sizes = chart.evaluate("el => [...el.querySelectorAll('path.point')].map(p => p.getBBox().width)")
    assert max(sizes) > min(sizes)  # the selected node is drawn larger


def test_compare_view_with_url_state(app_page, base_url, ready, tax):
    page = app_page
    a, b, c = "zero_centred_gradient_penalty", "relativistic_r1_r2", "lecam_regularisation"
    page.goto(f"{base_url}/explorer?view=compare&compare={a},{b}")
    ready(page)
    for tid in (a, b):
        page.get_by_role("heading", name=tax.techniques[tid].name, exact=True).wait_for()
    assert page.get_by_role("heading", name="Demo result").count() == 2
    # long equations scroll inside their card instead of being cut
    overflow = page.locator(".katex-display").first.evaluate("e => getComputedStyle(e).overflowX")
    assert overflow == "auto"
    # add a third technique with the picker: the URL follows
    box = page.locator("[data-testid='stMultiSelect']").filter(has_text="Techniques to compare")
    box.locator("input").click()
    box.locator("input").fill(tax.techniques[c].name)
    page.get_by_role("option", name=v.node_label(tax, c), exact=True).click()
    page.keyboard.press("Escape")
    ready(page)
    page.get_by_role("heading", name=tax.techniques[c].name, exact=True).wait_for()
    page.wait_for_url(re.compile(rf"compare={a}&compare={b}&compare={c}"))
    assert page.locator("[data-testid='stException']").count() == 0
