"""Contracts of the batched engine: seeds independent and reproducible, packing packs, the
unrolled look-ahead stays in the graph, divergence is an outcome, and threads are bounded."""
import dataclasses

import torch

from engine.options import make_recipe

from demos import mode_collapse as mc
from engine.nets import BatchedMLP
from engine.train import GanSetup, Run, TrainSettings, pack_samples, torch_threads, train

FAST = TrainSettings(steps=30, batch=32, hidden=16, eval_every=10)


def test_batched_mlp_equals_per_seed_loop():
    net = BatchedMLP([2, 8, 8, 1], seeds=[0, 1, 2], salt=2)
    x = torch.randn(3, 5, 2)
    out = net(x)
    for s in range(3):  # seed s alone: plain matmuls with its own weights
        h = x[s]
        for i, (w, b) in enumerate(zip(net.weights, net.biases)):
            h = h @ w[s] + b[s]
            if i < 2:
                h = torch.nn.functional.leaky_relu(h, 0.2)
        assert torch.allclose(out[s], h, atol=1e-6)


def test_seed_init_independent_of_batch_companions():
    alone = BatchedMLP([2, 8, 1], seeds=[3], salt=1)
    together = BatchedMLP([2, 8, 1], seeds=[0, 1, 2, 3], salt=1)
    assert torch.equal(alone.weights[0][0], together.weights[0][3])


def test_same_config_same_numbers():
    a = train({"gan": GanSetup()}, FAST, seeds=[0, 1])["gan"]["per_seed"]
    b = train({"gan": GanSetup()}, FAST, seeds=[0, 1])["gan"]["per_seed"]
    assert a == b


def test_gradient_of_one_seed_ignores_the_others():
    run = Run(GanSetup(), FAST, seeds=[0, 1])
    fake = run.generate(16)
    loss = run.g_loss_fn(run.d(fake))
    (g,) = torch.autograd.grad(loss[0], run.G.weights[0])
    assert g[1].abs().max() == 0 and g[0].abs().max() > 0


def test_pack_samples_concatenates_m_consecutive_samples():
    x = torch.arange(12.0).reshape(1, 6, 2)
    p = pack_samples(x, 3)
    assert p.shape == (1, 2, 6)
    assert p[0, 0].tolist() == [0, 1, 2, 3, 4, 5]


def test_pacgan_discriminator_sees_packed_inputs():
    run = Run(GanSetup(pack=3), FAST, seeds=[0])
    assert run.D.weights[0].shape == (1, 6, 16)  # first layer reads 3 samples x 2 coordinates
    assert run.d(run.real(30)).shape == (1, 10, 1)


def test_mbstd_adds_a_batch_statistic():
    net = BatchedMLP([2, 8, 1], seeds=[0], salt=2, mbstd=True)
    same = torch.ones(1, 4, 2)
    varied = torch.randn(1, 4, 2) * 3
    assert net.weights[-1].shape == (1, 9, 1)  # 8 features + 1 stddev
    # D's output on a sample depends on the rest of the batch
    a = net(torch.cat([same[:, :1], varied[:, 1:]], 1))[0, 0]
    b = net(same)[0, 0]
    assert not torch.allclose(a, b)


def test_unrolled_generator_gradient_flows_through_lookahead():
    run = Run(GanSetup(unroll=3), FAST, seeds=[0])
    real, fake = run.real(32), run.generate(32)
    p = run.unrolled_d_params(real, fake)
    assert all(t.requires_grad and t.grad_fn is not None for t in p)
    assert not torch.allclose(p[0], run.D.weights[0])  # the look-ahead moved D


def test_spectral_norm_bounds_largest_singular_value():
    net = BatchedMLP([2, 16, 1], seeds=[0, 1], salt=2, spectral=True)
    with torch.no_grad():
        net.weights[0].mul_(50)
    for _ in range(30):
        net(torch.randn(2, 4, 2))
    w = net._sn(0, net.weights[0])
    sv = torch.linalg.matrix_norm(w, ord=2)
    assert torch.allclose(sv, torch.ones(2), atol=0.05)


def test_divergence_is_an_outcome_not_a_crash():
    ts = dataclasses.replace(FAST, lr_g=1e30, lr_d=1e30, steps=40)
    r = train({"gan": GanSetup(loss="wasserstein")}, ts, seeds=[0, 1])["gan"]
    assert any(d is not None for d in r["diverged_at"])
    assert all(p["hq_fraction"] >= 0 for p in r["per_seed"])


def test_should_stop_ends_the_run():
    ts = dataclasses.replace(FAST, steps=1000)
    r = train({"gan": GanSetup()}, ts, seeds=[0], should_stop=lambda: True)["gan"]
    assert r["stopped"] and r["steps_done"] == 1


def test_events_report_every_variant_side_by_side():
    events = []
    train({"a": GanSetup(), "b": GanSetup(pack=2)}, FAST, seeds=[0], on_event=events.append)
    assert [e["step"] for e in events] == [1, 10, 20, 30]
    assert set(events[-1]["variants"]) == {"a", "b"} and len(events[-1]["variants"]["a"]["samples"]) > 0


def test_torch_threads_is_restored():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_variants_are_one_change_from_the_failure():
    """Every fix of the mode-collapse demo is the plain GAN plus exactly one technique option."""
    cfg = mc.resolve(mc.Config())
    assert mc.VARIANTS["gan"][1](cfg) == {}
    for v in ("pacgan", "unrolled", "mbstd", "wgan_gp"):
        recipe = mc.VARIANTS[v][1](cfg)
        assert len(recipe) == 1, (v, recipe)
        make_recipe(recipe)  # a valid recipe of the engine
    assert mc.VARIANTS["pacgan"][1](cfg) == {"pacgan": {"pack": cfg.pack}}


def test_cuda_used_when_available_else_cpu():
    run = Run(GanSetup(), FAST, seeds=[0])
    assert run.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
