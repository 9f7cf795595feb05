"""The taxonomy loader: a valid fixture loads; each malformed fixture gives one clear
TaxonomyError that names the file, the line, the field and what was expected; nothing crashes."""
from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # plain `pytest` as well as `python -m pytest`
    sys.path.insert(0, str(ROOT))

from taxonomy.load import (  # noqa: E402
    DEFAULT_TAXONOMY,
    ENV_VAR,
    MAX_BYTES,
    TaxonomyError,
    default_bibliography,
    load_bibliography,
    load_taxonomy,
    parse_taxonomy,
    read_yaml,
)

FIXTURES = ROOT / "tests" / "fixtures"
GOOD = FIXTURES / "good_taxonomy" / "taxonomy.yaml"
GOOD_BIB = FIXTURES / "good_taxonomy" / "bibliography.yaml"
BAD = FIXTURES / "bad_taxonomies"
GOOD_COUNTS = {
    "challenges": 2,
    "families": 2,
    "techniques": 3,
    "references": 5,  # 4 in bibliography.yaml + 1 in the taxonomy's own references:
    "demo_links": 2,
    "techniques_with_demo": 2,
    "biomedical_uses": 1,
}

# fixture file, expected line (None: the whole file), expected field substring (None: no field),
# expected message substring. Every message must also say what was "expected".
CASES = [
    ("syntax_error.yaml", 27, None, "mapping values are not allowed here"),
    ("tab_indent.yaml", 27, None, "tabs cannot indent YAML"),
    ("wrong_type_year.yaml", 31, "techniques[0].year", "expected a whole number; got 'abc'"),
    ("unknown_key.yaml", 32, "techniques[0].sumary", "unknown key 'sumary' (did you mean 'summary'?)"),
    ("unknown_top_level_key.yaml", 25, "technique", "unknown key 'technique' (did you mean 'techniques'?)"),
    ("missing_required.yaml", 26, "techniques[0].mechanism", "required field 'mechanism' is missing"),
    ("duplicate_technique_id.yaml", 52, "techniques[2].id", "duplicate id 'packing'"),
    ("duplicate_key.yaml", 34, "techniques[0].year", "duplicate key 'year' (first at line 31)"),
    ("dangling_reference.yaml", 35, "techniques[0].reference", "citation key 'nobody2019' is not in the bibliography"),
    ("dangling_also_see.yaml", 36, "techniques[0].also_see[1]", "citation key 'nobody2019'"),
    ("dangling_biomedical_ref.yaml", 38, "techniques[0].biomedical_uses[0].ref", "citation key 'nobody2019'"),
    ("survey_not_in_bibliography.yaml", 6, "meta.survey", "citation key 'nobody2019'"),
    ("dangling_demo_id.yaml", 41, "techniques[0].demo.id", "unknown demo 'no_such_demo'; expected one of: "),
    ("dangling_demo_variant.yaml", 41, "techniques[0].demo.variant", "has no variant 'dcgan'; expected one of: "),
    ("unknown_family.yaml", 44, "techniques[1].family", "unknown family 'losses' (did you mean 'loss'?)"),
    ("unknown_challenge.yaml", 46, "techniques[1].challenges[1]", "unknown challenge 'mode_colapse'"),
    ("unknown_primary_challenge.yaml", 45, "techniques[1].primary_challenge", "unknown challenge 'convergence'"),
    ("primary_not_in_challenges.yaml", 56, "techniques[2].challenges", "primary_challenge 'mode_collapse' is not listed"),
    ("builds_on_unknown.yaml", 61, "techniques[2].builds_on[1]", "unknown technique 'spectral_norm'"),
    ("builds_on_cycle.yaml", 61, "techniques[2].builds_on", "cycle in builds_on: packing -> stddev_layer -> packing"),
    ("builds_on_self.yaml", 61, "techniques[2].builds_on", "cycle in builds_on: stddev_layer -> stddev_layer"),
    ("bad_modality.yaml", 39, "techniques[0].biomedical_uses[0].modality", "expected one of: 'MRI', 'CT'"),
    ("bad_slug_id.yaml", 26, "techniques[0].id", "expected an identifier"),
    ("boolean_name.yaml", 43, "techniques[1].name", "YAML reads yes/no/on/off/true/false as booleans"),
    ("invalid_date_year.yaml", 47, "techniques[1].year", "cannot read the value '2017-13-45'"),
    ("empty_challenges_list.yaml", 30, "techniques[0].challenges", "expected at least 1 item"),
    ("wrong_type_list.yaml", 13, "challenges[0].symptoms", "expected a list"),
    ("unquoted_arxiv.yaml", 70, "references.test2020mri.arxiv", "YAML read it as a number: put it in quotes"),
    ("duplicate_reference_key.yaml", 63, "references.test2017gp", "reference 'test2017gp' is also in the bibliography"),
    ("missing_bibliography_file.yaml", 8, "meta.bibliography", "no_such_bibliography.yaml: cannot read file"),
    ("python_object_tag.yaml", 4, "meta.title", "YAML tag '!!python/object/apply:os.system' is not allowed"),
    ("billion_laughs.yaml", 3, "meta.title", "YAML anchor '&a' is not allowed"),
    ("deep_nesting.yaml", 4, "meta.title[0]", "nesting is deeper than 32 levels"),
    ("multi_document.yaml", 70, None, "expected a single document in the stream but found another document"),
    ("empty.yaml", None, None, "file is empty"),
    ("comments_only.yaml", 1, None, "file has no content"),
    ("top_level_list.yaml", 1, None, "top level is a list; expected a mapping"),
]
NOT_TAXONOMIES = {"bad_bibliography.yaml"}  # a bad bibliography, used by uses_bad_bibliography.yaml


