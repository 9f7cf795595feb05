"""The tissue-patch demo's claims over seeds at its default settings (what a class sees), on seeds
the shipped results never used (1000-1007), for each scenario: the failure (no_norm: the pair
without batch norm; fast_g: the DCGAN with G's learning rate ten times D's) collapses between or
within modalities in >= 80 % of seeds, and the scenario's default fix (batch norm; minibatch
stddev) covers >= 4 of the 5 modalities with reverse KL <= 0.35 in >= 80 %. About 3 + 4 minutes
on 2 cores."""
import pytest

from demos import tissue_patches as tp

SEEDS = 8


@pytest.fixture(scope="module", params=list(tp.FAILURE))
def default_run(request):
    scenario = request.param
    failure, fix = tp.FAILURE[scenario], tp.DEFAULT_FIX[scenario]
    return failure, fix, tp.run(tp.Config(seed=1000, eval_every=1000), [failure, fix], SEEDS)


@pytest.mark.slow
def test_failure_collapses_and_default_fix_covers_the_modalities(default_run):
    failure, fix, res = default_run
    fail = tp.success(res, failure, "failure")
    ok = tp.success(res, fix, "fix")
    seen = {v: [(p["modes"], round(p["reverse_kl"], 2), p["diversity"]) for p in res["variants"][v]["per_seed"]]
            for v in (failure, fix)}
    assert sum(fail) >= 0.8 * SEEDS, seen
    assert sum(ok) >= 0.8 * SEEDS, seen


@pytest.mark.slow
def test_the_fix_is_better_on_every_metric_on_average(default_run):
    failure, fix, res = default_run
    f, x = res["variants"][failure]["mean"], res["variants"][fix]["mean"]
    assert x["modes"] > f["modes"]
    assert x["reverse_kl"] < f["reverse_kl"]
    assert x["frechet_classifier"] < f["frechet_classifier"]


def test_success_rule_is_the_documented_bar():
    res = {"real": {"diversity": 0.1}, "variants": {"x": {"per_seed": [
        {"modes": 2, "reverse_kl": 0.2, "diversity": 0.1},  # inter-class: only 2 modalities
        {"modes": 5, "reverse_kl": 0.7, "diversity": 0.1},  # inter-class: one modality dominates
        {"modes": 5, "reverse_kl": 0.2, "diversity": 0.2},  # intra-class: twice as alike as real
        {"modes": 4, "reverse_kl": 0.35, "diversity": 0.19},  # neither: a fix
        {"modes": 3, "reverse_kl": 0.3, "diversity": None},  # 3 modalities: neither claim
    ]}}}
    assert tp.success(res, "x", "failure") == [True, True, True, False, False]
    assert tp.success(res, "x", "fix") == [False, False, True, True, False]
