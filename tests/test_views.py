"""Unit tests of taxonomy.views: filters, search, URL state, tables, BibTeX, CSV and figures.

They run on a small fixture taxonomy written here (its own bibliography file), so they do not
depend on the content of the shipped taxonomy, which grows independently. ``write_fixture`` is
reused by tests/test_app_explorer.py.
"""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from taxonomy import load_taxonomy
from taxonomy import views as v

FIXTURE_BIB = r"""
references:
  saad2024survey:
    authors: Saad, Muhammad Muneeb and O'Reilly, Ruairi and Rehmani, Mubashir Husain
    title: A survey on training challenges in generative adversarial networks for biomedical image analysis
    year: 2024
    venue: Artificial Intelligence Review 57(2)
    kind: survey
    doi: 10.1007/s10462-023-10624-y
    arxiv: "2201.07646"
    status: verified
  fx_pack:
    authors: Lin, Zinan and Khetan, Ashish
    title: "PacGAN: The Power of Two Samples"
    year: 2018
    venue: NeurIPS
    kind: technique
    arxiv: "1712.04086"
    status: verified
  fx_wgan:
    authors: Arjovsky, Martin and Chintala, Soumith and Bottou, Leon
    title: Wasserstein Generative Adversarial Networks
    year: 2017
    venue: Proceedings of the 34th International Conference on Machine Learning (ICML)
    kind: technique
    arxiv: "1701.07875"
    status: verified
  fx_ttur:
    authors: Heusel, Martin
    title: Two time-scale update rule
    year: 2017
    venue: Journal of Imaginary Results
    kind: technique
    doi: 10.1234/jir.2017(5)
    status: partial
    note: page numbers not checked
  fx_weird:
    authors: O'Neil, Ann and {Lab} Group
    title: "Braces {in} titles & 100% _under_ $x$ # \\cmd"
    year: 2019
    venue: arXiv preprint
    kind: technique
    status: unverified
  fx_mri:
    authors: Doe, Jane
    title: Brain MRI synthesis with a GAN
    year: 2019
    venue: Medical Image Analysis
    kind: application
    doi: 10.1016/j.media.2019.01.001
    status: verified
  fx_ct:
    authors: Roe, Richard
    title: Low-dose CT denoising
    year: 2020
    venue: MICCAI
    kind: application
    arxiv: "2001.00001"
    status: verified
"""

