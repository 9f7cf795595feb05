"""Statistical verification of the medical demos' claims at each demo's default settings. Slow (about
5-10 minutes per demo on 2 cores): the full verification tier (``claims`` marker), not CI; run with
``bash clinic.sh verify`` or

    python -m pytest --claims -m claims tests/test_med_claims.py -p no:cacheprovider

Modalities (600 steps of 1e-3): the sweep found the failure in 16/16 seeds; a conservative rate
p = 0.7 gives P(Binomial(16, 0.7) >= 7) = 0.993, so the test asks for 7 of 16 on seeds 1000-1015
(unseen by the sweep) and passes on a new machine with >= 99 % probability. Batch norm is not
claimed there (1/16): it is checked as a direction, more modalities covered on average.

Brain MRI (1,500 steps of 4e-4, demos/brain_mri.Config): the failure held in 60/64 seeds and batch
norm's fix in 62/64 (seeds 0-15, the sweep; 1000-1015 and 3000-3015; 4000-4015, first by this file's
claims test, which passed at the bars of the time, 9 and 12, and then by the CLI for the counts, 16/16
and 14/16; all 2026-12-06). The tests use seeds no measurement used (5000-5015 here, 2000-2005 in CI),
each bar from engine.claims.test_bar at the lower 95 % Wilson bound of the measured rate (here 10 and
11 of 16)."""
import pytest

from demos import brain_mri, med_gan, modalities
from engine.claims import test_bar

SEEDS, NEED = 16, 7
BRAIN_FAILURE, BRAIN_FIX = (60, 64), (62, 64)  # measured: seeds 0-15, 1000-1015, 3000-3015, 4000-4015 (docs/medical_gans.md)


def per_seed(res: dict, v: str) -> list:
    return [(p["classes"], round(p["reverse_kl"], 2)) for p in res["variants"][v]["per_seed"]]


@pytest.mark.slow
@pytest.mark.claims
def test_no_normalisation_collapses_on_modalities_on_unseen_seeds():
    res = modalities.run(modalities.Config(seed=1000), [med_gan.FAILURE, "batchnorm"], SEEDS, threads=1)
    ok = med_gan.success(res, med_gan.FAILURE, "failure")
    assert sum(ok) >= NEED, per_seed(res, med_gan.FAILURE)
    assert res["variants"]["batchnorm"]["mean"]["classes"] > res["variants"]["plain"]["mean"]["classes"]


@pytest.mark.slow
@pytest.mark.claims
def test_brain_failure_and_batch_norm_fix_on_unseen_seeds():
    res = brain_mri.run(brain_mri.Config(seed=5000), [med_gan.FAILURE, "batchnorm"], SEEDS, threads=1)
    fail, fix = med_gan.success(res, med_gan.FAILURE, "failure"), med_gan.success(res, "batchnorm", "fix")
    assert sum(fail) >= test_bar(SEEDS, *BRAIN_FAILURE), per_seed(res, med_gan.FAILURE)
    assert sum(fix) >= test_bar(SEEDS, *BRAIN_FIX), per_seed(res, "batchnorm")


# CI tier: the claimed failure on a short configuration (6 seeds instead of 16, scored once at the
# end; the training itself is the default's). The modalities sweep found it in 16/16 seeds; at the
# one-sided 95 % Clopper-Pearson bound of 16/16, p = 0.83, P(Binomial(6, 0.83) >= 3) = 0.991, so
# asking for 3 of 6 passes on a new machine with >= 99 % probability. Seeds 1000-1005: unseen by
# the sweep that made the claim. About 55 s on one core (measured 54 s).
CI_SEEDS, CI_NEED = 6, 3


@pytest.mark.slow
def test_no_normalisation_collapses_on_modalities_short():
    cfg = modalities.Config(seed=1000, eval_every=modalities.Config().steps)
    res = modalities.run(cfg, [med_gan.FAILURE], CI_SEEDS, threads=1)
    ok = med_gan.success(res, med_gan.FAILURE, "failure")
    assert sum(ok) >= CI_NEED, per_seed(res, med_gan.FAILURE)


# CI tier, brain MRI: the claimed failure (no normalisation covers <= 3 of 7 levels or puts most images
# on one) and the claimed fix (batch norm covers >= 6 levels with reverse KL <= 0.35), the default
# training (1,500 steps) on 6 seeds no measurement used (2000-2005), scored once at the end. Bars from
# engine.claims.test_bar (>= 99 % pass probability at the lower Wilson bound of the measured rates):
# failure 3 of 6 (60/64 measured), fix 3 of 6 (62/64). About 3 minutes on one core.
@pytest.mark.slow
def test_brain_failure_and_batch_norm_fix_short():
    cfg = brain_mri.Config(seed=2000, eval_every=brain_mri.Config().steps)
    res = brain_mri.run(cfg, [med_gan.FAILURE, "batchnorm"], CI_SEEDS, threads=1)
    fail, fix = med_gan.success(res, med_gan.FAILURE, "failure"), med_gan.success(res, "batchnorm", "fix")
    assert sum(fail) >= test_bar(CI_SEEDS, *BRAIN_FAILURE), per_seed(res, med_gan.FAILURE)
    assert sum(fix) >= test_bar(CI_SEEDS, *BRAIN_FIX), per_seed(res, "batchnorm")
