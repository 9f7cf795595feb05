"""The instability demo: the stall and the divergence over seeds (fast configs and the shipped
defaults), a NaN is an outcome and never an exception, arrows are the loss's gradient, and watching a
run does not change it."""
import dataclasses
import json
import math

import pytest
import torch

from demos import instability as ins
from engine import losses, pretrained
from engine.jsonio import jsonable as _jsonable
from demos.catalog import CATALOG
from engine.train import GanSetup

SEEDS = 6
FAST_STALL = ins.Config(steps=150, warmup=150, hidden=32, eval_every=50, arrows=10)
FAST_DIVERGE = ins.Config(steps=400, eval_every=50, arrows=10)


def at_least(flags, frac=0.8):
    return sum(flags) >= math.ceil(frac * len(flags))


@pytest.fixture(scope="module")
def stall():
    events = []
    r = ins.run(FAST_STALL, ["saturating", "nonsaturating"], SEEDS, on_event=events.append, threads=1)
    return r, events


@pytest.fixture(scope="module")
def diverge():
    events = []
    return ins.run(FAST_DIVERGE, ["high_lr", "spectral"], SEEDS, on_event=events.append, threads=1), events


@pytest.mark.slow
def test_saturating_generator_stalls_and_nonsaturating_learns(stall):
    r, _ = stall
    assert at_least(ins.success(r, "saturating")), r["variants"]["saturating"]["per_seed"]
    assert at_least(ins.success(r, "nonsaturating")), r["variants"]["nonsaturating"]["per_seed"]
    sat, ns = (r["variants"][v]["per_seed"] for v in ("saturating", "nonsaturating"))
    # the reason: the saturating gradient is orders of magnitude smaller on every seed
    assert all(a["grad_norm_end"] < 1e-2 * b["grad_norm_end"] for a, b in zip(sat, ns))


@pytest.mark.slow
def test_stall_shows_d_rejecting_the_frozen_fakes(stall):
    c = stall[0]["variants"]["saturating"]["curves"]
    assert c["d_real"][-1] > 0.95 and c["d_fake"][-1] < 1e-3
    assert all(v > 0 for v in c["grad_norm"][1:])  # tiny, never an exact 0 (float64 norms)


@pytest.mark.slow
def test_arrows_vanish_under_the_saturating_loss(stall):
    last = stall[1][-1]["variants"]
    length = {v: torch.tensor(f["arrows"]["u"]).hypot(torch.tensor(f["arrows"]["v"])).median().item()
              for v, f in last.items()}
    assert len(last["saturating"]["arrows"]["x"]) == 10
    assert length["saturating"] < 1e-3 * length["nonsaturating"]


def test_arrows_are_minus_the_per_sample_loss_gradient():
    cfg = FAST_STALL
    run = ins.LiveRun(GanSetup(loss="saturating"), ins.settings(cfg), [0], ins.recipe(cfg, "stall"))
    a = ins.arrows(run, 5)
    x = run.eval_samples(5).requires_grad_(True)
    logit = run.d(x)
    # ℓ = log(1 - sigmoid(l)):  -∇ℓ = sigmoid(l) ∇l
    (dl,) = torch.autograd.grad(logit.sum(), x)
    expect = (torch.sigmoid(logit) * dl)[0]
    assert torch.allclose(torch.tensor([a["u"], a["v"]]).T, expect, rtol=1e-4, atol=1e-12)


@pytest.mark.slow
def test_high_lr_diverges_and_spectral_norm_keeps_it_finite(diverge):
    r, _ = diverge
    assert at_least(ins.success(r, "high_lr")), r["variants"]["high_lr"]["diverged_at"]
    assert at_least(ins.success(r, "spectral")), r["variants"]["spectral"]["per_seed"]
    assert all(1 <= d <= FAST_DIVERGE.steps for d in r["variants"]["high_lr"]["diverged_at"] if d)


