"""2D Gaussian mixtures with known modes: the ring of 8 and the 5x5 grid of 25.

The constants follow the PacGAN / VEEGAN protocol (see shared/REFERENCES.md) in shape; sigma is
chosen by ``scripts/sweep_mode_collapse.py`` so that the failure and the fixes show on a laptop
CPU within seconds (the papers train for 400 epochs over 100k samples).
"""
from __future__ import annotations

import math

import torch

RING_MODES = 8
RING_RADIUS = 1.0
GRID_SIDE = 5
GRID_SPACING = 2.0  # means {-4, -2, 0, 2, 4}^2

DATASETS = ("ring", "grid")


def ring_means(k: int = RING_MODES, radius: float = RING_RADIUS) -> torch.Tensor:
    # angles 2*pi*j/k for j = 0..k-1: no repeated endpoint (linspace(0, 2pi, k) would repeat 0 == 2pi)
    angles = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    return torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], dim=1).float()


def grid_means(side: int = GRID_SIDE, spacing: float = GRID_SPACING) -> torch.Tensor:
    coords = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def means(dataset: str) -> torch.Tensor:
    if dataset == "ring":
        return ring_means()
    if dataset == "grid":
        return grid_means()
    raise ValueError(f"unknown dataset '{dataset}'; expected one of {DATASETS}")


def scale(dataset: str) -> float:
    """Typical extent of the data, used to normalise inputs to about unit size."""
    return RING_RADIUS if dataset == "ring" else GRID_SPACING * (GRID_SIDE - 1) / 2


def sample(mu: torch.Tensor, sigma: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """n points: a uniformly chosen mode plus isotropic Gaussian noise of sd sigma."""
    idx = torch.randint(len(mu), (n,), generator=generator)
    return mu[idx] + sigma * torch.randn(n, 2, generator=generator)
