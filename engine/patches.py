"""Grayscale patches of real biomedical images that ship inside scikit-image: one modality per image.

Nothing is downloaded: every image below is a file of the installed ``skimage/data`` folder, read by
its ``skimage.data`` loader. Sources, what they show, and their licences (from the loaders' own
documentation, scikit-image 0.26):

=====================  =========================================================  ===================
modality (id)          image                                                      licence
=====================  =========================================================  ===================
histology (``ihc``)    ``immunohistochemistry``: colonic glands, IHC staining of  "No known copyright
                       FHL2 (DAB) with hematoxylin counterstain; Center for       restrictions"
                       Microscopy And Molecular Imaging (CMMI)
fundus (``fundus``)    ``retina``: colour fundus photograph of a normal left eye  CC0 1.0
                       (M. Häggström, Wikimedia Commons)
microscopy (``cell``)  ``cell``: quantitative phase image of a cell in saline     CC0
                       from a digital hologram (Müller et al. 2018)
retinal detail         ``microaneurysms``: green channel of a fundus image with   CC0 (owner
(``microaneurysms``)   microaneurysms, crop of HRF image 07_dr (Budai et al.      A. Maier)
                       2013)
CT phantom             ``shepp_logan_phantom``: the Shepp-Logan head phantom      synthetic; public
(``phantom``)          (Shepp & Logan 1974)                                       domain formula
=====================  =========================================================  ===================

How patches are made, per image:

1. grayscale in [0, 1] (RGB -> luminance), then rescaled by the source's ``scale`` so that a patch
   shows a recognisable piece of structure (a gland, a vessel, the cell's edge, an ellipse);
2. *foreground only*: for the fundus photograph and the phantom, the black surround is masked
   out (threshold, holes filled, eroded) and a patch is kept only if it lies wholly inside;
3. intensity normalisation per source: the foreground's 1st..99th percentile is mapped to [-1, 1]
   (the generator's tanh range), values beyond are clipped;
4. patches of ``size`` x ``size`` pixels on a grid of ``stride`` pixels, split by *tiles*: one
   2·size-pixel tile in five (:func:`held_out_mask`) is held out, a held-out patch lies inside a
   held-out tile and a training patch touches none, so no held-out patch shares a pixel with a
   training patch and the classifier's held-out accuracy is not inflated by overlap.

The GAN's target is the uniform mixture of the modalities (:meth:`PatchSet.sample` picks the
modality first), so its modality histogram is compared with the uniform one.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Source:
    id: str
    label: str  # modality, as shown to the class
    loader: str  # function of skimage.data
    scale: float  # rescale factor before cutting patches (at 32 px; proportionally at other sizes)
    stride: int  # grid step between patches (pixels, at 32 px)
    masked: bool  # black surround to skip
    credit: str
    licence: str
    crop: tuple = ()  # (row0, row1, col0, col1) of the original image to keep; () = all of it


SOURCES: tuple[Source, ...] = (
    Source("ihc", "Histology (IHC)", "immunohistochemistry", 0.5, 4, False,
           "colonic glands, FHL2 IHC with hematoxylin; CMMI", "no known copyright restrictions"),
    Source("fundus", "Fundus photograph", "retina", 0.25, 4, True,
           "normal left eye; M. Häggström, Wikimedia Commons", "CC0 1.0"),
    Source("cell", "Phase microscopy", "cell", 0.5, 2, False,
           "quantitative phase image of a cell; Müller et al. 2018", "CC0", crop=(240, 520, 290, 550)),
    Source("microaneurysms", "Retinal detail (HRF)", "microaneurysms", 1.0, 2, False,
           "fundus green channel, HRF 07_dr crop; Budai et al. 2013", "CC0 (A. Maier)"),
    Source("phantom", "CT head phantom", "shepp_logan_phantom", 0.5, 2, True,
           "Shepp-Logan phantom; Shepp & Logan 1974", "synthetic (public-domain formula)"),
)
MODALITIES = tuple(s.id for s in SOURCES)
LABELS = {s.id: s.label for s in SOURCES}
# A patch this flat (sd in [-1, 1] units) shows no structure: empty saline, the phantom's uniform
# interior, a vessel-free stretch of fundus. Such patches are alike in every modality, so they are
# background too: nobody, classifier or person, could say where they came from.
MIN_STD = 0.05


@functools.lru_cache(maxsize=None)
def image(source_id: str, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(grayscale image in [0, 1], foreground mask) of one source, rescaled for ``size``-px patches."""
    import skimage.data
    from scipy import ndimage as ndi
    from skimage.color import rgb2gray
    from skimage.transform import rescale

    src = next(s for s in SOURCES if s.id == source_id)
    a = getattr(skimage.data, src.loader)()
    a = rgb2gray(a) if a.ndim == 3 else a.astype(np.float64) / (255.0 if a.dtype == np.uint8 else 1.0)
    if src.crop:
        a = a[src.crop[0]:src.crop[1], src.crop[2]:src.crop[3]]
    scale = src.scale * size / 32
    if scale != 1:
        a = rescale(a, scale, anti_aliasing=scale < 1)
    if src.masked:  # the surround is black; the object inside may have black parts (phantom ventricles)
        mask = ndi.binary_erosion(ndi.binary_fill_holes(a > 0.06), iterations=2)
    else:
        mask = np.ones(a.shape, bool)
    return a.astype(np.float32), mask


