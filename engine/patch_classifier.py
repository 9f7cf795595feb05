r"""A small CNN that tells the five patch modalities apart, and the metrics built on it.

Because every real patch's source image is known (:mod:`engine.patches`), a classifier trained on
real patches can assign each *generated* patch to a modality, and mode coverage becomes countable.
It has a sixth class, OTHER ("none of these"), trained on patches of ordinary scikit-image photos
and on smooth random fields (outlier exposure), so that blobs and noise are not forced into a
modality; and it is trained with a little blur and pixel noise, so that it judges structure, not
grain. Held-out accuracy on patches that share no pixel with the training patches:
``pretrained/patch_classifier.json`` (required >= 95 %).

A generated patch *counts* for modality k when the classifier's most likely class is k with
probability >= ``CONFIDENT`` and the patch has structure (finite, standard deviation >= the data's
``patches.MIN_STD``: a flat patch is background, as in the data set); ``hq_fraction`` is the share
of patches that count. On N patches:

* ``modes``: the modalities holding at least ``MIN_SHARE`` of the N patches (PacGAN counts a mode
  with a single sample; a classifier occasionally errs, so here a modality needs 2 %);
* ``reverse_kl``: KL(q || p) = sum_k q_k log(q_k / p_k) of the histogram q of counted patches
  against the real mixture p (uniform, p_k = 1/5): 0 when every modality is hit equally,
  log 5 = 1.61 when all fall on one, and log 5 when none counts;
* ``diversity``: intra-modality similarity, the mean pairwise SSIM of the counted patches of each
  covered modality, averaged over modalities. *Lower is more diverse*; a generator that repeats
  one patch scores near 1. Compare with the same statistic on real patches;
* ``frechet_classifier``: the Fréchet distance between Gaussians fitted to the classifier's 64-d
  penultimate features of the N generated and of 1,500 real training patches,
  ||mu_g - mu_r||^2 + tr(S_g + S_r - 2 (S_g S_r)^{1/2}). FID's formula in *this classifier's*
  feature space, not FID (no Inception network here): comparable only with itself.

SSIM (Wang et al. 2004) with a 7x7 uniform window, data range 2 (patches live in [-1, 1]):
SSIM(a, b) = mean over windows of (2 mu_a mu_b + C1)(2 s_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(s_a^2 + s_b^2 + C2)),
C1 = (0.01 * 2)^2, C2 = (0.03 * 2)^2.

    python -m engine.patch_classifier        # retrain; writes pretrained/patch_classifier.pt + .json
"""
from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from . import patches

ROOT = Path(__file__).resolve().parent.parent / "pretrained"
WEIGHTS = ROOT / "patch_classifier.pt"
REPORT = ROOT / "patch_classifier.json"
VERSION = "patch_classifier/2"
SIZES = (16,)
CONFIDENT = 0.5  # a generated patch counts for a modality only if the classifier is this sure
MIN_SHARE = 0.02  # a modality is covered if at least 2 % of the patches are high quality in it
SSIM_PATCHES = 48  # patches per modality for the pairwise SSIM (48 * 47 / 2 = 1128 pairs, capped at 1000)
REQUIRED_ACCURACY = 0.95
OTHER = len(patches.SOURCES)  # the sixth class: "none of these modalities"


class ClassifierError(RuntimeError):
    """The shipped classifier is missing, corrupt or from other code; the message says which."""


