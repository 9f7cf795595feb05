"""Demo page: anatomy coverage on brain MRI (thin; the page is app_pages/med_page.py)."""
from app_pages.med_page import render
from demos import brain_mri

render(brain_mri, "level",
       "Challenge: **mode collapse**. A small GAN learns 32×32 axial slices of the MNI152 brain template at seven "
       "anatomical levels, from the cerebellum to the high convexity. The failing GAN draws only a few levels; pick a "
       "technique to train beside it on the same seeds. A level classifier trained on the real slices counts the "
       "levels each generator draws.")