def held_out_mask(shape: tuple[int, int], size: int) -> np.ndarray:
    """Square tiles of 2 x size pixels; one tile in five, on a diagonal pattern ((i + 2j) mod 5 = 0),
    is held out. Spread over the image, so every kind of structure (the single cell, the optic
    disc...) is partly in both splits."""
    t = 2 * size
    i, j = np.indices(shape) // t
    return (i + 2 * j) % 5 == 0


def _cut(a: np.ndarray, inside: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Every size x size patch on a ``stride`` grid whose window is all True in ``inside`` and
    that has structure (standard deviation >= MIN_STD)."""
    ok = np.lib.stride_tricks.sliding_window_view(inside, (size, size)).all(axis=(2, 3))
    win = np.lib.stride_tricks.sliding_window_view(a, (size, size))
    r, c = np.nonzero(ok[::stride, ::stride])
    p = np.ascontiguousarray(win[r * stride, c * stride]) if len(r) else np.zeros((0, size, size), np.float32)
    return p[p.std(axis=(1, 2)) >= MIN_STD]


@dataclass(frozen=True)
class PatchSet:
    """Patches (N, C, size, size) in [-1, 1] with their class (modality) index; ``train`` marks the
    split; ``classes``: how many classes (other image sets, e.g. engine/med_data.py, reuse this)."""

    x: torch.Tensor
    y: torch.Tensor
    train: torch.Tensor
    size: int
    classes: int = len(SOURCES)

    def split(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.train if train else ~self.train
        return self.x[m], self.y[m]

    def counts(self, train: bool = True) -> list[int]:
        return torch.bincount(self.split(train)[1], minlength=self.classes).tolist()

    @functools.cached_property
    def _by_modality(self) -> dict[bool, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per split: patches sorted by modality, each modality's first index and its count."""
        out = {}
        for train in (True, False):
            x, y = self.split(train)
            order = torch.argsort(y, stable=True)
            counts = torch.bincount(y, minlength=self.classes)
            out[train] = (x[order], torch.cumsum(counts, 0) - counts, counts)
        return out

    def sample(self, n: int, generator: torch.Generator, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """n patches of the uniform mixture: a class uniformly, then a patch of it uniformly."""
        x, starts, counts = self._by_modality[train]
        k = torch.randint(self.classes, (n,), generator=generator)
        idx = starts[k] + (torch.rand(n, generator=generator) * counts[k]).long()
        return x[idx], k


# Not biomedical: the classifier's "none of these" examples (outlier exposure, Hendrycks et al.
# 2019), so that a blurry or textured generated patch is not forced into some modality.
OUTLIER_IMAGES = ("camera", "astronaut", "brick", "grass", "gravel", "coins", "moon", "coffee", "chelsea",
                  "rocket", "page", "text", "clock", "hubble_deep_field")


@functools.lru_cache(maxsize=2)
def outliers(size: int = 32, per_image: int = 300) -> torch.Tensor:
    """Patches of ordinary (non-biomedical) skimage images, normalised like the modalities."""
    import skimage.data
    from skimage.color import rgb2gray
    from skimage.transform import rescale

    g, out = np.random.default_rng(0), []
    for name in OUTLIER_IMAGES:
        a = getattr(skimage.data, name)()
        a = rgb2gray(a) if a.ndim == 3 else a.astype(np.float64) / 255.0
        for scale in (0.25, 0.5):
            b = rescale(a, scale * size / 32, anti_aliasing=True)
            lo, hi = np.percentile(b, [1, 99])
            b = np.clip((b - lo) / max(hi - lo, 1e-6) * 2 - 1, -1, 1)
            p = _cut(b, np.ones(b.shape, bool), size, max(1, size // 4))
            out.append(p[g.permutation(len(p))[: per_image // 2]])
    return torch.from_numpy(np.concatenate(out)).float().unsqueeze(1)


@functools.lru_cache(maxsize=4)
def build(size: int = 32) -> PatchSet:
    """The patch set for ``size``-px patches (built once per process, ~1 s)."""
    xs, ys, tr = [], [], []
    for k, src in enumerate(SOURCES):
        a, mask = image(src.id, size)
        fg = a[mask]
        lo, hi = np.percentile(fg, [1, 99])
        a = np.clip((a - lo) / max(hi - lo, 1e-6) * 2 - 1, -1, 1)
        stride = max(1, round(src.stride * size / 32))
        held = held_out_mask(a.shape, size)
        for is_train, inside in ((True, mask & ~held), (False, mask & held)):
            p = _cut(a, inside, size, stride)
            xs.append(p)
            ys.append(np.full(len(p), k))
            tr.append(np.full(len(p), is_train))
    x = torch.from_numpy(np.concatenate(xs)).float().unsqueeze(1)
    return PatchSet(x, torch.from_numpy(np.concatenate(ys)).long(), torch.from_numpy(np.concatenate(tr)), size)