class PatchClassifier(nn.Module):
    """Four conv3x3-BN-ReLU layers (max-pool after the 2nd and 3rd), global average pool -> the
    64-d features, linear -> 6 logits: the five modalities and OTHER ("none of these").
    Fully convolutional: any patch size trains; weights ship for SIZES."""

    def __init__(self, k: int = len(patches.SOURCES) + 1, width: int = 16, channels: int = 1):
        super().__init__()

        def block(a: int, b: int) -> list[nn.Module]:
            return [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU()]

        w = width
        self.body = nn.Sequential(*block(channels, w), *block(w, w), nn.MaxPool2d(2), *block(w, 2 * w), nn.MaxPool2d(2),
                                  *block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4 * w, k)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Flips and quarter turns (a tissue patch has no preferred orientation), then, per patch, a
    little blur and pixel noise: generated patches are never as clean as the real ones, and the
    classifier must judge them by their structure, not by their noise (without this it called
    every slightly noisy dark patch histology, since only the IHC stain is grainy)."""
    if torch.rand(1, generator=g) < 0.5:
        x = x.flip(3)
    x = torch.rot90(x, int(torch.randint(4, (1,), generator=g)), (2, 3))
    n = x.shape[0]
    blur = torch.rand(n, 1, 1, 1, generator=g) < 0.3
    x = torch.where(blur, F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1), x)
    sigma = torch.rand(n, 1, 1, 1, generator=g) * 0.15 * (torch.rand(n, 1, 1, 1, generator=g) < 0.5)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(-1, 1)


def smooth_fields(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """Random blobs: white noise blurred at a random scale, random contrast and offset. What an
    untrained or struggling generator draws; they belong to no modality."""
    x = torch.randn(n, 1, size, size, generator=g)
    k = int(torch.randint(1, max(2, size // 4) + 1, (1,), generator=g)) * 2 + 1
    x = F.avg_pool2d(F.pad(x, (k // 2,) * 4, mode="reflect"), k, 1)
    x = x / x.flatten(1).std(1).clamp(min=1e-6).view(n, 1, 1, 1)
    a, b = torch.rand(n, 1, 1, 1, generator=g) * 0.9 + 0.1, torch.rand(n, 1, 1, 1, generator=g) * 1.6 - 0.8
    return (x * a + b).clamp(-1, 1)


def train_classifier(size: int, steps: int = 3000, batch: int = 120, seed: int = 0) -> tuple[PatchClassifier, dict]:
    """Train on the training split (uniform over modalities) plus OTHER patches (a sixth of each
    batch: half non-biomedical image patches, half smooth random fields); report held-out accuracy
    on the modalities (a held-out patch called OTHER counts as an error)."""
    torch.manual_seed(seed)
    ps, g = patches.build(size), torch.Generator().manual_seed(seed)
    other = patches.outliers(size)
    n_other = batch // 6
    net = PatchClassifier()
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    t0 = time.perf_counter()
    for _ in range(steps):
        x, y = ps.sample(batch - n_other, g)
        o = torch.cat([other[torch.randint(len(other), (n_other - n_other // 2,), generator=g)],
                       smooth_fields(n_other // 2, size, g)])
        x, y = torch.cat([x, o]), torch.cat([y, torch.full((n_other,), OTHER)])
        loss = F.cross_entropy(net(_augment(x, g)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    x, y = ps.split(train=False)
    with torch.no_grad():
        pred = torch.cat([net(c).argmax(1) for c in x.split(1024)])
    recall = [float((pred[y == k] == k).float().mean()) for k in range(len(patches.SOURCES))]
    report = {"size": size, "steps": steps, "held_out_patches": ps.counts(False), "train_patches": ps.counts(True),
              "other_patches": len(other), "accuracy": float((pred == y).float().mean()),
              "balanced_accuracy": float(np.mean(recall)), "recall": dict(zip(patches.MODALITIES, recall)),
              "held_out_called_other": float((pred == OTHER).float().mean()),
              "train_time_s": time.perf_counter() - t0}
    return net, report


def save_all(root: Optional[Path] = None) -> dict:
    """Train one classifier per patch size; write the weights and the accuracy report."""
    root = root or ROOT
    root.mkdir(parents=True, exist_ok=True)
    state, reports = {"version": VERSION, "modalities": list(patches.MODALITIES)}, {}
    for size in SIZES:
        net, reports[str(size)] = train_classifier(size)
        state[f"size{size}"] = {k: v.detach().clone() for k, v in net.state_dict().items()}
    torch.save(state, root / WEIGHTS.name)
    (root / REPORT.name).write_text(json.dumps({"version": VERSION, "required_accuracy": REQUIRED_ACCURACY,
                                               "sizes": reports}, indent=1))
    return reports


_cache: dict = {}


def load(size: int, path: Optional[Path] = None) -> PatchClassifier:
    """The shipped classifier for ``size``-px patches (weights_only=True: no pickled code)."""
    path = Path(path or WEIGHTS)
    key = (str(path), size)
    if key in _cache:
        return _cache[key]
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ClassifierError(f"{path.name}: missing; retrain it with python -m engine.patch_classifier") from None
    except Exception as e:  # a corrupt / truncated / foreign file
        raise ClassifierError(f"{path.name}: cannot be read as a weights file ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("version") != VERSION or f"size{size}" not in state:
        raise ClassifierError(f"{path.name}: not a {VERSION} file with {size}-px weights; "
                              "retrain it with python -m engine.patch_classifier")
    if state.get("modalities") != list(patches.MODALITIES):
        raise ClassifierError(f"{path.name}: trained on modalities {state.get('modalities')}, "
                              f"expected {list(patches.MODALITIES)}")
    net = PatchClassifier()
    try:
        net.load_state_dict(state[f"size{size}"])
    except (RuntimeError, TypeError) as e:
        raise ClassifierError(f"{path.name}: weights do not fit the network ({str(e)[:120]})") from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    _cache[key] = net
    return net


# ---- metrics ------------------------------------------------------------------------------------
def pairwise_ssim(x: torch.Tensor, max_pairs: int = 1000, win: int = 7) -> float:
    """Mean SSIM over (up to ``max_pairs``, evenly spread) distinct pairs of patches x (N, 1, P, P)."""
    n = x.shape[0]
    if n < 2:
        return float("nan")
    i, j = torch.triu_indices(n, n, 1)
    if len(i) > max_pairs:
        keep = torch.linspace(0, len(i) - 1, max_pairs).long()
        i, j = i[keep], j[keep]
    a, b = x[i].double(), x[j].double()
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    pool = lambda t: F.avg_pool2d(t, win, 1)  # noqa: E731
    ma, mb = pool(a), pool(b)
    va, vb, cov = pool(a * a) - ma**2, pool(b * b) - mb**2, pool(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    return float(s.mean())


def frechet(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^{1/2}); tr (S_a S_b)^{1/2} is the sum of the
    square roots of the eigenvalues of the symmetric PSD matrix S_a^{1/2} S_b S_a^{1/2}."""
    (ma, sa), (mb, sb) = a, b
    w, v = np.linalg.eigh(sa)
    ra = (v * np.sqrt(w.clip(min=0))) @ v.T
    tr = np.sqrt(np.linalg.eigvalsh(ra @ sb @ ra).clip(min=0)).sum()
    return float(((ma - mb) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * tr)


def gaussian(feats: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    f = feats.double().numpy()
    return f.mean(0), np.cov(f, rowvar=False)


class Judge:
    """Scores batches of generated patches against the real training patches of one size.

    A generated patch *counts* for modality k (is "high quality") when the classifier's most likely
    class is k, with probability >= CONFIDENT, rather than OTHER: the image analogue of the 2D
    demos' "within 3 sigma of a mode". Blobs and noise go to OTHER and count for nothing.
    """

    def __init__(self, size: int, path: Optional[Path] = None, reference: int = 1500, device: str = "cpu"):
        # a copy per device: the cached CPU network stays on the CPU whatever a GPU run does
        net = load(size, path)
        self.net = net if str(device) == "cpu" else copy.deepcopy(net).to(device)
        self.size, self.device = size, torch.device(device)
        x, _ = patches.build(size).sample(reference, torch.Generator().manual_seed(1234))
        self.real_gauss = gaussian(self._features(x)[2])

    @torch.no_grad()
    def _features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = torch.nan_to_num(x.float().to(self.device), 0.0).clamp(-1, 1)
        f = torch.cat([self.net.features(c) for c in x.split(512)])
        p, k = self.net.head(f).softmax(1).max(1)
        return k.cpu(), p.cpu(), f.cpu()

    @torch.no_grad()
    def score(self, x: torch.Tensor) -> dict:
        """Metrics of one seed's patches x (N, 1, P, P); see the module docstring."""
        n, kk = x.shape[0], len(patches.SOURCES)
        k, p, f = self._features(x)
        xs = torch.nan_to_num(x.float().cpu(), 0.0).clamp(-1, 1)
        # A NaN patch (diverged generator) is no image, and a flat one has no structure: the data
        # set drops such patches as background (patches.MIN_STD), so no modality can claim them.
        structured = torch.isfinite(x.float().cpu()).flatten(1).all(1) & (xs.flatten(1).std(1) >= patches.MIN_STD)
        hq = (k < kk) & (p >= CONFIDENT) & structured
        counts = torch.bincount(k[hq], minlength=kk + 1)[:kk].float()
        q = counts / counts.sum().clamp(min=1)
        rkl = float(torch.where(q > 0, q * torch.log(q * kk), torch.zeros_like(q)).sum()) if hq.any() else math.log(kk)
        covered = counts >= MIN_SHARE * n
        ssim = [pairwise_ssim(xs[hq & (k == m)][:SSIM_PATCHES]) for m in range(kk) if covered[m]]
        return {"modes": int(covered.sum()), "reverse_kl": rkl, "hq_fraction": float(hq.float().mean()),
                "diversity": float(np.mean(ssim)) if ssim else float("nan"),
                "frechet_classifier": frechet(gaussian(f), self.real_gauss),
                "histogram": counts.int().tolist()}


_judges: dict = {}


def judge(size: int, device: str | torch.device = "cpu") -> Judge:
    """The process-wide judge for ``size``-px patches on ``device`` (built once: ~1 s)."""
    key = (size, str(device))
    if key not in _judges:
        _judges[key] = Judge(size, device=str(device))
    return _judges[key]


if __name__ == "__main__":
    torch.set_num_threads(1)
    for size, r in save_all().items():
        print(f"{size}px: held-out accuracy {r['accuracy']:.4f}, balanced {r['balanced_accuracy']:.4f}, "
              f"recall {r['recall']}, {r['train_time_s']:.0f} s")
