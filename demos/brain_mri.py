"""Anatomy coverage on brain MRI: a GAN on 32 x 32 axial slices of the MNI152 T1 template should draw
all seven anatomical levels (cerebellum ... high convexity); the failing one draws a few.

Data: engine/med_data.py (nilearn's bundled template, no download); judge: a level classifier
trained on real slices (engine/med_classifier.py, held-out accuracy in pretrained/med_classifier.json).
The GAN, the variants (each one change to a DCGAN without normalisation) and the claims are
demos/med_gan.py's; measured rates: docs/medical_gans.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from . import med_gan
from .med_gan import CODE_VERSION, FAILURE, Config, success  # noqa: F401 (the demo contract)

DEMO_ID, KIND = "brain_mri", "brain"
VARIANTS = {v: label for v, (label, _) in med_gan.VARIANTS.items()}


def run(cfg: Config, variants: list[str], seeds: int = 4, on_event=None, should_stop=None,
        save_samples: Optional[Path] = None, threads: Optional[int] = None) -> dict:
    return med_gan.run(KIND, DEMO_ID, cfg, variants, seeds, on_event, should_stop, save_samples, threads)
