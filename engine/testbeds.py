"""The 2D testbeds of the recipe lab: mixtures of Gaussians with known, labelled modes.

* ``ring``: 8 modes on the unit circle (PacGAN / VEEGAN protocol in shape), sd 0.1 by default;
* ``grid``: a 5 x 5 grid of 25 modes spaced 2 apart, sd 0.25 by default;
* ``ring_unbalanced``: the ring with mode weights proportional to 1, 2, ..., 8 (the rare modes are
  the ones a collapsing generator drops first);

Every real sample carries its mode index as a label (the conditional GANs' "labelled modes").
Mode metrics (modes covered, high-quality fraction, reverse KL to the true weights) are those of
:mod:`engine.metrics`; the distance to the data is the sliced 1-Wasserstein distance over fixed
directions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import data2d


@dataclass(frozen=True)
class Testbed:
    id: str
    means: torch.Tensor  # (K, 2)
    weights: torch.Tensor  # (K,), sums to 1
    sigma: float
    scale: float  # networks see data / scale (about unit extent)

    @property
    def k(self) -> int:
        return self.means.shape[0]


DEFAULT_SIGMA = {"ring": 0.1, "grid": 0.25, "ring_unbalanced": 0.1}
TESTBEDS = tuple(DEFAULT_SIGMA)


def make(testbed: str, sigma: float = 0.0) -> Testbed:
    if testbed not in DEFAULT_SIGMA:
        raise ValueError(f"unknown testbed {testbed!r}; expected one of {', '.join(TESTBEDS)}")
    s = sigma or DEFAULT_SIGMA[testbed]
    if testbed == "grid":
        mu = data2d.grid_means()
        return Testbed(testbed, mu, torch.full((len(mu),), 1 / len(mu)), s, data2d.scale("grid"))
    mu = data2d.ring_means()
    if testbed == "ring_unbalanced":
        w = torch.arange(1, len(mu) + 1, dtype=torch.float32)
        return Testbed(testbed, mu, w / w.sum(), s, data2d.scale("ring"))
    return Testbed(testbed, mu, torch.full((len(mu),), 1 / len(mu)), s, data2d.scale("ring"))


def reverse_kl(counts: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """KL(q || w) of the histogram q of high-quality samples over modes against the true weights w,
    per seed; log(1 / min w) (all mass on the rarest mode's worth) when no sample is high quality."""
    n = counts.sum(dim=1, keepdim=True)
    q = counts / n.clamp(min=1)
    terms = torch.where(q > 0, q * torch.log(q / weights.to(q.device)), torch.zeros_like(q))
    worst = math.log(1 / float(weights.min()))
    return torch.where(n.squeeze(1) > 0, terms.sum(dim=1), torch.full_like(n.squeeze(1), worst))


def directions(k: int = 32) -> torch.Tensor:
    """k unit vectors evenly spread over the half circle (sliced distances project on these)."""
    a = torch.arange(k, dtype=torch.float64) * math.pi / k
    return torch.stack([a.cos(), a.sin()], 1).float()


def sort_dim1(x: torch.Tensor) -> torch.Tensor:
    """``torch.sort(x, dim=1).values``, the same numbers, faster on the CPU: the sliced distances
    sort (S, n, K) projections every evaluation, and on this CPU NumPy's sort of 8 x 1,000 x 32
    values took 1.0 ms against torch.sort's 14.5 ms (one thread). Sorting is exact, and both put NaN
    last, so the result is bit-identical (tests/test_testbeds.py). A tensor on a GPU or one that
    needs a gradient keeps torch.sort."""
    if x.device.type != "cpu" or x.requires_grad:
        return torch.sort(x, dim=1).values
    return torch.from_numpy(np.sort(x.numpy(), axis=1))


def sliced_w1(x: torch.Tensor, y: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Sliced 1-Wasserstein distance between equal-size point sets x, y: (S, n, 2) -> (S,):
    the mean over directions u of (1/n) sum_i |sort(x.u)_i - sort(y.u)_i|."""
    px = sort_dim1(x @ dirs.T.to(x.device))
    py = sort_dim1(y @ dirs.T.to(y.device))
    return (px - py).abs().mean(dim=(1, 2))
