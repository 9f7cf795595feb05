"""Load test: N students open GAN Clinic at once on one server, each in its own browser session.

    python scripts/load_test.py                      # 30 sessions against a server it starts
    python scripts/load_test.py --sessions 3         # the CI size (tests/e2e/test_load_small.py)
    python scripts/load_test.py --url http://host:8501 --server-pid 1234   # an existing server
    python scripts/load_test.py --distinct           # every Run asks for a different config
    python scripts/load_test.py --client ws          # no browser: Streamlit's websocket protocol
    python scripts/load_test.py --client ws --sweep 5,10,20,30,40   # find the knee

Each session (a Playwright browser context in one headless Chromium, Debian's /usr/bin/chromium):

1. opens ``/explorer`` and waits for the sunburst;
2. opens the mode-collapse demo. A share of the sessions (``--view-share``, default 0.3) only
   views the shipped default (``/mode_collapse?variant=<fix>``) and waits for its table. The
   others open a small live config, as a student would after being told "try it with 4 seeds"
   (``/mode_collapse?variant=<fix>&steps=<S>&seeds=<K>``, fix and seeds from a small pool, so
   several students ask for the same run, as in class), press Run, and wait for the first
   progress (progress bar or queue notice), the first live frame (a plot titled "step i/n") and
   the final table.

With ``--client ws`` each session speaks Streamlit's websocket protocol instead (the same
messages a browser sends: open a page with its query string, click Run, rerun the polling
fragment every half second) and draws nothing: on a small machine this measures the server
alone, as when 30 students use their own laptops.

Before the sessions start, one demo page is opened and the trainers left to warm up, as a teacher
opens the app before class (``--cold`` skips this). Times are measured from the click on Run (live
sessions) or from opening the page (viewers); the live view's rate is the number of distinct
training steps a session saw drawn per second between its first frame and its final table.
The server's resident memory (VmRSS of its process and all its children, from /proc) is
sampled every 0.5 s, and the CPU time of the server and of the browser is reported, because
the browser shares the machine with the server: on a small machine the clients' own plotting
costs CPU the server does not get. Started here, the server gets an empty result cache
(``$GAN_CLINIC_CACHE`` in a temporary folder), so a second load test does not measure cache hits.

Output: a text summary and ``--json OUT`` (errors, p50/p95 of time to first progress, first live
frame and completion, peak RSS and PSS of the server with its trainers, the CPU of the Streamlit
process and of training, the server's per-job log, the load average and 1024^2 matmul rate before
and after, per-session outcomes). ``--sweep 5,10,20,30,40`` runs one test per size and prints the
knee: the fewest sessions at which p95 Run -> final table is twice that of the smallest size.
Exit status 1 if any session saw an error (an exception on a page, a page error, a refused or
failed run, a missing result) or did not finish within ``--timeout``; 2 if the server could not be
started or died.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("GAN_CLINIC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-renderer-backgrounding",
                 "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows"]
FIXES = ["pacgan", "unrolled", "mbstd", "wgan_gp"]
STEP = re.compile(r"(?:step|iteration) (\d+)(?:/|\\u002f)\d+")  # a live plot's title: "step i/n"
POOL_SEEDS = [2, 4]

# One look at the page: what a student would see. Plot titles carry "(step i/n)" while training.
PROBE = """() => {
  const main = document.querySelector("[data-testid='stMain']");
  const text = main ? main.innerText : "";
  const titles = Array.from(document.querySelectorAll("[data-testid='stPlotlyChart'] .gtitle"))
                      .map(e => e.textContent || "");
  return {
    connected: !!document.querySelector("[data-testid='stApp'][data-test-connection-state='CONNECTED']"),
    running: !!document.querySelector("[data-test-script-state='running']"),
    exception: document.querySelectorAll("[data-testid='stException']").length,
    progress: !!document.querySelector("[data-testid='stProgress']") || text.includes("Waiting for a free trainer"),
    // a live frame: a plot titled "(step i/n)", or (image pages: sample grids) a caption saying so
    frame: titles.some(t => /(step|iteration) \\d+\\/\\d+/.test(t)) || /\\(step \\d+\\/\\d+\\)/.test(text),
    step: (titles.map(t => (t.match(/(?:step|iteration) (\\d+)\\/\\d+/) || [])[1]).find(x => x)
           || (text.match(/\\(step (\\d+)\\/\\d+\\)/) || [])[1] || null),
    table: !!document.querySelector("[data-testid='stDataFrame']"),
    live_result: text.includes("Live run"),
    shipped: text.includes("Shipped result"),
    queue_full: text.includes("queue is full"),
    failed: text.includes("The run failed"),
    charts: document.querySelectorAll("[data-testid='stPlotlyChart'] .main-svg").length,
  };
}"""


@dataclass
class Session:
    id: int
    kind: str  # "run" or "view"
    url: str
    ok: bool = False
    error: Optional[str] = None
    explorer_s: Optional[float] = None  # opening the explorer until its sunburst shows
    page_s: Optional[float] = None  # opening the demo page until it is ready
    first_progress_s: Optional[float] = None  # Run -> progress bar or queue notice
    first_frame_s: Optional[float] = None  # Run -> first live plot
    first_result_s: Optional[float] = None  # Run -> first thing to look at (frame, or the table)
    completion_s: Optional[float] = None  # Run (or page open, for viewers) -> final table
    frames: int = 0  # distinct live frames (training steps shown) seen before the final table
    redraws: int = 0  # live redraws received (ws: fragment reruns that drew a plot)
    live_s: Optional[float] = None  # first live frame -> final table
    page_errors: list = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# The server and its memory


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=3) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


def start_server(env: dict, log_path: Path, timeout: float = 120.0) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
           "--server.address", "127.0.0.1", "--server.port", str(port)]
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if healthy(url):
            return proc, url
        time.sleep(0.25)
    stop_server(proc)
    raise RuntimeError(f"streamlit did not become healthy at {url}; log {log_path}:\n"
                       + log_path.read_text(errors="replace")[-3000:])


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc/<p>/stat (field 4 is the parent)."""
    parents: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])  # kB
                    break
        except OSError:
            pass
    return total / 1024


