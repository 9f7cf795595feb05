r"""Normalisation options: layer-level changes to G or D (the maths is in :mod:`engine.mlp`)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace


from ..config import bounded
from . import Option, register


@register
class SpectralNorm(Option):
    r"""Spectral normalisation of D (Miyato et al. 2018): every weight matrix W of D is divided by its
    largest singular value sigma(W), estimated by one power iteration per forward pass
    (v = W u / |W u|, u = W^T v / |W^T v|, sigma = v^T W u, u kept across steps). With 1-Lipschitz
    activations D is then 1-Lipschitz, which bounds how fast its gradients can grow."""

    id, label, kind, cite = "spectral_norm", "Spectral normalisation (D)", "normalisation", "miyato2018"

    def net(self, role: str, spec):
        return replace(spec, spectral=True) if role == "D" else spec


@dataclass(frozen=True)
class WhereParams:
    where: str = field(default="G", metadata=bounded(help="which network: G, D or both", choices=("G", "D", "both")))


@register
class BatchNorm(Option):
    r"""Batch normalisation (Ioffe & Szegedy 2015), as DCGAN uses it (Radford et al. 2016): after each
    hidden layer, h <- (h - mean_batch h) / sqrt(var_batch h + eps) * gain + shift, per seed. G always
    uses batch statistics (also when sampling, as GAN code commonly keeps G in training mode). In D,
    real and fake batches are normalised separately, as in DCGAN's code."""

    id, label, kind, cite = "batch_norm", "Batch normalisation", "normalisation", "ioffe2015batchnorm"
    Params = WhereParams
    group = "norm"  # one normalisation per recipe

    def net(self, role: str, spec):
        return replace(spec, norm="batch") if self.p.where in (role, "both") else spec


@dataclass(frozen=True)
class VbnParams:
    reference: int = field(default=128, metadata=bounded(8, 1024, "size of the fixed reference batch"))


@register
class VirtualBatchNorm(Option):
    r"""Virtual batch normalisation in G (Salimans et al. 2016): each sample is normalised with the
    statistics of a *reference* batch of latents, drawn once at the start and fixed, together with the
    sample itself: mean = (R mean_ref + h) / (R + 1), var = (R E_ref[h^2] + h^2) / (R + 1) - mean^2.
    A sample's output then no longer depends on the other samples of its minibatch."""

    id, label, kind, cite = "virtual_batch_norm", "Virtual batch normalisation (G)", "normalisation", "salimans2016"
    Params = VbnParams
    group = "norm"

    def net(self, role: str, spec):
        return replace(spec, norm="virtual") if role == "G" else spec

    def setup(self, m) -> None:
        from ..lab import Streams

        ref = Streams(m.seeds, 8, m.device, block=1).normal(self.p.reference, m.s.z_dim)
        if hasattr(m.game, "noise"):  # latents as G reads them (a conditional G: with labels)
            ref = m.game.noise(m, ref, Streams(m.seeds, 13, m.device, block=1))
        m.G.reference = ref


@register
class PixelNorm(Option):
    r"""Pixelwise feature normalisation in G (Karras et al. 2018): after each hidden layer,
    h <- h / sqrt(mean_f h_f^2 + eps), per sample; no learned parameters. It keeps G's feature
    magnitudes from escalating through the competition with D."""

    id, label, kind, cite = "pixel_norm", "Pixelwise feature normalisation (G)", "normalisation", "karras2018pggan"
    group = "norm"

    def net(self, role: str, spec):
        return replace(spec, norm="pixel") if role == "G" else spec


@register
class EqualisedLR(Option):
    r"""Equalised learning rate (Karras et al. 2018): weights are initialised N(0, 1) and scaled at run
    time by the He constant, w_hat = w sqrt(2 / fan_in), in G and D. Adam's step is invariant to a
    weight's scale, so every weight then learns at the same relative speed."""

    id, label, kind, cite = "equalised_lr", "Equalised learning rate", "normalisation", "karras2018pggan"

    def net(self, role: str, spec):
        return replace(spec, eq_lr=True)


