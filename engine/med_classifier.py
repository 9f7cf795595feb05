r"""Judges for the medical image sets (:mod:`engine.med_data`): a small CNN per set that names an
image's class (brain level or modality), and the metrics built on it.

The classifier is :class:`engine.patch_classifier.PatchClassifier` (four conv3x3-BN-ReLU layers,
global average pool -> 64-d features -> K + 1 logits) with one extra class, OTHER ("none of
these"), trained on smooth random fields and on patches of ordinary scikit-image photographs
(outlier exposure, Hendrycks et al. 2019), so that a blob is not forced into a class. Trained with a
little blur and pixel noise so that it judges structure, not grain. Held-out accuracy:
``pretrained/med_classifier.json`` (required >= 95 %).

Metrics of N generated images x against the real training images (:meth:`Judge.score`):

* a generated image is *recognised* as class k when the classifier's most likely class is k (not
  OTHER) with probability >= ``CONFIDENT`` and the image has structure (finite, sd >= 0.05);
* ``classes``: the classes holding at least ``MIN_SHARE`` of the N images (recognised);
* ``reverse_kl``: KL(q || u) of the recognised images' class histogram q against the uniform
  target u, sum_k q_k log(q_k K) (log K when nothing is recognised);
* ``frechet``: ||mu_g - mu_r||^2 + tr(S_g + S_r - 2 (S_g S_r)^{1/2}) between Gaussians fitted to
  the classifier's 64-d features of the N generated and ``reference`` real images: FID's formula in
  *our classifier's* feature space (no Inception network is downloaded), comparable only with itself;
* ``precision`` / ``recall`` (Kynkäänniemi et al. 2019, "Improved precision and recall"): with
  features Phi_r of real and Phi_g of generated images (equal numbers), the real manifold is the
  union of balls B(phi, d_k(phi)) around each real phi, d_k = distance to its k-th nearest real
  neighbour (k = 3, as the paper). precision = share of generated phi inside the real manifold;
  recall = share of real phi inside the generated manifold (built the same way). Precision is
  fidelity, recall is coverage;
* ``ms_ssim``: diversity as Odena et al. (2017) measure it, the mean MS-SSIM over pairs of images
  of the same class (here: the same recognised class), averaged over covered classes; *lower is
  more diverse*; a generator that repeats itself scores near 1. Compare with the real images' own
  value (:func:`Judge.real_reference`). MS-SSIM (Wang et al. 2003) on luminance at 32 px uses three
  scales (32, 16, 8) with a 5x5 uniform window: MS-SSIM = l_M^{w_M} prod_j cs_j^{w_j}, weights
  Wang et al.'s first three (0.0448, 0.2856, 0.3001) renormalised to sum 1; negative cs are
  clipped at 0.

    python -m engine.med_classifier        # retrain both; writes pretrained/med_classifier.pt + .json
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from . import med_data, patches
from .patch_classifier import ClassifierError, PatchClassifier, frechet, gaussian, smooth_fields

ROOT = Path(__file__).resolve().parent.parent / "pretrained"
WEIGHTS = ROOT / "med_classifier.pt"
REPORT = ROOT / "med_classifier.json"
VERSION = f"med_classifier/1+{med_data.VERSION}"
CONFIDENT = 0.5
MIN_SHARE = 0.02
REQUIRED_ACCURACY = 0.95
K_NN = 3  # Kynkäänniemi et al.'s k
MS_WEIGHTS = (0.0448, 0.2856, 0.3001)
SSIM_PAIRS_PER_CLASS = 300


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Per image: left-right flip, then a little blur (30 %) and pixel noise (half, sd up to 0.15)."""
    n = x.shape[0]
    flip = torch.rand(n, 1, 1, 1, generator=g) < 0.5
    x = torch.where(flip, x.flip(3), x)
    blur = torch.rand(n, 1, 1, 1, generator=g) < 0.3
    x = torch.where(blur, F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1), x)
    sigma = torch.rand(n, 1, 1, 1, generator=g) * 0.15 * (torch.rand(n, 1, 1, 1, generator=g) < 0.5)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(-1, 1)


