"""The non-convergence demo: the sliced-Wasserstein distance against known cases, each variant's
one change, the run contract, and the claim itself over 8 seeds on a fast configuration."""
import dataclasses
import json
import math

import pytest
import torch

from engine import pretrained
from demos import oscillation as osc
from demos.__main__ import main as cli
from demos.catalog import CATALOG
from engine.config import ConfigError, from_overrides

TINY = osc.Config(steps=60, batch=32, hidden=16, eval_every=10, frame_every=20, eval_samples=200, projections=8)


# ---- the distance ------------------------------------------------------------------------------
def test_sw_of_a_set_with_itself_and_its_permutation_is_zero():
    x = torch.randn(3, 500, 2)
    assert torch.equal(osc.sliced_wasserstein(x, x, osc.directions(16)), torch.zeros(3))
    perm = x[:, torch.randperm(500)]
    assert osc.sliced_wasserstein(x, perm, osc.directions(16)).abs().max() < 1e-6


def test_sw_of_a_shift_is_the_mean_projected_shift():
    x, s = torch.randn(1, 400, 2), torch.tensor([0.3, -0.4])
    dirs = osc.directions(32)
    want = (dirs @ s).abs().mean()  # every projection is shifted by <s, u_k>, and sorting keeps the order
    assert osc.sliced_wasserstein(x, x + s, dirs).item() == pytest.approx(want.item(), rel=1e-5)
    # with many evenly spread directions, the mean of |<s, u>| over the half circle is 2|s|/pi
    assert osc.sliced_wasserstein(x, x + s, osc.directions(512)).item() == pytest.approx(2 * 0.5 / math.pi, rel=1e-3)


def test_sw_is_batched_per_seed_and_a_nan_seed_stays_alone():
    x, y = torch.randn(3, 100, 2), torch.randn(3, 100, 2) + 1
    both = osc.sliced_wasserstein(x, y, osc.directions(8))
    alone = torch.cat([osc.sliced_wasserstein(x[i:i + 1], y[i:i + 1], osc.directions(8)) for i in range(3)])
    assert torch.allclose(both, alone)
    y[1, 5] = float("nan")
    out = osc.sliced_wasserstein(x, y, osc.directions(8))
    assert math.isnan(out[1]) and torch.isfinite(out[[0, 2]]).all()


def test_sw_separates_different_distributions_from_two_samples_of_one():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1, 1000, 2, generator=g), torch.randn(1, 1000, 2, generator=g)
    assert osc.sliced_wasserstein(a, b, osc.directions(32)) < 0.1
    assert osc.sliced_wasserstein(a, 2 * b, osc.directions(32)) > 0.4  # a wider Gaussian


def test_directions_are_unit_vectors_over_half_a_circle():
    d = osc.directions(4)
    assert torch.allclose(d.norm(dim=1), torch.ones(4))
    assert torch.allclose(d, torch.tensor([[1.0, 0], [0.5 ** 0.5, 0.5 ** 0.5], [0, 1], [-(0.5 ** 0.5), 0.5 ** 0.5]]), atol=1e-6)


# ---- each variant is one change ----------------------------------------------------------------
def test_learning_rates_optimisers_and_penalty_per_variant():
    cfg = dataclasses.replace(TINY, lr=0.04, ttur_g=0.25, r1_gamma=0.3)
    runs = {v: osc.OscRun(v, cfg, [0]) for v in osc.VARIANTS}
    for v, r in runs.items():
        assert isinstance(r.opt_g, torch.optim.SGD) and isinstance(r.opt_d, torch.optim.SGD)
        assert r.opt_d.param_groups[0]["lr"] == 0.04
        assert r.opt_g.param_groups[0]["lr"] == pytest.approx(0.01 if v == "ttur" else 0.04)
        assert r.setup.r1_weight == (0.3 if v == "r1" else 0.0)
        assert (r.avg is not None) == (v == "ema") and (r.noise_sd > 0) == (v == "instance_noise")
    adam = osc.OscRun("gan", dataclasses.replace(cfg, optimizer="adam", momentum=0.5), [0])
    assert isinstance(adam.opt_g, torch.optim.Adam) and adam.opt_g.param_groups[0]["betas"][0] == 0.5


def test_ema_averages_the_generator_and_samples_come_from_the_average():
    cfg = dataclasses.replace(TINY, ema_beta=0.9)
    r = osc.OscRun("ema", cfg, [0, 1])
    before = [p.detach().clone() for p in r.G.params()]
    r.step()
    for a, b, p in zip(r.avg, before, r.G.params()):
        assert torch.allclose(a, 0.9 * b + 0.1 * p.detach(), atol=1e-6)
        assert not torch.equal(a, p)  # training continues on the raw weights
    y, _ = r.measure()
    assert torch.allclose(y, r.G(r.z_eval, r.avg) * r.scale) and not torch.allclose(y, r.G(r.z_eval) * r.scale)


def test_instance_noise_reaches_training_but_not_evaluation():
    r = osc.OscRun("instance_noise", TINY, [0])
    x = r.real(64)
    assert not torch.allclose(r.d(x), r.d(x))  # fresh noise at each call while training
    with torch.no_grad():
        assert torch.equal(r.d(x), r.d(x))
    plain = osc.OscRun("gan", TINY, [0])
    assert torch.equal(plain.d(x), plain.d(x))


