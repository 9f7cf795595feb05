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
  so Adam's step is the same relative size in every layer. Otherwise weights ~ N(0, 0.02) (DCGAN);
* self-attention (``attention``, SAGAN, Zhang et al. 2019): a :class:`SelfAttention` block on the
  16 x 16 feature maps of G (before its last up-conv) and of D (after its first conv);
* an auxiliary classifier (``classes`` = K > 0, AC-GAN, Odena et al. 2017): a second linear head on
  D's last features, K class logits per image (:meth:`Discriminator.classify`). A conditional GAN
  needs no switch here: G reads z with a one-hot label appended (z_dim + K inputs) and D reads the
  image with K constant label maps appended (C + K channels); demos/med_training.py builds both;
* progressive growing (``progressive``, Karras et al. 2018): the same layers, plus toRGB (G) and
  fromRGB (D) 1x1 convs at 8 x 8 and 16 x 16, so that ``forward(..., res, alpha)`` runs the networks
  at resolution ``res`` in {8, 16, 32}, the newest block faded in with weight ``alpha``
  (:meth:`Generator.forward`, :meth:`Discriminator.forward`). At res 32 and alpha 1 they are exactly
  the networks without growing (the toRGB / fromRGB layers then go unused).
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


RESOLUTIONS = (8, 16, 32)  # progressive growing's stages (the images are 32 x 32)


def _check_new_switches(attention: bool, progressive: bool, spectral: bool = False, eqlr: bool = False) -> None:
    """The attention and growing layers use DCGAN's N(0, 0.02) weights and no spectral normalisation:
    each is one change to the DCGAN pair, not combined with those switches."""
    if (attention or progressive) and (spectral or eqlr):
        which = "self-attention" if attention else "progressive growing"
        raise ValueError(f"{which} is not implemented together with spectral normalisation or equalised "
                         "learning rate (its extra layers have neither)")


def _check_stage(res: int, alpha: float, progressive: bool) -> None:
    if res not in RESOLUTIONS or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"resolution must be one of {RESOLUTIONS} and alpha in [0, 1], got {res}, {alpha}")
    if (res != 32 or alpha < 1) and not progressive:
        raise ValueError(f"resolution {res} (alpha {alpha}) needs a network built with progressive=True")


def upsample(x: torch.Tensor, size: int = 32) -> torch.Tensor:
    """Nearest-neighbour upsampling to size x size (progressive growing's upsampling)."""
    return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="nearest")


