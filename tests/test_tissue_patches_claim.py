"""The tissue-patch demo's claim over seeds at its default settings (what a class sees), on seeds
the shipped result never used (1000-1007): the failure (DCGAN without batch norm) collapses between
or within modalities in >= 80 % of seeds, and the default fix (the DCGAN recipe, batch norm) covers
>= 4 of the 5 modalities with reverse KL <= 0.35 in >= 80 %. About 3 minutes on 2 cores."""
import pytest

from demos import tissue_patches as tp
from demos.catalog import CATALOG

SEEDS = 8
INFO = CATALOG[tp.DEMO_ID]


@pytest.fixture(scope="module")
def default_run():
    return tp.run(tp.Config(seed=1000, eval_every=1000), [INFO.failure, INFO.default_fix], SEEDS)


@pytest.mark.slow
def test_failure_collapses_and_default_fix_covers_the_modalities(default_run):
    fail = tp.success(default_run, INFO.failure, "failure")
    fix = tp.success(default_run, INFO.default_fix, "fix")
    seen = {v: [(p["modes"], round(p["reverse_kl"], 2), p["diversity"]) for p in default_run["variants"][v]["per_seed"]]
            for v in (INFO.failure, INFO.default_fix)}
    assert sum(fail) >= 0.8 * SEEDS, seen
    assert sum(fix) >= 0.8 * SEEDS, seen


@pytest.mark.slow
def test_the_fix_is_better_on_every_metric_on_average(default_run):
    m = {v: default_run["variants"][v]["mean"] for v in (INFO.failure, INFO.default_fix)}
    f, x = m[INFO.failure], m[INFO.default_fix]
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
