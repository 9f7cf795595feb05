r"""DCGAN-shaped G and D for 32 x 32 images with C channels, S seeds as one network each (seed s in
channel group s of grouped convolutions, as engine/patch_nets.py does at 16 x 16), with the switches
the medical demos compare one at a time.

    G: z -> linear -> 4w x 4 x 4 -> [N] ReLU -> up -> 2w x 8 x 8 -> [N] ReLU -> up -> w x 16 x 16
         -> [N] ReLU -> up -> C x 32 x 32 -> tanh           (up: 4x4 transposed conv, stride 2)
    D: (pack*C) x 32 x 32 -> conv -> w x 16 -> LReLU -> conv -> [BN] 2w x 8 -> LReLU -> conv
         -> [BN] 4w x 4 -> LReLU [+ minibatch stddev] -> linear -> logit   (conv: 4x4, stride 2)

Switches:

* G's normalisation N: ``bn`` (batch norm, DCGAN), ``pixel`` (pixelwise feature vector
  normalisation, Karras et al. 2018: b = a / sqrt(mean_c a_c^2 + 1e-8) at every pixel), ``none``;
* D's batch norm (``d_norm``), spectral normalisation of every D layer (``spectral``, Miyato et al.
  2018, one power iteration per step), minibatch stddev (``mbstd``), packing (``pack`` images as
  channels, Lin et al. 2018);
* equalised learning rate (``eqlr``, Karras et al. 2018): weights stored ~ N(0, 1) and multiplied at
  every forward pass by He's constant c = sqrt(2 / fan_in) (sqrt(1 / fan_in) for the output layers),
  so Adam's step is the same relative size in every layer. Otherwise weights ~ N(0, 0.02) (DCGAN).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F

from .patch_nets import _init, _spectral, minibatch_stddev


def pixel_norm(h: torch.Tensor, s: int) -> torch.Tensor:
    """a / sqrt(mean over each seed's channels of a^2 + 1e-8), per pixel; h (B, S*c, H, W)."""
    b, sc, hh, ww = h.shape
    v = h.view(b, s, sc // s, hh, ww)
    return (v * torch.rsqrt(v.pow(2).mean(2, keepdim=True) + 1e-8)).view_as(h)


class Generator(nn.Module):
    def __init__(self, seeds: Sequence[int], z_dim: int, channels: int, norm: str = "bn", width: int = 32,
                 eqlr: bool = False):
        super().__init__()
        s, w = len(seeds), width
        self.s, self.norm_kind, self.eqlr = s, norm, eqlr
        self.ch = (4 * w, 2 * w, w)
        std = 1.0 if eqlr else 0.02
        self.fc = nn.Parameter(_init(torch.empty(s, z_dim, self.ch[0] * 16), seeds, 31, std))
        self.fc_b = nn.Parameter(torch.zeros(s, 1, self.ch[0] * 16))
        self.fc_c = math.sqrt(2 / z_dim) if eqlr else 1.0
        outs = (*self.ch[1:], channels)
        self.ups = nn.ModuleList([nn.ConvTranspose2d(s * a, s * b, 4, 2, 1, groups=s) for a, b in zip(self.ch, outs)])
        self.up_c = []
        for i, (up, a) in enumerate(zip(self.ups, self.ch)):
            _init(up.weight, seeds, 32 + i, std)
            nn.init.zeros_(up.bias)
            self.up_c.append(math.sqrt((2 if i < len(self.ch) - 1 else 1) / (a * 4)) if eqlr else 1.0)  # 2x2 taps per output
        self.norms = nn.ModuleList([nn.BatchNorm2d(s * c) if norm == "bn" else nn.Identity() for c in self.ch])

    def _norm(self, i: int, h: torch.Tensor) -> torch.Tensor:
        return pixel_norm(h, self.s) if self.norm_kind == "pixel" else self.norms[i](h)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (S, B, z_dim) -> images (B, S*C, 32, 32)."""
        s, b, _ = z.shape
        h = torch.baddbmm(self.fc_b, z, self.fc * self.fc_c)
        h = h.view(s, b, self.ch[0], 4, 4).transpose(0, 1).reshape(b, -1, 4, 4)
        for i, (up, c) in enumerate(zip(self.ups, self.up_c)):
            h = F.relu(self._norm(i, h))
            h = F.conv_transpose2d(h, up.weight * c, up.bias, 2, 1, groups=s)
        return torch.tanh(h)


class Discriminator(nn.Module):
    def __init__(self, seeds: Sequence[int], channels: int, width: int = 32, pack: int = 1, d_norm: bool = False,
                 spectral: bool = False, mbstd: bool = False, eqlr: bool = False):
        super().__init__()
        s, w = len(seeds), width
        self.s, self.spectral, self.eqlr = s, spectral, eqlr
        self.ch = (w, 2 * w, 4 * w)
        self.nf = self.ch[-1] if mbstd else 0  # one stddev per channel of D's last map (engine/patch_nets.py)
        ins = (channels * pack, *self.ch[:-1])
        std = 1.0 if eqlr else 0.02
        self.convs = nn.ModuleList([nn.Conv2d(s * a, s * b, 4, 2, 1, groups=s) for a, b in zip(ins, self.ch)])
        self.conv_c = []
        for i, (conv, a) in enumerate(zip(self.convs, ins)):
            _init(conv.weight, seeds, 41 + i, std)
            nn.init.zeros_(conv.bias)
            self.conv_c.append(math.sqrt(2 / (a * 16)) if eqlr else 1.0)
        self.norms = nn.ModuleList([nn.BatchNorm2d(s * c) if d_norm and i else nn.Identity() for i, c in enumerate(self.ch)])
        n_in = (self.ch[-1] + self.nf) * 16
        self.fc = nn.Parameter(_init(torch.empty(s, n_in, 1), seeds, 49, std))
        self.fc_b = nn.Parameter(torch.zeros(s, 1, 1))
        self.fc_c = math.sqrt(1 / n_in) if eqlr else 1.0
        for i, c in enumerate((*self.ch, 1) if spectral else ()):
            self.register_buffer(f"u{i}", F.normalize(torch.ones(s, c), dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, S*pack*C, 32, 32) -> logits (S, B)."""
        s, h = self.s, x
        for i, (conv, norm, c) in enumerate(zip(self.convs, self.norms, self.conv_c)):
            w = _spectral(conv.weight, getattr(self, f"u{i}")) if self.spectral else conv.weight * c
            h = F.leaky_relu(norm(F.conv2d(h, w, conv.bias, 2, 1, groups=s)), 0.2)
        b = h.shape[0]
        h = h.view(b, s, self.ch[-1], 4, 4)
        if self.nf:
            h = minibatch_stddev(h, self.nf)
        h = h.transpose(0, 1).reshape(s, b, -1)
        if self.spectral:
            fc = _spectral(self.fc.transpose(1, 2), getattr(self, f"u{len(self.ch)}")).transpose(1, 2)
        else:
            fc = self.fc * self.fc_c
        return torch.baddbmm(self.fc_b, h, fc)[..., 0]
