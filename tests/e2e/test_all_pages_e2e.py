"""Every page of the app in a real browser: it loads with no exception, its main plot renders, and
its primary action works. The pages are found, not listed: the explorer, About, and every demo of
``demos.catalog.CATALOG`` whose ``app_pages/demo_<id>.py`` exists, so a page added later is
covered without an edit here.

Primary action, per kind of page:

* explorer: open a node from the selectbox; its heading and references appear;
* About: the survey's citation is shown;
* a demo page with a Run button: opened with a tiny config in the URL (its ``*steps`` and
  ``*seeds`` parameters, read from the page's widget keys; the page clamps them to its range),
  Run is pressed, and the run shows progress (or the queue notice) and then its live result;
* a demo page without one (computed inline, e.g. the Dirac-GAN): another fix is picked, and the
  plots are redrawn for it.

Also: the presenter's lesson, stepped through with Next and back with Back, and a tour of every
page through the sidebar after using the previous one (pages share widget key names).
"""
from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

from demos.catalog import CATALOG
from taxonomy import load_taxonomy

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MAIN = "[data-testid='stMain']"
EXCEPTION = "[data-testid='stException']"
# what counts as a page's main plot, in order of preference
PLOTS = ["[data-testid='stPlotlyChart'] .main-svg", "[data-testid='stVegaLiteChart'] canvas",
         "[data-testid='stImage'] img", "[data-testid='stPyplot'] img", "[data-testid='stDataFrame']"]
DEMO_PAGES = [d for d in CATALOG if (ROOT / "app_pages" / f"demo_{d}.py").is_file()]
TINY_STEPS, TINY_SEEDS = 100, 2


def source(demo_id: str) -> str:
    """The page's source, and that of the app_pages modules it renders through (a shared page such as
    app_pages/med_page.py holds the widgets of thin pages)."""
    text = (ROOT / "app_pages" / f"demo_{demo_id}.py").read_text(encoding="utf-8")
    for mod in re.findall(r"^from app_pages\.(\w+) import render", text, flags=re.M):
        text += (ROOT / "app_pages" / f"{mod}.py").read_text(encoding="utf-8")
    return text


def tiny_query(demo_id: str) -> str:
    """``steps`` / ``seeds`` parameters of a demo page (whatever it calls them), set small."""
    keys = set(re.findall(r"""key=["'](\w+)["'][^)]*bind=["']query-params["']""", source(demo_id)))
    steps_lo = 0
    module = CATALOG[demo_id].module
    if module:
        fields = {f.name: f for f in dataclasses.fields(importlib.import_module(module).Config)}
        if "steps" in fields:
            steps_lo = (fields["steps"].metadata or {}).get("lo") or 0
    q = [f"{k}={max(TINY_STEPS, steps_lo)}" for k in sorted(keys) if k.endswith("steps")]
    q += [f"{k}={TINY_SEEDS}" for k in sorted(keys) if k.endswith("seeds")]
    return "&".join(q)


def main_text(page) -> str:
    return page.locator(MAIN).inner_text()


def assert_main_plot(page, timeout: float = 30_000) -> None:
    # ":visible": a table folded inside a closed expander (a page's data sources) comes first in
    # the DOM but is no plot anyone sees; wait for the first *visible* one
    page.wait_for_selector(", ".join(f"{p}:visible" for p in PLOTS), timeout=timeout)
    assert page.locator(", ".join(PLOTS)).count() > 0
    assert page.locator(EXCEPTION).count() == 0


def no_exception(page) -> None:
    shown = page.locator(EXCEPTION).all_inner_texts()
    assert not shown, shown[0][:500]


def test_explorer_loads_plots_and_opens_a_node(app_page, base_url, ready):
    page = app_page
    page.goto(base_url + "/explorer")
    ready(page)
    assert_main_plot(page)
    tech = sorted(load_taxonomy().techniques.values(), key=lambda t: t.name)[0]
    box = page.locator("[data-testid='stSelectbox']").filter(has_text="Open a technique")
    box.locator("input").click()
    box.locator("input").fill(tech.name)
    page.get_by_role("option").filter(has_text=tech.name).first.click()
    ready(page)
    page.get_by_role("heading", name=tech.name, exact=True).wait_for()
    page.get_by_role("heading", name="References", exact=True).wait_for()
    assert f"node={tech.id}" in page.url
    no_exception(page)


