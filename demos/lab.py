r"""The Recipe lab: two recipes (A and B) on a 2D scenario, trained side by side on the same seeds;
and the technique demos, each a preset of it (:mod:`demos.presets`).

Variants (the demo contract, :mod:`demos`):

* ``a`` and ``b``: the recipes ``Config.a`` and ``Config.b`` (text form, e.g. ``pacgan.pack=4,r1``)
  on ``Config.scenario`` with its settings, any of which ``Config`` may override;
* a preset id (a taxonomy technique id): that technique's recipe in its scenario, beside the plain
  GAN of the same scenario (``plain@<scenario>``), which every preset of a scenario shares.

The claim of a preset (its scenario's rule, per seed) is counted by :func:`claims`; shipped results
(``python -m demos pretrain lab``) hold every preset of every scenario over the same seeds.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from engine import lab as engine_lab
from engine.config import ConfigError, bounded, check
from engine.metrics import mean_sd
from engine.options import make_recipe
from engine.train import torch_threads

from .presets import CLAIMS, PRESETS, SCENARIOS, holds

DEMO_ID = "lab"
CODE_VERSION = "lab/1"
METRICS = ("modes", "hq_fraction", "reverse_kl", "w1", "late_w1", "fluctuation", "d_real", "d_fake", "diverged")
UNSET = -1.0  # a numeric override left at this value means "the scenario's own"


@dataclass(frozen=True)
class Config:
    scenario: str = field(default="collapse_ring", metadata=bounded(help="the failure to train against",
                                                                    choices=tuple(SCENARIOS)))
    a: str = field(default="", metadata=bounded(help="recipe A (text form; empty = the plain GAN)"))
    b: str = field(default="pacgan", metadata=bounded(help="recipe B (text form)"))
    testbed: str = field(default="", metadata=bounded(help="override the scenario's testbed",
                                                      choices=("", *engine_lab.testbeds.TESTBEDS)))
    steps: int = field(default=0, metadata=bounded(0, 20000, "generator steps; 0 = the scenario's"))
    lr_g: float = field(default=UNSET, metadata=bounded(-1.0, 1.0, "G's learning rate; -1 = the scenario's"))
    lr_d: float = field(default=UNSET, metadata=bounded(-1.0, 1.0, "D's learning rate; -1 = the scenario's"))
    optimizer: str = field(default="", metadata=bounded(help="override: adam, sgd or rmsprop",
                                                        choices=("", "adam", "sgd", "rmsprop")))
    batch: int = field(default=0, metadata=bounded(0, 1024, "batch size; 0 = the scenario's"))
    sigma: float = field(default=0.0, metadata=bounded(0.0, 0.5, "sd of each mode; 0 = the scenario's"))
    eval_every: int = field(default=0, metadata=bounded(0, 5000, "steps between frames; 0 = the scenario's"))
    seed: int = field(default=0, metadata=bounded(0, 10**6, "first seed; seeds are seed, seed+1, ..."))
    device: str = field(default="auto", metadata=bounded(help="auto (CUDA if present) or cpu", choices=("auto", "cpu")))


VARIANTS = {"a": "Recipe A", "b": "Recipe B", **{f"plain@{s}": f"Plain GAN ({sc.title.lower()})" for s, sc in SCENARIOS.items()},
            **{p: f"Preset: {p}" for p in PRESETS}}


def settings(cfg: Config, scenario: Optional[str] = None) -> engine_lab.Settings:
    """The scenario's settings with the config's overrides (and the preset's extras)."""
    sc = SCENARIOS[scenario or cfg.scenario]
    over = dict(sc.settings)
    for key, unset in (("testbed", ""), ("steps", 0), ("lr_g", UNSET), ("lr_d", UNSET), ("optimizer", ""),
                       ("batch", 0), ("sigma", 0.0), ("eval_every", 0)):
        v = getattr(cfg, key)
        if v != unset:
            over[key] = v
    over["device"] = cfg.device
    try:
        return check(engine_lab.Settings(**over))
    except ConfigError as e:
        raise ConfigError(f"scenario {sc.id}: {e}") from None


def check_recipes(cfg: Config) -> None:
    """Validate A and B now, so a bad URL or --set fails before any training (naming A or B)."""
    for name in ("a", "b"):
        try:
            make_recipe(getattr(cfg, name))
        except ConfigError as e:
            raise ConfigError(f"recipe {name.upper()}: {e}") from None


def _summary(rows: list[dict]) -> tuple[dict, dict]:
    s = {m: mean_sd([r[m] for r in rows if m in r]) for m in METRICS}
    return {m: v[0] for m, v in s.items()}, {m: v[1] for m, v in s.items()}


def run(cfg: Config, variants: list[str], seeds: int = 8, on_event=None, should_stop=None,
        save_samples: Optional[Path] = None, threads: Optional[int] = None) -> dict:
    """Train the requested variants. Presets are grouped by scenario so the plain GAN of a scenario
    trains once; ``a``/``b`` train on ``cfg.scenario``. Returns the demo-contract result."""
    cfg = check(cfg)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ConfigError(f"unknown variant(s) {unknown}; expected a, b or a preset: {', '.join(PRESETS)}")
    check_recipes(cfg)
    seed_list = [cfg.seed + i for i in range(seeds)]
    jobs: dict[str, dict[str, str]] = {}  # scenario -> {result name: recipe text}
    for v in variants:
        if v in ("a", "b"):
            jobs.setdefault(cfg.scenario, {})[v] = getattr(cfg, v)
        elif v.startswith("plain@"):
            jobs.setdefault(v.split("@", 1)[1], {})[v] = ""
        else:
            p = PRESETS[v]
            jobs.setdefault(p.scenario, {})[f"plain@{p.scenario}"] = ""
            jobs[p.scenario][v] = p.recipe
    t0 = time.perf_counter()
    out = {"demo": DEMO_ID, "code_version": CODE_VERSION, "config": dataclasses.asdict(cfg), "seeds": seed_list,
           "variants": {}, "settings": {}}
    stopped = False
    with torch_threads(threads):
        for scenario, recipes in jobs.items():
            s = settings(cfg, scenario)
            out["settings"][scenario] = dataclasses.asdict(s)
            res = engine_lab.train(recipes, s, seed_list, on_event, should_stop)
            for name, r in res.items():
                r.pop("samples", None)  # a tensor of every seed's samples: not JSON
                mean, sd = _summary(r["per_seed"])
                out["variants"][name] = {**r, "scenario": scenario, "recipe_text": recipes[name],
                                         "label": VARIANTS.get(name, r["label"]) if name not in ("a", "b")
                                         else f"{VARIANTS[name]}: {r['label']}", "mean": mean, "sd": sd}
                stopped = stopped or r["stopped"]
            if stopped:
                break
    out["stopped"] = stopped
    out["wall_time_s"] = time.perf_counter() - t0
    return out


def success(result: dict, variant: str, kind: str) -> list[bool]:
    """The demo contract's per-seed claim: a plain GAN (``plain@<scenario>``, or ``a``) shows its
    scenario's failure; a preset (or ``b``) undoes it, paired by seed with its scenario's plain GAN."""
    v = result["variants"][variant]
    if variant.startswith("plain@") or variant == "a":
        fail_ok, _ = CLAIMS[v["scenario"]]
        return [fail_ok(r) for r in v["per_seed"]]
    return claims(result, variant)[1]


def claims(result: dict, fix: str, failure: Optional[str] = None) -> tuple[list[bool], list[bool]]:
    """Per seed: (the failure shows, the fix undoes it) for ``fix`` against ``failure`` (default: the
    plain GAN of the fix's scenario), by the scenario's claim rule."""
    v = result["variants"][fix]
    scenario = v["scenario"]
    failure = failure or ("a" if fix == "b" else f"plain@{scenario}")
    return holds(scenario, result["variants"][failure]["per_seed"], v["per_seed"])


def pretrain(root: Optional[Path] = None, seeds: int = 8, on_event=None, names=None) -> list[Path]:
    """Every preset of every scenario (or of ``names``), at its defaults, on seeds 0..seeds-1."""
    from engine import pretrained

    paths = []
    for scenario in names or SCENARIOS:
        ids = [p for p, pr in PRESETS.items() if pr.scenario == scenario]
        if not ids:
            continue
        result = run(Config(scenario=scenario), ids, seeds, on_event=on_event)
        paths.append(pretrained.path_for(DEMO_ID, scenario, root))
        pretrained.save(result, paths[-1])
    return paths