@pytest.mark.slow
def test_divergence_is_an_outcome_not_a_crash(diverge):
    r, events = diverge
    hl = r["variants"]["high_lr"]
    assert any(d is not None for d in hl["diverged_at"])
    json.dumps(_jsonable(r), allow_nan=False)  # the result, NaN included, is valid JSON
    json.dumps(_jsonable(events[-1]), allow_nan=False)
    frame = events[-1]["variants"]["high_lr"]
    assert all(math.isfinite(v) for p in frame["samples"] for v in p)  # the last finite picture is kept
    if hl["diverged_at"][0] is not None:
        assert frame["diverged_at"] == hl["diverged_at"][0]
    alive = hl["curves"]["alive"]
    assert alive[0] == SEEDS and alive[-1] == sum(d is None for d in hl["diverged_at"])


@pytest.mark.slow
def test_r1_keeps_the_high_lr_run_finite():
    r = ins.run(FAST_DIVERGE, ["r1"], SEEDS, threads=1)
    assert at_least(ins.success(r, "r1")), r["variants"]["r1"]["diverged_at"]


def test_a_run_stops_early_when_every_seed_diverged():
    cfg = dataclasses.replace(FAST_DIVERGE, diverge_lr=10.0, steps=2000)
    r = ins.run(cfg, ["high_lr"], 2, threads=1)
    assert all(r["variants"]["high_lr"]["diverged_at"]) and r["steps_done"] < 2000


def test_watching_does_not_change_the_run():
    cfg = dataclasses.replace(FAST_DIVERGE, steps=40, eval_every=7)
    quiet = ins.run(cfg, ["spectral"], 2, threads=1)
    watched = ins.run(cfg, ["spectral"], 2, on_event=lambda e: None, threads=1)
    assert quiet["variants"]["spectral"]["per_seed"] == watched["variants"]["spectral"]["per_seed"]


def test_each_fix_is_one_change_from_its_scenarios_failure():
    cfg = ins.Config()
    for v, (_, scenario, make) in ins.VARIANTS.items():
        base = dataclasses.asdict(ins.VARIANTS[ins.FAILURE[scenario]][2](cfg))
        diff = {k for k, val in dataclasses.asdict(make(cfg)).items() if base[k] != val}
        assert len(diff) <= (3 if v == "wgan_gp" else 1), (v, diff)  # WGAN-GP: loss, λ, critic steps
    assert ins.VARIANTS["saturating"][2](cfg).loss == "saturating"
    assert losses.LOSSES["saturating"][1] is losses.g_loss_saturating
    assert ins.VARIANTS["spectral"][2](cfg).spectral and ins.VARIANTS["r1"][2](cfg).r1_weight == cfg.r1_gamma


def test_catalog_lists_exactly_the_module_variants():
    info = CATALOG["instability"]
    assert set(info.variants) == set(ins.VARIANTS) and info.failure == "saturating"
    assert info.challenge == "instability" and info.module == "demos.instability"


def test_config_rejects_unknown_keys_and_bad_values():
    from engine.config import ConfigError, from_overrides

    with pytest.raises(ConfigError, match="unknown config key"):
        from_overrides(ins.Config, {"lr": "1"})
    with pytest.raises(ConfigError, match="expected one of"):
        from_overrides(ins.Config, {"g_optimizer": "rmsprop"})


@pytest.mark.parametrize("scenario", ["stall", "diverge"])
def test_shipped_defaults_show_the_effect_in_most_seeds(scenario):
    r = pretrained.load(pretrained.path_for(ins.DEMO_ID, scenario), ins.CODE_VERSION)
    assert r["config"] == json.loads(json.dumps(dataclasses.asdict(ins.Config())))
    want = {v for v, (_, s, _) in ins.VARIANTS.items() if s == scenario}
    assert len(r["seeds"]) >= 8 and set(r["variants"]) == want
    for v in want:
        assert at_least(ins.success(r, v)), (scenario, v)


def test_cuda_used_when_available_else_cpu():
    r = ins.run(dataclasses.replace(FAST_STALL, steps=10, warmup=1), ["saturating"], 1, threads=1)
    assert r["variants"]["saturating"]["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