def test_about_loads_and_cites_the_survey(app_page, base_url, ready):
    page = app_page
    page.goto(base_url + "/about")
    ready(page)
    page.get_by_role("heading", name="About GAN Clinic").wait_for()
    text = main_text(page)
    assert "Saad" in text and "biomedical image analysis" in text.lower(), text[:800]
    assert "10.1007/s10462-023-10624-y" in text or "2201.07646" in text
    no_exception(page)


@pytest.mark.parametrize("demo_id", DEMO_PAGES)
def test_demo_page_loads_plots_and_its_primary_action_works(app_page, base_url, ready, demo_id):
    page = app_page
    info = CATALOG[demo_id]
    has_run = re.search(r"""st\.button\([^)]*Run""", source(demo_id)) is not None
    query = tiny_query(demo_id) if has_run else ""
    page.goto(f"{base_url}/{demo_id}" + (f"?{query}" if query else ""))
    ready(page, 60_000)
    page.locator("h1").first.wait_for()
    assert_main_plot(page)
    if has_run:
        page.locator("[data-testid='stBaseButton-primary']").filter(has_text="Run").first.click()
        # progress (bar or queue place) or, for a run already in the result cache, the result
        page.wait_for_function(
            """() => document.querySelector("[data-testid='stProgress']")
                  || document.querySelector("[data-testid='stMain']").innerText.includes("Live run")
                  || document.querySelector("[data-testid='stMain']").innerText.includes("Waiting for a free trainer")""",
            timeout=60_000)
        page.wait_for_function(
            """() => document.querySelector("[data-testid='stMain']").innerText.includes("Live run")
                  || document.querySelector("[data-testid='stMain']").innerText.includes("The run failed")
                  || document.querySelector("[data-testid='stException']")""",
            timeout=240_000)
        ready(page, 60_000)
        no_exception(page)
        assert "The run failed" not in main_text(page)
        assert_main_plot(page)
    else:
        fix = page.locator("[data-testid='stSelectbox']").filter(has_text="Fix")
        assert fix.count(), f"{demo_id}: neither a Run button nor a Fix picker"
        other = next(v for v, label in info.variants.items() if v not in (info.failure, info.default_fix))
        fix.locator("input").first.click()
        page.get_by_role("option", name=info.variants[other], exact=True).click()
        ready(page, 60_000)
        page.wait_for_url(re.compile(rf"[?&]variant={other}(&|$)"))
        no_exception(page)
        assert_main_plot(page)


def test_presenter_lesson_forward_and_back(app_page, base_url, ready):
    page = app_page
    page.goto(base_url + "/explorer?present=1")
    ready(page)
    bar = page.locator(MAIN).locator("[data-testid='stMarkdown']").filter(has_text=re.compile(r"^Step \d+ of \d+"))
    n = int(re.search(r"of (\d+)", bar.first.inner_text()).group(1))
    assert page.locator("[data-testid='stSidebar']").is_hidden()  # controls tucked away

    def step(label: str, expect: int) -> None:
        control = page.locator(MAIN).locator("[data-testid='stPageLink'], [data-testid='stButton']").filter(
            has_text=label)  # textContent runs the label into its icon's name ("Nextarrow_forward")
        control.first.click()
        ready(page, 60_000)
        page.locator(MAIN).get_by_text(re.compile(rf"^Step {expect} of {n}")).wait_for()
        no_exception(page)
        assert_main_plot(page, 60_000)

    for i in range(2, n + 1):
        step("Next", i)
    for i in range(n - 1, 0, -1):
        step("Back", i)
    page.get_by_role("button", name="Exit").click()
    ready(page)
    page.locator("[data-testid='stSidebar']").wait_for(state="visible")


def test_sidebar_tour_after_using_each_page(app_page, base_url, ready):
    """Pages share widget key names; a value left by one page must not break the next."""
    page = app_page
    page.goto(base_url + "/explorer")
    ready(page)
    names = ["Taxonomy explorer", "About", *(CATALOG[d].title for d in DEMO_PAGES)]
    for name in names + names[::-1]:
        page.locator("[data-testid='stSidebar'] [data-testid='stPageLink']").filter(has_text=name).first.click()
        ready(page, 60_000)
        no_exception(page)
        # use the page: pick the second option of its first visible radio, if any, so its widgets hold state
        radio = page.locator(f"{MAIN} [data-testid='stRadio']").filter(visible=True)
        if radio.count() and radio.first.locator("label").count() > 1:
            radio.first.locator("label").nth(1).click()
            ready(page, 60_000)
            no_exception(page)
