"""Statistical verification of the medical demos' claimed failure at the default settings, on seeds
the sweep never used (1000-1015). Slow (about 5 minutes per demo on 2 cores): the full verification
tier (``claims`` marker), not CI; run with ``bash clinic.sh verify`` or

    python -m pytest --claims -m claims tests/test_med_claims.py -p no:cacheprovider

The sweep (docs/medical_gans.md) found the failure in 15/16 seeds (brain) and 16/16 (modalities);
a conservative rate p = 0.7 (about the one-sided 95 % Clopper-Pearson bound of 15/16) gives
P(Binomial(16, 0.7) >= 7) = 0.993, so the test asks for 7 of 16 and passes on a new machine with
>= 99 % probability. The comparison with batch norm (not claimed: it meets the fix bar in 6/16 and
1/16 seeds) is checked as a direction: batch norm covers more classes on average than no norm."""
import pytest

from demos import brain_mri, med_gan, modalities

SEEDS, NEED = 16, 7


@pytest.mark.slow
@pytest.mark.claims
@pytest.mark.parametrize("mod", [brain_mri, modalities], ids=["brain_mri", "modalities"])
def test_no_normalisation_collapses_on_unseen_seeds(mod):
    res = mod.run(med_gan.Config(seed=1000), [med_gan.FAILURE, "batchnorm"], SEEDS, threads=1)
    ok = med_gan.success(res, med_gan.FAILURE, "failure")
    assert sum(ok) >= NEED, [(p["classes"], round(p["reverse_kl"], 2)) for p in res["variants"]["plain"]["per_seed"]]
    assert res["variants"]["batchnorm"]["mean"]["classes"] > res["variants"]["plain"]["mean"]["classes"]


# CI tier: the claimed failure on a short configuration (6 seeds instead of 16, scored once at the
# end; the training itself is the default's). The modalities sweep found it in 16/16 seeds; at the
# one-sided 95 % Clopper-Pearson bound of 16/16, p = 0.83, P(Binomial(6, 0.83) >= 3) = 0.991, so
# asking for 3 of 6 passes on a new machine with >= 99 % probability. Seeds 1000-1005: unseen by
# the sweep that made the claim. About 55 s on one core (measured 54 s).
CI_SEEDS, CI_NEED = 6, 3


@pytest.mark.slow
def test_no_normalisation_collapses_on_modalities_short():
    cfg = med_gan.Config(seed=1000, eval_every=med_gan.Config().steps)
    res = modalities.run(cfg, [med_gan.FAILURE], CI_SEEDS, threads=1)
    ok = med_gan.success(res, med_gan.FAILURE, "failure")
    assert sum(ok) >= CI_NEED, [(p["classes"], round(p["reverse_kl"], 2)) for p in res["variants"]["plain"]["per_seed"]]


# CI tier, brain MRI: the claimed failure (no normalisation covers <= 3 of 7 levels or puts most images
# on one), the default training on 6 seeds no measurement used (2000-2005), scored once at the end.
# Measured: 15/16 in the sweep (seeds 0-15, docs/medical_gans.md) and 16/16 on seeds 1000-1015
# (2026-12-06, `python -m demos run brain_mri --variants plain --seeds 16 --set seed=1000`): 31/32.
# engine.claims.test_bar sizes the bar so the test passes with >= 99 % at the lower 95 % Wilson
# bound of 31/32 (p = 0.84): 3 of 6. About 50 s on one core.
BRAIN_MEASURED = (31, 32)


@pytest.mark.slow
def test_no_normalisation_collapses_on_brain_short():
    from engine.claims import test_bar

    need = test_bar(CI_SEEDS, *BRAIN_MEASURED)
    cfg = med_gan.Config(seed=2000, eval_every=med_gan.Config().steps)
    res = brain_mri.run(cfg, [med_gan.FAILURE], CI_SEEDS, threads=1)
    ok = med_gan.success(res, med_gan.FAILURE, "failure")
    assert sum(ok) >= need, [(p["classes"], round(p["reverse_kl"], 2)) for p in res["variants"]["plain"]["per_seed"]]
