"""AppTest of the evidence page: the matrix from sweep tables (small ones made here, and the shipped
ones), a click opening the demo with the cell's configuration, sensitivity curves, the papers'
tables beside the published figures, and clear messages for a broken or empty folder."""
import dataclasses
import importlib
import json
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from apptest import open_page, texts
from app_pages.evidence_links import PAGE_KEYS, demo_link
from demos import evidence, sweep
from demos.catalog import CATALOG

ROOT = Path(__file__).resolve().parent.parent
PAGE = "../app_pages/evidence.py"
SPECS = {
    "t_mc": "purpose: matrix\ndemo: mode_collapse\nvariants: [gan, pacgan]\nset: {steps: 20, hidden: 8, eval_every: 10}\n"
            "grid: {dataset: [ring, grid]}\nseeds: 2\n",
    "t_dirac": "purpose: matrix\npaper: mescheder2018\ndemo: dirac\ngrid: {update: [simultaneous, alternating]}\nseeds: 1\n",
    "t_sens": "purpose: sensitivity\ndemo: mode_collapse\nvariants: [gan, pacgan]\nset: {steps: 20, hidden: 8, eval_every: 10}\n"
              "grid: {lr_d: [0.0001, 0.0004]}\nx: {key: lr_d, over: lr_g, label: ratio, log: true}\nseeds: 2\n",
    "t_pac": "purpose: paper\npaper: pacgan_table1\nform: cpu\ndemo: papers\nvariants: [gan, pacgan2]\nset: {steps: 20}\n"
             "grid: {dataset: [ring, grid]}\nseeds: 2\n",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweeps")
    for name, text in SPECS.items():
        p = out / f"{name}.yaml"
        p.write_text(f"name: {name}\n{text}")
        sweep.run_sweep(sweep.load_spec(p), out, serial=True, quiet=True)
    return out


def page(monkeypatch, folder, **params) -> AppTest:
    monkeypatch.setenv("GAN_CLINIC_SWEEPS", str(folder))
    return open_page(PAGE, 60, **params)


def test_matrix_rates_and_intervals(monkeypatch, folder):
    at = page(monkeypatch, folder)
    assert not at.exception
    mat = at.dataframe[0].value
    assert {"mode_collapse · ring", "mode_collapse · grid", "dirac · simultaneous", "dirac · alternating"} <= set(mat.columns)
    assert "✗ Plain GAN" in mat.index and "Packing (PacGAN)" in mat.index and "R1 gradient penalty" in mat.index
    cell = mat.loc["✗ Plain GAN", "mode_collapse · ring"]
    k, n = map(int, re.match(r"(\d+)/(\d+)", cell).groups())
    lo, hi = evidence.wilson(k, n)
    assert n == 2 and cell.endswith(f"{lo:.2f}–{hi:.2f}")
    assert mat.loc["R1 gradient penalty", "dirac · simultaneous"].startswith("1/1")  # R1 converges (Mescheder et al.)
    assert mat.loc["Packing (PacGAN)", "dirac · simultaneous"] in ("", None) or \
        str(mat.loc["Packing (PacGAN)", "dirac · simultaneous"]) == "nan"


def select(at, row: str, column: str) -> AppTest:
    mat = at.dataframe[0].value
    at.session_state["evidence_matrix"] = {"selection": {"rows": [], "columns": [],
                                                         "cells": [(list(mat.index).index(row), column)]}}
    return at.run()


def test_click_opens_the_demo_with_the_cells_configuration(monkeypatch, folder):
    at = select(page(monkeypatch, folder), "Packing (PacGAN)", "mode_collapse · grid")
    assert not at.exception
    links = [m.value for m in at.markdown if "Open mode_collapse" in m.value]
    assert links, texts(at)
    url = re.search(r"\((/mode_collapse\?[^)]*)\)", links[0]).group(1)
    assert "variant=pacgan" in url and "dataset=grid" in url and "steps=20" in url and "lr_d=0.0004" in url
    assert any("hidden" in w.value for w in at.warning)  # the page has no control for the sweep's width
    at = select(page(monkeypatch, folder), "✗ Plain GAN", "mode_collapse · ring")
    url = next(m.value for m in at.markdown if "Open mode_collapse" in m.value)
    assert "variant=pacgan" in url and "dataset=ring" in url  # a failure opens its page's default fix


def test_sensitivity_curve_and_url_choice(monkeypatch, folder):
    at = page(monkeypatch, folder, sweep="t_sens")
    assert not at.exception and at.selectbox(key="sweep").value == "t_sens"
    spec = json.loads(next(c for c in at.get("plotly_chart") if "ratio" in c.proto.spec).proto.spec)
    xs = sorted({x for tr in spec["data"] if tr.get("mode") == "lines+markers" for x in tr["x"]})
    assert xs == pytest.approx([0.025, 0.1])  # lr_d / lr_g at lr_g = 4e-3
    assert not page(monkeypatch, folder, sweep="bogus", machines="-4", cores="x").exception


def test_papers_beside_published_figures(monkeypatch, folder):
    at = page(monkeypatch, folder)
    pac = next(d.value for d in at.dataframe if "modes (paper)" in d.value.columns)
    row = pac[(pac["testbed"] == "grid") & (pac["method"] == "gan")].iloc[0]
    assert row["modes (paper)"] == "17.3" and row["HQ % (paper)"] == "94.8" and "±" in row["modes (ours)"]
    assert "CPU form" in texts(at) and "GPU form: not measured" in texts(at)
    dirac_rows = next(d.value for d in at.dataframe if "ours, simultaneous" in d.value.columns)
    assert dirac_rows.set_index("method").loc["r1", "paper"] == "converges"
    assert "No table for this paper yet" in texts(at)  # VEEGAN's table was not made here


def test_broken_and_empty_folders_are_explained(monkeypatch, folder, tmp_path):
    shutil.copy(folder / "t_mc.parquet", tmp_path / "t_mc.parquet")
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 this is not a table")
    at = page(monkeypatch, tmp_path)
    assert not at.exception
    assert any("corrupt" in e.value and "not a readable Parquet table" in e.value for e in at.error) and at.dataframe
    empty = tmp_path / "empty"
    empty.mkdir()
    at = page(monkeypatch, empty)
    assert not at.exception and "No sweep tables" in texts(at)


# ---- links: every URL key a link sets is a control of that demo's page ---------------------------
@pytest.mark.parametrize("demo", sorted(PAGE_KEYS))
def test_link_keys_are_the_pages_controls(demo):
    # a page's URL keys are string literals in its source: key="steps", KNOBS' names, url_choice's key
    source = (ROOT / "app_pages" / f"demo_{demo}.py").read_text(encoding="utf-8")
    if "med_page" in source:  # the medical pages are drawn by one shared renderer
        source += (ROOT / "app_pages" / "med_page.py").read_text(encoding="utf-8")
    controls = set(re.findall(r"""["'](\w+)["']""", source))
    controls |= {f"tp_{k}" for k in ("lr_g", "lr_d", "fast_lr_g", "fast_lr_d")} if demo == "tissue_patches" else set()
    fields = {f.name for f in dataclasses.fields(importlib.import_module(CATALOG[demo].module).Config)}
    for field, key in PAGE_KEYS[demo].items():
        assert field in fields, f"{demo}: {field} is not a config field"
        assert key in controls or key == "variant", f"{demo}: the page has no control {key!r}"


def test_link_for_every_shipped_matrix_cell():
    tables, errors = evidence.load_tables()
    assert errors == []
    m = evidence.matrix(tables)
    assert not m.empty, "no shipped matrix table in docs/sweeps"
    assert {d for d in CATALOG if (ROOT / "app_pages" / f"demo_{d}.py").is_file()} <= set(m["demo"]), \
        "a demo with a page has no row in the shipped evidence matrix"
    for _, e in m.iterrows():
        params, dropped = demo_link(e["demo"], e["variant"], e["role"], json.loads(e["config"]), set())
        assert dropped == [] and (params.get("variant") or params.get("failure")), (e["demo"], e["variant"])


def test_opens_on_the_shipped_tables():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception and not at.error
    assert len(at.dataframe[0].value.columns) >= 6


def test_a_click_in_the_app_switches_to_the_demo_page():
    """Through app.py (so the demo pages are registered): selecting a matrix cell switches to that
    demo with the cell's configuration in the URL, and the demo's controls take it."""
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    at.switch_page("app_pages/evidence.py")
    at.run()
    assert not at.exception
    mat = at.dataframe[0].value
    at.session_state["evidence_matrix"] = {"selection": {"rows": [], "columns": [], "cells": [
        (list(mat.index).index("Packing (PacGAN)"), "mode_collapse · grid")]}}
    at.run()
    assert not at.exception
    assert at.radio(key="dataset").value == "grid" and at.selectbox(key="variant").value == "pacgan"
    assert at.query_params["dataset"] == "grid"  # (pacgan is the page's default fix: it keeps it out of the URL)


def test_the_shipped_matrix_says_which_step_count_is_each_ring_fixs_default():
    """The ring's fixes were measured at 750 and 1,500 steps; the page trains PacGAN at 750 and
    minibatch stddev at 1,500 (demos/mode_collapse.FIX_STEPS). The matrix must not leave a reader
    to guess which row is what the demo page runs."""
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    rows = list(at.dataframe[0].value.index)
    assert any(r.startswith("Packing") and r.endswith("steps 750 (default)") for r in rows), rows
    assert any(r.startswith("Packing") and r.endswith("steps 1500") for r in rows), rows
    assert any(r.startswith("Minibatch") and r.endswith("steps 1500 (default)") for r in rows), rows
    assert any(r.startswith("Minibatch") and r.endswith("steps 750") for r in rows), rows
    assert "✗ Plain GAN · steps 750 (default)" in rows
    assert "✗ Plain GAN · steps 1500 (default beside Minibatch standard deviation, WGAN-GP)" in rows
    assert evidence.default_settings("dirac", "any", {}) == {}  # demos without per-comparison defaults
    assert evidence.default_note("no_such_demo", "gan", "failure", {"steps": 1}, "steps") == ""  # a foreign table