def _error(fn, *args, **kwargs) -> TaxonomyError:
    with pytest.raises(TaxonomyError) as info:
        fn(*args, **kwargs)
    return info.value


def _assert_clear(e: TaxonomyError, file: str, line, field, message: str) -> None:
    text = str(e)
    assert text.startswith(file), text
    assert e.file == file
    assert e.line == line, text
    if line is not None:
        assert f", line {line}" in text
    else:
        assert ", line " not in text
    if field is not None:
        assert field in (e.field or ""), text
        assert f", field {e.field}: " in text
    else:
        assert e.field is None, text
    assert message in text, text
    assert "expected" in e.message, text
    assert e.as_dict() == {"file": e.file, "line": e.line, "field": e.field, "message": e.message}


# ---------------------------------------------------------------------------------------------
# the good fixture


def test_good_fixture_loads():
    tax = load_taxonomy(GOOD)
    assert tax.counts() == GOOD_COUNTS
    assert tax.source == str(GOOD)
    assert list(tax.techniques) == ["packing", "gradient_penalty", "stddev_layer"]
    assert tax.node_id(tax.techniques["packing"]) == "mode_collapse/architecture/packing"
    assert tax.cited_keys(tax.techniques["packing"]) == ["test2018packing", "test2024survey", "test2020mri"]
    assert tax.techniques["stddev_layer"].builds_on == ["packing", "gradient_penalty"]
    # the fixture uses the old single `demo:` key: it is read as a one-element `demos:` list
    assert [(d.id, d.variant) for d in tax.techniques["packing"].demos] == [("mode_collapse", "pacgan")]
    assert tax.techniques["packing"].demo is None
    assert tax.techniques["stddev_layer"].demos == []


def test_good_fixture_is_independent_of_the_shipped_bibliography():
    tax = load_taxonomy(GOOD)
    assert set(tax.references) == {"test2024survey", "test2018packing", "test2017gp", "test2018stddev", "test2020mri"}


def test_every_bad_fixture_is_in_the_table():
    on_disk = {p.name for p in BAD.glob("*.yaml")} - NOT_TAXONOMIES - {"uses_bad_bibliography.yaml"}
    assert on_disk == {c[0] for c in CASES}
    assert len(CASES) >= 18


