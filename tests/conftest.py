"""Shared test set-up: the repository root on sys.path (AppTest page scripts import app_pages,
demos and taxonomy), and one torch thread per test process so tests never oversubscribe 2 cores."""
import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# Tests (and the servers they start) cache results in a fresh folder, never the repository's:
# a live run in a test must really run, not be served from an earlier session's cache.
os.environ["GAN_CLINIC_CACHE"] = tempfile.mkdtemp(prefix="gan-clinic-test-cache-")


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)