def pss_mb(pids: list[int]) -> float:
    """Proportional set size: shared pages (torch's libraries, mapped by the server and every
    worker) count once in all, not once per process as in VmRSS."""
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            pass
    return total / 1024


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])  # utime + stime of the process itself
        except OSError:
            pass
    return total / ticks


class Sampler(threading.Thread):
    """Every ``every`` s: the server tree's total VmRSS, and the CPU time used so far by the
    server tree and by this script's other descendants (the browser), kept per process so a
    renderer that exits still counts."""

    def __init__(self, pid: Optional[int], every: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        self.pss: list[float] = []
        self.procs = 0  # most processes seen in the server's tree (server + workers)
        self._halt = threading.Event()
        self.cpu_server: dict[int, float] = {}
        self.cpu_client: dict[int, float] = {}
        self.server_cpu_before = 0.0

    def _sample(self, t: float) -> None:
        server = set(process_tree(self.pid)) if self.pid else set()
        if self.pid and self.pid in server:
            self.samples.append((t, rss_mb(sorted(server))))
            if len(self.samples) % 4 == 1:  # every 2 s: smaps_rollup walks every mapping
                self.pss.append(pss_mb(sorted(server)))
            self.procs = max(self.procs, len(server))
        for p in server:
            self.cpu_server[p] = max(self.cpu_server.get(p, 0.0), cpu_seconds([p]))
        for p in set(process_tree(os.getpid())) - server - {os.getpid()}:
            self.cpu_client[p] = max(self.cpu_client.get(p, 0.0), cpu_seconds([p]))

    def run(self) -> None:
        t0 = time.monotonic()
        self._sample(0.0)
        self.server_cpu_before = sum(self.cpu_server.values())
        self.server_own_before = self.cpu_server.get(self.pid, 0.0) if self.pid else 0.0
        client_before = dict(self.cpu_client)
        while not self._halt.wait(self.every):
            self._sample(time.monotonic() - t0)
        self._sample(time.monotonic() - t0)
        self.server_cpu_s = sum(self.cpu_server.values()) - self.server_cpu_before
        self.server_own_cpu_s = self.cpu_server.get(self.pid, 0.0) - self.server_own_before if self.pid else 0.0
        self.client_cpu_s = sum(v - client_before.get(p, 0.0) for p, v in self.cpu_client.items())

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


def matmul_gflops() -> Optional[float]:
    """This machine's 1024^2 float32 matmul rate now, torch's default threads, in a fresh process
    (every timing here is quoted with it: the machine may be shared)."""
    code = ("import time, torch; n = 1024; a = torch.randn(n, n); a @ a; t = time.perf_counter()\n"
            "for _ in range(20): a @ a\n"
            "print(2 * n ** 3 * 20 / (time.perf_counter() - t) / 1e9)")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        return round(float(out.stdout.strip()), 1)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def machine() -> dict:
    return {"loadavg": [round(x, 2) for x in os.getloadavg()], "matmul_gflops": matmul_gflops()}


JOB_LINE = re.compile(r"\[gan-clinic job (\d+)\] (\w+) \S+ parts=(\d+) watchers=(\d+) started=(\S+) "
                      r"first_event=(\S+) finished=(\S+)")


def job_log(log_path: Path) -> dict:
    """The server's per-job lines ($GAN_CLINIC_JOB_LOG=1) and its fragment complaints."""
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    jobs = [m.groups() for m in JOB_LINE.finditer(text)]
    num = lambda x: float(x) if x != "-" else None  # noqa: E731
    wait = [num(j[4]) for j in jobs]
    first = [num(j[5]) - num(j[4]) for j in jobs if num(j[5]) is not None and num(j[4]) is not None]
    return {"jobs": len(jobs), "states": {st: sum(j[1] == st for j in jobs) for st in {j[1] for j in jobs}},
            "split_jobs": sum(int(j[2]) > 1 for j in jobs),
            "queue_wait_s": {"p50": pct(wait, .5), "p95": pct(wait, .95), "max": pct(wait, 1.0)},
            "start_to_first_event_s": {"p50": pct(first, .5), "p95": pct(first, .95)},
            "fragment_gone_lines": text.count("does not exist anymore") + text.count("Couldn't find fragment")}


# ---------------------------------------------------------------------------------------------
# One student


async def wait_probe(page, until, timeout: float, every: float = 0.25) -> dict:
    """Poll the page until ``until(probe)`` holds; raise on an exception element or a timeout."""
    deadline = time.monotonic() + timeout
    while True:
        p = await page.evaluate(PROBE)
        if p["exception"]:
            raise RuntimeError("the page shows an exception")
        if until(p):
            return p
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out; last state {p}")
        await asyncio.sleep(every)


async def student(browser, base: str, s: Session, timeout: float, start_delay: float) -> None:
    await asyncio.sleep(start_delay)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda e: s.page_errors.append(str(e)[:200]))
    page.set_default_timeout(timeout * 1000)
    t_end = time.monotonic() + timeout
    try:
        t = time.monotonic()
        await page.goto(base + "/explorer", wait_until="domcontentloaded")
        await wait_probe(page, lambda p: p["connected"] and not p["running"] and p["charts"] > 0,
                         t_end - time.monotonic())
        s.explorer_s = time.monotonic() - t

        t = time.monotonic()
        await page.goto(base + s.url, wait_until="domcontentloaded")
        if s.kind == "view":
            p = await wait_probe(page, lambda p: p["connected"] and not p["running"] and p["table"],
                                 t_end - time.monotonic())
            s.page_s = s.first_result_s = s.completion_s = time.monotonic() - t
            if not p["shipped"]:
                raise RuntimeError("the default view did not show the shipped result")
        else:
            await wait_probe(page, lambda p: p["connected"] and not p["running"] and p["charts"] > 0,
                             t_end - time.monotonic())
            s.page_s = time.monotonic() - t
            # the page's primary "▶ Run" button (a help icon's label may also contain "run")
            button = page.locator("[data-testid='stBaseButton-primary']", has_text="Run").first
            await button.click()
            t, last_step = time.monotonic(), None
            while True:
                p = await wait_probe(page, lambda p: True, t_end - time.monotonic())
                now = time.monotonic() - t
                if p["queue_full"]:
                    raise RuntimeError("the training queue refused the run")
                if p["failed"]:
                    raise RuntimeError("the run failed")
                if p["progress"] and s.first_progress_s is None:
                    s.first_progress_s = now
                if p["frame"] and s.first_frame_s is None:
                    s.first_frame_s = now
                done = p["table"] and p["live_result"]
                if p["frame"] and not done and p["step"] != last_step:
                    s.frames, last_step = s.frames + 1, p["step"]
                if (p["frame"] or done) and s.first_result_s is None:
                    s.first_result_s = now
                if done:
                    s.completion_s = now
                    s.live_s = now - s.first_frame_s if s.first_frame_s is not None else None
                    break
                if time.monotonic() > t_end:
                    raise TimeoutError(f"no final table within {timeout:.0f} s; last state {p}")
                await asyncio.sleep(0.1)
        if s.page_errors:
            raise RuntimeError(f"page error: {s.page_errors[0]}")
        s.ok = True
    except Exception as e:  # every failure is an outcome of this session, reported below
        s.error = f"{type(e).__name__}: {e}"[:300]
    finally:
        await context.close()


