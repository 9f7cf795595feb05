"""Modality coverage: a GAN on 32 x 32 colour views of six modalities (CT, MR, radiograph, ultrasound,
histology, fundus photograph) should draw them all; the failing one draws one or two.

Data: engine/med_data.py (DICOM files of pydicom and pydicom-data, scikit-image's images; no download);
judge: a modality classifier (engine/med_classifier.py, held-out accuracy in pretrained/med_classifier.json).
The GAN, the variants (each one change to a DCGAN without normalisation) and the claims are
demos/med_gan.py's; measured rates: docs/medical_gans.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from . import med_gan
from .med_gan import CODE_VERSION, FAILURE, Config, success  # noqa: F401 (the demo contract)

DEMO_ID, KIND = "modalities", "modality"
VARIANTS = {v: label for v, (label, _) in med_gan.VARIANTS.items()}


def run(cfg: Config, variants: list[str], seeds: int = 4, on_event=None, should_stop=None,
        save_samples: Optional[Path] = None, threads: Optional[int] = None) -> dict:
    return med_gan.run(KIND, DEMO_ID, cfg, variants, seeds, on_event, should_stop, save_samples, threads)
