r"""The papers' own 2D protocols as presets: PacGAN's Table 1 and VEEGAN's Table 1.

Data and metrics follow the papers (shared/REFERENCES.md; the PacGAN authors' code,
``fjxmlzn/PacGAN``, synthetic_data_experiments/*/config.py): a ring of 8 Gaussians of radius 1 with
sd 0.01, or a 5 x 5 grid with means {-4, -2, 0, 2, 4}^2 and sd 0.05; 2,500 samples per run; a sample
is high quality within 3 sd of its nearest mode, a mode is captured with one high-quality sample;
reverse KL of the mode histogram against the uniform (:mod:`engine.metrics`). PacGAN: 10 runs per
row; VEEGAN: 5 runs, and unrolled GAN with 5 unrolling steps (VEEGAN's project page).

Training follows the PacGAN authors' config where the engine can: Adam with learning rate 1e-4 and
beta1 0.8 for both players, batch 100, a 2-dimensional Gaussian latent, a ReLU generator, the
non-saturating loss, no learning-rate decay. **PacGAN-m** feeds D m samples concatenated (D's first
layer sees 2m inputs), as in their code. The engine's networks differ from theirs, and we say how
rather than change the engine:

* their G has 4 hidden layers of 400 units *with batch norm*; their D has 3 hidden layers of 200
  *LinearMaxout* units with 5 pieces. The engine's MLPs (:class:`engine.nets.BatchedMLP`) have no
  batch norm and no maxout, and G and D share a depth: the **GPU form** uses 4 hidden layers, 400
  units in G and 200 in D, LeakyReLU(0.2) in D;
* they train 400 epochs over a fixed set of 100,000 samples (400,000 steps at batch 100); the engine
  draws fresh samples every step, and the **GPU form** takes 400,000 steps;
* the unrolled GAN's look-ahead steps are SGD steps (``unroll_lr``), where Metz et al. unroll the
  discriminator's own optimiser (Adam).

The **CPU form** (what ships; the GPU form has not been run) keeps the data, metrics, optimiser and
batch, and cuts what a 2-core CPU cannot do: the demos' networks (2 hidden layers of 64) and 3,000
steps, 0.75 % of the paper's schedule. Nothing here was tuned toward the published numbers.

A preset is run like any demo (the demo contract, demos/__init__.py) through a sweep spec:
``python -m demos sweep sweeps/paper_pacgan_table1_cpu.yaml``. It is not in the catalogue: it has
no page of its own; the evidence page shows it beside the published figures (``PUBLISHED``).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from engine.config import bounded, check, check_variants

DEMO_ID = "papers"
CODE_VERSION = "papers/1"
PAPER_SIGMA = {"ring": 0.01, "grid": 0.05}


@dataclass(frozen=True)
class Config:
    dataset: str = field(default="grid", metadata=bounded(help="ring of 8 or 5x5 grid of 25 Gaussians", choices=("ring", "grid")))
    sigma: float = field(default=0.0, metadata=bounded(0.0, 0.5, "sd of each mode; 0 = the paper's (ring 0.01, grid 0.05)"))
    steps: int = field(default=3000, metadata=bounded(10, 1_000_000, "generator steps (the paper: 400,000)"))
    batch: int = field(default=100, metadata=bounded(8, 1024, "samples per batch, before packing (the paper: 100)"))
    z_dim: int = field(default=2, metadata=bounded(1, 64, "latent dimension (the paper: 2)"))
    hidden: int = field(default=64, metadata=bounded(4, 1024, "G's units per hidden layer (the paper: 400)"))
    d_hidden: int = field(default=64, metadata=bounded(4, 1024, "D's units per hidden layer (the paper: 200, maxout)"))
    depth: int = field(default=2, metadata=bounded(1, 8, "hidden layers of G and D (the paper: G 4, D 3)"))
    lr: float = field(default=1e-4, metadata=bounded(1e-6, 1e-1, "Adam learning rate of both (the paper: 1e-4)"))
    beta1: float = field(default=0.8, metadata=bounded(0.0, 0.99, "Adam beta1 (the paper: 0.8)"))
    unroll: int = field(default=5, metadata=bounded(1, 20, "unrolled GAN: look-ahead steps (VEEGAN: 5)"))
    unroll_lr: float = field(default=1e-2, metadata=bounded(1e-5, 1.0, "unrolled GAN: look-ahead SGD step"))
    seed: int = field(default=0, metadata=bounded(0, 10**6, "first seed; seeds are seed, seed+1, ..."))
    eval_every: int = field(default=500, metadata=bounded(10, 100_000, "steps between metric frames"))
    device: str = field(default="auto", metadata=bounded(help="auto (CUDA if present) or cpu", choices=("auto", "cpu")))


VARIANTS = {"gan": "GAN", "pacgan2": "PacGAN2", "pacgan3": "PacGAN3", "pacgan4": "PacGAN4",
            "unrolled": "Unrolled GAN"}
METRICS = ("modes", "hq_fraction", "reverse_kl")

# Published figures (shared/REFERENCES.md): (dataset, variant) -> metric -> value. None: the paper
# reports the row but REFERENCES.md does not hold the figure; absent: the paper has no such row.
PUBLISHED = {
    "pacgan_table1": {
        "title": "PacGAN (Lin et al. 2018), Table 1: 2D ring and grid, 10 runs, mean",
        "runs": 10,
        "metrics": ("modes", "hq_fraction", "reverse_kl"),
        "rows": {("ring", "gan"): {"modes": 6.3, "hq_fraction": 0.982, "reverse_kl": 0.45},
                 ("grid", "gan"): {"modes": 17.3, "hq_fraction": 0.948, "reverse_kl": 0.70},
                 ("ring", "pacgan2"): {"modes": 7.9, "hq_fraction": 0.956, "reverse_kl": 0.07},
                 ("grid", "pacgan2"): {"modes": 23.8, "hq_fraction": 0.913, "reverse_kl": 0.13},
                 ("ring", "pacgan3"): None, ("grid", "pacgan3"): None,
                 ("ring", "pacgan4"): {"modes": 7.8, "hq_fraction": 0.959, "reverse_kl": 0.07},
                 ("grid", "pacgan4"): {"modes": 24.8, "hq_fraction": 0.936, "reverse_kl": 0.04}},
    },
    "veegan_table1": {
        "title": "VEEGAN (Srivastava et al. 2017), Table 1: 2D ring and grid, 5 runs, mean",
        "runs": 5,
        "metrics": ("modes", "hq_fraction"),
        "rows": {("ring", "gan"): {"modes": 1, "hq_fraction": 0.993},
                 ("grid", "gan"): {"modes": 3.3, "hq_fraction": 0.005},
                 ("ring", "unrolled"): {"modes": 7.6, "hq_fraction": 0.356},
                 ("grid", "unrolled"): {"modes": 23.6, "hq_fraction": 0.16},
                 ("ring", "veegan"): {"modes": 8, "hq_fraction": 0.529},
                 ("grid", "veegan"): {"modes": 24.6, "hq_fraction": 0.40}},
        "not_here": {"veegan": "VEEGAN needs a reconstructor network and its own objective; not implemented here"},
    },
}


def resolve(cfg: Config) -> Config:
    """sigma = 0 means the paper's sd for the dataset."""
    cfg = check(cfg)
    return dataclasses.replace(cfg, sigma=cfg.sigma or PAPER_SIGMA[cfg.dataset])


