"""engine/options/normalisation.py: each option sets the layer option of the network its paper names,
and the layer's maths (engine/mlp.py) is pinned on a hand-computed case."""
import math

import torch

from engine.mlp import FlatMLP, NetSpec
from engine.options import make_recipe

BASE = NetSpec((2, 4, 1))


def net_hook(text: str, role: str) -> NetSpec:
    return make_recipe(text).options()[0].net(role, BASE)


def test_each_option_edits_the_network_its_paper_names():
    assert net_hook("spectral_norm", "D").spectral and not net_hook("spectral_norm", "G").spectral
    assert net_hook("batch_norm", "G").norm == "batch" and net_hook("batch_norm", "D").norm == ""
    assert net_hook("batch_norm.where=both", "D").norm == "batch"
    assert net_hook("virtual_batch_norm", "G").norm == "virtual" and net_hook("virtual_batch_norm", "D").norm == ""
    assert net_hook("pixel_norm", "G").norm == "pixel" and net_hook("pixel_norm", "D").norm == ""
    assert net_hook("equalised_lr", "G").eq_lr and net_hook("equalised_lr", "D").eq_lr


def one_layer(spec: NetSpec, w, b) -> FlatMLP:
    net = FlatMLP(spec, [0], salt=2)
    with torch.no_grad():
        v = net.views()
        v["w0"].copy_(torch.tensor(w, dtype=torch.float32).unsqueeze(0))
        v["b0"].copy_(torch.tensor(b, dtype=torch.float32).view(1, 1, -1))
    return net


def test_spectral_norm_divides_by_the_largest_singular_value():
    net = one_layer(NetSpec((3, 2), spectral=True), [[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]], [0.5, 0.0])
    x = torch.tensor([[[1.0, 1.0, 1.0]]])
    for _ in range(30):  # one power iteration per forward pass; u persists
        out = net(x)
    assert torch.allclose(out, torch.tensor([[[1.0 + 0.5, 1.0 / 3.0]]]), atol=1e-4)


def test_batch_virtual_and_pixel_norm_on_hand_values():
    net = FlatMLP(NetSpec((1, 1, 1), norm="batch"), [0], salt=1)
    v = net.views()
    h = torch.tensor([[[1.0], [3.0]]])  # mean 2, var 1
    assert torch.allclose(net._norm(0, h, None, v), torch.tensor([[[-1.0], [1.0]]]) / math.sqrt(1 + 1e-5))
    vnet = FlatMLP(NetSpec((1, 1, 1), norm="virtual"), [0], salt=1)
    ref = torch.tensor([[[0.0], [2.0]]])  # R = 2: with x = 4, mean = (2*1 + 4)/3 = 2, var = (2*2 + 16)/3 - 4
    out = vnet._norm(0, torch.tensor([[[4.0]]]), ref, vnet.views())
    assert torch.allclose(out, torch.tensor([[[2.0 / math.sqrt(8 / 3 + 1e-5)]]]))
    pnet = FlatMLP(NetSpec((2, 2, 1), norm="pixel"), [0], salt=1)
    out = pnet._norm(0, torch.tensor([[[3.0, 4.0]]]), None, pnet.views())
    assert torch.allclose(out, torch.tensor([[[3.0, 4.0]]]) / math.sqrt(12.5 + 1e-8))


def test_equalised_learning_rate_scales_weights_by_the_he_constant_at_run_time():
    net = one_layer(NetSpec((2, 1), eq_lr=True), [[1.0], [2.0]], [0.0])
    out = net(torch.tensor([[[1.0, 1.0]]]))
    assert torch.allclose(out, torch.tensor([[[3.0 * math.sqrt(2 / 2)]]]))
    fresh = {k: t.detach() for k, t in FlatMLP(NetSpec((64, 64, 1), eq_lr=True), [0], salt=1).views().items()}
    assert float(fresh["b0"].abs().max()) == 0.0 and 0.8 < float(fresh["w0"].std()) < 1.2  # N(0, 1) init
