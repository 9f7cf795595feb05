"""Browser end-to-end fixtures: a real ``streamlit run app.py`` server and headless Chromium.

Reusable by every e2e test module in this folder::

    def test_something(app_page, base_url):
        app_page.goto(base_url + "/explorer?node=pacgan")
        wait_ready(app_page)

* ``streamlit_server`` (session): starts the app on a free loopback port, polls
  ``/_stcore/health`` until ``ok``, yields the base URL and stops the server at the end
  (its log is printed if it fails to start).
* ``browser`` (session): Playwright Chromium driving Debian's ``/usr/bin/chromium`` (Playwright
  cannot download its own browser here).
* ``app_page`` (per test): a fresh 1400x1000 page; fails the test on any ``stException``.
* ``wait_ready(page)``: waits until the app is connected and no script run is in progress; test
  modules get it as the ``ready`` fixture (``ready(page)``), since conftest is not importable.

Every test collected under this folder gets the ``e2e`` marker (``pytest -m "not e2e"`` skips them).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("GAN_CLINIC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
READY = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
RUNNING = "[data-test-script-state='running']"
VIEWPORT = {"width": 1400, "height": 1000}


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


def start_server(env: dict | None = None, timeout: float = 90.0):
    """Start ``streamlit run app.py``; return (process, base_url, log_path)."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="gan-clinic-e2e-", suffix=".log", delete=False)
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none", "--server.address", "127.0.0.1", "--server.port", str(port),
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if _healthy(url):
            return proc, url, log.name
        time.sleep(0.25)
    stop_server(proc)
    pytest.fail(f"streamlit did not become healthy at {url}:\n{Path(log.name).read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def streamlit_server():
    proc, url, log = start_server()
    try:
        yield url
    finally:
        stop_server(proc)
        Path(log).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def base_url(streamlit_server):
    return streamlit_server


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no chromium at {CHROMIUM} (bash clinic.sh test installs it)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def app_page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
        assert page.locator("[data-testid='stException']").count() == 0, "the app showed an exception"
    finally:
        context.close()


def wait_ready(page, timeout: float = 30_000) -> None:
    """Wait until the app is connected, a script run has finished and no skeleton is left."""
    page.wait_for_selector(READY, timeout=timeout)
    page.wait_for_function(
        """([running]) => !document.querySelector(running)
            && !document.querySelector("[data-testid='stSkeleton']")
            && document.querySelector("[data-test-script-state]")""",
        arg=[RUNNING],
        timeout=timeout,
    )
    page.wait_for_timeout(150)  # let the last delta paint
    page.wait_for_function("([running]) => !document.querySelector(running)", arg=[RUNNING], timeout=timeout)


@pytest.fixture(scope="session")
def ready():
    """``wait_ready`` for test modules: ``def test_x(app_page, ready): ...; ready(app_page)``."""
    return wait_ready
