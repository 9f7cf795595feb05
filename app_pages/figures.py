"""Figures shared by every session of the server (no training, no jobs: the explorer imports this).

Building a Plotly figure and handing it to ``st.plotly_chart`` costs tens of milliseconds of the
server's one interpreter (Plotly validates and deep-copies it). When thirty students open the same
view at once, those costs queue behind each other; a figure that depends only on the data is built
once, frozen, and every session sends the same dict.
"""
from __future__ import annotations

import collections
import io
import threading
from typing import Callable, Hashable

import numpy as np
import plotly.graph_objects as go
from PIL import Image


class FrozenFigure(go.Figure):
    """A figure whose dict is computed once: ``st.plotly_chart`` then skips Plotly's deep copy and
    validation, leaving only the JSON serialisation per send."""

    def __init__(self, fig: go.Figure):
        super().__init__()
        self._frozen = fig.to_dict()

    def to_dict(self) -> dict:
        return self._frozen


_cache: collections.OrderedDict = collections.OrderedDict()
_lock = threading.Lock()
CACHE_MAX = 64  # figures kept (a default view and a few filter settings per page are what is asked)
STATS = {"built": 0, "shared": 0}


def shared_figure(owner: object, key: Hashable, build: Callable[[], go.Figure]) -> go.Figure:
    """``build()``, frozen, built once per (``owner``, ``key``) for every session. ``owner`` is the
    object the figure is drawn from (a taxonomy): an entry holds it, so a hit is the same object,
    not a new one that happens to reuse a freed object's id; ``key`` must fix everything else the
    figure depends on (filters, selection)."""
    k = (id(owner), key)
    with _lock:
        hit = _cache.get(k)
        if hit is not None and hit[0] is owner:
            _cache.move_to_end(k)
            STATS["shared"] += 1
            return hit[1]
    fig = FrozenFigure(build())
    with _lock:
        _cache[k] = (owner, fig)
        STATS["built"] += 1
        while len(_cache) > CACHE_MAX:
            _cache.popitem(last=False)
    return fig


def png(image: np.ndarray) -> bytes:
    """A uint8 picture (a page's mosaic) as PNG bytes, which ``st.image`` sends as they are: a page
    encodes it once per live frame (``live.shared``), not on every poll of every watcher."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()
