"""Job functions for tests/test_jobs.py: module-level, so a worker process can import them by name.

Each follows the demo contract's call: ``fn(**kwargs, on_event=..., should_stop=..., threads=...)``.
"""
from __future__ import annotations

import os
import time


def count(n: int = 5, delay: float = 0.01, fail: bool = False, on_event=None, should_stop=None, threads=None):
    for i in range(n):
        if should_stop():
            return {"stopped": True, "i": i, "pid": os.getpid()}
        on_event({"step": i + 1, "total": n})
        time.sleep(delay)
    if fail:
        raise RuntimeError("boom")
    return {"stopped": False, "i": n, "pid": os.getpid()}


def crash(on_event=None, should_stop=None, threads=None):
    """A worker dying mid-job (a segfault, the OOM killer): the process ends without a word."""
    on_event({"step": 1, "total": 2})
    time.sleep(0.05)
    os._exit(3)


def wait_for_file(path: str, on_event=None, should_stop=None, threads=None):
    """Runs until ``path`` exists (a gate another test opens) or it is cancelled."""
    while not os.path.exists(path):
        if should_stop():
            return {"stopped": True}
        time.sleep(0.01)
    return {"stopped": False}


def torch_threads(on_event=None, should_stop=None, threads=None):
    import torch

    return {"threads": torch.get_num_threads(), "asked": threads, "pid": os.getpid()}


def per_variant(variants, steps: int = 20, delay: float = 0.01, on_event=None, should_stop=None, threads=None):
    """A demo-shaped run: per-variant frames and curves whose values depend only on the variant, so
    a job split over processes must merge to exactly what one process gives."""
    curves = {v: {"step": []} for v in variants}
    step = 0
    for step in range(1, steps + 1):
        for v in variants:
            curves[v]["step"].append(step)
        on_event({"step": step, "total": steps, "variants": {v: {"pid": os.getpid()} for v in variants},
                  "curves": {v: dict(c) for v, c in curves.items()}})
        if should_stop():
            break
        time.sleep(delay)
    return {"demo": "test", "variants": {v: {"value": len(v), "pid": os.getpid()} for v in variants},
            "stopped": step < steps, "wall_time_s": 0.01 * step, "steps_done": step}


def deaf(seconds: float = 60, on_event=None, should_stop=None, threads=None):
    """One long step that never asks whether to stop (a step stuck in a huge computation)."""
    on_event({"step": 0, "total": 1})
    time.sleep(seconds)
    return {"stopped": False}