FIXTURE_TAXONOMY = r"""
meta:
  title: Fixture taxonomy
  version: 3
  survey: saad2024survey
  provenance: A fixture for tests, organised like the survey.
  bibliography: bib.yaml
challenges:
  - id: mode_collapse
    name: Mode collapse
    summary: Few modes.
    symptoms: [identical samples]
  - id: non_convergence
    name: Non-convergence
    summary: Oscillation.
  - id: instability
    name: Instability
    summary: Vanishing gradients.
families:
  - id: architecture
    name: Architecture modifications
    summary: Change the networks.
  - id: loss
    name: Loss-function modifications
    summary: Change the objective.
  - id: regularisation
    name: Regularisation
    summary: Constrain the discriminator.
  - id: optimisation
    name: Optimisation
    summary: Change the game's solver.
techniques:
  - id: pacgan
    name: Packing (PacGAN)
    family: architecture
    primary_challenge: mode_collapse
    challenges: [mode_collapse]
    year: 2018
    summary: The discriminator judges several samples at once.
    mechanism: Concatenate m samples.
    equation: D(x_1, \dots, x_m)
    reference: fx_pack
    demo: {id: mode_collapse, variant: pacgan}
    biomedical_uses:
      - {ref: fx_mri, modality: MRI, task: brain MRI synthesis}
  - id: wgan
    name: Wasserstein GAN
    family: loss
    primary_challenge: instability
    challenges: [instability, mode_collapse]
    year: 2017
    summary: Earth mover distance critic.
    mechanism: A Lipschitz critic estimates the Wasserstein-1 distance.
    reference: fx_wgan
    biomedical_uses:
      - {ref: fx_ct, modality: CT, task: denoising}
      - {ref: fx_mri, modality: MRI, task: synthesis}
  - id: wgan_gp
    name: Gradient penalty
    family: regularisation
    primary_challenge: instability
    challenges: [instability, non_convergence]
    year: 2017
    summary: Penalise the critic's gradient norm.
    mechanism: Soft Lipschitz constraint.
    equation: \lambda (\lVert \nabla D \rVert - 1)^2
    reference: fx_wgan
    builds_on: [wgan]
    demos:
      - {id: mode_collapse, variant: wgan_gp}
      - {id: dirac, variant: wgan_gp}
  - id: ttur
    name: Two time-scale update rule
    family: optimisation
    primary_challenge: non_convergence
    challenges: [non_convergence]
    year: 2017
    summary: Different learning rates for the two players.
    mechanism: Two step sizes.
    equation: a \ne b,\qquad \theta \leftarrow \theta - a g
    reference: fx_ttur
    demos: [{id: oscillation, variant: ttur}, {id: dirac, variant: ttur}]
  - id: sngan
    name: Spectral normalisation
    family: regularisation
    primary_challenge: instability
    challenges: [instability]
    year: 2018
    summary: Normalise each layer by its spectral norm.
    mechanism: Power iteration.
    reference: fx_pack
    also_see: [fx_weird]
  - id: unrolled
    name: Unrolled GAN
    family: optimisation
    primary_challenge: mode_collapse
    challenges: [mode_collapse, non_convergence]
    year: 2016
    summary: The generator looks ahead at the discriminator's updates.
    mechanism: Unroll k discriminator steps.
    reference: fx_ttur
    biomedical_uses:
      - {ref: fx_ct, modality: CT, task: segmentation}
"""