# ---------------------------------------------------------------------------------------------
# the malformed fixtures


@pytest.mark.parametrize("fixture, line, field, message", CASES, ids=[c[0] for c in CASES])
def test_bad_fixture_gives_a_clear_error(fixture, line, field, message):
    path = BAD / fixture
    e = _error(load_taxonomy, path)
    _assert_clear(e, str(path), line, field, message)


# (an explicit bibliography replaces meta.bibliography, so a missing bibliography file is no error)
UPLOAD_CASES = [c[0] for c in CASES if c[0] != "missing_bibliography_file.yaml"]


@pytest.mark.parametrize("fixture", UPLOAD_CASES)
def test_bad_upload_gives_the_same_error(fixture):
    """An upload is validated the same way: the same message, with the upload's name."""
    path = BAD / fixture
    from_file = _error(load_taxonomy, path)
    bib = load_bibliography(GOOD_BIB.read_bytes(), "bibliography.yaml")
    from_upload = _error(parse_taxonomy, path.read_bytes(), name="upload.yaml", bibliography=bib)
    assert str(from_upload) == str(from_file).replace(str(path), "upload.yaml", 1)


def test_demo_errors_list_the_catalogue():
    from demos.catalog import CATALOG

    e = _error(load_taxonomy, BAD / "dangling_demo_id.yaml")
    assert e.message.endswith("expected one of: " + ", ".join(sorted(CATALOG)))
    e = _error(load_taxonomy, BAD / "dangling_demo_variant.yaml")
    assert e.message.endswith("expected one of: " + ", ".join(sorted(CATALOG["mode_collapse"].variants)))


# ---------------------------------------------------------------------------------------------
# demo links: a list per technique, the old single key still read, checked against the catalogue

DEMO_LIST = "    demos:\n      - {id: mode_collapse, variant: pacgan}\n      - {id: dirac, variant: r1}\n"


def _with_links(old: str, new: str) -> bytes:
    text = GOOD.read_text()
    assert old in text
    return text.replace(old, new, 1).encode()


def _parse(raw: bytes, **kwargs):
    return parse_taxonomy(raw, "links.yaml", base_dir=GOOD.parent, **kwargs)


def test_demos_list_is_read_and_counted():
    tax = _parse(_with_links("    demo: {id: mode_collapse, variant: pacgan}\n", DEMO_LIST))
    assert [(d.id, d.variant) for d in tax.techniques["packing"].demos] == [("mode_collapse", "pacgan"), ("dirac", "r1")]
    assert tax.counts()["demo_links"] == 3 and tax.counts()["techniques_with_demo"] == 2


@pytest.mark.parametrize(
    "new, field, message",
    [
        (DEMO_LIST + "    demo: {id: mode_collapse, variant: pacgan}\n", "techniques[0].demo",
         "both demo: and demos: are given; expected only demos:"),
        (DEMO_LIST.replace("variant: r1", "variant: r2"), "techniques[0].demos[1].variant",
         "demo 'dirac' has no variant 'r2'; expected one of: "),
        (DEMO_LIST.replace("id: dirac", "id: dirak"), "techniques[0].demos[1].id",
         "unknown demo 'dirak' (did you mean 'dirac'?)"),
        (DEMO_LIST.replace("dirac, variant: r1", "mode_collapse, variant: pacgan"), "techniques[0].demos[1]",
         "demo link mode_collapse:pacgan is listed twice"),
        ("    demos: {id: dirac, variant: r1}\n", "techniques[0].demos", "expected a list"),
    ],
)
def test_bad_demo_links_name_the_field(new, field, message):
    raw = _with_links("    demo: {id: mode_collapse, variant: pacgan}\n", new)
    e = _error(_parse, raw)
    assert e.field == field, str(e)
    assert message in e.message and "expected" in e.message, str(e)
    line = raw.decode().splitlines()[e.line - 1]
    assert "demo" in line or "id:" in line, (e.line, line)


