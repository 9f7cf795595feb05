"""Which demo page, with which URL, shows a sweep row's configuration (no Streamlit here, so tests
can check every link without a browser).

Each demo page reads its settings from the query string (its widgets' keys, see app_pages/demo_*.py).
``PAGE_KEYS`` maps a config field to that page's URL key; a field a page has no control for is left
out (the page then uses its default, and the evidence page says which settings it could not carry).
A value outside a control's options is ignored by the page, which shows its default instead.
"""
from __future__ import annotations

PAGE_KEYS: dict[str, dict[str, str]] = {
    "mode_collapse": {"dataset": "dataset", "steps": "steps", "lr_g": "lr_g", "lr_d": "lr_d", "pack": "pack",
                      "unroll": "unroll", "gp_weight": "gp_weight"},
    "oscillation": {"steps": "osc_steps", "lr": "osc_lr", "r1_gamma": "r1_gamma", "ttur_g": "ttur_g",
                    "ema_beta": "ema_beta", "noise_sd": "noise_sd"},
    "vanishing_gradients": {"dataset": "dataset", "steps": "steps", "lr_d": "lr_d", "g_steps": "g_steps"},
    "instability": {"steps": "steps", "warmup": "warmup", "offset": "offset", "g_optimizer": "g_optimizer",
                    "lr_g": "lr_g", "diverge_lr": "diverge_lr", "r1_gamma": "r1_gamma"},
    "tissue_patches": {"steps": "tp_steps", "lr_g": "tp_lr_g", "lr_d": "tp_lr_d", "fast_lr_g": "tp_fast_lr_g",
                       "fast_lr_d": "tp_fast_lr_d", "pack": "tp_pack"},
    "dirac": {"update": "update", "h": "h", "steps": "steps", "n_disc": "n_disc", "gamma": "gamma",
              "sigma": "sigma", "clip": "clip", "lam": "lam", "ttur_ratio": "ttur_ratio"},
    # a technique preset opens the lab on itself; its scenario comes with it (the preset sets A and B)
    "lab": {"scenario": "scenario"},
    "brain_mri": {"steps": "med_steps", "lr_g": "med_lr_g", "lr_d": "med_lr_d"},
    "modalities": {"steps": "med_steps", "lr_g": "med_lr_g", "lr_d": "med_lr_d"},
}
# the pages that always show the failure beside a fix: a failure row opens its testbed's default fix
DEFAULT_FIX = {"mode_collapse": "pacgan", "oscillation": "r1", "vanishing_gradients": "nonsaturating",
               "brain_mri": "batchnorm", "modalities": "batchnorm"}
# config fields that only say how the run is observed or where: nothing to carry
NOT_SETTINGS = {"seed", "device", "eval_every", "frame_every", "grid_every", "record_every", "arrows", "eval_samples"}


def _url_value(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def demo_link(demo: str, variant: str, role: str, config: dict, varied: set[str] = frozenset()
              ) -> tuple[dict, list[str]] | None:
    """(query parameters, the fields of ``varied`` the page has no control for) for the page of
    ``demo`` showing ``variant`` at ``config``; None when the demo has no page (a paper preset, a
    recipe). ``varied``: the fields the sweep set away from the demo's defaults (its grid and set)."""
    keys = PAGE_KEYS.get(demo)
    if keys is None:
        return None
    params: dict[str, str] = {}
    if demo == "dirac":
        params["failure" if role == "failure" else "variant"] = variant
        start = config.get("start")
        if isinstance(start, (list, tuple)) and len(start) == 2:
            params["theta0"], params["psi0"] = _url_value(float(start[0])), _url_value(float(start[1]))
    elif demo == "lab" and variant.startswith("plain@"):  # the plain GAN of a scenario: its first preset
        from demos.presets import PRESETS

        scenario = variant.split("@", 1)[1]
        params["variant"] = next(p for p, x in PRESETS.items() if x.scenario == scenario)
    elif role == "failure" and demo in DEFAULT_FIX:
        params["variant"] = DEFAULT_FIX[demo]
    else:  # tissue_patches and instability open a failure's scenario with its default fix themselves
        params["variant"] = variant
    for field, value in config.items():
        if field in keys:
            params[keys[field]] = _url_value(value)
    dropped = sorted(f for f in varied if f not in keys and f not in NOT_SETTINGS and f != "start")
    return params, dropped
