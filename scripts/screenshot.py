"""Screenshot of the taxonomy explorer for the README: ``python scripts/screenshot.py``.

Starts ``streamlit run app.py`` on a free loopback port (or uses ``--url`` of a running app),
opens the explorer with a technique selected in headless Chromium and saves a 1400x1000 PNG to
``docs/screenshot-explorer.png``.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


def default_node() -> str:
    from taxonomy import load_taxonomy

    tax = load_taxonomy()
    if "pacgan" in tax.techniques:
        return "pacgan"
    with_demo = [t.id for t in tax.techniques.values() if t.demos]
    return (with_demo or list(tax.techniques))[0]


def wait_ready(page) -> None:
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
    page.wait_for_function("!document.querySelector(\"[data-test-script-state='running']\")"
                           " && !document.querySelector(\"[data-testid='stSkeleton']\")")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="base URL of a running app (default: start one)")
    ap.add_argument("--path", default="explorer", help="page url_path (default: explorer)")
    ap.add_argument("--query", help="query string of the explorer (default: ?node=<a technique>)")
    ap.add_argument("--full-page", action="store_true", help="capture the whole scrollable page")
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshot-explorer.png"))
    ap.add_argument("--size", default="1400x1000")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    query = args.query if args.query is not None else f"?node={default_node()}"

    proc = None
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
             "--server.address", "127.0.0.1", "--server.port", str(port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
        )
        deadline = time.monotonic() + 90
        while not healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                print("streamlit did not start", file=sys.stderr)
                return 1
            time.sleep(0.25)
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS)
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(f"{url}/{args.path}{query}")
            wait_ready(page)
            chart = "[data-testid='stPlotlyChart'] path.surface" if args.path == "explorer" else "[data-testid='stPlotlyChart']"
            page.locator(chart).first.wait_for()
            page.wait_for_timeout(800)  # fonts, KaTeX and the sunburst's transition
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=args.full_page)
            browser.close()
        print(args.out)
        return 0
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=15)


if __name__ == "__main__":
    sys.exit(main())
