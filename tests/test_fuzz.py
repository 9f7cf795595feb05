"""Bad input, everywhere: property tests (hypothesis) over what a URL, a file or a config can carry.

* query parameters for every page of the app (explorer, about, every demo page): the page runs
  with no exception, every widget holds a valid value (bad values are clamped or ignored), no
  URL text reaches raw HTML, and an unknown choice gets a warning naming it;
* config override dicts for every demo ``Config`` in the catalogue: a valid config within its
  bounds, or :class:`ConfigError`, never another exception;
* bytes and YAML documents into the taxonomy and bibliography loaders: a ``Taxonomy`` or
  :class:`TaxonomyError`, never another exception;
* shipped results and the disk cache: random bytes give :class:`PretrainedError` or a miss, a
  missing or corrupt shipped file makes a demo page fall back to a live run with a notice, and a
  deleted cache folder is recreated;
* extreme training settings: NaN or divergence is reported in the result, not raised.

``GAN_CLINIC_FUZZ_EXAMPLES`` (default 10) sets the examples per property; failing examples are
printed (``print_blob``) so they can be replayed with ``@reproduce_failure``.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from app_pages import presenter
from engine import pretrained
from engine.cache import ResultCache
from demos.catalog import CATALOG
from engine.config import ConfigError, from_overrides
from taxonomy.load import DEFAULT_TAXONOMY, TaxonomyError, load_bibliography, parse_taxonomy

ROOT = Path(__file__).resolve().parent.parent
APP = "../app.py"
N = int(os.environ.get("GAN_CLINIC_FUZZ_EXAMPLES", "10"))
FUZZ = settings(max_examples=N, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

# ---------------------------------------------------------------------------------------------
# Pages and the query parameters they read

DEMO_PAGES = [d for d in CATALOG if (ROOT / "app_pages" / f"demo_{d}.py").is_file()]
PAGES = {"explorer": "app_pages/explorer.py", "about": "app_pages/about.py", "evidence": "app_pages/evidence.py",
         **{d: f"app_pages/demo_{d}.py" for d in DEMO_PAGES}}
EXPLORER_KEYS = ["node", "q", "challenge", "family", "modality", "years"]
SHARED_KEYS = ["variant", "failure", "dataset", "seeds", "steps", presenter.URL_FLAG, presenter.SLIDE,
               "embed", "embed_options"]


def page_keys(name: str) -> list[str]:
    """What a page may read: its widget keys (``key="..."`` in its source), its demo's config
    fields, the explorer's and presenter's parameters, and Streamlit's reserved ones."""
    keys = set(SHARED_KEYS) | set(EXPLORER_KEYS)
    keys |= set(re.findall(r"""key=["'](\w+)["']""", (ROOT / PAGES[name]).read_text(encoding="utf-8")))
    if name in CATALOG and CATALOG[name].module:
        keys |= {f.name for f in dataclasses.fields(importlib.import_module(CATALOG[name].module).Config)}
    return sorted(keys)


NASTY = ["", " ", "0", "-1", "1", "2", "8", "16", "17", "50", "5000", "5001", "0.5", "4e-3", "1e309", "-1e309",
         "nan", "NaN", "inf", "-inf", "1e-320", "9" * 40, "0x10", "1,2", "1-2", "2030-1990", "true", "None",
         "null", "[]", "{}", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "**bold** `x`",
         "$x^2$", "\\", "%", "%00", "../../etc/passwd", "ring", "grid", "gan", "pacgan", "r1", "wgan_gp",
         "mode_collapse", "technique:pacgan", "challenge:", "simultaneous", "alternating", "X-ray", "MRI"]
VALUES = st.one_of(st.sampled_from(NASTY), st.text(max_size=40),
                   st.integers(-10**12, 10**12).map(str), st.floats().map(str),
                   st.text(min_size=300, max_size=3000))


