"""engine/options/__init__.py: recipes as plain data (mapping, text, round trips), clear errors naming
what is wrong, refused pairs naming both options, the registry's metadata, and a composition smoke
test: every option alone and a sample of compatible pairs train 3 steps on 2 seeds with finite losses."""
import dataclasses
import functools
import itertools
import random
from pathlib import Path

import pytest
import torch
import yaml

from engine.config import ConfigError
from engine.lab import Model, Settings
from engine.options import KINDS, OPTIONS, PENDING_CITES, Recipe, check_compatible, describe, make_recipe, parse_text

make_recipe(None)  # loads the registry
IDS = list(OPTIONS)
ROOT = Path(__file__).resolve().parent.parent


# -- plain data ------------------------------------------------------------------------------------


def test_text_and_mapping_forms_give_the_same_canonical_recipe():
    a = make_recipe("r1.gamma=0.5, pacgan.pack=4,ema")
    b = make_recipe({"ema": None, "pacgan": {"pack": 4}, "r1": {"gamma": "0.5"}})
    assert a == b and isinstance(a, Recipe)
    assert a.ids() == ["r1", "pacgan", "ema"]  # registry order, whatever the input order
    assert a.to_text() == "r1.gamma=0.5,pacgan.pack=4,ema"
    assert a.to_data() == {"r1": {"gamma": 0.5}, "pacgan": {"pack": 4}, "ema": {}}


@pytest.mark.parametrize("k", IDS)
def test_every_option_round_trips_through_text_and_data(k):
    c = OPTIONS[k]
    changed = {}
    for f in dataclasses.fields(c.Params):  # move each param off its default, within its bounds
        lo, hi, choices = f.metadata.get("lo"), f.metadata.get("hi"), f.metadata.get("choices")
        if choices:
            changed[f.name] = next(v for v in choices if v != f.default)
        elif f.type in (bool, "bool"):
            changed[f.name] = not f.default
        elif f.type in (int, "int"):
            changed[f.name] = f.default + 1 if f.default + 1 <= hi else f.default - 1
        else:
            changed[f.name] = (f.default + hi) / 2 if f.default < hi else (f.default + lo) / 2
    r = make_recipe({k: changed})
    assert make_recipe(r.to_text()) == r
    assert make_recipe(r.to_data()) == r
    assert make_recipe(yaml.safe_load(yaml.safe_dump(r.to_data()))) == r
    assert make_recipe(k).to_text() == k  # default params: the bare id


def test_empty_recipe_is_the_plain_gan():
    for empty in (None, "", {}, " , "):
        assert make_recipe(empty).items == () and make_recipe(empty).label() == "Plain GAN"


def test_parse_text_keeps_values_as_strings():
    assert parse_text("pacgan.pack=4,r1") == {"pacgan": {"pack": "4"}, "r1": {}}


# -- errors name what is wrong ----------------------------------------------------------------------


@pytest.mark.parametrize("data, words", [
    ("nosuch", ["unknown option", "'nosuch'"]),
    ("r1.nosuch=3", ["'r1'", "nosuch", "gamma"]),
    ("r1.gamma=-1", ["'r1'", "gamma", "-1"]),
    ("pacgan.pack=99", ["'pacgan'", "pack", "99"]),
    ("pacgan.pack=two", ["'pacgan'", "pack", "integer"]),
    ("fgan.divergence=tv", ["'fgan'", "divergence", "reverse_kl"]),
    ("r1.gamma=nan", ["'r1'", "gamma", "finite"]),
    ("gamma=3", ["gamma=3", "option.param=value"]),
    ({"r1": 3}, ["'r1'", "mapping"]),
    (["r1"], ["mapping"]),
])
def test_bad_recipes_are_refused_naming_what_and_where(data, words):
    with pytest.raises(ConfigError) as e:
        make_recipe(data)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


@pytest.mark.parametrize("a, b", [
    ("hinge", "lsgan"),  # two losses
    ("extragradient", "consensus"),  # two update rules
    ("cgan", "gman"),  # two games
    ("batch_norm", "pixel_norm"),  # two normalisations
    ("wasserstein", "n_critic"),  # declared conflict
    ("label_smoothing", "hinge"),
    ("gman", "r1"),  # a trait: R1 acts on one scalar D
    ("d2gan", "zero_gp"),
    ("top_k", "madgan"),  # a trait: MAD-GAN has its own G objective
    ("unrolled", "veegan"),
    ("r3gan", "r2"),
    ("bcr", "consistency"),
    ("simultaneous", "n_critic"),
    ("sga", "acgan"),
    ("zero_gp", "madgan"),  # a trait: interpolates pair each real with a fake, MAD-GAN has k x B fakes
    ("top_k", "relativistic"),
])
def test_incompatible_pairs_are_refused_naming_both(a, b):
    for pair in ((a, b), (b, a)):
        with pytest.raises(ConfigError) as e:
            make_recipe(",".join(pair))
        assert repr(a) in str(e.value) and repr(b) in str(e.value)