def test_evaluation_sets_are_fixed_and_the_same_for_every_variant():
    a, b = osc.OscRun("gan", TINY, [3]), osc.OscRun("r1", TINY, [3])
    assert torch.equal(a.x_eval, b.x_eval) and torch.equal(a.z_eval, b.z_eval)
    a.step()
    assert torch.equal(a.x_eval, b.x_eval)
    assert not torch.equal(osc.OscRun("gan", TINY, [4]).x_eval, a.x_eval)


# ---- config, run contract, CLI -----------------------------------------------------------------
def test_config_rejects_unknown_keys_and_out_of_range_values():
    with pytest.raises(ConfigError, match="unknown config key"):
        from_overrides(osc.Config, {"learning_rate": "0.1"})
    with pytest.raises(ConfigError, match="lr"):
        from_overrides(osc.Config, {"lr": "5"})
    with pytest.raises(ConfigError, match="optimizer"):
        from_overrides(osc.Config, {"optimizer": "rmsprop"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        osc.Config().lr = 1.0  # type: ignore[misc]


def test_run_contract_events_and_json():
    events = []
    r = osc.run(TINY, ["gan", "ema"], seeds=2, on_event=events.append)
    assert r["demo"] == "oscillation" and r["seeds"] == [0, 1] and not r["stopped"]
    for v in ("gan", "ema"):
        x = r["variants"][v]
        assert len(x["per_seed"]) == 2 and set(osc.METRICS) <= set(x["mean"]) == set(x["sd"])
        assert x["curves"]["step"][0] == 1 and x["curves"]["step"][-1] == TINY.steps
        assert len(x["curves"]["sw"][0]) == 2 and x["steps_done"] == TINY.steps
    assert [e["step"] for e in events] == [20, 40, 60] and set(events[0]["variants"]) == {"gan", "ema"}
    json.dumps(r, allow_nan=False)
    with pytest.raises(ValueError, match="unknown variant"):
        osc.run(TINY, ["gan", "nope"], seeds=1)


def test_should_stop_ends_the_run_early():
    r = osc.run(dataclasses.replace(TINY, steps=500), ["gan"], seeds=1, should_stop=lambda: True)
    assert r["stopped"] and r["variants"]["gan"]["steps_done"] == 1


def test_divergence_is_an_outcome_not_a_crash():
    # SGD at lr 1 with heavy momentum blows up a GAN within a few hundred steps
    cfg = dataclasses.replace(TINY, lr=1.0, momentum=0.99, steps=300)
    r = osc.run(cfg, ["gan"], seeds=2)
    x = r["variants"]["gan"]
    assert any(x["diverged_at"])
    bad = [p for p, d in zip(x["per_seed"], x["diverged_at"]) if d]
    assert all(not osc._finite(p) for p in bad)


def test_success_is_paired_by_seed_and_handles_divergence():
    def res(fail, fix):
        mk = lambda rows: {"per_seed": [{"sw_final": f, "sw_fluct": s} for f, s in rows]}  # noqa: E731
        return {"variants": {"gan": mk(fail), "r1": mk(fix)}}
    fail = [(0.10, 0.020), (0.10, 0.020), (0.10, 0.020), (0.10, 0.020), (None, None)]
    fix = [(0.08, 0.005), (0.08, 0.015), (0.12, 0.005), (None, None), (0.08, 0.03)]
    assert osc.success(res(fail, fix), "r1") == [True, False, False, False, True]


def test_cli_runs_the_demo(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = cli(["run", "oscillation", "--steps", "60", "--seeds", "1", "--set", "eval_every=10", "--set", "hidden=16",
              "--json", str(out), "--quiet", "--save-samples", str(tmp_path / "s")])
    assert rc == 0 and set(json.loads(out.read_text())["variants"]) == {"gan", CATALOG["oscillation"].default_fix}
    assert (tmp_path / "s" / "gan_seed0.npy").is_file()
    assert cli(["run", "oscillation", "--set", "bogus=1"]) == 2


# ---- the claim ---------------------------------------------------------------------------------
# The default training (3,000 steps: at 2,000 TTUR and instance noise have not settled yet, 3/8 and
# 5/8) with a cheaper distance (500 points, 16 directions): ~1 min on one core.
FAST = osc.Config(eval_samples=500, projections=16)


@pytest.fixture(scope="module")
def fast_result():
    return osc.run(FAST, list(osc.VARIANTS), seeds=8)


@pytest.mark.parametrize("fix", [v for v in osc.VARIANTS if v != "gan"])
def test_each_fix_settles_where_the_plain_gan_keeps_moving(fast_result, fix):
    ok = osc.success(fast_result, fix)
    assert sum(ok) >= 7, f"{fix}: claim holds in {sum(ok)}/8 seeds: {fast_result['variants'][fix]['per_seed']}"


def test_the_plain_gan_does_not_settle(fast_result):
    # its late fluctuation is well above what fixed evaluation sets and a frozen G would give (0)
    fl = [p["sw_fluct"] for p in fast_result["variants"]["gan"]["per_seed"]]
    assert min(fl) > 0.005, fl


def test_shipped_result_matches_the_defaults_and_supports_the_claim():
    r = pretrained.load(pretrained.path_for(osc.DEMO_ID, "default"), osc.CODE_VERSION)
    assert r["config"] == json.loads(json.dumps(dataclasses.asdict(osc.Config())))
    assert set(r["variants"]) == set(osc.VARIANTS) and len(r["seeds"]) == 8
    for fix in osc.VARIANTS:
        if fix != "gan":
            assert sum(osc.success(r, fix)) >= 7, fix
