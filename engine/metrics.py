"""Mode-coverage metrics of the PacGAN / VEEGAN protocol (shared/REFERENCES.md).

On n generated samples (2,500 in the papers):
  * a sample is *high quality* if it lies within 3 sigma of its nearest mode;
  * ``modes``: the number of modes with at least one high-quality sample;
  * ``hq_fraction``: the fraction of samples that are high quality;
  * ``reverse_kl``: KL(q || u) of the histogram q of high-quality samples over modes against the
    uniform u (the true mode weights): sum_k q_k log(q_k K); 0 when every mode is hit equally,
    log K when all high-quality samples sit on one mode. With no high-quality sample at all it is
    reported as log K (nothing of the target is produced), so a run of pure noise never scores 0.
Works batched: samples (S, n, 2) -> one value per seed.
"""
from __future__ import annotations

import math

import torch

EVAL_SAMPLES = 2500
HQ_SIGMAS = 3.0


def mode_metrics(samples: torch.Tensor, mu: torch.Tensor, sigma: float) -> dict[str, torch.Tensor]:
    """samples: (S, n, 2) or (n, 2); mu: (K, 2). Returns tensors of shape (S,)."""
    if samples.dim() == 2:
        samples = samples.unsqueeze(0)
    s = samples.float()
    k = mu.shape[0]
    d = torch.cdist(s, mu.to(s.device).expand(s.shape[0], -1, -1))  # (S, n, K)
    dist, nearest = d.min(dim=2)
    finite = torch.isfinite(s).all(dim=2)
    hq = (dist <= HQ_SIGMAS * sigma) & finite
    counts = torch.zeros(s.shape[0], k, device=s.device)
    counts.scatter_add_(1, nearest.masked_fill(~hq, 0), hq.float())
    n_hq = counts.sum(dim=1)
    q = counts / n_hq.clamp(min=1).unsqueeze(1)
    terms = torch.where(q > 0, q * torch.log(q * k), torch.zeros_like(q))
    rkl = torch.where(n_hq > 0, terms.sum(dim=1), torch.full_like(n_hq, math.log(k)))
    return {
        "modes": (counts > 0).sum(dim=1).float(),
        "hq_fraction": hq.float().mean(dim=1),
        "reverse_kl": rkl,
    }


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value); NaNs are ignored."""
    v = [x for x in values if x == x]
    if not v:
        return float("nan"), float("nan")
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, sd
