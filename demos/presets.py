r"""Technique demos as data: each taxonomy technique that the recipe lab can show is a *preset* =
a scenario (a 2D testbed, settings under which a plain GAN shows one failure, the claim rule of
that failure) + the technique's recipe, trained beside the plain GAN on the same seeds.

Torch-free (the catalogue and the taxonomy validator import it). The engine that runs a preset is
:mod:`engine.lab`; :mod:`demos.lab` runs and measures presets; the Recipe lab page opens one with
``/lab?preset=<technique id>``.

Scenarios (the failure each technique's paper targets):

* ``collapse_ring`` -- mode collapse: the plain non-saturating GAN on the ring of 8 Gaussians
  (sd 0.1), G learning 10x faster than D (Adam, 4e-3 / 4e-4), 1,500 steps: G chases one mode at a
  time. Claim: the failure covers at most 4 of the 8 modes; a fix covers >= 7 with a high-quality
  fraction >= 0.5 (PacGAN / VEEGAN metrics, 2,500 samples).
* ``oscillation`` -- non-convergence: the plain GAN on the ring (sd 0.05) with plain SGD steps of
  0.05 for both players, 3,000 steps: it reaches the data and keeps circling it. Claim per seed: the
  failure's late distance to the data (sliced W1 over the last 30 % of evaluations) fluctuates by at
  least 0.015 (two samples of the ring are ~0.02 apart); the fix fluctuates at most half as much as
  the plain GAN on the same seed and ends no farther from the data.
* ``divergence`` -- instability: the plain GAN with plain SGD at learning rate 0.7 for both players,
  600 steps: its losses overflow to NaN. Claim: the failure diverges; the fix stays finite, covers at
  least 6 of the 8 modes and ends within a sliced W1 of 0.25 of the data (an untrained G is ~0.5 away).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

Row = dict  # one seed's metrics: modes, hq_fraction, late_w1, fluctuation, diverged, ...


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    challenge: str  # a challenge id of the taxonomy
    settings: dict  # engine.lab.Settings overrides
    failure_text: str  # what the plain GAN does here, one sentence
    claim_text: str  # the claim rule, one sentence


SCENARIOS: dict[str, Scenario] = {s.id: s for s in [
    Scenario("collapse_ring", "Mode collapse on a ring of 8 Gaussians", "mode_collapse",
             {"testbed": "ring"},
             "With G learning 10x faster than D, the plain GAN chases one mode at a time.",
             "failure: at most 4 of 8 modes covered; fix: at least 7 modes with >= 50 % high-quality samples."),
    Scenario("oscillation", "Non-convergence: circling the data", "non_convergence",
             {"testbed": "ring", "sigma": 0.05, "optimizer": "sgd", "lr_g": 0.05, "lr_d": 0.05, "beta1": 0.0,
              "steps": 3000, "decay_from": 1.0, "eval_every": 20, "frame_every": 100, "eval_samples": 1000},
             "With plain SGD steps the plain GAN reaches the ring and keeps circling it.",
             "per seed: the plain GAN's late distance to the data fluctuates (sd >= 0.015) and >= 2x the "
             "fix's, and the fix ends no farther from the data."),
    Scenario("divergence", "Instability: divergence at a high learning rate", "instability",
             {"testbed": "ring", "sigma": 0.05, "optimizer": "sgd", "lr_g": 0.7, "lr_d": 0.7, "beta1": 0.0,
              "steps": 600, "decay_from": 1.0, "eval_every": 25, "eval_samples": 1000},
             "At SGD step 0.7 the plain GAN's losses overflow to NaN.",
             "failure: the run diverges (a non-finite loss); fix: finite, >= 6 of 8 modes, late sliced W1 <= 0.25."),
]}


def _collapse_fail(r: Row, k: int = 8) -> bool:
    return r["modes"] <= k / 2


def _collapse_fix(r: Row, k: int = 8) -> bool:
    return r["modes"] >= (7 if k == 8 else 22) and r["hq_fraction"] >= 0.5


def _finite(r: Row) -> bool:
    return not r.get("diverged") and all(r.get(k) is not None and r[k] == r[k] for k in ("late_w1", "fluctuation"))


# scenario -> (failure holds for this seed?, fix holds for this seed given the failure's row?)
CLAIMS: dict[str, tuple[Callable[[Row], bool], Callable[[Row, Row], bool]]] = {
    "collapse_ring": (_collapse_fail, lambda fix, fail: _collapse_fix(fix)),
    "oscillation": (lambda r: _finite(r) and r["fluctuation"] >= 0.015,
                    lambda fix, fail: _finite(fix) and _finite(fail)
                    and fail["fluctuation"] >= 2 * fix["fluctuation"] and fix["late_w1"] <= fail["late_w1"]),
    "divergence": (lambda r: bool(r.get("diverged")),
                   lambda fix, fail: _finite(fix) and fix["modes"] >= 6 and fix["late_w1"] <= 0.25),
}


@dataclass(frozen=True)
class Preset:
    id: str  # the taxonomy technique id it demonstrates
    scenario: str
    recipe: str  # the technique's recipe (text form); the failure is the plain GAN ("")
    note: str = ""  # why these parameters, where they come from
    extra: dict = field(default_factory=dict)  # extra settings overrides (shared by both sides)


def _p(tid: str, scenario: str, recipe: str, note: str = "") -> Preset:
    return Preset(tid, scenario, recipe, note)


PRESETS: dict[str, Preset] = {p.id: p for p in [
    # -- mode collapse on the ring ----------------------------------------------------------------
    _p("packing", "collapse_ring", "pacgan", "PacGAN2, as in the paper's 2D experiments."),
    _p("unrolled_optimisation", "collapse_ring", "unrolled", "5 look-ahead steps, as in the paper's 2D mixture."),
    _p("minibatch_stddev", "collapse_ring", "mbstd"),
    _p("minibatch_discrimination", "collapse_ring", "minibatch_discrimination"),
    _p("wgan_gp", "collapse_ring", "wgan_gp", "lambda = 10, 5 critic steps: the paper's defaults."),
    _p("wasserstein_loss", "collapse_ring", "wasserstein", "clip 0.01, 5 critic steps: the paper's defaults."),
    _p("least_squares_loss", "collapse_ring", "lsgan", "LSGAN's paper shows this mixture of 8 Gaussians."),
    _p("hinge_loss", "collapse_ring", "hinge"),
    _p("relativistic_loss", "collapse_ring", "relativistic"),
    _p("f_divergence", "collapse_ring", "fgan.divergence=kl",
       "KL, the mass-covering divergence (reverse KL is the mode-seeking one)."),
    _p("dragan", "collapse_ring", "dragan", "lambda = 10 and the authors' perturbation (0.5 sd)."),
    _p("batch_norm", "collapse_ring", "batch_norm.where=both", "In G and D, as DCGAN uses it."),
    _p("virtual_batch_norm", "collapse_ring", "virtual_batch_norm"),
    _p("consistency_regularisation", "collapse_ring", "consistency"),
    _p("one_sided_label_smoothing", "collapse_ring", "label_smoothing"),
    _p("conditional_gan", "collapse_ring", "cgan", "Both players see the mode index (the labelled ring)."),
    _p("acgan", "collapse_ring", "acgan", "D also classifies the mode index."),
    _p("mad_gan", "collapse_ring", "madgan"),
    _p("mgan", "collapse_ring", "mgan"),
    _p("gman", "collapse_ring", "gman"),
    _p("d2gan", "collapse_ring", "d2gan"),
    _p("vae_gan", "collapse_ring", "vaegan"),
    _p("alpha_gan", "collapse_ring", "alphagan"),
    _p("veegan", "collapse_ring", "veegan"),
    _p("bigan", "collapse_ring", "bigan"),
    _p("mode_regularised_loss", "collapse_ring", "mode_regularised"),
    _p("mode_seeking_loss", "collapse_ring", "mode_seeking"),
    _p("feature_matching", "collapse_ring", "feature_matching"),
    _p("ebgan_pulling_away", "collapse_ring", "ebgan"),
    _p("top_k_training", "collapse_ring", "top_k"),
    _p("zero_centred_gp_generalisation", "collapse_ring", "zero_gp"),
    _p("balanced_consistency_regularisation", "collapse_ring", "bcr"),
    _p("latent_consistency_regularisation", "collapse_ring", "zcr"),
    _p("jacobian_clamping", "collapse_ring", "jacobian_clamping"),
    _p("relativistic_r1_r2", "collapse_ring", "r3gan"),
    # -- non-convergence ----------------------------------------------------------------------------
    _p("zero_centred_gradient_penalty", "oscillation", "r1.gamma=0.1",
       "gamma = 0.1, chosen by the oscillation sweep (docs/sweep_oscillation.md); the paper uses 10 on images."),
    _p("ttur", "oscillation", "ttur.ratio=0.1", "G's step 0.1x D's."),
    _p("weight_averaging", "oscillation", "ema.beta=0.99"),
    _p("instance_noise", "oscillation", "instance_noise"),
    _p("consensus_optimisation", "oscillation", "consensus"),
    _p("extragradient", "oscillation", "extragradient",
       "Extragradient evaluates both players at the same point (simultaneous), unlike the plain GAN's "
       "alternating steps: at this step size the simultaneous scheme it builds on runs away, and the "
       "extrapolation does not hold it."),
    _p("optimistic_gradient", "oscillation", "optimistic", "Simultaneous updates, as in the paper."),
    _p("historical_averaging", "oscillation", "historical_averaging"),
    _p("locally_stable_gradient_regulariser", "oscillation", "local_stability"),
    _p("noise_regularisation", "oscillation", "roth"),
    _p("early_stopping", "oscillation", "early_stopping",
       "The result is the kept snapshot, which moves only when a better one appears: its small late "
       "fluctuation is partly by construction; its late distance (nearer the data than the plain GAN's "
       "last iterates) is the part that measures the technique."),
    _p("critic_update_ratio", "oscillation", "n_critic"),
    _p("began", "oscillation", "began"),
    _p("negative_momentum", "oscillation", "negative_momentum"),
    _p("symplectic_gradient_adjustment", "oscillation", "sga"),
    _p("lookahead_minmax", "oscillation", "lookahead_minmax"),
    # -- instability: divergence ----------------------------------------------------------------------
    _p("spectral_norm", "divergence", "spectral_norm"),
    _p("pixelwise_feature_norm", "divergence", "pixel_norm"),
    _p("equalised_learning_rate", "divergence", "equalised_lr"),
    _p("lecam_regularisation", "divergence", "lecam"),
    _p("lipschitz_penalty", "divergence", "wgan_lp"),
]}


def recipe_pair(preset_id: str) -> dict[str, str]:
    """{"failure": "", "fix": recipe text} for a preset."""
    p = PRESETS[preset_id]
    return {"failure": "", "fix": p.recipe}


def holds(scenario: str, failure_rows: list[Row], fix_rows: list[Row]) -> tuple[list[bool], list[bool]]:
    """Per seed: does the failure show, and does the fix undo it (the scenario's claim rule)?"""
    fail_ok, fix_ok = CLAIMS[scenario]
    return [fail_ok(r) for r in failure_rows], [fix_ok(f, r) for f, r in zip(fix_rows, failure_rows)]
