"""Demo page: modality coverage on real clinical images (thin; the page is app_pages/med_page.py)."""
from app_pages.med_page import render
from demos import modalities

render(modalities, "modality",
       "Challenge: **mode collapse**. A small GAN learns 32×32 views of six imaging modalities (CT, MR, radiograph, "
       "ultrasound, histology, fundus photograph) from real DICOM files and microscopy. The failing GAN draws one or "
       "two modalities; pick a technique to train beside it on the same seeds. A modality classifier trained on the "
       "real images counts the modalities each generator draws. An honest negative result: at this size (what a "
       "2-core CPU trains in minutes) no technique yet draws every modality, not even with 4× the steps or "
       "conditioned on the modality; each shows its measured rate (docs/medical_gans.md).")