# ---------------------------------------------------------------------------------------------
# One student without a browser: Streamlit's websocket protocol (``--client ws``)


class WsStudent:
    """Speaks the browser's protocol (protobuf ``BackMsg`` / ``ForwardMsg`` over
    ``/_stcore/stream``) but draws nothing, so the machine's CPU goes to the server: the server's
    view of 30 students on their own laptops. Like the frontend it sends the URL's query string
    with every rerun, follows the server's URL changes (``page_info_changed``) and reruns a
    fragment every ``auto_rerun`` interval (the live progress poll)."""

    def __init__(self, base: str, poll_every: Optional[float] = None):
        self.poll_every = poll_every  # None: the server's run_every, as a browser does
        self.ws_url = base.replace("http://", "ws://").replace("https://", "wss://") + "/_stcore/stream"
        self.origin = base
        self.query = ""
        self.page_hash = ""
        self.finished = asyncio.Event()
        self.seen: list = []  # elements received since the last reset
        self.timers: dict[str, asyncio.Task] = {}
        self.announced: set[str] = set()  # fragments that asked for polling in the current full run
        self.page_name = ""
        self.frames = self.redraws = 0  # distinct live steps seen, runs that drew a live plot
        self.drew = False
        self.last_step: Optional[str] = None

    async def __aenter__(self):
        import websockets
        from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: F401  (fail early if missing)

        self.ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], origin=self.origin,
                                           max_size=None, open_timeout=60, ping_interval=None)
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc):
        for t in self.timers.values():
            t.cancel()
        self.reader.cancel()
        await self.ws.close()

    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        async for raw in self.ws:
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            kind = msg.WhichOneof("type")
            if kind == "navigation":  # the page st.navigation chose: reruns must name it
                self.page_hash = msg.navigation.page_script_hash
            elif kind == "page_info_changed":
                self.query = msg.page_info_changed.query_string
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                el = msg.delta.new_element
                self.seen.append(el)
                kind_el = el.WhichOneof("type")
                # a live frame: a plot titled "(step i/n)", or a caption saying so (image pages' sample grids)
                text = el.plotly_chart.spec if kind_el == "plotly_chart" else el.markdown.body if kind_el == "markdown" else ""
                if text:
                    m = STEP.search(text)
                    if m:
                        self.drew = True
                        if m.group(1) != self.last_step:
                            self.frames, self.last_step = self.frames + 1, m.group(1)
            elif kind == "script_finished":
                self.redraws += self.drew  # one (fragment) run that drew a live plot
                self.drew = False
                if msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                    # a full run that did not define a polling fragment again ends its polling
                    for fid in set(self.timers) - self.announced:
                        self.timers.pop(fid).cancel()
                    self.announced = set()
                self.finished.set()
            elif kind == "auto_rerun":
                fid, every = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
                self.announced.add(fid)
                if fid not in self.timers:
                    self.timers[fid] = asyncio.create_task(self._poll(fid, self.poll_every or every))
            elif kind == "stop_auto_rerun":
                for fid in msg.stop_auto_rerun.fragment_ids:
                    t = self.timers.pop(fid, None)
                    if t:
                        t.cancel()

    async def _poll(self, fragment_id: str, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await self._send(fragment_id=fragment_id)

    async def _send(self, widget_states=(), fragment_id: str = "", page_name: Optional[str] = None) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_script_hash = self.page_hash if page_name is None else ""
        cs.page_name = self.page_name if page_name is None else page_name
        if fragment_id:
            cs.fragment_id, cs.is_auto_rerun = fragment_id, True
        for w in widget_states:
            cs.widget_states.widgets.append(w)
        await self.ws.send(msg.SerializeToString())

    async def open(self, page_name: str, query: str, timeout: float) -> None:
        """Navigate (a full run of ``page_name`` with ``query``) and wait for the run to finish."""
        for t in self.timers.values():  # a full run starts afresh, as in the browser
            t.cancel()
        self.timers.clear()
        self.query, self.page_name, self.seen = query, page_name, []
        self.finished.clear()
        await self._send(page_name=page_name)
        await asyncio.wait_for(self.finished.wait(), timeout)

    async def click(self, widget_id: str) -> None:
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        self.seen = []
        await self._send([WidgetState(id=widget_id, trigger_value=True)])

    def state(self) -> dict:
        kinds = [e.WhichOneof("type") for e in self.seen]
        text = " ".join(e.markdown.body for e in self.seen if e.WhichOneof("type") == "markdown")
        text += " ".join(e.alert.body for e in self.seen if e.WhichOneof("type") == "alert")
        specs = [e.plotly_chart.spec for e in self.seen if e.WhichOneof("type") == "plotly_chart"]
        return {"exception": "exception" in kinds, "progress": "progress" in kinds or "Waiting for a free trainer" in text,
                "frame": any(STEP.search(sp) for sp in specs), "table": "dataframe" in kinds,
                "live_result": "Live run" in text, "shipped": "Shipped result" in text, "charts": len(specs),
                "queue_full": "queue is full" in text, "failed": "The run failed" in text}


async def ws_student(base: str, s: Session, timeout: float, start_delay: float,
                     poll_every: Optional[float] = None) -> None:
    await asyncio.sleep(start_delay)
    t_end = time.monotonic() + timeout
    page_name, _, query = s.url.lstrip("/").partition("?")
    try:
        async with WsStudent(base, poll_every) as c:
            t = time.monotonic()
            await c.open("explorer", "", timeout)
            if c.state()["exception"] or not c.state()["charts"]:
                raise RuntimeError(f"the explorer did not draw: {c.state()}")
            s.explorer_s = time.monotonic() - t
            t = time.monotonic()
            await c.open(page_name, query, t_end - time.monotonic())
            st = c.state()
            if st["exception"]:
                raise RuntimeError("the page shows an exception")
            if s.kind == "view":
                s.page_s = s.first_result_s = s.completion_s = time.monotonic() - t
                if not (st["table"] and st["shipped"]):
                    raise RuntimeError("the default view did not show the shipped result")
            else:
                s.page_s = time.monotonic() - t
                run = [e.button.id for e in c.seen if e.WhichOneof("type") == "button" and "Run" in e.button.label]
                if not run:
                    raise RuntimeError("no Run button")
                c.frames = c.redraws = 0
                await c.click(run[0])
                t = time.monotonic()
                while True:
                    st, now = c.state(), time.monotonic() - t
                    if st["exception"]:
                        raise RuntimeError("the page shows an exception")
                    if st["queue_full"]:
                        raise RuntimeError("the training queue refused the run")
                    if st["failed"]:
                        raise RuntimeError("the run failed")
                    if st["progress"] and s.first_progress_s is None:
                        s.first_progress_s = now
                    if st["frame"] and s.first_frame_s is None:
                        s.first_frame_s = now
                    done = st["table"] and st["live_result"]
                    if (st["frame"] or done) and s.first_result_s is None:
                        s.first_result_s = now
                    if done:
                        s.completion_s = now
                        s.live_s = now - s.first_frame_s if s.first_frame_s is not None else None
                        s.frames, s.redraws = c.frames, c.redraws
                        break
                    if time.monotonic() > t_end:
                        raise TimeoutError(f"no final table within {timeout:.0f} s; last state {st}")
                    await asyncio.sleep(0.25)
        s.ok = True
    except Exception as e:  # every failure is an outcome of this session, reported below
        s.error = f"{type(e).__name__}: {e}"[:300]


# ---------------------------------------------------------------------------------------------
# The whole class


def plan(n: int, view_share: float, steps: int, distinct: bool, rng: random.Random) -> list[Session]:
    n_view = round(n * view_share)
    kinds = ["view"] * n_view + ["run"] * (n - n_view)
    rng.shuffle(kinds)
    out = []
    for i, kind in enumerate(kinds):
        fix = FIXES[i % len(FIXES)] if distinct else rng.choice(FIXES)
        if kind == "view":
            url = f"/mode_collapse?variant={fix}"
        else:
            seeds = (1 + i % 16) if distinct else rng.choice(POOL_SEEDS)
            run_steps = steps + (50 * (i // 16) if distinct else 0)  # distinct: no two runs alike
            url = f"/mode_collapse?variant={fix}&steps={run_steps}&seeds={seeds}"
        out.append(Session(i, kind, url))
    return out


def pct(xs: list[float], q: float) -> Optional[float]:
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return round(xs[lo] + (xs[hi] - xs[lo]) * (k - lo), 2)


async def drive(base: str, sessions: list[Session], timeout: float, ramp: float, rng: random.Random,
                client: str = "browser", poll_every: Optional[float] = None) -> float:
    if client == "ws":
        t0 = time.monotonic()
        await asyncio.gather(*(ws_student(base, s, timeout, rng.uniform(0, ramp), poll_every) for s in sessions))
        return time.monotonic() - t0
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        t0 = time.monotonic()
        try:
            await asyncio.gather(*(student(browser, base, s, timeout, rng.uniform(0, ramp)) for s in sessions))
        finally:
            await asyncio.sleep(1.0)  # one more CPU sample of the browser before it exits
            await browser.close()
        return time.monotonic() - t0


def summarise(sessions: list[Session], sampler: Sampler, wall: float, meta: dict) -> dict:
    runs = [s for s in sessions if s.kind == "run"]
    views = [s for s in sessions if s.kind == "view"]
    rss = [m for _, m in sampler.samples]
    return {
        **meta,
        "sessions": len(sessions), "run_sessions": len(runs), "view_sessions": len(views),
        "distinct_runs": len({s.url for s in runs}),
        "errors": sum(not s.ok for s in sessions),
        "error_messages": sorted({s.error for s in sessions if s.error}),
        "wall_s": round(wall, 1),
        "explorer_s": {"p50": pct([s.explorer_s for s in sessions], .5), "p95": pct([s.explorer_s for s in sessions], .95)},
        "run_first_progress_s": {"p50": pct([s.first_progress_s for s in runs], .5),
                                 "p95": pct([s.first_progress_s for s in runs], .95)},
        "run_first_frame_s": {"p50": pct([s.first_frame_s for s in runs], .5),
                              "p95": pct([s.first_frame_s for s in runs], .95)},
        "run_first_result_s": {"p50": pct([s.first_result_s for s in runs], .5),
                               "p95": pct([s.first_result_s for s in runs], .95)},
        "run_completion_s": {"p50": pct([s.completion_s for s in runs], .5), "p95": pct([s.completion_s for s in runs], .95),
                             "max": pct([s.completion_s for s in runs], 1.0)},
        "view_completion_s": {"p50": pct([s.completion_s for s in views], .5),
                              "p95": pct([s.completion_s for s in views], .95)},
        "run_live_fps": {"p50": pct([s.frames / s.live_s for s in runs if s.live_s and s.frames], .5),
                         "min": pct([s.frames / s.live_s for s in runs if s.live_s and s.frames], 0.0)},
        "run_redraws_per_s": {"p50": pct([s.redraws / s.live_s for s in runs if s.live_s and s.redraws], .5)},
        "server_rss_mb": {"start": round(rss[0], 1) if rss else None, "peak": round(max(rss), 1) if rss else None,
                          "end": round(rss[-1], 1) if rss else None, "samples": len(rss)},
        "server_pss_mb": {"peak": round(max(sampler.pss), 1) if sampler.pss else None,
                          "end": round(sampler.pss[-1], 1) if sampler.pss else None},
        "server_processes": sampler.procs,
        "server_cpu_s": round(sampler.server_cpu_s, 1) if sampler.pid else None,
        "server_own_cpu_s": round(sampler.server_own_cpu_s, 1) if sampler.pid else None,
        "browser_cpu_s": round(sampler.client_cpu_s, 1),
        "per_session": [asdict(s) for s in sessions],
    }


def text_summary(r: dict) -> str:
    f = lambda d: f"p50 {d['p50']} s, p95 {d['p95']} s"  # noqa: E731
    lines = [
        f"GAN Clinic load test ({r['client']} clients): {r['sessions']} sessions ({r['run_sessions']} press Run, {r['distinct_runs']} "
        f"distinct runs; {r['view_sessions']} view the shipped result) in {r['wall_s']} s",
        f"  errors: {r['errors']}" + (f" -> {r['error_messages']}" if r["errors"] else ""),
        f"  explorer ready:            {f(r['explorer_s'])}",
        f"  Run -> first progress:     {f(r['run_first_progress_s'])}",
        f"  Run -> first result:       {f(r['run_first_result_s'])}",
        f"  Run -> final table:        {f(r['run_completion_s'])}, max {r['run_completion_s']['max']} s",
        f"  Run -> first live frame:   {f(r['run_first_frame_s'])}",
        f"  view shipped result:       {f(r['view_completion_s'])}",
        f"  live view: {r['run_live_fps']['p50']} new frames/s (p50 over Runs, min {r['run_live_fps']['min']}), "
        f"{r['run_redraws_per_s']['p50']} redraws/s",
        f"  server RSS (server + {max(0, r['server_processes'] - 1)} workers): start {r['server_rss_mb']['start']} MB, "
        f"peak {r['server_rss_mb']['peak']} MB, end {r['server_rss_mb']['end']} MB "
        f"({r['server_rss_mb']['samples']} samples every 0.5 s); PSS peak {r['server_pss_mb']['peak']} MB",
        f"  CPU time: server tree {r['server_cpu_s']} s (the Streamlit process itself {r['server_own_cpu_s']} s, "
        f"the rest training), clients' browser {r['browser_cpu_s']} s; "
        f"machine: {r['cpus']} CPUs, load average before {r['loadavg_before']}, after {r['loadavg_after']}; "
        f"1024^2 matmul {r.get('matmul_gflops_before')} / {r.get('matmul_gflops_after')} GFLOP/s before / after",
    ]
    if r.get("jobs"):
        j = r["jobs"]
        lines.append(f"  jobs: {j['jobs']} ({j['states']}, {j['split_jobs']} split over processes); queue wait "
                     f"p50 {j['queue_wait_s']['p50']} s, p95 {j['queue_wait_s']['p95']} s; start -> first event p95 "
                     f"{j['start_to_first_event_s']['p95']} s; fragment-gone log lines {j['fragment_gone_lines']}")
    for s in r["per_session"]:
        if not s["ok"]:
            lines.append(f"  session {s['id']} ({s['kind']} {s['url']}): {s['error']}")
    return "\n".join(lines)


def run_once(args, n: int) -> tuple[Optional[dict], int]:
    """One load test of ``n`` sessions (a fresh server and cache unless --url); (summary, exit status)."""
    rng = random.Random(args.seed)
    sessions = plan(n, min(max(args.view_share, 0.0), 1.0), args.steps, args.distinct, rng)
    cache_dir = Path(tempfile.mkdtemp(prefix="gan-clinic-load-cache-"))
    log_path = Path(tempfile.mkstemp(prefix="gan-clinic-load-", suffix=".log")[1])
    proc, pid, base = None, args.server_pid, args.url
    before = machine()
    meta = {"cpus": os.cpu_count(), "loadavg_before": before["loadavg"], "matmul_gflops_before": before["matmul_gflops"],
            "steps": args.steps, "distinct": args.distinct, "started_server": args.url is None,
            "client": args.client, "poll_every": args.poll_every, "workers": args.workers,
            "worker_nice": args.worker_nice}
    try:
        if base is None:
            env = {**os.environ, "GAN_CLINIC_CACHE": str(cache_dir), "GAN_CLINIC_JOB_LOG": "1"}
            if args.workers:
                env["GAN_CLINIC_WORKERS"] = str(args.workers)
            if args.worker_nice is not None:
                env["GAN_CLINIC_WORKER_NICE"] = str(args.worker_nice)
            try:
                proc, base = start_server(env, log_path)
            except RuntimeError as e:
                print(e, file=sys.stderr)
                return None, 2
            pid = proc.pid
        if not args.cold:
            meta["warm_up_s"] = warm_up(base.rstrip("/"), pid)
        sampler = Sampler(pid)
        sampler.start()
        try:
            wall = asyncio.run(drive(base.rstrip("/"), sessions, args.timeout, args.ramp, rng, args.client,
                                     args.poll_every))
        finally:
            sampler.stop()
        after = machine()
        meta["loadavg_after"], meta["matmul_gflops_after"] = after["loadavg"], after["matmul_gflops"]
        meta["server_alive_after"] = healthy(base.rstrip("/"))
        result = summarise(sessions, sampler, wall, meta)
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(cache_dir, ignore_errors=True)
    if proc is not None:
        result["jobs"] = job_log(log_path)
    print(text_summary(result))
    print(f"  server still answering /_stcore/health after the test: {result['server_alive_after']}")
    if not result["server_alive_after"]:
        print(f"server log: {log_path}", file=sys.stderr)
        return result, 2
    if result["errors"]:
        print(f"server log: {log_path}", file=sys.stderr)
        return result, 1
    log_path.unlink(missing_ok=True)
    return result, 0


def warm_up(base: str, server_pid: Optional[int], timeout: float = 180.0) -> float:
    """Open a demo page once, as the teacher does before class: that starts the trainers' zygote
    (torch imported, every demo warmed up once); wait until it is idle. Returns the seconds it took."""
    async def visit():
        async with WsStudent(base) as c:
            await c.open("oscillation", "", timeout)

    t0 = time.monotonic()
    asyncio.run(visit())
    last = None
    while server_pid and time.monotonic() - t0 < timeout:
        kids = [p for p in process_tree(server_pid) if p != server_pid]
        cpu = cpu_seconds(kids)
        if kids and last is not None and cpu - last < 0.05:
            break
        last = cpu
        time.sleep(1.0)
    return round(time.monotonic() - t0, 1)


def knee(rows: list[dict], key: str = "run_completion_s") -> Optional[int]:
    """The fewest sessions at which p95 ``key`` is at least twice its value at the smallest size."""
    base = rows[0][key]["p95"] if rows else None
    for r in rows[1:]:
        if base and r[key]["p95"] is not None and r[key]["p95"] >= 2 * base:
            return r["sessions"]
    return None


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", "-n", type=int, default=30)
    ap.add_argument("--sweep", help="comma-separated session counts, one load test each (e.g. 5,10,20,30,40): "
                    "prints p95s per size and the knee, the fewest sessions at which p95 Run -> final table doubles")
    ap.add_argument("--url", help="an existing server (default: start one on a free loopback port)")
    ap.add_argument("--server-pid", type=int, help="with --url: the server's pid, to sample its memory")
    ap.add_argument("--view-share", type=float, default=0.3, help="share of sessions that only view the shipped result")
    ap.add_argument("--steps", type=int, default=300, help="training steps of a live run")
    ap.add_argument("--distinct", action="store_true", help="every Run asks for a different config (worst case)")
    ap.add_argument("--ramp", type=float, default=5.0, help="sessions start at random within this many seconds")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds a session may take in all")
    ap.add_argument("--client", choices=["browser", "ws"], default="browser",
                    help="browser: headless Chromium pages (default); ws: Streamlit's websocket protocol, no drawing")
    ap.add_argument("--poll-every", type=float, help="ws: rerun the polling fragment this often instead of the "
                    "server's run_every (what-if for a slower poll)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, help="$GAN_CLINIC_WORKERS for the server started here")
    ap.add_argument("--worker-nice", type=int, help="$GAN_CLINIC_WORKER_NICE for the server started here")
    ap.add_argument("--cold", action="store_true", help="start the sessions on a server nobody has opened a demo "
                    "page on yet (default: open one first and wait for the trainers to warm up, as before a class)")
    ap.add_argument("--json", help="write the summary and per-session outcomes here")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still stops its server

    if not args.sweep:
        result, rc = run_once(args, args.sessions)
        if args.json and result is not None:
            Path(args.json).write_text(json.dumps(result, indent=1))
            print(f"  JSON: {args.json}")
        return rc
    rows, worst = [], 0
    for n in sorted({int(x) for x in args.sweep.split(",") if x.strip()}):
        print(f"--- {n} sessions")
        result, rc = run_once(args, n)
        worst = max(worst, rc)
        if result is not None:
            rows.append(result)
    print("\nsessions  errors  explorer p95  first frame p95  final p95  final max  PSS peak MB  load avg  matmul GFLOP/s")
    for r in rows:
        print(f"{r['sessions']:8d}  {r['errors']:6d}  {r['explorer_s']['p95']!s:>12}  {r['run_first_frame_s']['p95']!s:>15}  "
              f"{r['run_completion_s']['p95']!s:>9}  {r['run_completion_s']['max']!s:>9}  {r['server_pss_mb']['peak']!s:>11}  "
              f"{r['loadavg_before'][0]:>8}  {r['matmul_gflops_before']!s:>14}")
    k = knee(rows)
    print(f"knee (p95 Run -> final table at least doubles from {rows[0]['sessions'] if rows else '-'} sessions): "
          f"{k if k else 'not reached in this sweep'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"sweep": rows, "knee": k}, indent=1))
        print(f"JSON: {args.json}")
    return worst


if __name__ == "__main__":
    sys.exit(main())
