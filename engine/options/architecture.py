r"""Architecture options: what D reads or how G and D are built.

The simple ones live here (packing, minibatch statistics); the multi-network games (several
generators or discriminators, encoders, labels) are in :mod:`engine.options.games`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..config import bounded
from . import Option, register


@dataclass(frozen=True)
class PackParams:
    pack: int = field(default=2, metadata=bounded(2, 8, "samples per D input, m (PacGAN2 = 2)"))


@register
class Packing(Option):
    r"""PacGAN (Lin et al. 2018): D judges m samples at once, D(x_1, ..., x_m), the m samples of one
    input all real or all fake (concatenated). A collapsed generator's m-tuples are m near-identical
    points, which real m-tuples (drawn from all modes) almost never are, so D can penalise the lack of
    diversity. D sees ``batch`` packed inputs, i.e. m x batch samples per step."""

    id, label, kind, cite = "pacgan", "Packing (PacGAN)", "architecture", "lin2018pacgan"
    Params = PackParams

    def net(self, role: str, spec):
        return replace(spec, sizes=(spec.sizes[0] * self.p.pack, *spec.sizes[1:])) if role == "D" else spec

    def setup(self, m) -> None:
        m.pack = self.p.pack


@register
class MinibatchStddev(Option):
    r"""Minibatch standard deviation (Karras et al. 2018): before D's last layer, append
    s = mean_j sqrt(Var_batch h_j + 1e-8), one scalar per minibatch, to every sample's features. A
    collapsed batch of fakes has s ~ 0, which D can use against it."""

    id, label, kind, cite = "mbstd", "Minibatch standard deviation", "architecture", "karras2018pggan"

    def net(self, role: str, spec):
        return replace(spec, mbstd=True) if role == "D" else spec


@dataclass(frozen=True)
class MbdParams:
    kernels: int = field(default=16, metadata=bounded(1, 128, "number B of closeness features"))
    dim: int = field(default=4, metadata=bounded(1, 32, "dimension C of each kernel's projection"))


@register
class MinibatchDiscrimination(Option):
    r"""Minibatch discrimination (Salimans et al. 2016): D's last hidden features f(x_i) are projected
    by a learned tensor T to M_i in R^{B x C}; the closeness of sample i to the batch in kernel b is
    o(x_i)_b = sum_j exp(-||M_{i,b} - M_{j,b}||_1), the sum over the whole minibatch including
    x_i itself, and the B values o(x_i) are appended to f(x_i) before D's last layer. A collapsed
    batch of fakes is close to itself in every kernel. (The paper's CIFAR model uses B = 100, C = 5;
    a 2D toy needs fewer.)"""

    id, label, kind, cite = "minibatch_discrimination", "Minibatch discrimination", "architecture", "salimans2016"
    Params = MbdParams

    def net(self, role: str, spec):
        return replace(spec, mbdisc=(self.p.kernels, self.p.dim)) if role == "D" else spec
