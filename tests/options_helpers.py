"""Small fixtures shared by the option tests: a tiny model, networks with weights set by hand, fixed
random draws, and the bilinear game min_x max_y x*y as a stand-in model for update rules."""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import torch

from engine.lab import HOOKS, Model, Settings
from engine.mlp import FlatMLP, NetSpec
from engine.options import make_recipe


TINY = Settings(steps=10, batch=8, hidden=8, eval_samples=100, eval_every=5)


def model(recipe="", seeds=(0,), **settings) -> Model:
    return Model(make_recipe(recipe), replace(TINY, **settings), list(seeds))


def linear(m: Model, weights, biases, copies: int = 1) -> FlatMLP:
    """A network with no hidden layer, out = x @ W + b, the same for every seed; with copies, row c
    of ``weights`` / ``biases`` is copy c's."""
    w = torch.tensor(weights, dtype=torch.float32)
    b = torch.tensor(biases, dtype=torch.float32)
    if copies == 1:
        w, b = w.unsqueeze(0), b.unsqueeze(0)
    net = FlatMLP(NetSpec((w.shape[1], w.shape[2]), copies=copies), m.seeds, salt=2, device=m.device)
    with torch.no_grad():
        v = net.views()
        v["w0"].copy_(w.repeat(len(m.seeds), 1, 1))
        v["b0"].copy_(b.unsqueeze(1).repeat(len(m.seeds), 1, 1))
    return net


class Fixed:
    """Stands in for a random stream: returns the given tensors, in order, per kind of draw."""

    def __init__(self, normal=(), uniform=()):
        self._n, self._u = list(normal), list(uniform)

    def normal(self, *shape):
        return self._n.pop(0)

    def uniform(self, *shape):
        return self._u.pop(0)


class Scalar:
    """One parameter of one seed, with FlatMLP's per-seed helpers."""

    def __init__(self, value: float):
        self.flat = torch.nn.Parameter(torch.tensor([value]))
        self.seed_of = torch.zeros(1, dtype=torch.long)

    def per_seed(self, t):
        return t.sum().view(1)


class Bilinear:
    """min_x max_y x*y as a model: G's parameter x, D's y, L_G = x y, L_D = -x y, plain SGD with
    step ``lr`` (momentum ``s.beta1``), so every update rule's steps can be computed by hand."""

    grads, apply, step = Model.grads, Model.apply, Model.step

    def __init__(self, x: float, y: float, s: Settings):
        self.G, self.D = Scalar(x), Scalar(y)
        self.params = {"G": [self.G.flat], "D": [self.D.flat]}
        self.s, self.seeds, self.device = s, [0], torch.device("cpu")
        self.opt = {side: Model._optimiser(self, side) for side in ("G", "D")}
        self.hooks = {h: [] for h in HOOKS}
        self.state, self.n_disc, self.game = {}, 1, self

    def xy(self) -> tuple[float, float]:
        return self.G.flat.item(), self.D.flat.item()

    def real(self, n=None):
        return torch.zeros(1, 1, 2)

    def noise(self, n=None):
        return torch.zeros(1, 1, 1)

    def generate(self, z, g_flat=None):
        return torch.zeros(1, 1, 2)

    @staticmethod
    def d_objective(m, real, fake):
        return -(m.G.flat * m.D.flat)

    @staticmethod
    def g_objective(m, real, z):
        return m.G.flat * m.D.flat


def bilinear(x=1.0, y=0.5, lr=0.1, **settings) -> Bilinear:
    return Bilinear(x, y, replace(Settings(optimizer="sgd", lr_g=lr, lr_d=lr, beta1=0.0), **settings))


def ns(**kw):
    return SimpleNamespace(**kw)
