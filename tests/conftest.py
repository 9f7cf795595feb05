"""Shared test set-up: the repository root on sys.path (AppTest page scripts import app_pages,
demos and taxonomy), torch threads per test process so tests never oversubscribe 2 cores, and
the two tiers of the suite:

* the CI suite (``bash clinic.sh test``): unit, AppTest, browser, load and Ray tests, and the 2D
  demos' claims on short configurations -- minutes;
* ``claims``-marked tests, the full statistical verification of the image demos' claims (16 fresh
  seeds of a DCGAN per scenario: ~25 minutes on 2 cores). They are deselected unless pytest gets
  ``--claims``; ``bash clinic.sh verify`` runs them and ``python -m demos verify``.
"""
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


def pytest_addoption(parser):
    parser.addoption("--claims", action="store_true",
                     help="also run the claims-marked full statistical verification (slow; clinic.sh verify)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--claims"):
        return
    keep = [i for i in items if i.get_closest_marker("claims") is None]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i.get_closest_marker("claims") is not None])
        items[:] = keep


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    from engine.runtime import keep_heap

    keep_heap()  # tests train too: the same heap settings as the trainers and the CLI
    old = torch.get_num_threads()
    # under pytest-xdist (-n 2 in CI) each worker process gets one of the two cores
    torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)
    yield
    torch.set_num_threads(old)
