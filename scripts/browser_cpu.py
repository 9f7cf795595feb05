"""Where a live run's CPU goes when the browser shares the server's cores (a script that prints
figures, not a timed test).

    python scripts/browser_cpu.py                         # the mode-collapse page's default Run
    python scripts/browser_cpu.py --page /instability     # another page (it must show a shipped result)
    python scripts/browser_cpu.py --no-animations         # with CSS animations and transitions off

It starts a server (fresh result cache, so Run trains), opens the page in one headless Chromium
(Debian's /usr/bin/chromium), presses Run and waits for the live result. It reads each process's
CPU time from /proc before and after. It prints the verdict time, the CPU of the browser split by
Chromium process type (renderer, GPU process, browser), the CPU of the server's process tree, and how
many distinct live frames the page drew. docs/classroom.md, "Fourth session", has its figures.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load_test as lt

NO_ANIMATIONS = "*, *::before, *::after { animation: none !important; transition: none !important; }"


def chromium_cpu(me: int, server: int) -> dict[str, float]:
    """CPU seconds of this script's child processes (the browser) by Chromium process type."""
    skip = set(lt.process_tree(server)) | {me}
    out: dict[str, float] = {}
    for p in lt.process_tree(me):
        if p in skip:
            continue
        try:
            # Chromium rewrites its process title: the arguments may come as one space-separated string
            args = Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ").split()
        except OSError:
            continue
        kind = next((a.split("=", 1)[1] for a in args if a.startswith("--type=")), None)
        if kind is None:
            kind = "browser" if args and "chrom" in args[0] else (Path(args[0]).name if args else "other")
        if kind == "gpu-process" or any(a.startswith("--gpu-preferences") for a in args):
            kind = "gpu-process"
        out[kind] = out.get(kind, 0.0) + lt.cpu_seconds([p])
    return out


async def measure(page_path: str, no_animations: bool, timeout: float) -> None:
    from playwright.async_api import async_playwright

    env = {**os.environ, "GAN_CLINIC_CACHE": tempfile.mkdtemp()}
    proc, base = lt.start_server(env, Path(tempfile.mkstemp(suffix=".log")[1]))
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=lt.CHROMIUM, args=lt.CHROMIUM_ARGS, headless=True)
            page = await (await browser.new_context(viewport={"width": 1400, "height": 1000})).new_page()
            await page.goto(base + page_path)
            await page.wait_for_selector("text=Shipped result", timeout=120_000)
            if no_animations:
                await page.add_style_tag(content=NO_ANIMATIONS)
            await asyncio.sleep(2)
            me = os.getpid()
            b0, s0 = chromium_cpu(me, proc.pid), lt.cpu_seconds(lt.process_tree(proc.pid))
            t0 = time.monotonic()
            await page.locator("[data-testid='stBaseButton-primary']").filter(has_text="Run").first.click()
            steps: set = set()
            while time.monotonic() - t0 < timeout:
                r = await page.evaluate(lt.PROBE)
                if r["step"]:
                    steps.add(r["step"])
                if r["live_result"]:
                    break
                await asyncio.sleep(0.1)
            else:
                print(f"no live result within {timeout:.0f} s")
            wall = time.monotonic() - t0
            b1, s1 = chromium_cpu(me, proc.pid), lt.cpu_seconds(lt.process_tree(proc.pid))
            await browser.close()
    finally:
        lt.stop_server(proc)
    parts = {k: b1[k] - b0.get(k, 0.0) for k in b1}
    total = sum(parts.values())
    split = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]) if v >= 0.05)
    print(f"{page_path}{' (no animations)' if no_animations else ''}: verdict {wall:.1f} s; browser CPU {total:.1f} s "
          f"({total / wall:.2f} cores: {split}); server's process tree {s1 - s0:.1f} s; live frames drawn {len(steps)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--page", default="/mode_collapse")
    ap.add_argument("--no-animations", action="store_true", help="inject CSS that switches animations and transitions off")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs, 1024^2 matmul {lt_matmul():.1f} GFLOP/s")
    asyncio.run(measure(args.page, args.no_animations, args.timeout))


def lt_matmul() -> float:
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    t = time.perf_counter()
    for _ in range(10):
        a @ b
    return 2 * 1024**3 * 10 / (time.perf_counter() - t) / 1e9


if __name__ == "__main__":
    main()
