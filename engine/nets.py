"""S independent small MLPs trained as one batched computation.

Seed s's weights live at index s of stacked tensors ``W: (S, in, out)``, ``b: (S, 1, out)``; one
``torch.baddbmm`` runs all S networks at once, so N seeds cost about as much as a few single runs
on a CPU (small matmuls are dominated by per-op overhead, which batching pays once). Adam is
elementwise, so one optimiser over the stacked tensors updates every seed exactly as its own
optimiser would, as long as the loss is a *sum* over seeds.

Each seed's initial weights come from its own ``torch.Generator``, so seed 3 starts from the same
weights whether it trains alone or beside seeds 0..7.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn
import torch.nn.functional as F


def seed_generator(seed: int, salt: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A generator for (seed, role): roles (init G, init D, data, noise...) never share a stream."""
    return torch.Generator(device=device).manual_seed(1_000_003 * int(seed) + salt)


def pick_device(prefer: str = "auto") -> torch.device:
    """CUDA when available (and not refused), else CPU."""
    if prefer == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


class BatchedMLP(nn.Module):
    """``len(seeds)`` MLPs ``sizes[0] -> ... -> sizes[-1]`` with LeakyReLU(slope) between layers
    (slope 0 is a plain ReLU).

    Options a demo switches on:
      * ``mbstd``: minibatch standard deviation (Karras et al. 2018): before the last layer,
        append the mean over features of the per-feature standard deviation over the batch, so
        D can see that a batch of fakes is too uniform;
      * ``spectral``: divide each weight by its largest singular value (Miyato et al. 2018),
        estimated with one power iteration per forward pass.
    """

    def __init__(self, sizes: Sequence[int], seeds: Sequence[int], salt: int, mbstd: bool = False,
                 spectral: bool = False, slope: float = 0.2, device: str | torch.device = "cpu"):
        super().__init__()
        self.mbstd, self.spectral, self.slope = mbstd, spectral, slope
        n = len(seeds)
        dims = list(zip(sizes[:-1], sizes[1:]))
        if mbstd:  # the last layer reads one extra feature
            dims[-1] = (dims[-1][0] + 1, dims[-1][1])
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in dims:
            bound = 1 / math.sqrt(fan_in)  # PyTorch's nn.Linear default init
            w = torch.empty(n, fan_in, fan_out)
            b = torch.empty(n, 1, fan_out)
            for i, s in enumerate(seeds):
                g = seed_generator(s, salt + 97 * len(self.weights))
                w[i].uniform_(-bound, bound, generator=g)
                b[i].uniform_(-bound, bound, generator=g)
            self.weights.append(nn.Parameter(w.to(device)))
            self.biases.append(nn.Parameter(b.to(device)))
        # power-iteration vectors of spectral normalisation, one per layer and seed (not trained)
        self.u = [F.normalize(torch.ones(n, 1, fo, device=device), dim=-1) for _, fo in dims] if spectral else []

    def params(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def _sn(self, i: int, w: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # one power iteration: v = W u / |W u|, u = W^T v / |W^T v|
            v = F.normalize(torch.bmm(self.u[i], w.transpose(1, 2)), dim=-1)
            self.u[i] = F.normalize(torch.bmm(v, w), dim=-1)
        sigma = torch.bmm(torch.bmm(v, w), self.u[i].transpose(1, 2))  # (S, 1, 1) = v^T W u
        return w / sigma

    def forward(self, x: torch.Tensor, params: Optional[list[torch.Tensor]] = None) -> torch.Tensor:
        """x: (S, B, in) -> (S, B, out). ``params`` replaces the weights (unrolled optimisation)."""
        p = params if params is not None else self.params()
        k = len(p) // 2
        ws, bs = p[:k], p[k:]
        for i in range(k):
            w = self._sn(i, ws[i]) if self.spectral else ws[i]
            if i == k - 1 and self.mbstd:
                std = x.std(dim=1, keepdim=True, unbiased=False).mean(dim=2, keepdim=True)
                x = torch.cat([x, std.expand(-1, x.shape[1], 1)], dim=2)
            x = torch.baddbmm(bs[i], x, w)
            if i < k - 1:
                x = F.leaky_relu(x, self.slope)
        return x
