"""Technique presets (demos/presets.py) and the Recipe lab demo (demos/lab.py): every preset is a valid
recipe on a known scenario for a taxonomy technique; the claim rules on hand-made rows; a smoke run
of every preset (2 seeds, a few steps) through the lab's run()."""
import math

import pytest

from demos import lab
from demos.catalog import CATALOG
from demos.presets import CLAIMS, PRESETS, SCENARIOS, holds
from engine.config import ConfigError, from_overrides
from engine.options import make_recipe
from taxonomy.load import load_taxonomy, DEFAULT_TAXONOMY


def test_every_preset_is_a_valid_recipe_for_a_taxonomy_technique():
    techniques = set(load_taxonomy(DEFAULT_TAXONOMY).techniques)
    for pid, p in PRESETS.items():
        assert pid in techniques, pid
        assert p.scenario in SCENARIOS, pid
        assert make_recipe(p.recipe).items, pid  # the technique adds at least one option
        lab.settings(lab.Config(scenario=p.scenario))  # its scenario's settings validate


def test_the_catalogue_lists_every_preset_as_a_lab_variant():
    assert set(CATALOG["lab"].variants) == set(PRESETS)
    assert CATALOG["lab"].default_fix in PRESETS


def test_collapse_claim_rule():
    fail, fix = CLAIMS["collapse_ring"]
    assert fail({"modes": 4}) and not fail({"modes": 5})
    assert fix({"modes": 7, "hq_fraction": 0.5}, {}) and not fix({"modes": 8, "hq_fraction": 0.49}, {})
    assert not fix({"modes": 6, "hq_fraction": 0.9}, {})


def test_oscillation_claim_rule_pairs_seeds():
    plain = [{"late_w1": 0.10, "fluctuation": 0.030, "diverged": 0.0}] * 2
    fixes = [{"late_w1": 0.06, "fluctuation": 0.015, "diverged": 0.0},   # exactly 2x steadier, closer: holds
             {"late_w1": 0.11, "fluctuation": 0.005, "diverged": 0.0}]   # steadier but farther: does not
    assert holds("oscillation", plain, fixes) == ([True, True], [True, False])
    assert holds("oscillation", [{**plain[0], "fluctuation": 0.014}], [fixes[0]])[0] == [False]
    nan = {"late_w1": math.nan, "fluctuation": math.nan, "diverged": 1.0}
    assert holds("oscillation", [nan], [fixes[0]]) == ([False], [False])


def test_divergence_claim_rule():
    fail, fix = CLAIMS["divergence"]
    assert fail({"diverged": 1.0}) and not fail({"diverged": 0.0})
    ok = {"diverged": 0.0, "modes": 6, "late_w1": 0.25, "fluctuation": 0.01}
    assert fix(ok, {}) and not fix({**ok, "late_w1": 0.26}, {}) and not fix({**ok, "modes": 5}, {})
    assert not fix({**ok, "diverged": 1.0}, {})


def test_lab_config_rejects_bad_recipes_and_settings_by_name():
    with pytest.raises(ConfigError, match="recipe B: unknown option 'bogus'"):
        lab.check_recipes(lab.Config(b="bogus"))
    with pytest.raises(ConfigError, match="recipe A: option 'r1'"):
        lab.check_recipes(lab.Config(a="r1.gamma=-3"))
    with pytest.raises(ConfigError, match="scenario"):
        from_overrides(lab.Config, {"scenario": "nowhere"})
    with pytest.raises(ConfigError, match="unknown variant"):
        lab.run(lab.Config(), ["nope"], 1)


def test_every_preset_runs_a_few_steps():
    """All presets at once (grouped by scenario: each plain GAN trains once), 2 seeds, 10 steps."""
    res = lab.run(lab.Config(steps=10, eval_every=10), list(PRESETS), 2, threads=1)
    for pid in PRESETS:
        v = res["variants"][pid]
        assert len(v["per_seed"]) == 2 and v["steps_done"] == 10, pid
        fail, fix = lab.claims(res, pid)
        assert len(fail) == len(fix) == 2
    assert {f"plain@{s}" for s in {p.scenario for p in PRESETS.values()}} <= set(res["variants"])


def test_the_unrolled_look_ahead_depends_on_the_generator():
    """Metz et al.: G's gradient flows through psi^K's dependence on G's samples (not only through
    D's output at psi^K): the look-ahead weights must carry a graph back to G."""
    import torch

    from engine.lab import Model, Settings

    m = Model(make_recipe("unrolled.k=2"), Settings(steps=10), [0])
    real, z = m.real(), m.noise()
    fake = m.generate(z)
    p = m.d_params_for_g(real, fake)
    (g,) = torch.autograd.grad(p.sum(), m.G.flat, allow_unused=True)
    assert g is not None and g.abs().sum() > 0
