"""The list of live demos, as plain data (importing this module pulls in no torch).

The taxonomy validator resolves every technique's ``demo: {id, variant}`` link against this
catalogue, and ``python -m demos list --json`` prints it. A demo is listed here only once it
exists: a link to a demo that is not implemented is a dangling link, and validation says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DemoInfo:
    id: str
    title: str
    challenge: str  # a challenge id of the taxonomy
    summary: str
    failure: str  # the variant that shows the failure
    variants: dict[str, str] = field(default_factory=dict)  # variant id -> label
    default_fix: str = ""
    module: str = ""  # python module implementing the demo contract (see demos/__init__.py)


# the medical-image demos share their variants: each a one-change technique (demos/med_gan.py)
MED_VARIANTS = {
    "plain": "No normalisation (failure)",
    "batchnorm": "Batch normalisation (DCGAN)",
    "pixelnorm": "Pixelwise feature normalisation in G",
    "eqlr": "Equalised learning rate",
    "mbstd": "Minibatch standard deviation",
    "pacgan": "Packing (PacGAN)",
    "spectral": "Spectral normalisation of D",
    "r1": "R1 gradient penalty",
    "cr": "Consistency regularisation",
    "diffaug": "DiffAugment",
    "ada": "Adaptive augmentation (ADA)",
    "ema": "EMA of G's weights",
    "fm": "Feature matching",
    "msgan": "Mode-seeking regularisation (MSGAN)",
    "selfattn": "Self-attention in G and D (SAGAN)",
    "progressive": "Progressive growing (PGGAN)",
    "cgan": "Conditional GAN (class to G and D)",
    "acgan": "Auxiliary classifier GAN (AC-GAN)",
}

CATALOG: dict[str, DemoInfo] = {
    d.id: d
    for d in [
        DemoInfo(
            id="mode_collapse",
            title="Mode collapse on a 2D mixture",
            challenge="mode_collapse",
            summary="A plain GAN covers a few modes of a ring or grid of Gaussians; the fixes cover them all.",
            failure="gan",
            default_fix="pacgan",
            module="demos.mode_collapse",
            variants={
                "gan": "Plain GAN (failure)",
                "pacgan": "Packing (PacGAN)",
                "unrolled": "Unrolled discriminator",
                "mbstd": "Minibatch standard deviation",
                "wgan_gp": "WGAN-GP",
            },
        ),
        DemoInfo(
            id="dirac",
            title="Dirac-GAN: why GAN training circles",
            challenge="non_convergence",
            summary="Mescheder et al.'s two-parameter GAN: plain gradient descent circles or spirals away "
            "from the equilibrium; R1, consensus optimisation and instance noise make it converge.",
            failure="gan",
            default_fix="r1",
            module="demos.dirac",
            variants={
                "gan": "Unregularised GAN (failure)",
                "nsgan": "Non-saturating GAN",
                "wgan": "WGAN with weight clipping",
                "wgan_gp": "WGAN-GP",
                "instance_noise": "Instance noise",
                "r1": "R1 gradient penalty",
                "consensus": "Consensus optimisation",
                "extragradient": "Extragradient",
                "optimism": "Optimistic gradient",
                "ttur": "Two time-scale update (TTUR)",
            },
        ),
        DemoInfo(
            id="oscillation",
            title="Non-convergence on a 2D GAN",
            challenge="non_convergence",
            summary="A plain GAN on a ring of 8 Gaussians reaches the data and keeps jittering around it; "
            "R1, two time-scales, weight averaging and instance noise make it settle.",
            failure="gan",
            default_fix="r1",
            module="demos.oscillation",
            variants={
                "gan": "Plain GAN (failure)",
                "r1": "R1 gradient penalty",
                "ttur": "Two time-scale update (TTUR)",
                "ema": "Generator weight averaging (EMA)",
                "instance_noise": "Instance noise",
            },
        ),
        DemoInfo(
            id="vanishing_gradients",
            title="Vanishing gradients: a near-optimal discriminator",
            challenge="instability",
            summary="Arjovsky and Bottou's experiment: a fresh discriminator trained against a frozen generator "
            "drives the saturating loss's gradient down by orders of magnitude; the other losses keep theirs.",
            failure="saturating",
            default_fix="nonsaturating",
            module="demos.vanishing_gradients",
            variants={
                "saturating": "Saturating minimax loss (failure)",
                "nonsaturating": "Non-saturating loss",
                "lsgan": "Least squares (LSGAN)",
                "wgan_gp": "WGAN-GP critic",
            },
        ),
        DemoInfo(
            id="instability",
            title="Instability: a stalled generator and a diverging run",
            challenge="instability",
            summary="Under the saturating loss a strong discriminator leaves the generator no gradient and it "
            "stalls; at a high learning rate a plain GAN diverges to NaN, and spectral normalisation or R1 "
            "keeps it finite.",
            failure="saturating",
            default_fix="nonsaturating",
            module="demos.instability",
            variants={
                "saturating": "Saturating minimax loss (failure)",
                "nonsaturating": "Non-saturating loss",
                "lsgan": "Least squares (LSGAN)",
                "wgan_gp": "WGAN-GP",
                "high_lr": "High learning rate, no normalisation (failure)",
                "spectral": "Spectral normalisation",
                "r1": "R1 gradient penalty",
            },
        ),
        DemoInfo(
            id="tissue_patches",
            title="Mode collapse on biomedical image patches",
            challenge="mode_collapse",
            summary="A small convolutional GAN on 16x16 patches of five real modalities (histology, fundus, "
            "microscopy, retina, CT phantom) draws mostly one or two tissues, without normalisation or when its "
            "generator outpaces the discriminator; a patch classifier counts the modalities each fix recovers.",
            failure="plain",
            default_fix="batchnorm",
            module="demos.tissue_patches",
            variants={
                "plain": "No normalisation (failure)",
                "batchnorm": "Batch normalisation (DCGAN)",
                "fast_g": "Generator 10x faster than D (failure)",
                "mbstd": "Minibatch standard deviation",
                "pacgan": "Packing (PacGAN)",
                "sn_hinge": "Spectral norm + hinge loss",
                "diffaug": "DiffAugment (translation)",
            },
        ),
        DemoInfo(
            id="brain_mri",
            title="Anatomy coverage on brain MRI",
            challenge="mode_collapse",
            summary="A small GAN on 32x32 axial slices of the MNI152 T1 template (seven anatomical levels, cerebellum "
            "to vertex) draws only a few levels without normalisation; with batch norm it draws six or seven "
            "(claimed: 62/64 seeds). A level classifier counts the levels that each of seventeen one-change "
            "techniques recovers, measured over 8-16 seeds.",
            failure="plain",
            default_fix="batchnorm",
            module="demos.brain_mri",
            variants=MED_VARIANTS,
        ),
        DemoInfo(
            id="modalities",
            title="Modality coverage on real clinical images",
            challenge="mode_collapse",
            summary="A small GAN on 32x32 views of six modalities (CT, MR, radiograph, ultrasound from DICOM; histology "
            "and fundus in colour) draws one or two without normalisation; a modality classifier counts the "
            "modalities that each of seventeen one-change techniques recovers, measured over 8-16 seeds.",
            failure="plain",
            default_fix="batchnorm",
            module="demos.modalities",
            variants=MED_VARIANTS,
        ),
    ]
}


def _lab() -> DemoInfo:
    from .presets import PRESETS, SCENARIOS

    return DemoInfo(
        id="lab",
        title="Recipe lab: every technique on a 2D GAN",
        challenge="mode_collapse",
        summary="Build two recipes (the plain GAN plus any compatible technique options) and train them side by "
        "side; each technique demo is a preset: the plain GAN showing the failure its paper targets, beside the "
        "same GAN plus the technique.",
        failure="",
        default_fix="packing",
        module="demos.lab",
        variants={p.id: f"{p.id.replace('_', ' ')} ({SCENARIOS[p.scenario].title.lower()})" for p in PRESETS.values()},
    )


CATALOG["lab"] = _lab()


def demo_ids() -> list[str]:
    return list(CATALOG)


def as_json() -> list[dict]:
    return [
        {
            "id": d.id,
            "title": d.title,
            "challenge": d.challenge,
            "summary": d.summary,
            "failure": d.failure,
            "default_fix": d.default_fix,
            "variants": list(d.variants),
        }
        for d in CATALOG.values()
    ]
