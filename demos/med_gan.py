r"""GAN failures and fixes on real medical images: what the two medical demos share.

The testbeds (:mod:`engine.med_data`): 32 x 32 axial brain-MRI slices at seven anatomical levels
(demos/brain_mri.py, anatomy coverage) and 32 x 32 colour views of six modalities (demos/modalities.py,
modality coverage); the target is the uniform mixture of the classes. A classifier trained on the
real images (engine/med_classifier.py) names each generated image's class, so coverage is counted.

The GAN (engine/image_nets.py, demos/med_training.py) is DCGAN-shaped, weights ~ N(0, 0.02), Adam
(beta1 = 0.5), non-saturating loss. The failure (``plain``) is that pair *without normalisation*:
at initialisation G's output barely depends on z (small weights, nothing rescales the activations),
so every sample is nearly the same image, and G then moves its whole output toward whatever D
currently rates real. Each other variant is **one change** to the failure (:data:`VARIANTS`), a
technique of the survey's taxonomy; :class:`demos.med_training.Setup` gives each one's maths and
source. Which of them undo the collapse, and how often, is measured over seeds by
``python -m demos.med_sweep`` (tables in docs/medical_gans.md); a technique is *claimed* only where
the failure holds and it meets the fix bar in >= 90 % of >= 16 seeds (on the brain: batch norm, at
the brain's defaults of 1,500 steps of 4e-4, demos/brain_mri.Config).

Claims (:func:`success`), per seed: the failure covers at most half the classes (<= 3 of 7 levels,
<= 3 of 6 modalities) or puts most of its images on one (reverse KL >= 0.7); a fix covers all
classes but one (>= 6 of 7, >= 5 of 6) with reverse KL <= 0.35.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from engine import med_data
from engine.config import bounded, check, check_variants
from engine.metrics import mean_sd
from engine.train import torch_threads

from .med_training import GRID, METRICS, Setup, grid, train  # noqa: F401 (pages use GRID, grid)

CODE_VERSION = "med_gan/1"


@dataclass(frozen=True)
class Config:
    steps: int = field(default=600, metadata=bounded(2, 20000, "generator steps"))
    batch: int = field(default=16, metadata=bounded(8, 256, "images per batch (before packing)"))
    z_dim: int = field(default=64, metadata=bounded(2, 256, "latent dimension"))
    g_width: int = field(default=16, metadata=bounded(4, 128, "generator width w: channels 4w, 2w, w"))
    d_width: int = field(default=8, metadata=bounded(4, 128, "discriminator width w: channels w, 2w, 4w"))
    lr_g: float = field(default=1e-3, metadata=bounded(1e-6, 1e-1, "generator learning rate"))
    lr_d: float = field(default=1e-3, metadata=bounded(1e-6, 1e-1, "discriminator learning rate"))
    beta1: float = field(default=0.5, metadata=bounded(0.0, 0.99, "Adam beta1 of both players (DCGAN: 0.5)"))
    pack: int = field(default=2, metadata=bounded(2, 8, "PacGAN: images per discriminator input"))
    r1_gamma: float = field(default=10.0, metadata=bounded(1e-4, 1e3, "R1 weight gamma (Mescheder et al.: 10)"))
    cr_lambda: float = field(default=10.0, metadata=bounded(1e-3, 1e3, "consistency weight lambda (Zhang et al.: 10)"))
    ema_beta: float = field(default=0.99, metadata=bounded(0.5, 0.99999, "EMA decay of G's weights (ProGAN: 0.999, "
                                                              "which averages over ~1000 steps, more than these runs)"))
    diffaug_policy: str = field(default="color,translation,cutout", metadata=bounded(
        help="DiffAugment's ops (Zhao et al.'s default: all three)",
        choices=("color,translation,cutout", "translation", "translation,cutout", "color,translation")))
    ada_target: float = field(default=0.6, metadata=bounded(0.0, 1.0, "ADA: target of r_t = E sign D(x_real) (paper: 0.6)"))
    ada_images: int = field(default=5000, metadata=bounded(100, 10**7, "ADA: images for p to move 0 -> 1 "
                                                           "(paper: 500k; scaled to these runs of ~10k images)"))
    ms_lambda: float = field(default=1.0, metadata=bounded(1e-3, 1e3, "mode-seeking weight lambda (Mao et al.: 1)"))
    eval_samples: int = field(default=256, metadata=bounded(64, 4000, "generated images scored per seed"))
    seed: int = field(default=0, metadata=bounded(0, 10**6, "first seed; seeds are seed, seed+1, ..."))
    eval_every: int = field(default=100, metadata=bounded(1, 5000, "steps between scored frames (the curves' points)"))
    grid_every: int = field(default=50, metadata=bounded(1, 5000, "steps between live sample grids (scored or not)"))


# Config fields that set only how often a run is watched (live grids, scored frames); results, and so
# what a shipped result claims, come from the final scoring and do not depend on them.
CADENCE = ("eval_every", "grid_every")


def redefault(name: str, value):
    """Config's field ``name`` with another default (a demo's own defaults; same bounds and help)."""
    f = Config.__dataclass_fields__[name]
    return field(default=value, metadata=f.metadata)


# variant -> (label, its Setup from the config). Every fix is one change to ``plain``.
VARIANTS: dict[str, tuple[str, object]] = {
    "plain": ("No normalisation (failure)", lambda c: Setup()),
    "batchnorm": ("Batch normalisation (DCGAN)", lambda c: Setup(g_norm="bn", d_norm=True)),
    "pixelnorm": ("Pixelwise feature normalisation in G", lambda c: Setup(g_norm="pixel")),
    "eqlr": ("Equalised learning rate", lambda c: Setup(eqlr=True)),
    "mbstd": ("Minibatch standard deviation", lambda c: Setup(mbstd=True)),
    "pacgan": ("Packing (PacGAN)", lambda c: Setup(pack=c.pack)),
    "spectral": ("Spectral normalisation of D", lambda c: Setup(spectral=True)),
    "r1": ("R1 gradient penalty", lambda c: Setup(r1=c.r1_gamma)),
    "cr": ("Consistency regularisation", lambda c: Setup(cr=c.cr_lambda)),
    "diffaug": ("DiffAugment", lambda c: Setup(diffaug=True)),
    "ada": ("Adaptive augmentation (ADA)", lambda c: Setup(ada=True)),
    "ema": ("EMA of G's weights", lambda c: Setup(ema=c.ema_beta)),
    "fm": ("Feature matching", lambda c: Setup(fm=True)),
    "msgan": ("Mode-seeking regularisation (MSGAN)", lambda c: Setup(ms=c.ms_lambda)),
    "selfattn": ("Self-attention in G and D (SAGAN)", lambda c: Setup(attention=True)),
    "progressive": ("Progressive growing (PGGAN)", lambda c: Setup(progressive=True)),
    "cgan": ("Conditional GAN (class to G and D)", lambda c: Setup(cond="input")),
    "acgan": ("Auxiliary classifier GAN (AC-GAN)", lambda c: Setup(cond="aux")),
}
FAILURE = "plain"


def label(v: str) -> str:
    return VARIANTS[v][0]


def setup(v: str, cfg: Config) -> Setup:
    return VARIANTS[v][1](cfg)


def run(kind: str, demo_id: str, cfg: Config, variants: list[str], seeds: int = 4, on_event=None, should_stop=None,
        save_samples: Optional[Path] = None, threads: Optional[int] = None) -> dict:
    """Train each variant on ``seeds`` seeds (batched) on image set ``kind`` and summarise (demo contract)."""
    cfg = check(cfg)
    check_variants(variants, VARIANTS)
    from engine.med_classifier import judge

    t0 = time.perf_counter()
    out = {"demo": demo_id, "kind": kind, "code_version": CODE_VERSION, "config": dataclasses.asdict(cfg),
           "seeds": [cfg.seed + i for i in range(seeds)], "variants": {}}
    with torch_threads(threads):
        runs = train({v: setup(v, cfg) for v in variants}, cfg, kind, out["seeds"], on_event, should_stop)
        out["real"] = judge(kind).real_reference(cfg.eval_samples) | {"grid": grid(real_images(kind))}
    for v, r in runs.items():
        summary = {m: mean_sd([p[m] for p in r["per_seed"]]) for m in METRICS}
        out["variants"][v] = {"label": label(v), **r, "mean": {m: s[0] for m, s in summary.items()},
                              "sd": {m: s[1] for m, s in summary.items()}}
        if save_samples is not None:
            Path(save_samples).mkdir(parents=True, exist_ok=True)
            np.save(Path(save_samples) / f"{v}_grid_seed{out['seeds'][0]}.npy", np.array(r["grid"], np.float32))
    out["stopped"] = any(r["stopped"] for r in runs.values())
    out["wall_time_s"] = time.perf_counter() - t0
    return out


def real_images(kind: str, n: int = GRID, seed: int = 99) -> torch.Tensor:
    """n real training images, classes in turn (what the page shows beside the generators)."""
    ps = med_data.build(kind)
    x, y = ps.split(True)
    g = torch.Generator().manual_seed(seed)
    per = [x[y == k][torch.randperm(int((y == k).sum()), generator=g)] for k in range(ps.classes)]
    return torch.stack([per[i % ps.classes][i // ps.classes] for i in range(n)])


def bars(kind: str) -> tuple[int, int]:
    """(most classes a failure may cover, fewest a fix must cover): half, and all but one."""
    k = len(med_data.CLASSES[kind])
    return k // 2, k - 1


def success(result: dict, variant: str, what: str) -> list[bool]:
    """Per seed, whether the failure claim (``what="failure"``) or the fix claim holds (module docstring)."""
    lo, hi = bars(result["kind"])
    ps = result["variants"][variant]["per_seed"]
    if what == "failure":
        return [p["classes"] <= lo or p["reverse_kl"] >= 0.7 for p in ps]
    return [p["classes"] >= hi and p["reverse_kl"] <= 0.35 for p in ps]