def params_for(name: str):
    keys = st.one_of(st.sampled_from(page_keys(name)),
                     st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="_-"),
                             min_size=1, max_size=12))
    return st.dictionaries(keys, st.one_of(VALUES, st.lists(VALUES, min_size=2, max_size=3)), max_size=6)


def open_page(name: str, params: dict) -> AppTest:
    """The whole app (so the presenter hook and sidebar run too) on ``name`` with ``params``."""
    at = AppTest.from_file(APP, default_timeout=60).run()  # AppTest switches pages only after a run
    assert not at.exception
    at.switch_page(PAGES[name])
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def assert_sane(at: AppTest, where) -> None:
    assert not at.exception, (where, [e.message for e in at.exception])
    for w in list(at.slider) + list(at.number_input):
        values = w.value if isinstance(w.value, (tuple, list)) else [w.value]
        for x in values:
            assert w.min <= x <= w.max, (where, w.label, w.value, w.min, w.max)
    for w in list(at.selectbox) + list(at.radio):
        assert w.index is None or 0 <= w.index < len(w.options), (where, w.label, w.index)
    for w in at.select_slider:
        chosen = list(w.proto.value) or list(w.proto.default)  # value is empty while at the default
        assert chosen and all(0 <= i < len(w.options) for i in chosen), (where, w.label, chosen)
    for w in at.multiselect:
        assert all(0 <= i < len(w.options) for i in w.indices), (where, w.label)
    # the only raw HTML on any page is the presenter's constant stylesheet
    assert all(h.proto.body == presenter.STYLE for h in at.get("html")), where
    for m in at.markdown:
        assert not m.proto.allow_html or m.value == presenter.STYLE, (where, m.value[:80])


@pytest.mark.parametrize("value", ["inf", "nan", "-1e400"])
@pytest.mark.parametrize("name", list(PAGES))
def test_non_finite_numbers_in_every_url_parameter_are_dropped_and_named(name, value):
    """Streamlit's URL binding of an integer input raises on a non-finite number (int(inf)); the
    app drops such parameters before any widget reads them and names them (the fuzz test above
    found ``?osc_steps=inf`` taking the non-convergence page down)."""
    keys = re.findall(r"""key=["'](\w+)["']""", (ROOT / PAGES[name]).read_text(encoding="utf-8")) or ["steps"]
    at = open_page(name, {k: value for k in keys})
    assert_sane(at, (name, value))
    assert any("not a finite number" in w.value for w in at.warning), (name, [w.value for w in at.warning])


@pytest.mark.parametrize("name", list(PAGES))
def test_random_query_parameters_never_break_a_page(name):
    @FUZZ
    @given(params=params_for(name))
    def run(params):
        assert_sane(open_page(name, params), params)

    run()


@pytest.mark.parametrize("name", DEMO_PAGES)
def test_unknown_variant_in_a_demo_link_is_named_in_a_warning(name):
    at = open_page(name, {"variant": "zz_no_such_fix"})
    assert_sane(at, name)
    if not any(w.key == "variant" for w in at.selectbox):
        pytest.skip(f"{name} has no variant picker")
    assert any("zz_no_such_fix" in str(w.value) for w in at.warning), [w.value for w in at.warning]


def test_unknown_explorer_node_is_named_in_a_warning():
    at = open_page("explorer", {"node": "zz_nowhere", "challenge": "zz_bad"})
    assert_sane(at, "explorer")
    texts = " ".join(str(w.value) for w in list(at.warning) + list(at.info))
    assert "zz_nowhere" in texts and "zz_bad" in texts, texts


# ---------------------------------------------------------------------------------------------
# Configs

CONFIGS = {d: importlib.import_module(info.module).Config for d, info in CATALOG.items() if info.module}
ANY = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), st.binary(max_size=8),
              st.sampled_from(NASTY)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=5), inner, max_size=2)),
    max_leaves=6,
)