def other_images(n: int, channels: int, pool: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """n "none of these" images: half smooth random fields (per-channel gains for colour), half
    patches of ordinary photographs (grey, repeated over the channels)."""
    f = smooth_fields(n - n // 2, med_data.SIZE, g)
    f = (f * (0.5 + torch.rand(len(f), channels, 1, 1, generator=g))).clamp(-1, 1)
    o = pool[torch.randint(len(pool), (n // 2,), generator=g)].expand(-1, channels, -1, -1)
    return torch.cat([f, o])


def train_classifier(kind: str, steps: int = 1500, batch: int = 96, seed: int = 0) -> tuple[PatchClassifier, dict]:
    torch.manual_seed(seed)
    ps, g = med_data.build(kind), torch.Generator().manual_seed(seed)
    c, k = med_data.CHANNELS[kind], ps.classes
    pool = patches.outliers(med_data.SIZE)
    n_other = batch // (k + 1)
    net = PatchClassifier(k + 1, 16, c)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    t0 = time.perf_counter()
    net.train()
    for _ in range(steps):
        x, y = ps.sample(batch - n_other, g)
        x, y = torch.cat([x, other_images(n_other, c, pool, g)]), torch.cat([y, torch.full((n_other,), k)])
        loss = F.cross_entropy(net(_augment(x, g)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    x, y = ps.split(train=False)
    with torch.no_grad():
        pred = torch.cat([net(b).argmax(1) for b in x.split(512)])
        po = net(other_images(400, c, pool, torch.Generator().manual_seed(seed + 1))).argmax(1)
    recall = [float((pred[y == j] == j).float().mean()) for j in range(k)]
    return net, {"kind": kind, "classes": list(med_data.CLASSES[kind]), "steps": steps,
                 "held_out_images": ps.counts(False), "train_images": ps.counts(True),
                 "accuracy": float((pred == y).float().mean()), "recall": dict(zip(med_data.CLASSES[kind], recall)),
                 "held_out_called_other": float((pred == k).float().mean()),
                 "fresh_other_called_other": float((po == k).float().mean()),
                 "train_time_s": time.perf_counter() - t0}


def save_all(root: Optional[Path] = None) -> dict:
    root = root or ROOT
    root.mkdir(parents=True, exist_ok=True)
    state, reports = {"version": VERSION}, {}
    for kind in med_data.BUILDERS:
        net, reports[kind] = train_classifier(kind)
        state[kind] = {n: v.detach().clone() for n, v in net.state_dict().items()}
    torch.save(state, root / WEIGHTS.name)
    (root / REPORT.name).write_text(json.dumps({"version": VERSION, "required_accuracy": REQUIRED_ACCURACY,
                                               "sets": reports}, indent=1))
    return reports


def report(path: Optional[Path] = None) -> dict:
    """The shipped accuracy report (for the pages); {} when missing or unreadable."""
    try:
        return json.loads(Path(path or REPORT).read_text())
    except (OSError, ValueError):
        return {}


_cache: dict = {}


def load(kind: str, path: Optional[Path] = None) -> PatchClassifier:
    """The shipped classifier of an image set (weights_only=True). Raises ClassifierError naming the problem."""
    path = Path(path or WEIGHTS)
    if (str(path), kind) in _cache:
        return _cache[(str(path), kind)]
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ClassifierError(f"{path.name}: missing; retrain it with python -m engine.med_classifier") from None
    except Exception as e:
        raise ClassifierError(f"{path.name}: cannot be read as a weights file ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("version") != VERSION or kind not in state:
        raise ClassifierError(f"{path.name}: not a {VERSION} file with a {kind!r} classifier; "
                              "retrain it with python -m engine.med_classifier")
    net = PatchClassifier(len(med_data.CLASSES[kind]) + 1, 16, med_data.CHANNELS[kind])
    try:
        net.load_state_dict(state[kind])
    except (RuntimeError, TypeError) as e:
        raise ClassifierError(f"{path.name}: weights do not fit the network ({str(e)[:120]})") from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    _cache[(str(path), kind)] = net
    return net


# ---- metrics ---------------------------------------------------------------------------------------
def box_mean(t: torch.Tensor, k: int) -> torch.Tensor:
    """The k x k window mean of t (..., H, W), stride 1, no padding: F.avg_pool2d(t, k, 1) by
    cumulative sums along each axis, two subtractions instead of k^2 additions per pixel (equal to
    it within rounding; 2.2x faster on the doubles MS-SSIM pools)."""
    c = F.pad(t.cumsum(-1), (1, 0))
    t = c[..., k:] - c[..., :-k]
    c = F.pad(t.cumsum(-2), (0, 0, 1, 0))
    return (c[..., k:, :] - c[..., :-k, :]) / (k * k)


def ms_ssim(a: torch.Tensor, b: torch.Tensor, win: int = 5) -> torch.Tensor:
    """MS-SSIM of image pairs a, b (N, C, P, P) in [-1, 1], on luminance (channel mean), three
    scales; see the module docstring. Returns (N,)."""
    a, b = a.double().mean(1, keepdim=True), b.double().mean(1, keepdim=True)
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    w = torch.tensor(MS_WEIGHTS, dtype=torch.float64)
    w = w / w.sum()
    out = torch.ones(a.shape[0], dtype=torch.float64)
    for j in range(len(w)):
        pool = lambda t: box_mean(t, win)  # noqa: E731
        ma, mb = pool(a), pool(b)
        va, vb, cov = pool(a * a) - ma**2, pool(b * b) - mb**2, pool(a * b) - ma * mb
        cs = ((2 * cov + c2) / (va + vb + c2)).flatten(1).mean(1).clamp(min=0)
        out = out * cs ** w[j]
        if j == len(w) - 1:
            lum = ((2 * ma * mb + c1) / (ma**2 + mb**2 + c1)).flatten(1).mean(1)
            out = out * lum.clamp(min=0) ** w[j]
        else:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return out


def mean_pairwise_ms_ssim(x: torch.Tensor, max_pairs: int = SSIM_PAIRS_PER_CLASS) -> float:
    n = x.shape[0]
    if n < 2:
        return float("nan")
    i, j = torch.triu_indices(n, n, 1)
    if len(i) > max_pairs:
        keep = torch.linspace(0, len(i) - 1, max_pairs).long()
        i, j = i[keep], j[keep]
    return float(ms_ssim(x[i], x[j]).mean())


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = K_NN) -> tuple[float, float]:
    """Kynkäänniemi et al. (2019) on feature vectors (N, D): see the module docstring."""
    def radii(f: torch.Tensor) -> torch.Tensor:  # distance to the k-th nearest other point
        d = torch.cdist(f, f)
        return d.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0

    real, fake = real.double(), fake.double()
    d = torch.cdist(fake, real)  # (G, R)
    precision = (d <= radii(real)[None, :]).any(1).double().mean()
    recall = (d.T <= radii(fake)[None, :]).any(1).double().mean()
    return float(precision), float(recall)


class Judge:
    """Scores generated images of one set against its real training images."""

    def __init__(self, kind: str, path: Optional[Path] = None, reference: int = 500):
        self.kind, self.net = kind, load(kind, path)
        self.k = len(med_data.CLASSES[kind])
        x, _ = med_data.build(kind).sample(reference, torch.Generator().manual_seed(1234))
        self.real_x = x
        self.real_f = self._features(x)[2]
        self.real_gauss = gaussian(self.real_f)

    @torch.no_grad()
    def _features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = torch.nan_to_num(x.float().cpu(), 0.0).clamp(-1, 1)
        f = torch.cat([self.net.features(c) for c in x.split(512)])
        p, k = self.net.head(f).softmax(1).max(1)
        return k, p, f

    @torch.no_grad()
    def score(self, x: torch.Tensor) -> dict:
        """Metrics of one seed's images x (N, C, P, P); see the module docstring."""
        n, kk = x.shape[0], self.k
        k, p, f = self._features(x)
        xs = torch.nan_to_num(x.float().cpu(), 0.0).clamp(-1, 1)
        structured = torch.isfinite(x.float().cpu()).flatten(1).all(1) & (xs.flatten(1).std(1) >= patches.MIN_STD)
        hq = (k < kk) & (p >= CONFIDENT) & structured
        counts = torch.bincount(k[hq], minlength=kk + 1)[:kk].double()
        q = counts / counts.sum().clamp(min=1)
        rkl = float(torch.where(q > 0, q * torch.log(q * kk), torch.zeros_like(q)).sum()) if hq.any() else math.log(kk)
        covered = counts >= MIN_SHARE * n
        ssim = [mean_pairwise_ms_ssim(xs[hq & (k == m)][:30]) for m in range(kk) if covered[m]]
        m = min(n, len(self.real_f))
        prec, rec = precision_recall(self.real_f[:m], f[:m])
        return {"classes": int(covered.sum()), "reverse_kl": rkl, "recognised": float(hq.double().mean()),
                "frechet": frechet(gaussian(f), self.real_gauss), "precision": prec, "recall": rec,
                "ms_ssim": float(np.mean(ssim)) if ssim else float("nan"), "histogram": counts.int().tolist()}

    def real_reference(self, n: int = 500, seed: int = 99) -> dict:
        """The metrics of n real training images drawn afresh: what a generator that had learnt
        the training set exactly would score, sampling noise included."""
        x, _ = med_data.build(self.kind).sample(n, torch.Generator().manual_seed(seed))
        return self.score(x)


_judges: dict = {}


def judge(kind: str) -> Judge:
    """The process-wide judge of an image set (built once, ~1 s)."""
    if kind not in _judges:
        _judges[kind] = Judge(kind)
    return _judges[kind]


if __name__ == "__main__":
    torch.set_num_threads(1)
    for kind, r in save_all().items():
        print(f"{kind}: held-out accuracy {r['accuracy']:.4f}, recall {r['recall']}, "
              f"held-out called other {r['held_out_called_other']:.3f}, fresh other called other "
              f"{r['fresh_other_called_other']:.3f}, {r['train_time_s']:.0f} s")
