"""GAN Clinic's training engine and live demos. Nothing in this package imports Streamlit.

The demo contract: a demo is a module ``demos/<id>.py`` listed in :mod:`demos.catalog` that has

* ``Config`` -- a frozen dataclass whose fields carry bounds (see :mod:`engine.config`);
* ``VARIANTS`` -- ``{variant id: one-line description}``, the failure and its fixes;
* ``run(cfg, variants, seeds, on_event=None, should_stop=None, save_samples=None) -> dict`` --
  trains / simulates every variant and returns a JSON-able result::

      {"demo": id, "config": {...}, "code_version": "...", "wall_time_s": float,
       "variants": {variant: {"per_seed": [{metric: value}], "mean": {...}, "sd": {...}, ...}}}

  ``on_event(dict)`` is called every few steps with progress (``{"variant", "step", "total", ...}``
  plus whatever the live plots need); ``should_stop()`` returning True ends the run early (the
  result then says ``"stopped": true``).

``python -m demos list --json`` and ``python -m demos run <id> ...`` drive the same functions.
"""