def in_bounds(cfg) -> None:
    for f in dataclasses.fields(cfg):
        m, v = f.metadata or {}, getattr(cfg, f.name)
        if m.get("choices"):
            assert v in m["choices"], (f.name, v)
        for x in v if isinstance(v, tuple) else (v,):
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                assert math.isfinite(x), (f.name, v)
                assert m.get("lo") is None or x >= m["lo"], (f.name, v)
                assert m.get("hi") is None or x <= m["hi"], (f.name, v)


@pytest.mark.parametrize("demo", list(CONFIGS))
def test_random_overrides_give_a_valid_config_or_a_config_error(demo):
    cls = CONFIGS[demo]
    fields = [f.name for f in dataclasses.fields(cls)]

    @FUZZ
    @given(overrides=st.dictionaries(st.one_of(st.sampled_from(fields), st.text(max_size=10)), ANY, max_size=5))
    def run(overrides):
        try:
            cfg = from_overrides(cls, overrides)
        except ConfigError as e:
            assert str(e)  # a message naming the key
            return
        assert isinstance(cfg, cls)
        in_bounds(cfg)

    run()


@pytest.mark.parametrize("demo", list(CONFIGS))
def test_a_json_config_file_with_a_huge_number_is_a_config_error(demo):
    """An imported JSON file can hold an integer too large for a float (json reads it exactly)."""
    cls = CONFIGS[demo]
    numeric = [f.name for f in dataclasses.fields(cls) if isinstance(f.default, (int, float))
               and not isinstance(f.default, bool)]
    if not numeric:
        pytest.skip("no numeric field")
    overrides = json.loads('{"%s": 1%s}' % (numeric[0], "0" * 400))
    with pytest.raises(ConfigError):
        from_overrides(cls, overrides)


# ---------------------------------------------------------------------------------------------
# Taxonomy files

SHIPPED = DEFAULT_TAXONOMY.read_bytes()
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
DOCS = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=20)
TOP_KEYS = ["meta", "challenges", "families", "techniques", "references", "version", "title", "id", "name"]


@st.composite
def mutated_shipped(draw) -> bytes:
    """The shipped file with a few lines deleted, duplicated, cut or given random text."""
    lines = SHIPPED.decode("utf-8").splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "cut", "replace_value", "insert"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif op == "replace_value" and ":" in lines[i]:
            head = lines[i].split(":", 1)[0]
            lines[i] = f"{head}: {draw(st.sampled_from(NASTY + ['[', '{', '&a x', '*a', '!!binary x', '|']))}\n"
        else:
            lines.insert(i, draw(st.text(max_size=40)) + "\n")
    return "".join(lines).encode("utf-8", "surrogatepass")


TAXONOMY_INPUTS = st.one_of(
    st.binary(max_size=3000),
    DOCS.map(lambda d: yaml.safe_dump(d).encode()),
    st.dictionaries(st.sampled_from(TOP_KEYS), DOCS, max_size=5).map(lambda d: yaml.safe_dump(d).encode()),
    mutated_shipped(),
)


def test_random_taxonomy_bytes_give_a_taxonomy_or_a_taxonomy_error():
    @FUZZ
    @given(raw=TAXONOMY_INPUTS)
    def run(raw):
        for parse in (lambda r: parse_taxonomy(r, "fuzz.yaml"), lambda r: load_bibliography(r, "fuzz.yaml")):
            try:
                parse(raw)
            except TaxonomyError as e:
                assert str(e).startswith("fuzz.yaml")  # the message names the file

    run()


# ---------------------------------------------------------------------------------------------
# Shipped results and the result cache


def test_random_bytes_as_a_shipped_result(tmp_path):
    path = tmp_path / "x_ring.json"

    @FUZZ
    @given(raw=st.one_of(st.binary(max_size=500), ANY.map(lambda v: json.dumps(v, default=str).encode())))
    def run(raw):
        path.write_bytes(raw)
        try:
            data = pretrained.load(path, "x/1")
        except pretrained.PretrainedError as e:
            assert "x_ring.json" in str(e)
        else:
            assert isinstance(data, dict)

    run()