def downsample_real(x: torch.Tensor, res: int, alpha: float = 1.0) -> torch.Tensor:
    """Real images (B, S*C, 32, 32) as D sees them at stage (res, alpha) of progressive growing:
    average pooling to res x res; during a fade (alpha < 1) blended like G's output,
    (1 - alpha) * upsample(avg_pool(x_res, 2)) + alpha * x_res (Karras et al. 2018, section 2)."""
    x = F.avg_pool2d(x, x.shape[-1] // res) if res < x.shape[-1] else x
    if alpha < 1 and res > RESOLUTIONS[0]:
        x = torch.lerp(upsample(F.avg_pool2d(x, 2), res), x, alpha)
    return x


class SelfAttention(nn.Module):
    r"""SAGAN's self-attention block (Zhang, Goodfellow, Metaxas & Odena, ICML 2019, section 3) on a
    feature map x (B, S*C, H, W) of S seeds, each seed's block its own (grouped 1x1 convs, attention
    within the seed's channel group only). With N = H W positions x_i in R^C and C' = max(1, C // 8):

        f(x) = W_f x,  g(x) = W_g x,  h(x) = W_h x         (W_f, W_g, W_h in R^{C' x C}, 1x1 convs)
        s_ij = f(x_i)^T g(x_j),  beta_{j,i} = exp(s_ij) / sum_i exp(s_ij)                     (1)
        o_j = v(sum_i beta_{j,i} h(x_i)),  v(x) = W_v x     (W_v in R^{C x C'})                 (2)
        y_i = gamma o_i + x_i,  gamma a learnt scalar per seed, initialised to 0                (3)

    so beta_{j,i} is how much output position j attends to position i. The paper takes C' = C / 8
    for all three projections (the authors' code widens h to C / 2 and max-pools keys and values
    2 x 2 to save memory; we follow the paper's text).
    Weights ~ N(0, 0.02) (DCGAN, as the rest of the networks), no biases (the formulas have none)."""

    def __init__(self, seeds: Sequence[int], channels: int, salt: int, std: float = 0.02, chunk: int = 1 << 23):
        super().__init__()
        s, c = len(seeds), channels
        self.s, self.c, self.cb, self.chunk = s, c, max(1, c // 8), chunk
        self.w_f = nn.Parameter(_init(torch.empty(s * self.cb, c, 1, 1), seeds, salt, std))
        self.w_g = nn.Parameter(_init(torch.empty(s * self.cb, c, 1, 1), seeds, salt + 1, std))
        self.w_h = nn.Parameter(_init(torch.empty(s * self.cb, c, 1, 1), seeds, salt + 2, std))
        self.w_v = nn.Parameter(_init(torch.empty(s * c, self.cb, 1, 1), seeds, salt + 3, std))
        self.gamma = nn.Parameter(torch.zeros(s))

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        """sum_i beta_{j,i} h(x_i) as a (B, S*C', H, W) map."""
        b, _, hh, ww = x.shape
        s, cb, n = self.s, self.cb, hh * ww
        f = F.conv2d(x, self.w_f, groups=s).view(b, s, cb, n)
        g = F.conv2d(x, self.w_g, groups=s).view(b, s, cb, n)
        h = F.conv2d(x, self.w_h, groups=s).view(b, s, cb, n)
        beta = torch.matmul(g.transpose(2, 3), f).softmax(-1)  # [j, i] = s_ij, softmax over i: beta_{j,i}
        return torch.matmul(h, beta.transpose(2, 3)).view(b, s * cb, hh, ww)  # [:, j] = sum_i beta_{j,i} h_i

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, sc, hh, ww = x.shape
        per = max(1, self.chunk // (self.s * (hh * ww) ** 2))  # images per chunk: the N x N maps stay small
        att = torch.cat([self._attend(x[i:i + per]) for i in range(0, b, per)]) if b > per else self._attend(x)
        o = F.conv2d(att, self.w_v, groups=self.s)
        return x + self.gamma.repeat_interleave(self.c).view(1, sc, 1, 1) * o


class Generator(nn.Module):
    def __init__(self, seeds: Sequence[int], z_dim: int, channels: int, norm: str = "bn", width: int = 32,
                 eqlr: bool = False, attention: bool = False, progressive: bool = False):
        super().__init__()
        _check_new_switches(attention, progressive, eqlr=eqlr)
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
        # SAGAN: attention on the 16 x 16 features (the input of the last up-conv)
        self.attn = SelfAttention(seeds, self.ch[2], 35) if attention else None
        self.progressive = progressive
        if progressive:  # toRGB at 8 and 16: 1x1 convs from that resolution's features (at 32: the last up-conv)
            self.to_rgb = nn.ModuleDict({str(r): nn.Conv2d(s * a, s * channels, 1, groups=s)
                                         for r, a in zip(RESOLUTIONS[:2], self.ch[1:])})
            for i, conv in enumerate(self.to_rgb.values()):
                _init(conv.weight, seeds, 39 + i)
                nn.init.zeros_(conv.bias)

    def _norm(self, i: int, h: torch.Tensor) -> torch.Tensor:
        return pixel_norm(h, self.s) if self.norm_kind == "pixel" else self.norms[i](h)

    def _features(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """The input of up-conv i: ReLU(N(h)) (then attention, at 16 x 16)."""
        h = F.relu(self._norm(i, h))
        return self.attn(h) if i == 2 and self.attn is not None else h

    def _rgb(self, res: int, a: torch.Tensor) -> torch.Tensor:
        return torch.tanh(F.conv2d(a, self.to_rgb[str(res)].weight, self.to_rgb[str(res)].bias, groups=self.s))

    def forward(self, z: torch.Tensor, res: int = 32, alpha: float = 1.0) -> torch.Tensor:
        """z (S, B, z_dim) -> images (B, S*C, res, res). Progressive growing (Karras et al. 2018,
        figure 2): at res r the image is toRGB_r of the r x r features (at 32, the last up-conv and
        tanh); while the r x r block fades in (alpha < 1) it is

            (1 - alpha) * upsample(toRGB_{r/2}(a_{r/2})) + alpha * toRGB_r(block_r(a_{r/2}))

        with a_{r/2} the r/2 x r/2 features and upsample nearest-neighbour."""
        _check_stage(res, alpha, self.progressive)
        s, b, _ = z.shape
        h = torch.baddbmm(self.fc_b, z, self.fc * self.fc_c)
        h = h.view(s, b, self.ch[0], 4, 4).transpose(0, 1).reshape(b, -1, 4, 4)
        n = RESOLUTIONS.index(res) + 1  # up-convs to run
        for i, (up, c) in enumerate(zip(self.ups[:n], self.up_c)):
            a = self._features(i, h)
            h = F.conv_transpose2d(a, up.weight * c, up.bias, 2, 1, groups=s)
        new = torch.tanh(h) if res == 32 else self._rgb(res, self._features(n, h))
        if alpha >= 1 or res == RESOLUTIONS[0]:
            return new
        return torch.lerp(upsample(self._rgb(res // 2, a), res), new, alpha)


class Discriminator(nn.Module):
    def __init__(self, seeds: Sequence[int], channels: int, width: int = 32, pack: int = 1, d_norm: bool = False,
                 spectral: bool = False, mbstd: bool = False, eqlr: bool = False, attention: bool = False,
                 progressive: bool = False, classes: int = 0):
        super().__init__()
        _check_new_switches(attention, progressive, spectral, eqlr)
        if classes and (spectral or eqlr or progressive):
            raise ValueError("an auxiliary classifier is not implemented with spectral norm, eqlr or growing")
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
        if classes:  # AC-GAN's class head, beside the real/fake logit (created last: other variants' init is untouched)
            self.cls = nn.Parameter(_init(torch.empty(s, n_in, classes), seeds, 61, std))
            self.cls_b = nn.Parameter(torch.zeros(s, 1, classes))
        for i, c in enumerate((*self.ch, 1) if spectral else ()):
            self.register_buffer(f"u{i}", F.normalize(torch.ones(s, c), dim=1))
        # SAGAN: attention on the 16 x 16 features (the output of the first conv)
        self.attn = SelfAttention(seeds, self.ch[0], 51) if attention else None
        self.progressive = progressive
        if progressive:  # fromRGB at 16 and 8: 1x1 conv + LReLU to the features of that resolution
            self.from_rgb = nn.ModuleDict({str(r): nn.Conv2d(s * ins[0], s * a, 1, groups=s)
                                           for r, a in zip(RESOLUTIONS[1::-1], self.ch[:2])})
            for i, conv in enumerate(self.from_rgb.values()):
                _init(conv.weight, seeds, 55 + i)
                nn.init.zeros_(conv.bias)

    def _from_rgb(self, res: int, x: torch.Tensor) -> torch.Tensor:
        conv = self.from_rgb[str(res)]
        return F.leaky_relu(F.conv2d(x, conv.weight, conv.bias, groups=self.s), 0.2)

    def forward(self, x: torch.Tensor, res: int = 32, alpha: float = 1.0, features: bool = False):
        """x (B, S*pack*C, res, res) -> logits (S, B); with ``features`` also the input of the last
        (linear) layer, (S, B, F): D's last feature map after its LReLU, flattened (with the
        minibatch-stddev channels where they are on). Progressive growing, the mirror of G: at res r
        < 32 the image enters through fromRGB_r (1x1 conv, LReLU) to the r x r features; while the
        r x r block fades in (alpha < 1) its output, at r/2, is

            (1 - alpha) * fromRGB_{r/2}(avg_pool(x, 2)) + alpha * block_r(fromRGB_r(x))

        (at r = 32 the first conv is fromRGB and block in one, as without growing)."""
        _check_stage(res, alpha, self.progressive)
        if x.shape[-1] != res:
            raise ValueError(f"D at resolution {res} got {x.shape[-1]} x {x.shape[-1]} images")
        s = self.s
        start = 2 - RESOLUTIONS.index(res)  # the first conv to run
        h = x if start == 0 else self._from_rgb(res, x)
        for i in range(start, len(self.convs)):
            conv, norm, c = self.convs[i], self.norms[i], self.conv_c[i]
            if i == 1 and self.attn is not None:
                h = self.attn(h)
            w = _spectral(conv.weight, getattr(self, f"u{i}")) if self.spectral else conv.weight * c
            h = F.leaky_relu(norm(F.conv2d(h, w, conv.bias, 2, 1, groups=s)), 0.2)
            if i == start and res > RESOLUTIONS[0] and alpha < 1:
                h = torch.lerp(self._from_rgb(res // 2, F.avg_pool2d(x, 2)), h, alpha)
        b = h.shape[0]
        h = h.view(b, s, self.ch[-1], 4, 4)
        if self.nf:
            h = minibatch_stddev(h, self.nf)
        h = h.transpose(0, 1).reshape(s, b, -1)
        if self.spectral:
            fc = _spectral(self.fc.transpose(1, 2), getattr(self, f"u{len(self.ch)}")).transpose(1, 2)
        else:
            fc = self.fc * self.fc_c
        logits = torch.baddbmm(self.fc_b, h, fc)[..., 0]
        return (logits, h) if features else logits

    def classify(self, h: torch.Tensor) -> torch.Tensor:
        """AC-GAN's class logits (S, B, K) from D's last features h (S, B, F) (``forward(..., features=True)``)."""
        return torch.baddbmm(self.cls_b, h, self.cls)