def setups(cfg: Config) -> dict:
    from engine.train import GanSetup

    return {"gan": GanSetup(), "pacgan2": GanSetup(pack=2), "pacgan3": GanSetup(pack=3), "pacgan4": GanSetup(pack=4),
            "unrolled": GanSetup(unroll=cfg.unroll, unroll_lr=cfg.unroll_lr)}


def run(cfg: Config, variants: list[str], seeds: int = 10, on_event=None, should_stop=None,
        save_samples: Optional[Path] = None, threads: Optional[int] = None) -> dict:
    """Train each variant on ``seeds`` seeds (batched) with the engine's 2D loop; the demo contract."""
    from engine.metrics import mean_sd
    from engine.train import TrainSettings, torch_threads, train

    cfg = resolve(cfg)
    check_variants(variants, VARIANTS)
    ts = TrainSettings(dataset=cfg.dataset, sigma=cfg.sigma, steps=cfg.steps, batch=cfg.batch, z_dim=cfg.z_dim,
                       hidden=cfg.hidden, d_hidden=cfg.d_hidden, depth=cfg.depth, g_slope=0.0, lr_g=cfg.lr,
                       lr_d=cfg.lr, beta1=cfg.beta1, decay_from=1.0, eval_every=cfg.eval_every, device=cfg.device)
    t0 = time.perf_counter()
    out = {"demo": DEMO_ID, "code_version": CODE_VERSION, "config": dataclasses.asdict(cfg),
           "seeds": [cfg.seed + i for i in range(seeds)], "variants": {}}
    every = setups(cfg)
    with torch_threads(threads):
        runs = train({v: every[v] for v in variants}, ts, out["seeds"], on_event, should_stop)
    for v, r in runs.items():
        summary = {m: mean_sd([p[m] for p in r["per_seed"]]) for m in METRICS}
        out["variants"][v] = {"label": VARIANTS[v], "per_seed": r["per_seed"],
                              "mean": {m: s[0] for m, s in summary.items()}, "sd": {m: s[1] for m, s in summary.items()},
                              "curves": r["curves"], "diverged_at": r["diverged_at"], "steps_done": r["steps_done"],
                              "samples_seed0": r["samples"][0, :500].tolist(), "wall_time_s": r["wall_time_s"],
                              "device": r["device"]}
    out["stopped"] = any(r["stopped"] for r in runs.values())
    out["wall_time_s"] = time.perf_counter() - t0
    return out
