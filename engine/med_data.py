r"""Real medical images that ship inside installed packages, as two labelled 32 x 32 image sets.

Nothing is downloaded: every image is a file of an installed wheel, read from disk (nilearn's
loader below is the bundled-template one, which needs no network; ``tests/test_med_data.py`` builds
both sets with sockets blocked). Sources, licences and citations: :data:`SOURCES` (shown on the
pages) and docs/medical_data.md.

**Brain MRI (anatomy coverage).** The MNI ICBM152 2009a nonlinear symmetric T1 template (1 mm,
skull-stripped) that nilearn ships (``load_mni152_template``). Axial slices at seven anatomical
levels, voxel z = 40, 56, ..., 136 (MNI z = -32 .. +64 mm, 16 mm apart), each level a band of 7
slices (z - 3 .. z + 3): cerebellum, midbrain and temporal lobes, basal ganglia and third ventricle,
lateral ventricles, corona radiata, centrum semiovale, high convexity. Slices z-2 and z+1 of each band are held out (the classifier's
test set); the other five are for training. Each slice is cropped to the brain's bounding square,
resized to 32 x 32 and augmented (shift by up to 2 pixels, left-right flip, intensity gain
0.85..1.15): a GAN sees a few hundred views per level, not seven pictures. Neighbouring slices are
1 mm apart and alike, so held-out accuracy says the classifier knows these levels, not that it
generalises to other brains.

**Modalities.** Six modalities, grey ones as three equal channels:
CT (a head CT at a brain window, a small thoracic CT at a bone window), MR (a shoulder, an abdomen),
radiograph (a chest, a leg: computed radiography), ultrasound (a colour-Doppler lymph node, a grey
B-mode pelvis, a colour-Doppler vessel), histology (scikit-image's immunohistochemistry, colour)
and fundus (scikit-image's retina, colour). Per modality, random square views (side a share
``lo..hi`` of the image's region of interest, which leaves out burnt-in text) resized to 32 x 32,
with the same intensity gain. Training and held-out views are drawn from separate random streams
of the same images (there is one or two images per modality), so the held-out accuracy measures
recognition of new views of these images, which is what a judge of a GAN trained on them needs.

Arrays are built on first use (a few seconds) and cached under ``.cache/med/`` keyed by
:data:`VERSION`; delete the folder to rebuild.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .patches import PatchSet

VERSION = "med_data/1"
SIZE = 32
CACHE = Path(os.environ.get("GAN_CLINIC_CACHE_MED", Path(__file__).resolve().parent.parent / ".cache" / "med"))


@dataclass(frozen=True)
class Source:
    package: str  # the installed package whose file it is
    file: str
    what: str
    licence: str
    citation: str


MNI = Source("nilearn", "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
             "MNI ICBM152 2009a nonlinear symmetric T1 template, 1 mm, skull-stripped (nilearn's converted copy)",
             "permissive: use, copy, modify and distribute without fee, with the notice 'Copyright (C) 1993-2004 Louis "
             "Collins, McConnell Brain Imaging Centre, Montreal Neurological Institute, McGill University' "
             "(full text in docs/medical_data.md; nilearn's own description says 'License: unknown')",
             "Fonov et al., NeuroImage 54 (2011) 313-327; Fonov et al., NeuroImage 47 (2009) S102")
# MNI z (mm) = voxel z - 72: -32, -16, 0, 16, 32, 48, 64 mm
LEVELS = ("cerebellum", "midbrain & temporal lobes", "basal ganglia & third ventricle", "lateral ventricles",
          "corona radiata", "centrum semiovale", "high convexity")
LEVEL_Z = tuple(40 + 16 * i for i in range(len(LEVELS)))  # voxel index of each level's central axial slice
HELD_OUT_OFFSETS = (-2, 1)
BAND = range(-3, 4)

_PYDICOM = "pydicom-data (MIT); pydicom's test-file README: no known restriction on their use; NEMA WG04 sample"
MODALITY_SOURCES: dict[str, tuple[Source, ...]] = {
    "ct": (Source("pydicom-data", "data/693_UNCR.dcm", "axial head CT (brain window 40/100 HU)", _PYDICOM,
                  "pydicom test files, issue #693 regression set"),
           Source("pydicom", "data/test_files/CT_small.dcm", "axial thoracic CT, 128 x 128 (bone window)",
                  "pydicom (MIT); downsized from NEMA WG04 'CT1_UNC'", "NEMA DICOM WG04 sample images")),
    "mr": (Source("pydicom-data", "data/MR2_UNCR.dcm", "shoulder MR", _PYDICOM, "NEMA DICOM WG04 'MR2'"),
           Source("pydicom-data", "data/MR-SIEMENS-DICOM-WithOverlays.dcm", "abdominal MR (liver)",
                  "GDCM sample, BSD-3-Clause (notice in docs/medical_data.md)", "GDCM test data (M. Malaterre)")),
    "radiograph": (Source("pydicom-data", "data/RG1_UNCR.dcm", "chest radiograph (CR)", _PYDICOM,
                          "NEMA DICOM WG04 'RG1'"),
                   Source("pydicom-data", "data/RG3_UNCR.dcm", "leg radiograph (CR)", _PYDICOM,
                          "NEMA DICOM WG04 'RG3'")),
    "ultrasound": (Source("pydicom-data", "data/US1_UNCR.dcm", "colour-Doppler ultrasound, lymph node",
                          _PYDICOM, "NEMA DICOM WG04 'US1'"),
                   Source("pydicom-data", "data/gdcm-US-ALOKA-16.dcm", "B-mode ultrasound, pelvis",
                          "GDCM sample, BSD-3-Clause (notice in docs/medical_data.md)", "GDCM test data (M. Malaterre)"),
                   Source("pydicom-data", "data/color-px.dcm", "colour-Doppler echo, vessel",
                          "pydicom-data (MIT); pydicom test file", "pydicom test files")),
    "histology": (Source("scikit-image", "data/ihc.png", "colonic glands, IHC (DAB) with hematoxylin",
                         "no known copyright restrictions", "Center for Microscopy and Molecular Imaging (CMMI)"),),
    "fundus": (Source("scikit-image", "data/retina.jpg", "colour fundus photograph of a normal left eye", "CC0 1.0",
                      "M. Häggström, Wikimedia Commons"),),
}
MODALITIES = tuple(MODALITY_SOURCES)
MODALITY_LABELS = {"ct": "CT", "mr": "MR", "radiograph": "Radiograph (CR)", "ultrasound": "Ultrasound",
                   "histology": "Histology (IHC)", "fundus": "Fundus photograph"}
# region of interest (row0, row1, col0, col1) as shares of the image, and the view side range, per file
VIEWS: dict[str, tuple[tuple[float, float, float, float], float, float]] = {
    "693_UNCR.dcm": ((0.05, 0.95, 0.1, 0.9), 0.75, 1.0),
    "CT_small.dcm": ((0.0, 1.0, 0.0, 1.0), 0.7, 1.0),
    "MR2_UNCR.dcm": ((0.0, 1.0, 0.0, 1.0), 0.6, 1.0),
    "MR-SIEMENS-DICOM-WithOverlays.dcm": ((0.15, 0.85, 0.05, 0.95), 0.6, 1.0),
    "RG1_UNCR.dcm": ((0.0, 1.0, 0.0, 1.0), 0.7, 1.0),
    "RG3_UNCR.dcm": ((0.0, 1.0, 0.2, 0.8), 0.5, 1.0),
    "US1_UNCR.dcm": ((0.3, 0.8, 0.3, 0.75), 0.6, 1.0),
    "gdcm-US-ALOKA-16.dcm": ((0.2, 0.85, 0.08, 0.48), 0.6, 1.0),
    "color-px.dcm": ((0.05, 0.95, 0.25, 0.75), 0.7, 1.0),
    "ihc.png": ((0.0, 1.0, 0.0, 1.0), 0.25, 0.5),
    "retina.jpg": ((0.06, 0.94, 0.06, 0.94), 0.85, 1.0),
}


def package_dir(package: str) -> Path:
    mod = {"nilearn": "nilearn", "pydicom": "pydicom", "pydicom-data": "data_store", "scikit-image": "skimage"}[package]
    import importlib

    return Path(importlib.import_module(mod).__file__).resolve().parent


def source_path(src: Source) -> Path:
    return package_dir(src.package) / src.file


# ---- reading -------------------------------------------------------------------------------------
def mni_volume() -> np.ndarray:
    """The bundled T1 template as float32 in [0, 1], (x, y, z) = (197, 233, 189)."""
    from nilearn.datasets import load_mni152_template

    return np.asarray(load_mni152_template(resolution=1).get_fdata(), np.float32)


def _unit(a: np.ndarray, lo_q: float = 1, hi_q: float = 99) -> np.ndarray:
    lo, hi = np.percentile(a, [lo_q, hi_q])
    return np.clip((a - lo) / max(hi - lo, 1e-6), 0, 1)


def read_dicom(path: Path) -> np.ndarray:
    """A DICOM file's (first or middle) frame as RGB float32 in [0, 1]. Modality LUT (HU for CT),
    then the windowing a radiologist would use (CT: brain 40/100 HU when the image is a head, else the
    file's own window or the 1st..99th percentile); MONOCHROME1 (radiographs) inverted so bone is
    white; palette and YBR colour converted to RGB."""
    import pydicom
    from pydicom.pixels import apply_color_lut, apply_modality_lut, convert_color_space

    d = pydicom.dcmread(path)
    a = d.pixel_array
    pi = d.PhotometricInterpretation
    frames = int(d.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        a = a[frames // 2]
    if pi == "PALETTE COLOR":
        a = apply_color_lut(a, d)
    elif pi.startswith("YBR"):
        a = convert_color_space(a, pi, "RGB")
    if a.ndim == 3:
        return (a.astype(np.float32) / float(np.iinfo(a.dtype).max if a.dtype.kind == "u" else a.max())).clip(0, 1)
    a = apply_modality_lut(a, d).astype(np.float32)
    if d.get("Modality") == "CT" and path.name.startswith("693"):
        a = np.clip((a - (40 - 50)) / 100, 0, 1)  # brain window: centre 40 HU, width 100 HU
    else:
        a = _unit(a, 0.5, 99.5)
    if pi == "MONOCHROME1":
        a = 1 - a
    return np.repeat(a[..., None], 3, axis=2)


def read_skimage(name: str) -> np.ndarray:
    import skimage.data

    a = {"ihc.png": skimage.data.immunohistochemistry, "retina.jpg": skimage.data.retina}[name]()
    return (a.astype(np.float32) / 255.0)[..., :3]


def read_source(src: Source) -> np.ndarray:
    return read_skimage(Path(src.file).name) if src.package == "scikit-image" else read_dicom(source_path(src))


# ---- views ---------------------------------------------------------------------------------------
def _resize(a: np.ndarray, side: int) -> np.ndarray:
    from skimage.transform import resize

    return resize(a, (side, side) + a.shape[2:], anti_aliasing=True, preserve_range=True).astype(np.float32)


def _gain(x: np.ndarray, g: np.random.Generator) -> np.ndarray:
    """Intensity gain 0.85..1.15 about the image's mean (a scanner's or a stain's brightness)."""
    m = x.mean()
    return np.clip(m + (x - m) * g.uniform(0.85, 1.15), 0, 1)


def views_of(name: str, a: np.ndarray, n: int, g: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """n random square views (n, 3, size, size) of image ``a`` (file ``name``): side a share
    lo..hi of the region of interest's shorter side, placed uniformly inside it."""
    (r0, r1, c0, c1), lo, hi = VIEWS[name]
    h, w = a.shape[:2]
    roi = a[int(r0 * h):int(r1 * h), int(c0 * w):int(c1 * w)]
    rh, rw = roi.shape[:2]
    shrink = min(1.0, 2 * size / (lo * min(rh, rw)))  # the smallest view still has 2x the pixels it needs
    if shrink < 1:
        from skimage.transform import rescale

        roi = rescale(roi, shrink, anti_aliasing=True, channel_axis=2).astype(np.float32)
        rh, rw = roi.shape[:2]
    out = np.empty((n, 3, size, size), np.float32)
    for i in range(n):
        side = int(g.uniform(lo, hi) * min(rh, rw))
        r, c = g.integers(0, rh - side + 1), g.integers(0, rw - side + 1)
        out[i] = _gain(_resize(roi[r:r + side, c:c + side], size), g).transpose(2, 0, 1)
    return out


def brain_slice(vol: np.ndarray, z: int, size: int = SIZE, pad: int = 2) -> np.ndarray:
    """Axial slice z, nose up, cropped to the brain's bounding square (+ ``pad`` pixels at ``size``)."""
    xs, ys = np.nonzero(vol.max(2) > 0.05)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    half = side // 2 + round(pad * side / size)
    s = np.zeros((2 * half, 2 * half), np.float32)
    src = vol[max(cx - half, 0):cx + half, max(cy - half, 0):cy + half, z]
    s[max(half - cx, 0):max(half - cx, 0) + src.shape[0], max(half - cy, 0):max(half - cy, 0) + src.shape[1]] = src
    return _resize(np.rot90(s), size)


def brain_views(s: np.ndarray, n: int, g: np.random.Generator) -> np.ndarray:
    """n augmented copies (n, 1, P, P) of slice s: shift by up to 2 px (zero fill), flip, gain."""
    p = s.shape[0]
    padded = np.pad(s, 2)
    out = np.empty((n, 1, p, p), np.float32)
    for i in range(n):
        r, c = g.integers(0, 5, 2)
        v = padded[r:r + p, c:c + p]
        out[i, 0] = _gain(v[:, ::-1] if g.random() < 0.5 else v, g)
    return out


# ---- the two sets ----------------------------------------------------------------------------------
def _assemble(parts: list[tuple[np.ndarray, int, bool]], classes: int) -> PatchSet:
    x = torch.from_numpy(np.concatenate([p for p, _, _ in parts])) * 2 - 1
    y = torch.cat([torch.full((len(p),), k) for p, k, _ in parts]).long()
    tr = torch.cat([torch.full((len(p),), t) for p, _, t in parts]).bool()
    return PatchSet(x.float().clamp(-1, 1), y, tr, x.shape[-1], classes)


def _build_brain(per_slice: int = 48, held_per_slice: int = 40) -> PatchSet:
    vol, g = mni_volume(), np.random.default_rng(0)
    parts = []
    for k, z in enumerate(LEVEL_Z):
        for dz in BAND:
            held = dz in HELD_OUT_OFFSETS
            parts.append((brain_views(brain_slice(vol, z + dz), held_per_slice if held else per_slice, g), k, not held))
    return _assemble(parts, len(LEVELS))


def _build_modalities(train: int = 300, held: int = 80) -> PatchSet:
    parts = []
    for k, m in enumerate(MODALITIES):
        srcs = MODALITY_SOURCES[m]
        for j, src in enumerate(srcs):
            a, name = read_source(src), Path(src.file).name
            for is_train, n, stream in ((True, train, 0), (False, held, 1)):
                g = np.random.default_rng([k, j, stream])
                parts.append((views_of(name, a, n // len(srcs) + (j < n % len(srcs)), g), k, is_train))
    return _assemble(parts, len(MODALITIES))


BUILDERS: dict[str, Callable[[], PatchSet]] = {"brain": _build_brain, "modality": _build_modalities}
CLASSES = {"brain": LEVELS, "modality": tuple(MODALITY_LABELS[m] for m in MODALITIES)}
CHANNELS = {"brain": 1, "modality": 3}


@functools.lru_cache(maxsize=4)
def build(kind: str) -> PatchSet:
    """The ``kind`` ("brain" or "modality") image set, from the cache or built and cached."""
    if kind not in BUILDERS:
        raise ValueError(f"unknown image set {kind!r}; expected one of {', '.join(BUILDERS)}")
    path = CACHE / f"{kind}_{SIZE}_{VERSION.replace('/', '_')}.npz"
    try:
        with np.load(path) as f:
            return PatchSet(torch.from_numpy(f["x"]), torch.from_numpy(f["y"]), torch.from_numpy(f["train"]), SIZE,
                            int(f["classes"]))
    except (OSError, KeyError, ValueError):
        pass  # missing or unreadable: rebuild
    ps = BUILDERS[kind]()
    path.parent.mkdir(parents=True, exist_ok=True)
    # a name of this process's own: two trainers building the set at once (two pages opened on a fresh
    # server, a sweep's tasks) each write their own file, and each atomic rename leaves a whole one
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, x=ps.x.numpy(), y=ps.y.numpy(), train=ps.train.numpy(), classes=ps.classes)
    tmp.replace(path)
    return ps
