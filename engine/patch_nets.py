"""The tissue-patch demo's networks: S seeds' DCGAN-shaped G and D as one network each, seed s in
channel group s of grouped convolutions, plus spectral normalisation and DiffAugment.

    G: z -> linear -> 64 x 4 x 4 -> [BN] ReLU -> up-conv -> 32 x 8 x 8 -> [BN] ReLU -> up-conv -> 1 x 16 x 16 -> tanh
    D: (pack) x 16 x 16 -> conv -> 32 x 8 x 8 -> LReLU -> conv -> [BN] 64 x 4 x 4 -> LReLU [+ F mbstd channels] -> linear

Why grouped: a class compares failure and fix over several seeds, and S small networks as one
grouped convolution cost about what one does on a CPU (as engine/nets.py does for MLPs).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F

from .nets import seed_generator


def _init(t: torch.Tensor, seeds: Sequence[int], salt: int, std: float = 0.02) -> torch.Tensor:
    """N(0, std) (DCGAN's 0.02 by default), seed s's slice from its own stream (same weights
    alone or batched)."""
    with torch.no_grad():
        for i, v in enumerate(t.view(len(seeds), -1)):
            v.copy_(torch.randn(v.shape, generator=seed_generator(seeds[i], salt)) * std)
    return t


def _spectral(w: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """W / sigma_max(W) per seed; w: (S*out, ...) viewed as S matrices (out, fan_in); u: (S, out)."""
    s = u.shape[0]
    m = w.reshape(s, u.shape[1], -1)
    with torch.no_grad():  # one power iteration, u carried over between steps (Miyato et al.)
        v = F.normalize(torch.bmm(u.unsqueeze(1), m), dim=2)
        u.copy_(F.normalize(torch.bmm(m, v.transpose(1, 2)).squeeze(2), dim=1))
    sigma = torch.bmm(torch.bmm(u.clone().unsqueeze(1), m), v.transpose(1, 2))  # (S, 1, 1)
    return (m / sigma).view_as(w)


class Generator(nn.Module):
    def __init__(self, seeds: Sequence[int], z_dim: int, batchnorm: bool, ch: tuple = (64, 32), he: bool = False,
                 resize: bool = False):
        """``resize``: nearest 2x upsampling then a 3x3 conv (Odena et al. 2016) instead of a 4x4
        stride-2 transposed conv, whose uneven overlap draws checkerboards."""
        super().__init__()
        s, self.ch, self.resize = len(seeds), ch, resize
        self.fc = nn.Parameter(_init(torch.empty(s, z_dim, ch[0] * 16), seeds, 11,
                                     (2 / z_dim) ** 0.5 if he else 0.02))
        self.fc_b = nn.Parameter(torch.zeros(s, 1, ch[0] * 16))
        self.ups = nn.ModuleList([(nn.Conv2d(s * a, s * b, 3, 1, 1, groups=s) if resize else
                                   nn.ConvTranspose2d(s * a, s * b, 4, 2, 1, groups=s)) for a, b in zip(ch, (*ch[1:], 1))])
        for i, (up, a) in enumerate(zip(self.ups, ch)):  # fan-in: a x 3 x 3 (resize) or a x 2 x 2 (stride-2 4x4)
            fan = a * (9 if resize else 4)
            _init(up.weight, seeds, 12 + i, ((2 if i < len(ch) - 1 else 1) / fan) ** 0.5 if he else 0.02)
            nn.init.zeros_(up.bias)
        self.norms = nn.ModuleList([nn.BatchNorm2d(s * c) if batchnorm else nn.Identity() for c in ch])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (S, B, z_dim) -> patches (B, S, 16, 16)."""
        s, b, _ = z.shape
        h = torch.baddbmm(self.fc_b, z, self.fc).view(s, b, self.ch[0], 4, 4).transpose(0, 1).reshape(b, -1, 4, 4)
        for norm, up in zip(self.norms, self.ups):
            h = F.relu(norm(h))
            h = up(F.interpolate(h, scale_factor=2, mode="nearest") if self.resize else h)
        return torch.tanh(h)


class Discriminator(nn.Module):
    def __init__(self, seeds: Sequence[int], su, ch: tuple = (32, 64), he: bool = False,
                 group: int = 0, features: int = 1):
        """``su``: the variant's tissue_patches.Setup (d_norm, mbstd, pack, spectral are read here);
        ``he``: weights ~ N(0, 2 / fan_in) instead of DCGAN's N(0, 0.02); ``group``: minibatch
        stddev over groups of this many samples (0: the whole batch)."""
        super().__init__()
        s, self.su, self.ch, self.group = len(seeds), su, ch, group
        self.nf = features if su.mbstd else 0  # minibatch-stddev channels added to D's last map
        self.convs = nn.ModuleList([nn.Conv2d(s * a, s * b, 4, 2, 1, groups=s) for a, b in zip((su.pack, *ch[:-1]), ch)])
        for i, c in enumerate(self.convs):
            _init(c.weight, seeds, 21 + i, (2 / (c.weight.shape[1] * 16)) ** 0.5 if he else 0.02)
            nn.init.zeros_(c.bias)
        self.norms = nn.ModuleList([nn.BatchNorm2d(s * c) if su.d_norm and i else nn.Identity() for i, c in enumerate(ch)])
        self.fc = nn.Parameter(_init(torch.empty(s, (ch[-1] + self.nf) * 16, 1), seeds, 29,
                                     (1 / ((ch[-1] + self.nf) * 16)) ** 0.5 if he else 0.02))
        self.fc_b = nn.Parameter(torch.zeros(s, 1, 1))
        for i, c in enumerate((*ch, 1) if su.spectral else ()):  # power-iteration vectors (buffers: move with .to)
            self.register_buffer(f"u{i}", F.normalize(torch.ones(s, c), dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, S*pack, 16, 16) -> logits (S, B)."""
        s = len(self.fc)
        h = x
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            w = _spectral(conv.weight, getattr(self, f"u{i}")) if self.su.spectral else conv.weight
            h = F.leaky_relu(norm(F.conv2d(h, w, conv.bias, 2, 1, groups=s)), 0.2)
        b = h.shape[0]
        h = h.view(b, s, self.ch[-1], 4, 4)
        if self.su.mbstd:
            h = minibatch_stddev(h, self.nf, self.group)
        h = h.transpose(0, 1).reshape(s, b, -1)
        fc = _spectral(self.fc.transpose(1, 2), getattr(self, f"u{len(self.ch)}")).transpose(1, 2) if self.su.spectral else self.fc
        return torch.baddbmm(self.fc_b, h, fc)[..., 0]


def minibatch_stddev(h: torch.Tensor, nf: int, group: int = 0) -> torch.Tensor:
    """Minibatch standard deviation (Karras et al. 2018) on D's last map h (B, S, C, H, W): per group
    of ``group`` samples (0: the whole batch), sqrt(Var_group h + 1e-8), averaged over positions and
    over the channels of each of ``nf`` channel groups, appended as nf constant channels."""
    b, s, c, hh, ww = h.shape
    g = group if group and b % group == 0 else b
    hg = h.view(g, b // g, s, c, hh, ww)  # sample i is in group i mod (b / g), as in ProGAN's code
    sd = (hg.var(0, unbiased=False) + 1e-8).sqrt()  # (b / g, S, C, H, W)
    sd = sd.reshape(b // g, s, nf, -1).mean(3)  # (b / g, S, F): channels in F groups, averaged
    sd = sd.repeat(g, 1, 1).view(b, s, nf, 1, 1)  # back to every sample of its group
    return torch.cat([h, sd.expand(b, s, nf, hh, ww)], 2)


POLICY = ("color", "translation", "cutout")  # DiffAugment's policy names (Zhao et al. 2020)


def diff_augment(x: torch.Tensor, gens: Sequence[torch.Generator], policy: Sequence[str] = POLICY,
                 shift: int | None = None) -> torch.Tensor:
    """DiffAugment on x (B, S*C, H, W); seed s draws its parameters from ``gens[s]``; ``policy``:
    some of color (brightness, contrast), translation (by up to ``shift`` pixels; None: 1/8 of the
    side, as Zhao et al.), cutout (1/2), applied in that order."""
    b, sc, hh, ww = x.shape
    s = len(gens)

    def draw(fn):  # (B, S, 1, 1) parameters, one stream per seed
        return torch.stack([fn(g) for g in gens], 1).view(b, s, 1, 1).to(x.device)

    y = x.view(b, s, sc // s, hh, ww)
    if "color" in policy:
        y = y + draw(lambda g: torch.rand(b, generator=g) - 0.5).unsqueeze(2)  # brightness
        mean = y.mean((2, 3, 4), keepdim=True)
        y = (y - mean) * draw(lambda g: torch.rand(b, generator=g) + 0.5).unsqueeze(2) + mean  # contrast
    if "translation" in policy:
        r = hh // 8 if shift is None else shift  # zero padding
        ty, tx = (draw(lambda g: torch.randint(-r, r + 1, (b,), generator=g)).long() for _ in range(2))
        iy = torch.arange(hh, device=x.device).view(1, 1, hh, 1) + ty
        ix = torch.arange(ww, device=x.device).view(1, 1, 1, ww) + tx
        inside = ((iy >= 0) & (iy < hh) & (ix >= 0) & (ix < ww)).unsqueeze(2)
        flat = (iy.clamp(0, hh - 1) * ww + ix.clamp(0, ww - 1)).view(b, s, 1, hh * ww).expand(-1, -1, sc // s, -1)
        y = torch.gather(y.reshape(b, s, sc // s, hh * ww), 3, flat).view_as(y) * inside
    if "cutout" in policy:
        cy, cx = (draw(lambda g: torch.randint(0, hh, (b,), generator=g)).long() for _ in range(2))
        gy, gx = torch.arange(hh, device=x.device).view(1, 1, hh, 1), torch.arange(ww, device=x.device).view(1, 1, 1, ww)
        cut = ((gy - cy).abs() < hh // 4) & ((gx - cx).abs() < ww // 4)  # a half-size square set to 0
        y = y * (~cut).unsqueeze(2)
    return y.reshape(x.shape)