def test_compatible_sets_are_accepted():
    for text in ("cgan,r1,ema", "wgan_gp,spectral_norm,extragradient", "pacgan,mbstd,r3gan", "gman,hinge,instance_noise",
                 "veegan,r1", "top_k,cgan,lecam", "negative_momentum,ttur"):
        check_compatible(make_recipe(text).ids())


# -- the registry ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def bibliography() -> frozenset[str]:
    data = yaml.safe_load((ROOT / "taxonomy/data/bibliography.yaml").read_text())
    return frozenset(data["references"])


@pytest.mark.parametrize("k", IDS)
def test_every_option_has_maths_a_citation_and_bounded_params(k):
    c = OPTIONS[k]
    assert c.kind in KINDS and c.label and len((c.__doc__ or "").strip()) > 80
    assert c.cite in bibliography() or c.cite in PENDING_CITES, c.cite
    for f in dataclasses.fields(c.Params):
        md = f.metadata
        assert md.get("help"), (k, f.name)
        if f.type in (int, float, "int", "float"):
            assert md.get("lo") is not None and md.get("hi") is not None, (k, f.name)
            assert md["lo"] <= f.default <= md["hi"], (k, f.name)


def test_pending_citations_are_arxiv_ids():
    for key, arxiv in PENDING_CITES.items():
        assert len(arxiv) == 10 and arxiv[4] == "." and arxiv.replace(".", "").isdigit(), (key, arxiv)


def test_registry_order_is_canonical_and_describe_lists_everything():
    mods = [OPTIONS[k].__module__.rsplit(".", 1)[-1] for k in IDS]
    order = ["losses", "penalties", "normalisation", "architecture", "optimisation", "games"]
    assert [order.index(x) for x in mods] == sorted(order.index(x) for x in mods)
    assert [d["id"] for d in describe()] == IDS


# -- composition smoke ----------------------------------------------------------------------------

SMOKE = Settings(steps=10, batch=8, hidden=8, eval_samples=100, eval_every=5)  # 3 of the 10 steps run


def run3(text: str) -> None:
    m = Model(make_recipe(text), SMOKE, [0, 1])
    for step in range(1, 4):
        d_loss, g_loss = m.rule.update(m)
        for hook in m.hooks["after_step"]:
            hook(m, step)
        assert d_loss.shape == g_loss.shape == (2,)
        assert torch.isfinite(d_loss).all() and torch.isfinite(g_loss).all(), (text, d_loss, g_loss)
    x, met = m.measure()
    for hook in m.hooks["on_eval"]:
        hook(m, 3, met)
    assert x.shape == (2, SMOKE.eval_samples, 2) and torch.isfinite(met["w1"]).all(), text
    assert len(m.heatmap(res=6)["z"]) == 6


@pytest.mark.parametrize("k", IDS)
def test_every_option_alone_trains(k):
    run3(k)


def compatible_pairs() -> list[str]:
    ok = []
    for a, b in itertools.combinations(IDS, 2):
        try:
            check_compatible([a, b])
        except ConfigError:
            continue
        ok.append(f"{a},{b}")
    return ok


PAIRS = random.Random(0).sample(compatible_pairs(), 16) + [
    "cgan,pacgan", "cgan,r1", "cgan,virtual_batch_norm", "acgan,wgan_gp", "madgan,ema", "mgan,early_stopping",
    "gman,hinge", "gman,extragradient", "d2gan,spectral_norm", "veegan,dragan", "bigan,consensus",
    "vaegan,relativistic", "alphagan,lsgan", "mode_regularised,optimistic",
    "feature_matching,minibatch_discrimination", "mode_seeking,cgan", "began,extragradient", "ebgan,pacgan",
    "r3gan,mbstd", "top_k,hinge", "lecam,hinge", "zcr,cgan", "jacobian_clamping,madgan", "sga,r1",
    "lookahead_minmax,wasserstein", "negative_momentum,wgan_gp", "unrolled,relativistic",
]


@pytest.mark.parametrize("text", PAIRS)
def test_compatible_pairs_train(text):
    run3(text)
