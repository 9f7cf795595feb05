"""engine/options/architecture.py: packing, minibatch stddev and minibatch discrimination on hand cases."""
import math

import torch

from engine.mlp import FlatMLP, NetSpec
from options_helpers import model


def test_packing_concatenates_pack_samples_into_one_input_of_a_wider_d():
    m = model("pacgan.pack=2")
    assert m.pack == 2 and m.D.spec.sizes[0] == 4 and m.batch_size() == 2 * m.s.batch
    x = torch.arange(8, dtype=torch.float32).view(1, 4, 2) * m.tb.scale
    assert m.prep(x).tolist() == [[[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]]


def test_minibatch_stddev_appends_the_mean_feature_sd():
    h = torch.tensor([[[0.0, 0.0], [2.0, 4.0]]])  # per-feature sd over the batch: 1 and 2
    out = FlatMLP._mbstd(h)
    assert torch.allclose(out[..., 2], torch.full((1, 2), 1.5), atol=1e-6)
    assert model("mbstd").D.spec.mbstd and not model("mbstd").G.spec.mbstd


def test_minibatch_discrimination_sums_closeness_over_the_whole_batch_itself_included():
    net = FlatMLP(NetSpec((2, 2, 1), mbdisc=(1, 2)), [0], salt=2)
    v = net.views()
    with torch.no_grad():
        v["mbdisc"].copy_(torch.eye(2).unsqueeze(0))  # M_i = f(x_i)
    v = net.views()
    f = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [0.0, 3.0]]])
    o = net._mbdisc(f, v)[..., 2]
    d01, d02, d12 = 2.0, 3.0, 3.0  # L1 distances
    expect = [1 + math.exp(-d01) + math.exp(-d02), 1 + math.exp(-d01) + math.exp(-d12), 1 + math.exp(-d02) + math.exp(-d12)]
    assert torch.allclose(o, torch.tensor([expect]), atol=1e-6)
    m = model("minibatch_discrimination.kernels=3,minibatch_discrimination.dim=2")
    assert m.D.spec.mbdisc == (3, 2) and m.D.spec.batch_coupled


def test_minibatch_stddev_and_discrimination_together_both_read_the_features():
    m = model("mbstd,minibatch_discrimination.kernels=3")
    assert m.D.dims[-1][0] == m.s.hidden + 1 + 3
    out, feats = m.D(m.prep(m.real()), features=True)
    assert out.shape == (1, m.s.batch, 1) and feats.shape == (1, m.s.batch, m.s.hidden)
