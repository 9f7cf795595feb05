"""JSON that every result file and cache entry shares: NaN and infinities are not JSON."""
from __future__ import annotations

import math


def jsonable(x):
    """NaN/inf are not JSON: write them as null (a diverged run's metric)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return x
