"""AppTest checks of the explorer and About pages (no browser; each test runs the script a few times).

``AppTest.from_file`` resolves the path relative to this file. The taxonomy comes from
``$GAN_CLINIC_TAXONOMY``: the fixture of tests/test_views.py for the interactive checks, so the
expected numbers do not move while the shipped taxonomy grows.
"""
from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from taxonomy.load import ENV_VAR
from test_views import write_fixture

APP = "../app.py"


@pytest.fixture
def app(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    return AppTest.from_file(APP, default_timeout=60)


@pytest.fixture
def fixture_app(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(write_fixture(tmp_path)))
    return AppTest.from_file(APP, default_timeout=60)


def unescape(md: str) -> str:
    return re.sub(r"\\(.)", r"\1", md)


def texts(at) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(s.value for s in at.subheader)


def test_explorer_renders_the_shipped_taxonomy(app):
    app.run()
    assert not app.exception
    assert app.title[0].value == "Taxonomy explorer"
    assert not app.error
    sunburst = app.get("plotly_chart")[0].proto.spec
    assert '"type":"sunburst"' in sunburst.replace(" ", "")
    assert len(app.get("plotly_chart")) == 4  # sunburst, heatmap, modalities, timeline


def test_a_filter_changes_the_technique_table_and_the_url(fixture_app):
    at = fixture_app.run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 6
    at.multiselect(key="ex_family").set_value(["regularisation"]).run()
    assert len(at.dataframe[0].value) == 2
    assert at.query_params["family"] == "regularisation"
    at.text_input(key="ex_q").input("spectral").run()
    assert list(at.dataframe[0].value["id"]) == ["sngan"]
    assert at.query_params["q"] == "spectral"
    assert not at.exception


def test_node_in_the_url_opens_its_details(fixture_app):
    at = fixture_app
    at.query_params["node"] = "wgan_gp"
    at.run()
    assert not at.exception and not at.warning
    assert "Gradient penalty" in [s.value for s in at.subheader]
    md = texts(at)
    assert "##### References" in md and "##### Mechanism" in md
    assert any("\\lambda" in e.value for e in at.get("latex")) or "lambda" in str(at.get("markdown"))
    assert at.selectbox(key="ex_node").value == "wgan_gp"
    assert at.query_params["node"] == "wgan_gp"


def test_filters_in_the_url_are_applied_and_garbage_is_ignored_with_a_notice(fixture_app):
    at = fixture_app
    at.query_params["challenge"] = ["mode_collapse", "bogus"]
    at.query_params["years"] = "2017-2017"
    at.run()
    assert not at.exception
    assert list(at.dataframe[0].value["id"]) == ["wgan"]
    assert any("`bogus`" in i.value for i in at.info)
    assert at.query_params["challenge"] == "mode_collapse"  # the URL is cleaned


def test_unknown_node_shows_a_friendly_warning(fixture_app):
    at = fixture_app
    at.query_params["node"] = "nope"
    at.run()
    assert not at.exception
    assert len(at.warning) == 1 and "`nope`" in at.warning[0].value
    assert at.selectbox(key="ex_node").value is None


def test_a_bad_taxonomy_file_shows_the_error_and_the_app_stays_up(monkeypatch, tmp_path):
    path = write_fixture(tmp_path)
    text = path.read_text(encoding="utf-8")
    bad = tmp_path / "broken.yaml"
    bad.write_text(text.replace("family: architecture", "family: archi", 1), encoding="utf-8")
    line = next(i for i, s in enumerate(bad.read_text().splitlines(), 1) if "family: archi" in s)
    monkeypatch.setenv(ENV_VAR, str(bad))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert len(at.error) == 1
    message = unescape(at.error[0].value)
    assert f"broken.yaml, line {line}, field techniques[0].family: unknown family 'archi'" in message
    assert "expected one of: architecture" in message
    assert "Showing the shipped taxonomy instead" in message
    assert at.title[0].value == "Taxonomy explorer"  # falls back to the shipped taxonomy
    assert len(at.get("plotly_chart")) == 4


def test_about_renders(app):
    app.run()
    app.switch_page("app_pages/about.py").run()
    assert not app.exception
    assert app.title[0].value == "About GAN Clinic"
    md = texts(app)
    assert "10.1007/s10462-023-10624-y" in unescape(md) and "arxiv.org/abs/2201.07646" in md
    assert "python -m taxonomy check" in md


def test_uploads_are_validated_without_reading_server_files(tmp_path):
    from app_pages.common import parse_upload
    from taxonomy import TaxonomyError
    from taxonomy.load import DEFAULT_TAXONOMY

    shipped = DEFAULT_TAXONOMY.read_text(encoding="utf-8")
    # meta.bibliography of an upload is not followed (it could name any file on the server)
    raw = shipped.replace("meta:\n", "meta:\n  bibliography: /etc/passwd\n", 1).encode()
    tax = parse_upload(raw, "mine.yaml")
    assert tax.source == "mine.yaml" and len(tax.techniques) > 0
    with pytest.raises(TaxonomyError, match=r"mine\.yaml, line \d+, field techniques\[0\]\.family"):
        parse_upload(re.sub(r"\n    family: \w+", "\n    family: nope", shipped, count=1).encode(), "mine.yaml")


# ---------------------------------------------------------------------------------------------
# views: lineage and compare, with their URL state


def url_values(at, key: str) -> list[str]:
    raw = at.query_params.get(key)
    return [] if raw is None else [str(x) for x in (raw if isinstance(raw, list) else [raw])]


def charts(at) -> list[str]:
    return [c.proto.spec.replace(" ", "") for c in at.get("plotly_chart")]


def test_lineage_view_from_the_url_shows_the_graph_and_the_details(fixture_app):
    at = fixture_app
    at.query_params["view"] = "lineage"
    at.query_params["node"] = "wgan_gp"
    at.run()
    assert not at.exception and not at.warning
    assert '"type":"scatter"' in charts(at)[0] and '"type":"sunburst"' not in charts(at)[0]
    assert '"customdata":["wgan_gp","sngan"]' in charts(at)[0]
    assert "Gradient penalty" in [s.value for s in at.subheader]
    assert at.segmented_control(key="ex_view").value == "lineage"
    assert at.query_params["view"] == "lineage" and at.query_params["node"] == "wgan_gp"


def test_switching_views_keeps_the_selection_and_writes_the_url(fixture_app):
    at = fixture_app
    at.query_params["node"] = "ttur"
    at.run()
    at.segmented_control(key="ex_view").set_value("compare").run()
    assert not at.exception
    assert at.query_params["view"] == "compare" and at.query_params["node"] == "ttur"
    at.multiselect(key="ex_compare").set_value(["ttur", "wgan"]).run()
    assert url_values(at, "compare") == ["ttur", "wgan"]
    at.segmented_control(key="ex_view").set_value("lineage").run()
    assert at.query_params["view"] == "lineage" and url_values(at, "compare") == ["ttur", "wgan"]
    assert at.selectbox(key="ex_node").value == "ttur"  # not drawn in the compare view, still kept
    at.segmented_control(key="ex_view").set_value("compare").run()
    assert at.multiselect(key="ex_compare").value == ["ttur", "wgan"]
    assert not at.exception


def test_compare_view_reads_side_by_side(fixture_app):
    at = fixture_app
    at.query_params["view"] = "compare"
    at.query_params["compare"] = ["wgan_gp", "ttur", "nope"]
    at.run()
    assert not at.exception
    heads = [s.value for s in at.subheader]
    assert heads[:2] == ["Gradient penalty", "Two time-scale update rule"]
    assert any("`nope`" in i.value for i in at.info)
    md = texts(at)
    for field in ("##### Mechanism", "##### Equation", "##### Demo result", "##### Primary paper"):
        assert md.count(field) == 2, field
    latex = [e.value.strip("$\n") for e in at.get("latex")]
    assert r"a \ne b," in latex and r"\theta \leftarrow \theta - a g" in latex  # one line per part
    assert any(b.label == "Download comparison (CSV)" for b in at.get("download_button"))
    assert url_values(at, "compare") == ["wgan_gp", "ttur"]  # the unknown id is dropped


def test_a_garbage_view_in_the_url_opens_the_map_with_a_notice(fixture_app):
    at = fixture_app
    at.query_params["view"] = "<script>x</script>"
    at.query_params["compare"] = "x" * 300
    at.run()
    assert not at.exception
    assert '"type":"sunburst"' in charts(at)[0]
    notes = [i.value for i in at.info]
    assert any("Ignored the view" in n for n in notes) and any("technique to compare" in n for n in notes)
    assert "view" not in at.query_params and "compare" not in at.query_params
    assert not at.get("html")  # no raw HTML on the page


def test_compare_needs_two_techniques(fixture_app):
    at = fixture_app
    at.query_params["view"] = "compare"
    at.query_params["compare"] = "wgan"
    at.run()
    assert not at.exception
    assert any("at least two" in i.value for i in at.info)
    assert not [s.value for s in at.subheader]


def test_a_challenge_lists_the_demos_beneath_it(fixture_app):
    at = fixture_app
    at.query_params["node"] = "non_convergence"
    at.run()
    assert not at.exception
    md = texts(at)
    assert "##### Live demos beneath it (4)" in md
    links = [p for p in at.get("page_link")]
    labels = [p.proto.label for p in links]
    assert "Open demo: Dirac-GAN: why GAN training circles · Two time-scale update (TTUR) (for Two time-scale update rule)" in labels
    hrefs = [p.proto.page for p in links if p.proto.label.startswith("Open demo:")]
    assert len(hrefs) == 4