def test_links_are_checked_against_whatever_catalogue_is_given():
    """A catalogue entry added later is accepted without code changes."""
    from demos.catalog import CATALOG, DemoInfo

    lab = DemoInfo(id="future_lab", title="Lab", challenge="mode_collapse", summary="s", failure="gan",
                   variants={"gan": "GAN", "lecam": "LeCam"})
    raw = _with_links("    demo: {id: mode_collapse, variant: pacgan}\n",
                      "    demos:\n      - {id: future_lab, variant: lecam}\n")
    e = _error(_parse, raw)
    assert "unknown demo 'future_lab'" in e.message
    tax = _parse(raw, demos={**CATALOG, "future_lab": lab})
    assert tax.techniques["packing"].demos[0].variant == "lecam"


def test_python_object_tag_is_never_run(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a, **k: calls.append(a) or 0)
    e = _error(load_taxonomy, BAD / "python_object_tag.yaml")
    assert "not allowed" in str(e)
    assert calls == []


def test_billion_laughs_is_refused_quickly():
    start = time.perf_counter()
    _error(load_taxonomy, BAD / "billion_laughs.yaml")
    assert time.perf_counter() - start < 1.0


def test_bad_bibliography_file_is_named_in_the_error():
    path = BAD / "uses_bad_bibliography.yaml"
    e = _error(load_taxonomy, path)
    _assert_clear(e, str(BAD / "bad_bibliography.yaml"), 8, "references.test2024survey.kind",
                  "expected one of: 'survey', 'technique', 'application' or 'metric'; got 'book'")


# ---------------------------------------------------------------------------------------------
# malformed files generated here (too big or too odd to commit)


def test_ten_megabyte_file_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.write(GOOD.read_bytes())
        f.write(b"# " + b"x" * (10 * 1024 * 1024) + b"\n")
    start = time.perf_counter()
    e = _error(load_taxonomy, big)
    _assert_clear(e, str(big), None, None, "file is 10.5 MB; expected at most 2.1 MB")
    e = _error(parse_taxonomy, big.read_bytes(), name="upload.yaml")
    _assert_clear(e, "upload.yaml", None, None, "expected at most 2.1 MB")
    assert time.perf_counter() - start < 2.0