def test_random_bytes_in_a_cache_entry_are_a_miss(tmp_path):
    cache = ResultCache(tmp_path / "results")
    key = ("demo", "cfg", 1)

    @FUZZ
    @given(raw=st.binary(max_size=300))
    def run(raw):
        cache.root.mkdir(parents=True, exist_ok=True)
        cache._path(key).write_bytes(raw)
        assert cache.get(key) is None  # garbage is never served

    run()


def test_a_deleted_cache_folder_is_recreated(tmp_path):
    cache = ResultCache(tmp_path / "results")
    assert cache.get(("k",)) is None  # no folder yet: a miss, not an error
    cache.put(("k",), {"a": 1})
    assert cache.get(("k",)) == {"a": 1}
    shutil.rmtree(cache.root)
    assert cache.get(("k",)) is None
    cache.put(("k",), {"a": 2})
    assert cache.root.is_dir() and cache.get(("k",)) == {"a": 2}


# a view of the page that shows a shipped result (default: the page as it opens); the lab opens on
# custom recipes, which have none, so its shipped results are those of a technique demo
SHIPPED_VIEW = {"lab": {"variant": "packing"}}


def _pages_with_shipped_results() -> list[str]:
    # a page loads shipped results through live.shipped_result (or engine.pretrained directly)
    return [d for d in DEMO_PAGES if any(k in (ROOT / PAGES[d]).read_text(encoding="utf-8")
                                         for k in ("pretrained.", "shipped_result("))]


@pytest.mark.parametrize("broken", ["missing", "corrupt"])
@pytest.mark.parametrize("name", _pages_with_shipped_results())
def test_a_missing_or_corrupt_shipped_result_falls_back_to_a_live_run_with_a_notice(name, broken, tmp_path,
                                                                                   monkeypatch):
    if broken == "corrupt":
        for f in pretrained.ROOT.glob(f"{name}_*.json"):
            (tmp_path / f.name).write_bytes(b'{"config": {"steps": ' + b"\x00" * 20)
    monkeypatch.setattr(pretrained, "ROOT", tmp_path)
    at = open_page(name, SHIPPED_VIEW.get(name, {}))
    assert_sane(at, (name, broken))
    notices = " ".join(str(e.value) for e in list(at.info) + list(at.warning) + list(at.error) + list(at.caption))
    assert ".json" in notices, f"no notice naming the shipped file: {notices[:400]}"
    run = [b for b in at.button if "Run" in b.label]
    assert run and "live" not in run[0].label.lower(), [b.label for b in at.button]


# ---------------------------------------------------------------------------------------------
# Divergence is an outcome

@settings(max_examples=max(3, N // 2), deadline=None, database=None, print_blob=True)
@given(lr_g=st.sampled_from([1e-6, 1e-2, 0.1]), lr_d=st.sampled_from([1e-6, 1e-2, 0.1]),
       gp=st.sampled_from([0.0, 100.0]), sigma=st.sampled_from([0.0, 0.5]), batch=st.sampled_from([8, 32]),
       variant=st.sampled_from(["pacgan", "unrolled", "mbstd", "wgan_gp"]))
def test_extreme_training_settings_end_in_a_result(lr_g, lr_d, gp, sigma, batch, variant):
    from demos import mode_collapse as mc

    cfg = mc.Config(lr_g=lr_g, lr_d=lr_d, gp_weight=gp, sigma=sigma, batch=batch, hidden=8, steps=20,
                    eval_every=10, unroll=2, n_critic=1)
    r = mc.run(cfg, ["gan", variant], seeds=2, threads=1)
    for v in ("gan", variant):
        out = r["variants"][v]
        assert len(out["per_seed"]) == 2 and len(out["diverged_at"]) == 2
        for seed, d in zip(out["per_seed"], out["diverged_at"]):
            assert d is not None or all(math.isfinite(x) for x in seed.values() if isinstance(x, float)), seed
