"""Measuring helpers shared by the vanishing-gradient and instability demos (no Streamlit here).

* :func:`seed_grad_norms` -- the norm of a loss's gradient w.r.t. a batched network's weights, one
  value per seed, from one backward pass (seed s's loss depends only on seed s's weights, so the
  gradient of the sum over seeds holds every seed's own gradient at its own index);
* :func:`sample_grads` -- the gradient of a per-sample loss w.r.t. each generated point, i.e. the
  arrow that tells a generated sample where the generator loss pushes it;
* :class:`Data` -- the two data sets: the ring of 8 Gaussians (:mod:`engine.data2d`) and
  scikit-learn's bundled 8x8 digits (1,797 images, shipped inside the package: nothing downloads),
  sampled per seed from that seed's own random stream.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import torch

from . import data2d

RING_SIGMA = 0.05  # sd of each ring mode: modes far apart, so a good D separates them from G's blob


def seed_grad_norms(loss: torch.Tensor, params: Sequence[torch.Tensor],
                    retain_graph: bool = False) -> torch.Tensor:
    """loss: (S,) one value per seed; params: tensors whose first axis is the seed. Returns (S,)
    with ||d loss_s / d params[.][s]||_2 over all of seed s's weights."""
    grads = torch.autograd.grad(loss.sum(), list(params), retain_graph=retain_graph, allow_unused=True)
    s = loss.shape[0]
    # float64: a norm of 1e-30 (the saturating loss against a perfect D) must not round to 0
    sq = sum((g.reshape(s, -1).double() ** 2).sum(1) for g in grads if g is not None)
    return sq.sqrt()


def sample_grads(g_loss: Callable[[torch.Tensor], torch.Tensor], d: Callable[[torch.Tensor], torch.Tensor],
                 x: torch.Tensor) -> torch.Tensor:
    """x: (S, B, dim) generated points. Returns dℓ/dx per point, where ℓ is the per-sample generator
    loss: the batch loss is a mean over B, so its gradient w.r.t. one point is dℓ/dx / B."""
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(g_loss(d(x)).sum(), x)
    return g * x.shape[1]


@lru_cache(maxsize=1)
def digits() -> torch.Tensor:
    """The 1,797 8x8 digits of scikit-learn, pixels 0..16 mapped to [-1, 1], as (N, 64)."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    return torch.tensor(load_digits().data, dtype=torch.float32) / 8.0 - 1.0


class Data:
    """Real samples per seed: ``sample(n)`` -> (S, n, dim) on ``device``."""

    def __init__(self, dataset: str, generators: Sequence[torch.Generator], device: torch.device):
        self.dataset, self.gens, self.device = dataset, list(generators), device
        if dataset == "ring":
            self.mu, self.dim = data2d.means("ring"), 2
        elif dataset == "digits":
            self.images, self.dim = digits(), 64
        else:
            raise ValueError(f"unknown dataset '{dataset}'; expected ring or digits")

    def sample(self, n: int) -> torch.Tensor:
        if self.dataset == "ring":
            x = [data2d.sample(self.mu, RING_SIGMA, n, g) for g in self.gens]
        else:
            x = [self.images[torch.randint(len(self.images), (n,), generator=g)] for g in self.gens]
        return torch.stack(x).to(self.device)