def test_non_utf8_bytes(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(GOOD.read_bytes().replace(b"Mode collapse", "Mode caf\xe9".encode("latin-1"), 1))
    e = _error(load_taxonomy, bad)
    _assert_clear(e, str(bad), 11, None, "byte 0xe9 at offset")
    assert "expected UTF-8 text" in str(e)


def test_utf16_file_is_not_utf8(tmp_path):
    bad = tmp_path / "utf16.yaml"
    bad.write_bytes(GOOD.read_text().encode("utf-16"))
    _assert_clear(_error(load_taxonomy, bad), str(bad), 1, None, "is not UTF-8")


def test_utf8_bom_is_accepted():
    bib = load_bibliography(GOOD_BIB.read_bytes(), "bibliography.yaml")
    tax = parse_taxonomy(b"\xef\xbb\xbf" + GOOD.read_bytes(), name="bom.yaml", bibliography=bib)
    assert tax.counts() == GOOD_COUNTS


def test_control_character(tmp_path):
    bad = tmp_path / "bell.yaml"
    bad.write_bytes(GOOD.read_bytes().replace(b"Mode collapse", b"Mode \x07collapse", 1))
    _assert_clear(_error(load_taxonomy, bad), str(bad), 11, None, "control character U+0007")


@pytest.mark.parametrize("style", ["flow", "block"])
def test_very_deep_nesting_does_not_hit_the_recursion_limit(style):
    if style == "flow":
        raw = b"meta: " + b"[" * 100_000 + b"]" * 100_000 + b"\n"
    else:
        raw = "".join("  " * i + f"k{i}:\n" for i in range(200)).encode()
    e = _error(parse_taxonomy, raw, name="deep.yaml")
    line, field = (1, "meta[0][0]") if style == "flow" else (33, "k0.k1.k2")
    _assert_clear(e, "deep.yaml", line, field, "nesting is deeper than 32 levels")


@pytest.mark.parametrize(
    "text, line, field, message",
    [
        ("meta: !!int abc\n", 1, "meta", "YAML tag '!!int' is not allowed"),
        ("meta: !!binary zz=\n", 1, "meta", "YAML tag '!!binary' is not allowed"),
        ("meta: !!python/name:os.system\n", 1, "meta", "YAML tag '!!python/name:os.system'"),
        ("meta: !local x\n", 1, "meta", "YAML tag '!local'"),
        ("meta:\n  version: 0x_\n", 2, "meta.version", "cannot read the value '0x_'"),
        ("meta: {}\n2020: x\n", 2, "2020", "key '2020' is not text (YAML reads it as int)"),
        ("meta: {}\nyes: x\n", 2, "yes", "key 'yes' is not text (YAML reads it as bool)"),
        ("meta: {}\n~: x\n", 2, "~", "is not text (YAML reads it as null)"),
        ("meta:\n  a: [1, 2\nb: 3\n", 3, None, "YAML syntax error"),
        ("42\n", 1, None, "top level is a number"),
        ("just text\n", 1, None, "top level is a single text value"),
        ("meta: &m {}\nchallenges: *m\n", 1, "meta", "YAML anchor '&m' is not allowed"),
    ],
)
def test_odd_yaml_gives_a_clear_error(text, line, field, message):
    e = _error(parse_taxonomy, text.encode(), name="odd.yaml")
    _assert_clear(e, "odd.yaml", line, field, message)


def test_read_yaml_returns_line_numbers():
    data, lines = read_yaml(GOOD.read_bytes(), "t.yaml")
    assert data["techniques"][0]["id"] == "packing"
    assert lines[("techniques",)] == 25
    assert lines[("techniques", 0)] == 26
    assert lines[("techniques", 0, "year")] == 31
    assert lines[("references", "test2020mri", "kind")] == 68


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "nope.yaml"
    _assert_clear(_error(load_taxonomy, missing), str(missing), None, None, "cannot read file")
    _assert_clear(_error(load_taxonomy, tmp_path), str(tmp_path), None, None, "cannot read file")


# ---------------------------------------------------------------------------------------------
# bibliography loading and reference merging


def test_bibliography_loader():
    refs = load_bibliography(GOOD_BIB.read_bytes(), "bibliography.yaml")
    assert list(refs) == ["test2024survey", "test2018packing", "test2017gp", "test2018stddev"]
    assert refs["test2024survey"].arxiv == "2201.07646"
    assert refs["test2017gp"].doi == "10.1234/test.5678"


@pytest.mark.parametrize(
    "text, line, field, message",
    [
        ("references: {}\n", 1, "references", "expected at least 1 item"),
        ("refs: {}\n", 1, "refs", "unknown key 'refs'"),
        ("references:\n  a:\n    title: x\n  a:\n    title: y\n", 4, "references.a", "duplicate key 'a'"),
        (
            "references:\n  k:\n    authors: A\n    title: T\n    year: 2020\n    venue: V\n"
            "    kind: technique\n    status: verified\n    arxiv: '12.3'\n",
            9, "references.k.arxiv", "expected text matching the pattern",
        ),
    ],
)
def test_bad_bibliography(text, line, field, message):
    e = _error(load_bibliography, text.encode(), "bib.yaml")
    _assert_clear(e, "bib.yaml", line, field, message)


def test_own_references_are_added_to_the_bibliography():
    tax = load_taxonomy(GOOD)
    assert tax.references["test2020mri"].kind == "application"
    assert "test2020mri" not in load_bibliography(GOOD_BIB.read_bytes(), "bibliography.yaml")


def test_a_key_in_both_bibliography_and_references_is_an_error():
    e = _error(load_taxonomy, BAD / "duplicate_reference_key.yaml")
    assert e.field == "references.test2017gp" and e.line == 63


def test_explicit_bibliography_argument_wins():
    bib = load_bibliography(GOOD_BIB.read_bytes(), "bibliography.yaml")
    tax = parse_taxonomy(GOOD.read_bytes(), name="x.yaml", bibliography=bib)
    assert tax.counts() == GOOD_COUNTS


# ---------------------------------------------------------------------------------------------
# uploads


def _upload_text() -> str:
    """The good fixture, citing keys of the shipped bibliography instead of its own."""
    shipped = default_bibliography()
    keys = list(shipped)
    survey = next((k for k, r in shipped.items() if r.kind == "survey"), keys[0])
    text = GOOD.read_text().replace("  bibliography: bibliography.yaml\n", "")
    text = text.replace("test2024survey", survey)
    for own, key in zip(["test2018packing", "test2017gp", "test2018stddev"], keys):
        text = text.replace(own, key)
    assert "test2020mri" not in shipped
    return text


def test_upload_uses_the_shipped_bibliography():
    tax = parse_taxonomy(_upload_text().encode(), name="upload.yaml")
    assert tax.source == "upload.yaml"
    assert tax.counts()["techniques"] == 3
    assert "test2020mri" in tax.references
    assert set(default_bibliography()) < set(tax.references)


def test_upload_may_not_name_a_bibliography_file():
    raw = GOOD.read_bytes()  # has meta.bibliography: bibliography.yaml
    e = _error(parse_taxonomy, raw, name="upload.yaml")
    _assert_clear(e, "upload.yaml", 8, "meta.bibliography", "may not name a bibliography file")
    e = _error(parse_taxonomy, raw, name="upload.yaml", base_dir=GOOD.parent, allow_bibliography_path=False)
    _assert_clear(e, "upload.yaml", 8, "meta.bibliography", "may not name a bibliography file")
    for path in ("/etc/passwd", "../../../../etc/passwd"):
        sneaky = raw.replace(b"bibliography: bibliography.yaml", b"bibliography: " + path.encode())
        e = _error(parse_taxonomy, sneaky, name="upload.yaml")
        assert "may not name a bibliography file" in str(e)


def test_file_with_base_dir_may_name_a_bibliography_file():
    tax = parse_taxonomy(GOOD.read_bytes(), name="x.yaml", base_dir=GOOD.parent)
    assert tax.counts() == GOOD_COUNTS


def test_upload_of_a_huge_or_binary_blob():
    for raw in (b"\x00" * 1000, random.Random(0).randbytes(4096), b"x" * (MAX_BYTES + 1), b"\x89PNG\r\n\x1a\n"):
        e = _error(parse_taxonomy, raw, name="upload.yaml")
        assert str(e).startswith("upload.yaml") and "expected" in e.message


# ---------------------------------------------------------------------------------------------
# choosing the file: argument, environment variable, default


def test_environment_variable_selects_the_file(monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(GOOD))
    tax = load_taxonomy()
    assert tax.source == str(GOOD)
    assert tax.counts() == GOOD_COUNTS


def test_environment_variable_to_a_bad_file(monkeypatch):
    path = BAD / "unknown_family.yaml"
    monkeypatch.setenv(ENV_VAR, str(path))
    e = _error(load_taxonomy)
    assert e.file == str(path) and e.line == 44


def test_explicit_path_beats_environment_variable(monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(BAD / "empty.yaml"))
    assert load_taxonomy(GOOD).counts() == GOOD_COUNTS


@pytest.mark.parametrize("value", [None, "", "   "])
def test_default_taxonomy_is_valid(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(ENV_VAR, value)
    tax = load_taxonomy()
    assert tax.source == DEFAULT_TAXONOMY.name
    assert tax.counts()["techniques"] >= 1
    assert tax.meta.survey in tax.references
