"""What the pages' AppTest suites share: open a page with URL parameters, read what it says and
draws, and rerun it while a live run trains until its result shows."""
from __future__ import annotations

import json
import time
from typing import Callable

from streamlit.testing.v1 import AppTest

TEXT_KINDS = ("markdown", "caption", "warning", "info", "error", "success")


def open_page(path: str, timeout: float = 60, **params) -> AppTest:
    """The page at ``path`` (relative to tests/) run once with ``params`` in its URL."""
    at = AppTest.from_file(path, default_timeout=timeout)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def texts(at: AppTest) -> str:
    """Every message and caption on the page, as one string."""
    return " ".join(str(e.value) for kind in TEXT_KINDS for e in getattr(at, kind))


def specs(at: AppTest) -> list[dict]:
    """The Plotly figures on the page, as dicts."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def rerun_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float, every: float = 0.3) -> AppTest:
    """Rerun the page (as its live view's polls would) until ``done(at)`` or ``timeout`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline and not done(at):
        time.sleep(every)
        at.run()
    return at
