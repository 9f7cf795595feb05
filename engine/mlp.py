r"""S seeds' small MLPs as one batched computation, every weight of every seed in one flat tensor.

``FlatMLP.flat`` is one 1-D parameter holding, block after block, each tensor of the network for all
S seeds (layer l's weights as an (S, fan_in, fan_out) block, its biases, normalisation gains, the
minibatch-discrimination tensor). A forward pass splits it once into contiguous *views*, so

* one ``torch.baddbmm`` runs layer l of all S networks at once (small matmuls are bound by per-op
  overhead, which batching pays once);
* Adam sees one tensor instead of 2L, so its Python-level loop runs once per network, not per layer
  (Adam is elementwise: one optimiser over the stacked rows updates every seed exactly as its own
  optimiser would, as long as the loss is a *sum* over seeds);
* the backward pass of the split is one concatenation, not one scatter per tensor;
* a whole network is swapped by passing another flat tensor to ``forward`` (unrolled D,
  extragradient's extrapolated point); per-seed sums and selections go through ``seed_of``, the seed
  each entry belongs to (:meth:`per_seed`, :meth:`where_seed`).

Initial weights are drawn per seed from that seed's own generator, exactly as
:class:`engine.nets.BatchedMLP` draws them (PyTorch's ``nn.Linear`` default, U(-1/sqrt(fan_in),
1/sqrt(fan_in))), so seed 3 starts from the same weights whether it trains alone or beside seeds 0..7.

Layer options (each a technique of the taxonomy; the maths is in the method that applies it):
``spectral`` (Miyato et al. 2018), ``norm`` = "batch" (Ioffe & Szegedy 2015) | "pixel" (Karras et al.
2018) | "virtual" (Salimans et al. 2016), ``mbstd`` (Karras et al. 2018) and ``mbdisc`` (Salimans et al.
2016) before the last layer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .nets import seed_generator

EPS = 1e-8


@dataclass(frozen=True)
class NetSpec:
    """The shape and layer options of one batched MLP; options edit it before it is built."""

    sizes: tuple[int, ...]
    slope: float = 0.2  # LeakyReLU slope between layers (0: ReLU)
    spectral: bool = False
    norm: str = ""  # "" | "batch" | "pixel" | "virtual"
    mbstd: bool = False
    mbdisc: tuple[int, int] = (0, 0)  # (kernels B, kernel dim C); (0, 0) = off
    eq_lr: bool = False  # equalised learning rate: N(0, 1) weights scaled by sqrt(2 / fan_in) at run time
    copies: int = 1  # independent networks per seed (GMAN's N discriminators, MAD-GAN's k generators)
    autoencoder: bool = False  # the output has the input's size (BEGAN's, EBGAN's D), however wide the input ends up

    @property
    def batch_coupled(self) -> bool:
        """Does one sample's output depend on the others in its batch? (Then real and fake samples
        must not share one forward pass.)"""
        return self.mbstd or self.mbdisc[0] > 0 or self.norm in ("batch", "virtual")


class FlatMLP(nn.Module):
    """With ``spec.copies = k`` each seed owns k independent networks (rows s*k .. s*k + k - 1 of every
    block, copy c initialised from its own stream); they all read the same input and their outputs
    are concatenated, (S, B, in) -> (S, B, k * out), as one multi-headed network would be."""

    def __init__(self, spec: NetSpec, seeds: Sequence[int], salt: int, device: str | torch.device = "cpu"):
        super().__init__()
        self.spec, self.n = spec, len(seeds)
        k = self.k = spec.copies
        rows = [(s, c) for s in seeds for c in range(k)]  # seed-major: seed i's copies are rows i*k .. i*k+k-1
        self.rows = len(rows)
        sizes = list(spec.sizes)
        if spec.autoencoder:  # resolved here, after every option has set the input width (packing)
            sizes[-1] = sizes[0]
        dims = list(zip(sizes[:-1], sizes[1:]))
        extra = (1 if spec.mbstd else 0) + spec.mbdisc[0]
        dims[-1] = (dims[-1][0] + extra, dims[-1][1])  # the last layer reads the batch statistics too
        self.dims = dims
        pieces: list[torch.Tensor] = []  # each (S, ...), stored flattened one after another
        self._names: list[str] = []

        def add(name: str, t: torch.Tensor) -> None:
            self._names.append(name)
            pieces.append(t)

        for li, (fan_in, fan_out) in enumerate(dims):
            bound = 1 / math.sqrt(fan_in)
            w, b = torch.empty(self.rows, fan_in, fan_out), torch.empty(self.rows, 1, fan_out)
            for i, (s, c) in enumerate(rows):  # copy 0 draws exactly what a single network draws
                g = seed_generator(s, salt + 97 * li + 100_003 * c)
                if spec.eq_lr:  # Karras et al. 2018: trivial N(0, 1) init, zero bias, scale at run time
                    w[i].normal_(0, 1, generator=g)
                    b[i].zero_()
                else:
                    w[i].uniform_(-bound, bound, generator=g)
                    b[i].uniform_(-bound, bound, generator=g)
            add(f"w{li}", w)
            add(f"b{li}", b)
        if spec.norm in ("batch", "virtual"):  # learned gain and shift after each hidden layer
            for li, (_, fan_out) in enumerate(dims[:-1]):
                add(f"gain{li}", torch.ones(self.rows, 1, fan_out))
                add(f"shift{li}", torch.zeros(self.rows, 1, fan_out))
        if spec.mbdisc[0]:
            kb, kc = spec.mbdisc
            a = sizes[-2]
            t = torch.empty(self.rows, a, kb * kc)
            for i, (s, c) in enumerate(rows):
                t[i].normal_(0, 1 / math.sqrt(a), generator=seed_generator(s, salt + 7919 + 100_003 * c))
            add("mbdisc", t)
        self._shapes = [tuple(t.shape) for t in pieces]
        self._numels = [t.numel() for t in pieces]
        self._index = {n: i for i, n in enumerate(self._names)}
        self.flat = nn.Parameter(torch.cat([t.reshape(-1) for t in pieces]).to(device))
        self.seed_of = torch.cat([torch.arange(self.n).repeat_interleave(m // self.n) for m in self._numels]).to(device)
        # spectral norm's power-iteration vectors, one per layer and network (state, not trained)
        self.u = [F.normalize(torch.ones(self.rows, 1, fo, device=device), dim=-1) for _, fo in dims] if spec.spectral else []
        self.reference: Optional[torch.Tensor] = None  # virtual batch norm's fixed reference inputs (S, R, in)

    def views(self, flat: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
        """Every tensor of the network as a view of ``flat`` (default: the trained weights)."""
        f = self.flat if flat is None else flat
        return {n: t.view(sh) for n, t, sh in zip(self._names, f.split(self._numels), self._shapes)}

    def per_seed(self, t: torch.Tensor) -> torch.Tensor:
        """Sum a flat-shaped tensor over each seed's entries: (P,) -> (S,)."""
        return torch.zeros(self.n, dtype=t.dtype, device=t.device).index_add_(0, self.seed_of, t)

    def where_seed(self, mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Flat tensor taking seed s's entries from ``a`` where mask[s], else from ``b``."""
        return torch.where(mask.to(a.device)[self.seed_of], a, b)

    @property
    def depth(self) -> int:
        return len(self.dims)

    # -- layer options ---------------------------------------------------------------------------
    def _sn(self, i: int, w: torch.Tensor) -> torch.Tensor:
        """Spectral normalisation: W / sigma(W), sigma by one power iteration per forward pass
        (v = W u / |W u|, u = W^T v / |W^T v|, sigma = v^T W u); u persists across steps."""
        with torch.no_grad():
            v = F.normalize(torch.bmm(self.u[i], w.transpose(1, 2)), dim=-1)
            self.u[i] = F.normalize(torch.bmm(v, w), dim=-1)
        sigma = torch.bmm(torch.bmm(v, w), self.u[i].transpose(1, 2))
        return w / sigma

    @staticmethod
    def _mbstd(x: torch.Tensor) -> torch.Tensor:
        """Minibatch stddev: append mean_j sqrt(Var_batch h_j + eps), one scalar per batch."""
        std = (x.var(dim=1, keepdim=True, unbiased=False) + EPS).sqrt().mean(dim=2, keepdim=True)
        return torch.cat([x, std.expand(-1, x.shape[1], 1)], dim=2)

    def _mbdisc(self, x: torch.Tensor, v: dict) -> torch.Tensor:
        """Minibatch discrimination: M_i = f(x_i) T in R^{B x C}; c_b(i, j) = exp(-|M_i,b - M_j,b|_1);
        o(x_i)_b = sum_j c_b(i, j), the sum running over the whole batch, x_i itself included (so
        o >= 1). The B features o(x_i) are appended to f(x_i)."""
        kb, kc = self.spec.mbdisc
        s, n, _ = x.shape
        m = torch.bmm(x, v["mbdisc"]).reshape(s, n, kb, kc).permute(0, 2, 1, 3).reshape(s * kb, n, kc)
        # pairwise L1 distances per kernel, (S*B, n, n), without materialising (n, n, B, C) differences
        l1 = torch.cdist(m, m, p=1)
        o = torch.exp(-l1).sum(dim=2).reshape(s, kb, n).transpose(1, 2)  # (S, n, B)
        return torch.cat([x, o], dim=2)

    def _norm(self, li: int, x: torch.Tensor, ref: Optional[torch.Tensor], v: dict) -> torch.Tensor:
        kind = self.spec.norm
        if kind == "pixel":  # x / sqrt(mean_f x_f^2 + eps), per sample, no learned parameters
            return x * torch.rsqrt((x * x).mean(dim=2, keepdim=True) + EPS)
        if kind == "batch":  # (x - mean_batch) / sqrt(var_batch + eps) * gain + shift, per seed
            mean, var = x.mean(1, keepdim=True), x.var(1, keepdim=True, unbiased=False)
        else:  # virtual: the reference batch's statistics with the sample itself added (n_ref + 1 points)
            r = ref.shape[1]
            rm, rsq = ref.mean(1, keepdim=True), (ref * ref).mean(1, keepdim=True)
            mean = (r * rm + x) / (r + 1)
            var = (r * rsq + x * x) / (r + 1) - mean * mean
        return (x - mean) * torch.rsqrt(var + 1e-5) * v[f"gain{li}"] + v[f"shift{li}"]

    # -- forward -----------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, flat: Optional[torch.Tensor] = None, features: bool = False):
        """x: (S, B, in) -> (S, B, out); with ``features`` also the last hidden activations (S, B, h).
        ``flat`` replaces the weights (an unrolled or extrapolated copy). With k copies per seed the
        outputs (and features) of the k networks are concatenated: (S, B, k * out)."""
        ref = None
        if self.spec.norm == "virtual":
            if self.reference is None:
                raise RuntimeError("virtual batch norm needs a reference batch (set .reference)")
            ref = self.reference if self.k == 1 else self.reference.repeat_interleave(self.k, 0)
        v = self.views(flat)
        h = x if self.k == 1 else x.repeat_interleave(self.k, 0)  # every copy reads the same input
        for i in range(self.depth):
            w = v[f"w{i}"]
            if self.spec.eq_lr:  # w_hat = w * sqrt(2 / fan_in): every weight learns at the same speed
                w = w * math.sqrt(2 / self.dims[i][0])
            if self.spec.spectral:
                w = self._sn(i, w)
            if i == self.depth - 1:
                feats = h
                if self.spec.mbstd or self.spec.mbdisc[0]:  # batch statistics of the features, appended
                    parts = [feats]
                    if self.spec.mbstd:
                        parts.append(self._mbstd(feats)[..., -1:])
                    if self.spec.mbdisc[0]:
                        parts.append(self._mbdisc(feats, v)[..., -self.spec.mbdisc[0]:])
                    h = torch.cat(parts, dim=2)
            b = v[f"b{i}"]
            h = torch.baddbmm(b, h, w)
            if ref is not None and i < self.depth - 1:
                ref = torch.baddbmm(b, ref, w)
            if i < self.depth - 1:
                if self.spec.norm:
                    h = self._norm(i, h, ref, v)
                    if ref is not None:  # the reference batch itself: normalised by its own statistics
                        ref = _ref_norm(i, ref, v)
                h = F.leaky_relu(h, self.spec.slope)
                if ref is not None:
                    ref = F.leaky_relu(ref, self.spec.slope)
        if self.k > 1:
            h, feats = self._join(h), self._join(feats)
        return (h, feats) if features else h

    def _join(self, t: torch.Tensor) -> torch.Tensor:
        """(S*k, B, d) rows of the k copies -> (S, B, k*d), copy c in columns c*d .. c*d + d - 1."""
        _, b, d = t.shape
        return t.reshape(self.n, self.k, b, d).permute(0, 2, 1, 3).reshape(self.n, b, self.k * d)


def _ref_norm(li: int, ref: torch.Tensor, v: dict) -> torch.Tensor:
    """Virtual batch norm's reference batch, normalised by its own statistics (Salimans et al.)."""
    mean, var = ref.mean(1, keepdim=True), ref.var(1, keepdim=True, unbiased=False)
    return (ref - mean) * torch.rsqrt(var + 1e-5) * v[f"gain{li}"] + v[f"shift{li}"]