def write_fixture(directory: Path) -> Path:
    """Write the fixture taxonomy and its bibliography into ``directory``; return the taxonomy path."""
    (directory / "bib.yaml").write_text(FIXTURE_BIB, encoding="utf-8")
    path = directory / "fixture_taxonomy.yaml"
    path.write_text(FIXTURE_TAXONOMY, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tax(tmp_path_factory):
    return load_taxonomy(write_fixture(tmp_path_factory.mktemp("fixture")))


def ids(techniques):
    return [t.id for t in techniques]


# ---------------------------------------------------------------------------------------------
# filters and search


def test_no_filter_keeps_everything_in_file_order(tax):
    assert ids(v.filter_techniques(tax, v.Filters())) == list(tax.techniques)
    assert v.Filters().is_empty() and not v.Filters(q="x").is_empty()


def test_challenge_filter_counts_every_addressed_challenge(tax):
    got = ids(v.filter_techniques(tax, v.Filters(challenges=("mode_collapse",))))
    assert got == ["pacgan", "wgan", "unrolled"]  # wgan addresses it without being at home there
    got = ids(v.filter_techniques(tax, v.Filters(challenges=("mode_collapse", "non_convergence"))))
    assert got == ["pacgan", "wgan", "wgan_gp", "ttur", "unrolled"]


def test_family_modality_and_year_filters_combine(tax):
    assert ids(v.filter_techniques(tax, v.Filters(families=("regularisation",)))) == ["wgan_gp", "sngan"]
    assert ids(v.filter_techniques(tax, v.Filters(modalities=("CT",)))) == ["wgan", "unrolled"]
    assert ids(v.filter_techniques(tax, v.Filters(years=(2018, 2018)))) == ["pacgan", "sngan"]
    both = v.Filters(modalities=("MRI",), years=(2017, 2017))
    assert ids(v.filter_techniques(tax, both)) == ["wgan"]
    assert v.filter_techniques(tax, v.Filters(families=("architecture",), challenges=("instability",))) == []


def test_search_is_case_insensitive_over_names_and_summaries_and_needs_every_word(tax):
    assert ids(v.search(tax, "WASSERSTEIN")) == ["wgan"]
    assert ids(v.search(tax, "spectral norm")) == ["sngan"]  # name and summary words
    assert ids(v.search(tax, "discriminator")) == ["pacgan", "unrolled"]  # summaries only
    assert ids(v.search(tax, "discriminator packing")) == ["pacgan"]
    assert v.search(tax, "power iteration") == []  # mechanism is not searched
    assert ids(v.search(tax, "  ")) == list(tax.techniques)
    assert ids(v.filter_techniques(tax, v.Filters(q="gan", families=("loss",)))) == ["wgan"]


# ---------------------------------------------------------------------------------------------
# nodes and URL state


def test_node_keys_resolve_and_sunburst_ids_map_to_nodes(tax):
    assert v.resolve_node(tax, "pacgan") == v.Node("technique", "pacgan")
    assert v.resolve_node(tax, "mode_collapse") == v.Node("challenge", "mode_collapse")
    assert v.resolve_node(tax, "family:loss") == v.Node("family", "loss")
    assert v.resolve_node(tax, "nope") is None and v.resolve_node(tax, "family:nope") is None
    assert v.node_from_sunburst_id(tax, "instability/loss/wgan") == "wgan"
    assert v.node_from_sunburst_id(tax, "instability/loss") == "loss"
    assert v.node_from_sunburst_id(tax, "instability") == "instability"
    assert v.node_from_sunburst_id(tax, "a/b/c/d") is None
    opts = v.node_options(tax)
    assert len(opts) == len(set(opts)) == 6 + 3 + 4
    assert v.node_label(tax, "wgan") == "Wasserstein GAN (2017)"


def test_parse_query_reads_a_shared_link(tax):
    s = v.parse_query(tax, {"node": "pacgan", "challenge": ["mode_collapse"], "family": "loss,architecture",
                            "modality": "mri", "q": " gan ", "years": "2017-2018"})
    assert s.node == "pacgan" and s.unknown_node is None and s.notices == ()
    assert s.filters == v.Filters("gan", ("mode_collapse",), ("loss", "architecture"), ("MRI",), (2017, 2018))
    # and it round-trips through to_query
    again = v.parse_query(tax, v.to_query(tax, s.filters, s.node))
    assert again.filters == s.filters and again.node == s.node


def test_parse_query_ignores_garbage_with_notices_and_reports_unknown_node(tax):
    s = v.parse_query(tax, {"node": "nope", "challenge": ["zz", "instability"], "modality": "`x-ray`<b>",
                            "years": "soon", "family": ""})
    assert s.node is None and s.unknown_node == "nope"
    assert s.filters.challenges == ("instability",) and s.filters.modalities == () and s.filters.years is None
    assert len(s.notices) == 3
    assert "`zz`" in s.notices[0] and "challenge" in s.notices[0]
    assert "'x-ray'<b>" in s.notices[1]  # backticks of the URL value cannot end the code span
    assert "years=2016-2018" in s.notices[2]


def test_years_are_clamped_and_defaults_stay_out_of_the_url(tax):
    assert v.parse_years("2010-2017", (2016, 2018)) == (2016, 2017)
    assert v.parse_years("2018..2016", (2016, 2018)) == (2016, 2018)
    assert v.parse_years("2017", (2016, 2018)) == (2017, 2017)
    assert v.parse_years("1990-2000", (2016, 2018)) is None
    assert v.parse_query(tax, {"years": ["2016", "2018"]}).filters.years is None  # the full range
    assert v.to_query(tax, v.Filters(years=(2016, 2018)), None) == {}
    assert v.to_query(tax, v.Filters(years=(2017, 2018)), "loss") == {"node": "loss", "years": "2017-2018"}
    long = v.parse_query(tax, {"q": "x" * 500})
    assert len(long.filters.q) == v.MAX_QUERY_LEN and long.notices


# ---------------------------------------------------------------------------------------------
# references, BibTeX and CSV


def test_reference_markdown_links_and_flags(tax):
    md = v.reference_markdown("fx_ttur", tax.references["fx_ttur"])
    assert "(https://doi.org/10.1234/jir.2017%285%29)" in md  # brackets encoded: the link stays whole
    assert "partial" in md and "page numbers not checked" in md
    md = v.reference_markdown("fx_pack", tax.references["fx_pack"])
    assert "[arXiv:1712\\.04086](https://arxiv.org/abs/1712.04086)" in md and "partial" not in md
    assert "unverified" in v.reference_markdown("fx_weird", tax.references["fx_weird"])
    assert v.md_escape("<b>[x](y)</b> $z$") == r"\<b\>\[x\]\(y\)\</b\> \$z\$"


def test_bibtex_entry_types_keys_and_escaping(tax):
    bib = v.bibtex(tax, v.cited_keys(tax, tax.techniques.values()))
    assert bib.startswith("@article{saad2024survey,")  # the survey leads
    assert "@inproceedings{fx_pack," in bib and "  booktitle = {NeurIPS}," in bib
    assert "@inproceedings{fx_wgan," in bib  # "Proceedings ... (ICML)"
    assert "@article{fx_ttur," in bib and "journal = {Journal of Imaginary Results}" in bib
    assert "@misc{fx_weird," in bib and "howpublished = {arXiv preprint}" in bib
    assert bib.count("@inproceedings{fx_ct,") == 1  # cited by two techniques, exported once
    assert "eprint = {1712.04086}" in bib and "archiveprefix = {arXiv}" in bib
    weird = v.bibtex_entry("fx_weird", tax.references["fx_weird"])
    assert r"title = {Braces \{in\} titles \& 100\% \_under\_ \$x\$ \# \textbackslash{}cmd}" in weird
    assert r"author = {O'Neil, Ann and \{Lab\} Group}" in weird
    assert "note = {GAN Clinic: reference unverified}" in weird
    # every entry's braces balance once escaped braces are removed
    for entry in bib.split("\n@"):
        plain = entry.replace(r"\{", "").replace(r"\}", "")
        assert plain.count("{") == plain.count("}")
    assert v.bib_key("a key, with {odd}") == "a_key__with__odd_"
    assert v.bibtex(tax, ["missing", "fx_pack", "fx_pack"]).count("@") == 1


def test_csv_has_the_technique_columns_and_one_row_per_technique(tax):
    techs = v.filter_techniques(tax, v.Filters(families=("loss", "optimisation")))
    frame = pd.read_csv(io.BytesIO(v.to_csv(v.techniques_frame(tax, techs))))
    assert list(frame.columns) == v.TECHNIQUE_COLUMNS
    assert list(frame["id"]) == ["wgan", "ttur", "unrolled"]
    row = frame.set_index("id").loc["wgan"]
    assert row["challenges"] == "Instability; Mode collapse" and row["modalities"] == "CT; MRI"
    assert row["biomedical_uses"] == 2 and row["year"] == 2017
    assert list(v.techniques_frame(tax, []).columns) == v.TECHNIQUE_COLUMNS


def test_papers_frame_follows_techniques_and_modality(tax):
    all_papers = v.papers_frame(tax, tax.techniques.values())
    assert list(all_papers.columns) == v.PAPER_COLUMNS and len(all_papers) == 4
    ct = v.papers_frame(tax, tax.techniques.values(), v.Filters(modalities=("CT",)))
    assert sorted(ct["technique_id"]) == ["unrolled", "wgan"] and set(ct["modality"]) == {"CT"}
    assert ct["link"].tolist() == ["https://arxiv.org/abs/2001.00001"] * 2
    assert dict(v.modality_counts(all_papers)) == {"CT": 1, "MRI": 1}  # distinct papers


# ---------------------------------------------------------------------------------------------
# figures


def test_sunburst_has_one_node_per_challenge_home_family_and_technique(tax):
    fig = v.sunburst_figure(tax, tax.techniques.values())
    trace = fig.data[0]
    # 3 challenges + 5 (challenge, family) homes + 6 techniques
    assert len(trace.ids) == 3 + 5 + 6 == len(set(trace.ids))
    assert "instability/regularisation/sngan" in trace.ids
    assert set(trace.parents) - set(trace.ids) == {""}  # every parent exists
    small = v.sunburst_figure(tax, v.filter_techniques(tax, v.Filters(q="wasserstein")))
    assert list(small.data[0].ids) == ["mode_collapse", "non_convergence", "instability", "instability/loss",
                                       "instability/loss/wgan"]


def test_count_figures(tax):
    counts = v.challenge_family_counts(tax, tax.techniques.values())
    assert counts.loc["mode_collapse", "loss"] == 1  # wgan, counted away from its primary home
    assert counts.loc["instability", "regularisation"] == 2
    assert int(counts.values.sum()) == sum(len(t.challenges) for t in tax.techniques.values())
    heat = v.challenge_family_figure(tax, tax.techniques.values())
    assert len(heat.data[0].y) == 3 and len(heat.data[0].x) == 4
    timeline = v.timeline_figure(tax, tax.techniques.values())
    assert sum(sum(tr.y) for tr in timeline.data) == 6  # every technique once, stacked by challenge
    assert list(timeline.data[0].x) == [2016, 2017, 2018]
    bars = v.modality_figure(v.papers_frame(tax, tax.techniques.values()))
    assert list(bars.data[0].x) == ["CT", "MRI"] or list(bars.data[0].x) == ["MRI", "CT"]
    assert len(v.modality_figure(v.papers_frame(tax, [])).data[0].x) == 0


def test_shipped_taxonomy_renders_every_view():
    tax = load_taxonomy()
    techs = list(tax.techniques.values())
    assert len(v.sunburst_figure(tax, techs).data[0].ids) >= len(techs) + len(tax.challenges)
    assert len(v.techniques_frame(tax, techs)) == len(techs)
    bib = v.bibtex(tax, v.cited_keys(tax, techs))
    assert bib.count("\n@") + 1 == len(v.cited_keys(tax, techs))
    for key in v.node_options(tax):
        assert v.resolve_node(tax, key) is not None


# ---------------------------------------------------------------------------------------------
# demo links, group nodes


def test_group_members_and_the_demos_beneath_them(tax):
    members = v.group_members(tax, v.Node("challenge", "non_convergence"))
    assert ids(members) == ["unrolled", "wgan_gp", "ttur"]  # by year, then name
    assert ids(v.group_members(tax, v.Node("family", "regularisation"))) == ["wgan_gp", "sngan"]
    refs = v.demos_under(members, order=["mode_collapse", "oscillation", "dirac"])
    assert [(r.demo, r.variant) for r in refs] == [
        ("mode_collapse", "wgan_gp"), ("oscillation", "ttur"), ("dirac", "wgan_gp"), ("dirac", "ttur")]
    assert refs[0].techniques == ("wgan_gp",)
    # two techniques linking one variant are listed once, both named
    both = v.demos_under([tax.techniques["wgan_gp"], tax.techniques["wgan_gp"], tax.techniques["pacgan"]])
    assert [(r.demo, r.variant, r.techniques) for r in both] == [
        ("mode_collapse", "wgan_gp", ("wgan_gp",)), ("dirac", "wgan_gp", ("wgan_gp",)),
        ("mode_collapse", "pacgan", ("pacgan",))]
    assert v.demos_under([tax.techniques["sngan"]]) == []


def test_csv_lists_every_demo_link(tax):
    frame = v.techniques_frame(tax, [tax.techniques["ttur"], tax.techniques["sngan"]])
    assert list(frame["demo"]) == ["oscillation:ttur; dirac:ttur", ""]


# ---------------------------------------------------------------------------------------------
# views and compare in the URL


def test_view_and_compare_round_trip_through_the_url(tax):
    s = v.parse_query(tax, {"view": "compare", "compare": "wgan,ttur", "node": "wgan"})
    assert (s.view, s.compare, s.node, s.notices) == ("compare", ("wgan", "ttur"), "wgan", ())
    q = v.to_query(tax, s.filters, s.node, s.view, s.compare)
    assert q == {"view": "compare", "compare": ["wgan", "ttur"], "node": "wgan"}
    again = v.parse_query(tax, q)
    assert (again.view, again.compare, again.node) == (s.view, s.compare, s.node)
    assert v.to_query(tax, v.Filters(), None, "map", ()) == {}  # the default view stays out of the URL
    assert v.parse_query(tax, {"view": "LINEAGE"}).view == "lineage"


def test_bad_view_and_compare_values_are_dropped_with_notices(tax):
    s = v.parse_query(tax, {"view": "<b>graph`", "compare": ["wgan", "nope", "wgan"]})
    assert s.view == "map" and s.compare == ("wgan",)
    assert len(s.notices) == 2
    assert "`<b>graph'`" in s.notices[0] and "`lineage`" in s.notices[0]
    assert "`nope`" in s.notices[1] and "technique to compare" in s.notices[1]
    five = v.parse_query(tax, {"compare": "pacgan,wgan,wgan_gp,ttur,sngan"})
    assert five.compare == ("pacgan", "wgan", "wgan_gp", "ttur") and "Only 4" in five.notices[0]


# ---------------------------------------------------------------------------------------------
# equations and labels


@pytest.mark.parametrize(
    "equation, lines",
    [
        (None, []),
        ("a + b", ["a + b"]),
        (r"a = 1,\qquad b = 2", ["a = 1,", "b = 2"]),
        (r"a = 1,\qquad b = 2\,\qquad c", ["a = 1,", "b = 2", "c"]),
        (r"\frac{a \qquad b}{c} \qquad d", [r"\frac{a \qquad b}{c}", "d"]),  # not inside braces
        (r"x \quad y \qquad z", [r"x \quad y", "z"]),  # \quad is not a separator
        (r"\{ a \qquad b", [r"\{ a", "b"]),  # an escaped brace does not open a group
        (r"\qquad", []),
    ],
)
def test_equation_lines(equation, lines):
    assert v.equation_lines(equation) == lines


def test_shipped_equations_split_into_balanced_lines():
    tax = load_taxonomy()
    for t in tax.techniques.values():
        for line in v.equation_lines(t.equation):
            plain = line.replace(r"\{", "").replace(r"\}", "")
            assert plain.count("{") == plain.count("}"), (t.id, line)


def test_chart_labels_are_short_wrapped_and_escaped():
    assert v.label_lines("Non-convergence", 12) == "Non-<br>convergence"
    assert v.label_lines("Instability and vanishing gradients", 12) == "Instability<br>and<br>vanishing<br>gradients"
    assert v.label_lines("<b> & c", 40) == "&lt;b&gt; &amp; c"
    assert v.short_name("Packing (PacGAN)") == "PacGAN"
    assert v.short_name("Gradient-descent locally stable regulariser", 12, 1) == "Gradient-…"
    assert v.short_name("Wasserstein GAN") == "Wasserstein<br>GAN"
    assert v.short_name("Original minimax loss (saturating generator loss)", 14, 2) == "Original<br>minimax loss…"


def test_sunburst_hides_labels_too_small_to_read(tax):
    fig = v.sunburst_figure(tax, tax.techniques.values())
    assert fig.layout.uniformtext.mode == "hide" and fig.layout.uniformtext.minsize >= 10
    trace = fig.data[0]
    assert trace.labels[list(trace.ids).index("instability/loss/wgan")] == "Wasserstein<br>GAN"
    assert trace.customdata[list(trace.ids).index("instability/loss/wgan")][0] == "Wasserstein GAN"


# ---------------------------------------------------------------------------------------------
# lineage


def test_lineage_layout_places_by_year_and_family_lane(tax):
    techs = list(tax.techniques.values())
    pos = v.lineage_layout(tax, techs)
    assert set(pos) == set(tax.techniques)
    assert all(pos[t.id][0] == t.year for t in techs)
    assert len(set(pos.values())) == len(pos)  # no two nodes coincide
    # wgan_gp and sngan share a family but not a year; wgan_gp, ttur, wgan share a year not a family
    lanes = v.lineage_lanes(tax, techs)
    order = [lanes[f][0] for f in tax.families]
    assert order == sorted(order, reverse=True)  # first family on top
    for t in techs:
        centre, height = lanes[t.family]
        assert abs(pos[t.id][1] - centre) <= (height - 1) / 2
    # two techniques of one family and year are stacked one slot apart
    extra = techs + [tax.techniques["wgan_gp"].model_copy(update={"id": "wgan_lp", "name": "A penalty"})]
    pos2 = v.lineage_layout(tax, extra)
    assert pos2["wgan_lp"][0] == pos2["wgan_gp"][0] and abs(pos2["wgan_lp"][1] - pos2["wgan_gp"][1]) == 1


def test_lineage_edges_follow_the_filters(tax):
    assert v.lineage_edges(tax.techniques.values()) == [("wgan", "wgan_gp")]
    assert v.lineage_edges([tax.techniques["wgan_gp"]]) == []  # its ancestor is filtered out


def test_lineage_figure_is_clickable_and_marks_the_selection(tax):
    fig = v.lineage_figure(tax, tax.techniques.values(), selected="wgan_gp")
    assert [tr.name for tr in fig.data] == [f.name for f in tax.families.values()]
    assert len(fig.layout.annotations) == 1  # one builds_on arrow
    arrow = fig.layout.annotations[0]
    pos = v.lineage_layout(tax, tax.techniques.values())
    assert (arrow.ax, arrow.ay, arrow.x, arrow.y) == (*pos["wgan"], *pos["wgan_gp"])
    assert arrow.arrowcolor == "#333333"  # it touches the selection
    reg = next(tr for tr in fig.data if tr.name == "Regularisation")
    assert list(reg.customdata) == ["wgan_gp", "sngan"]
    assert reg.marker.size[0] > reg.marker.size[1]
    assert v.family_colours(tax)["regularisation"] == reg.marker.color
    empty = v.lineage_figure(tax, [])
    assert len(empty.data) == 0 and len(empty.layout.annotations) == 0


@pytest.mark.parametrize(
    "point, key",
    [({"customdata": "wgan"}, "wgan"), ({"customdata": ["ttur"]}, "ttur"), ({"customdata": "nope"}, None),
     ({}, None), ({"customdata": []}, None), ({"customdata": 3}, None)],
)
def test_node_from_lineage_point(tax, point, key):
    assert v.node_from_lineage_point(tax, point) == key


# ---------------------------------------------------------------------------------------------
# compare


def test_compare_frame_puts_techniques_side_by_side(tax):
    frame = v.compare_frame(tax, ["wgan_gp", "ttur"])
    assert list(frame.columns) == ["Gradient penalty", "Two time-scale update rule"]
    assert list(frame.index) == v.COMPARE_FIELDS
    assert frame.loc["challenges", "Gradient penalty"] == "Instability; Non-convergence"
    assert frame.loc["year", "Two time-scale update rule"] == "2017"
    assert frame.loc["demos", "Gradient penalty"] == "mode_collapse:wgan_gp; dirac:wgan_gp"
    assert frame.loc["reference", "Two time-scale update rule"].startswith("Heusel, Martin (2017). Two time-scale")
    csv = pd.read_csv(io.BytesIO(v.to_csv(frame.reset_index(names="field"))))
    assert list(csv.columns) == ["field", "Gradient penalty", "Two time-scale update rule"]


def test_shipped_result_line():
    result = {"variants": {"r1": {"per_seed": [{}, {}, {}], "mean": {"sw_final": 0.0591, "ok": True,
                                                                     "sw_fluct": 0.00553, "d_real": 0.5, "x": 9}}}}
    assert v.shipped_result_line("default", result, "r1") == (
        "default: sw final 0.0591, sw fluct 0.00553, d real 0.5 (mean over 3 seeds)")
    assert v.shipped_result_line("default", result, "gan") is None
    assert v.shipped_result_line("default", {"variants": {"r1": {"mean": {}, "per_seed": []}}}, "r1") is None
    assert v.shipped_result_line("default", {"variants": {"r1": "junk"}}, "r1") is None
    assert v.shipped_result_line("default", {}, "r1") is None
