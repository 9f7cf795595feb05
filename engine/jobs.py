"""A process-wide queue of training jobs, run in worker processes, shared by every browser session.

Why processes: Streamlit renders every session's pages in one Python interpreter. Training there
(even on threads) shares one GIL with every page rerun and every watcher's poll, and on a 2-core
server 21 students' runs never finished (issue 22). Here the server only renders: training runs in
``workers`` long-lived processes (spawned, so they share nothing with Streamlit), each with its own
torch thread budget; events and results come back over a pipe and a pump thread per worker files
them under the job, where any number of watchers read the latest one.

The API (what a page, or any other caller, uses)::

    from engine.jobs import JobSpec, QueueFull, registry

    spec = JobSpec("demos.mode_collapse", kwargs={"cfg": cfg, "variants": ["gan", "pacgan"], "seeds": 8},
                   version=mc.CODE_VERSION, groups=(("gan",), ("pacgan",)))
    job = registry().submit(spec, owner=session_id)  # or QueueFull("...") to show the student
    snap = registry().snapshot(job)   # state, place in queue, progress, seq, event, result, error
    registry().cancel(job, owner=session_id)  # this watcher leaves; nobody left -> the job stops

* A spec is picklable: a function named by module and name, called in the worker as
  ``fn(**kwargs, on_event=..., should_stop=..., threads=...)`` (the demo contract, demos/__init__.py).
  Its key (module, function, version, kwargs as canonical JSON) identifies the run.
* Identical runs are computed once: a second request with the same key joins the queued or running
  job, a later one gets the finished result from memory or from the disk cache (engine/cache.py).
* ``groups`` (optional) says which variants may train in separate processes (each group's result
  must not depend on the others'; a test pins this per demo). A job that starts while nobody waits
  is split over the idle workers (a lone job uses every core) and its events and results are merged
  so a page still sees every variant side by side; under load a job runs whole, one core each.
* The queue is bounded (``max_queue`` waiting jobs; QueueFull beyond), first come first served, at
  most ``max_per_owner`` unfinished jobs per watcher, and a waiting job knows its place.
* ``cancel`` stops a job once its last watcher leaves (the worker checks between steps); a job
  nobody has polled (``touch``) for ``abandon_after`` seconds belongs to a closed tab and stops too.
* A worker that raises fails its job with the message; a worker that dies (a crash, the OOM killer)
  fails its job with its exit code and is replaced. Neither takes the server down.

Nothing here imports Streamlit or demos (a worker imports the module a spec names, at run time).
"""
from __future__ import annotations

import collections
import dataclasses
import gc
import importlib
import itertools
import json
import os
import pickle
import queue as queue_mod
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Optional

from .cache import ResultCache

LOG = os.environ.get("GAN_CLINIC_JOB_LOG") == "1"  # one line per finished job on stdout (load tests)
EVENT_EVERY = 0.2  # a worker sends at most one event per this many seconds (the latest one)
STOP_CHECK_EVERY = 0.05  # ...and reads cancellations at most this often


class QueueFull(RuntimeError):
    pass


# -------------------------------------------------------------------------------------------------
# Specs


def _canonical(x: Any) -> Any:
    """JSON-able form of kwargs: a dataclass becomes its type name and fields (configs are frozen)."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {"__type__": f"{type(x).__module__}.{type(x).__qualname__}", **_canonical(dataclasses.asdict(x))}
    if isinstance(x, dict):
        return {str(k): _canonical(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_canonical(v) for v in x]
    return x


@dataclass(frozen=True)
class JobSpec:
    """What to run: ``module.function(**kwargs, on_event, should_stop, threads)`` in a worker."""

    module: str
    function: str = "run"
    kwargs: dict = field(default_factory=dict)
    version: str = ""  # the code version: part of the key, so a code change is never served stale
    groups: tuple = ()  # variant groups that may run in separate processes; () = never split

    @property
    def key(self) -> tuple:
        return (self.module, self.function, self.version,
                json.dumps(_canonical(self.kwargs), sort_keys=True, default=str))

    def parts(self, n: int) -> list[Optional[tuple]]:
        """The variants of each of ``n`` parts (groups dealt round-robin, order kept); [None] = whole."""
        n = min(n, len(self.groups))
        if n < 2:
            return [None]
        parts: list[list] = [[] for _ in range(n)]
        for i, g in enumerate(self.groups):
            parts[i % n].extend(g)
        order = {v: i for i, v in enumerate(self.kwargs.get("variants", ()))}
        return [tuple(sorted(p, key=lambda v: order.get(v, 0))) for p in parts]


def merge(dicts: list[dict], variants: Optional[list] = None) -> dict:
    """Events or results of the parts of one job, as the whole job would have given them: dict
    fields keyed by variant (``variants``, ``curves``) are united in the spec's variant order;
    ``step`` is the slowest part's; ``stopped`` if any part stopped; times and steps done are the
    largest; every other field is the first part's (config, seeds, reference data: the same in all)."""
    if len(dicts) == 1:
        return dicts[0]
    out = dict(dicts[0])
    for k, v in dicts[0].items():
        if isinstance(v, dict) and all(isinstance(d.get(k), dict) for d in dicts):
            merged = {}
            for d in dicts:
                merged.update(d[k])
            if variants and set(merged) <= set(variants):
                merged = {x: merged[x] for x in variants if x in merged}
            out[k] = merged
    for k, fn in (("step", min), ("stopped", any), ("wall_time_s", max), ("steps_done", max),
                  ("iterations_done", max)):
        vals = [d[k] for d in dicts if k in d]
        if vals:
            out[k] = fn(vals)
    return out


# -------------------------------------------------------------------------------------------------
# Jobs


@dataclass(eq=False)
class Part:
    """One process's share of a job: its variants (None: all), its latest event, its outcome."""

    id: int
    variants: Optional[tuple]
    threads: int
    state: str = "running"  # running | done | failed
    event: Optional[dict] = None
    progress: float = 0.0
    result: Optional[dict] = None
    error: Optional[str] = None
    cpu_s: Optional[float] = None  # CPU seconds the trainer used (benchmarks: the app's cost)


@dataclass(eq=False)
class Job:
    id: int
    spec: JobSpec
    owner: str
    key: tuple = ()
    submitted: float = field(default_factory=time.time)
    started: Optional[float] = None
    finished: Optional[float] = None
    state: str = "queued"  # queued | running | done | failed | cancelled
    progress: float = 0.0
    last_event: Optional[dict] = None  # the latest event, merged over parts
    seq: int = 0  # bumps with every new event: a live view built for (job.id, seq) is current
    result: Optional[dict] = None
    error: Optional[str] = None
    cancel: threading.Event = field(default_factory=threading.Event)
    watchers: set = field(default_factory=set)
    last_seen: float = field(default_factory=time.time)  # last poll by any watcher
    parts: list = field(default_factory=list)
    first_event: Optional[float] = None  # when the server had its first live frame
    cancelled_at: Optional[float] = None

    @property
    def done(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


# -------------------------------------------------------------------------------------------------
# The trainer processes: one per part, forked from a preloaded "zygote"


def _worker_main(conn: Connection, threads: int) -> None:
    """Run the one part the server sends over ``conn``, report it, return. Never touches Streamlit."""
    try:
        msg = conn.recv()
    except (EOFError, OSError):
        return
    if not msg or msg[0] != "run":
        return
    _, part_id, module, function, kwargs, threads = msg
    clock = {"stop": 0.0, "sent": 0.0, "stopped": False}
    pending: list = []

    def on_event(ev: dict) -> None:
        now = time.monotonic()
        if now - clock["sent"] >= EVENT_EVERY:
            conn.send(("event", part_id, ev))
            clock["sent"], pending[:] = now, []
        else:
            pending[:] = [ev]  # the latest one goes out with the result at the latest

    def should_stop() -> bool:
        now = time.monotonic()
        if now - clock["stop"] >= STOP_CHECK_EVERY:
            clock["stop"] = now
            try:
                while conn.poll():
                    if conn.recv()[0] == "cancel":
                        clock["stopped"] = True
            except (EOFError, OSError):  # the server has gone: nobody will read the result
                raise SystemExit(0)
        return clock["stopped"]

    try:
        fn = getattr(importlib.import_module(module), function)
        if threads and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        result = fn(**kwargs, on_event=on_event, should_stop=should_stop, threads=threads)
        if pending:
            conn.send(("event", part_id, pending[0]))
        ru = resource.getrusage(resource.RUSAGE_SELF)  # this trainer's CPU since its fork
        conn.send(("done", part_id, result, ru.ru_utime + ru.ru_stime))
    except SystemExit:
        return
    except BaseException as e:  # the job fails with its message
        try:
            conn.send(("error", part_id, f"{type(e).__name__}: {e}", traceback.format_exc(limit=-3)))
        except (OSError, ValueError):
            pass


def _reap(ctl: socket.socket) -> None:
    """Collect finished children; tell the server how each ended (a crash's exit code)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        try:
            ctl.send(pickle.dumps(("exit", pid, os.waitstatus_to_exitcode(status))))
        except OSError:
            pass


def _zygote_main(fd: int, nice: int, preload: list) -> None:
    """Import torch and the demo modules once, then fork one trainer per part on request. A fork
    starts in milliseconds and shares the imported modules with its siblings (a fresh interpreter
    per worker measured ~2.4 s of CPU to import torch and ~150 MB of private memory each)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C on the server's terminal: the server stops us
    if nice:
        try:
            os.nice(nice)
        except OSError:
            pass
    ctl = socket.socket(fileno=fd)
    from engine.runtime import keep_heap

    keep_heap()  # every trainer forked from here inherits it (engine/runtime.py)
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a broken module fails the job that names it, with its message
            pass
    gc.freeze()  # the imports stay out of the children's collections: fewer pages copied on write
    while True:
        _reap(ctl)
        if not select.select([ctl], [], [], 0.2)[0]:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(ctl, 1 << 16, 1)
        except OSError:
            return
        if not data:
            return  # the server has gone; running trainers finish or notice it themselves
        msg = pickle.loads(data)
        if msg[0] == "warm":  # run each tiny job once: torch's lazy first-use costs (~2 s) are paid
            for module, function, kwargs in msg[1]:  # here, not in every trainer's first step
                try:
                    getattr(importlib.import_module(module), function)(
                        **kwargs, on_event=lambda ev: None, should_stop=lambda: False, threads=1)
                except Exception:  # noqa: BLE001 - a warm-up is an optimisation, never a failure
                    pass
            gc.freeze()
            continue
        _, req, threads = msg
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                ctl.close()
                _worker_main(Connection(fds[0]), threads)
                code = 0
            finally:
                os._exit(code)
        os.close(fds[0])
        ctl.send(pickle.dumps(("forked", req, pid)))


def _zygote_entry() -> None:
    fd, nice, preload = json.loads(os.environ.pop("GAN_CLINIC_ZYGOTE_ARGS"))
    os.environ.pop("GAN_CLINIC_ZYGOTE_PATH", None)
    _zygote_main(fd, nice, preload)


class _Zygote:
    """The server's handle on the zygote: a fresh interpreter (``python -c``, not multiprocessing's
    spawn, which would re-run the server's main script) with the server's ``sys.path``, reached
    over a SOCK_SEQPACKET pair that carries each trainer's socket to it (SCM_RIGHTS)."""

    def __init__(self, nice: int, preload: tuple, threads: int, warmup: tuple = ()):
        self.nice, self.preload, self.threads = nice, preload, threads
        self.warmup = [(w.module, w.function, w.kwargs) for w in warmup]
        self._lock, self._cond = threading.Lock(), threading.Condition()
        self._ids = itertools.count(1)
        self._forked: dict[int, queue_mod.Queue] = {}
        self._codes: collections.OrderedDict = collections.OrderedDict()
        self._start()

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "GAN_CLINIC_ZYGOTE_PATH": json.dumps(sys.path),
               "GAN_CLINIC_ZYGOTE_ARGS": json.dumps([theirs.fileno(), self.nice, list(self.preload)])}
        code = ("import json, os, sys; sys.path[:] = json.loads(os.environ['GAN_CLINIC_ZYGOTE_PATH']); "
                "from engine.jobs import _zygote_entry; _zygote_entry()")
        self.proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=[theirs.fileno()], env=env,
                                     stdin=subprocess.DEVNULL)
        theirs.close()
        self.sock = ours
        threading.Thread(target=self._read, args=(ours,), daemon=True, name="gan-job-zygote").start()
        if self.warmup:
            ours.send(pickle.dumps(("warm", self.warmup)))

    def _read(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            msg = pickle.loads(data)
            if msg[0] == "forked":
                q = self._forked.pop(msg[1], None)
                if q is not None:
                    q.put(msg[2])
            elif msg[0] == "exit":
                with self._cond:
                    self._codes[msg[1]] = msg[2]
                    while len(self._codes) > 1000:
                        self._codes.popitem(last=False)
                    self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def fork(self, threads: int, timeout: float = 300.0) -> tuple[Connection, int]:
        """A new trainer process and the server's end of its socket."""
        q: queue_mod.Queue = queue_mod.Queue()
        with self._lock:
            if self.proc.poll() is not None:  # the zygote died (OOM killer...): a new one
                self._hang_up()
                self._start()
            ours, theirs = socket.socketpair()
            req = next(self._ids)
            self._forked[req] = q
            try:
                socket.send_fds(self.sock, [pickle.dumps(("fork", req, threads))], [theirs.fileno()])
            finally:
                theirs.close()
        try:
            pid = q.get(timeout=timeout)
        except queue_mod.Empty:
            ours.close()
            raise OSError("no trainer process could be started") from None
        return Connection(ours.detach()), pid

    def exitcode(self, pid: int, timeout: float = 2.0) -> Optional[int]:
        with self._cond:
            self._cond.wait_for(lambda: pid in self._codes, timeout)
            return self._codes.pop(pid, None)

    def _hang_up(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # (close alone would not wake the reader's recv)
        except OSError:
            pass
        self.sock.close()

    def close(self) -> None:
        self._hang_up()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@dataclass(eq=False)
class _Slot:
    """A place for one part: at most ``workers`` parts train at once."""

    index: int
    inbox: queue_mod.Queue = field(default_factory=queue_mod.Queue)
    part: Optional[Part] = None
    job: Optional[Job] = None
    conn: Optional[Connection] = None
    pid: Optional[int] = None
    send_lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, msg) -> None:
        with self.send_lock:
            if self.conn is None:
                raise OSError("no trainer")
            self.conn.send(msg)


# -------------------------------------------------------------------------------------------------
# The registry


class JobRegistry:
    def __init__(self, workers: Optional[int] = None, threads_per_job: Optional[int] = None,
                 max_queue: int = 64, cache_size: int = 64, abandon_after: float = 45.0,
                 disk_cache: Optional[ResultCache] = None, max_per_owner: int = 3, nice: int = 0,
                 split: bool = True, preload: tuple = (), warmup: tuple = (), cores: Optional[int] = None,
                 kill_after: float = 10.0):
        self.cores = cores or os.cpu_count() or 2
        # More workers than cores: up to ``workers`` jobs train at once and the OS shares the cores
        # between them, so every student sees a first live frame within seconds instead of waiting
        # for the jobs ahead to finish (the last job ends at about the same time either way).
        self.workers = workers or min(8, 4 * self.cores)
        # One torch thread per part: on a busy 2-core machine a 2-thread job measured 15x slower
        # than a 1-thread one (OpenMP threads spin while the other core is taken); a lone job uses
        # every core by splitting over processes instead (``split``).
        self.threads = threads_per_job or 1
        self.max_queue, self.cache_size, self.max_per_owner = max_queue, cache_size, max_per_owner
        self.abandon_after = abandon_after  # a job nobody has polled for this long: a closed tab
        self.disk, self.split = disk_cache, split
        self.kill_after = kill_after  # a cancelled part that has not stopped by then is killed
        self._lock = threading.RLock()
        self._jobs: dict[int, Job] = {}
        self._by_key: dict[tuple, Job] = {}
        self._queue: collections.deque[Job] = collections.deque()
        self._ids, self._part_ids = itertools.count(1), itertools.count(1)
        self._closed = False
        self._zygote = _Zygote(nice, tuple(preload), self.threads, tuple(warmup))
        self._workers = [_Slot(i) for i in range(self.workers)]
        self._pumps = [threading.Thread(target=self._pump, args=(w,), daemon=True, name=f"gan-job-pump-{w.index}")
                       for w in self._workers]
        for t in self._pumps:
            t.start()

    # -- submit / observe --------------------------------------------------------------------
    def submit(self, spec: JobSpec, owner: str) -> Job:
        """Queue ``spec`` unless an identical job is queued, running or finished (then join it)."""
        key = spec.key
        with self._lock:
            job = self._by_key.get(key)
            if job is not None and job.state in ("queued", "running", "done"):
                job.watchers.add(owner)
                job.last_seen = time.time()
                return job
            cached = self.disk.get(key) if self.disk else None
            if cached is not None:  # computed before, maybe by an earlier server: serve it
                now = time.time()
                job = Job(next(self._ids), spec, owner, key, watchers={owner}, state="done", result=cached,
                          progress=1.0, started=now, finished=now)
                self._jobs[job.id] = job
                self._by_key[key] = job
                self._evict()
                return job
            if len(self._queue) >= self.max_queue:
                raise QueueFull(f"the training queue is full ({self.max_queue} waiting); try again in a minute")
            mine = sum(1 for j in self._jobs.values() if not j.done and owner in j.watchers)
            if mine >= self.max_per_owner:
                raise QueueFull(f"you already have {mine} runs going (at most {self.max_per_owner} per "
                                "person); stop one or wait for it to finish")
            job = Job(next(self._ids), spec, owner, key, watchers={owner})
            self._jobs[job.id] = job
            self._by_key[key] = job
            self._queue.append(job)
            self._dispatch()
        return job

    def get(self, job_id: int) -> Optional[Job]:
        return self._jobs.get(job_id)

    def touch(self, job: Job) -> None:
        """A watcher polled: the job is still wanted (see ``abandon_after``)."""
        job.last_seen = time.time()

    def position(self, job: Job) -> int:
        """0 when running or finished, else 1-based place in the queue."""
        with self._lock:
            for i, j in enumerate(self._queue):
                if j is job:
                    return i + 1
        return 0

    def snapshot(self, job: Job) -> dict[str, Any]:
        """What a watcher shows: one consistent read of the job's state."""
        with self._lock:
            return {"state": job.state, "place": self.position(job), "progress": job.progress, "seq": job.seq,
                    "event": job.last_event, "result": job.result, "error": job.error,
                    "parts": len(job.parts)}

    def cancel(self, job: Job, owner: str) -> None:
        """Stop watching; the job stops when nobody watches it any more."""
        with self._lock:
            job.watchers.discard(owner)
            if not job.watchers and not job.done:
                self._stop(job)

    def cancel_owner(self, owner: str) -> None:
        """A session ended: drop its interest in every job."""
        for job in list(self._jobs.values()):
            if owner in job.watchers:
                self.cancel(job, owner)

    def active_watchers(self) -> int:
        """How many sessions are watching a queued or running job (pages poll slower when many do)."""
        with self._lock:
            return sum(len(j.watchers) for j in self._jobs.values() if not j.done)

    def stats(self) -> dict:
        with self._lock:
            states = [j.state for j in self._jobs.values()]
            busy = sum(w.part is not None for w in self._workers)
        return {s: states.count(s) for s in ("queued", "running", "done", "failed", "cancelled")} | {
            "workers": self.workers, "busy_workers": busy, "threads_per_part": self.threads,
            "zygote_pid": self._zygote.pid, "trainer_pids": [w.pid for w in self._workers if w.pid]}

    def close(self) -> None:
        """Stop every job and worker (tests; the server's workers die with it anyway)."""
        with self._lock:
            self._closed = True
            for job in list(self._jobs.values()):
                if not job.done:
                    self._stop(job)
        for w in self._workers:
            w.inbox.put(None)
        for t in self._pumps:
            t.join(timeout=self.kill_after + 5)
        self._zygote.close()

    # -- scheduling (caller holds the lock) ----------------------------------------------------
    def _abandoned(self, job: Job) -> bool:
        return time.time() - job.last_seen > self.abandon_after

    def _stop(self, job: Job) -> None:
        if not job.cancel.is_set():
            job.cancelled_at = time.time()
        job.cancel.set()
        if job.state == "queued":
            self._queue.remove(job) if job in self._queue else None
            self._end(job, "cancelled")
            return
        for w in self._workers:
            if w.job is job and w.part is not None:
                try:
                    w.send(("cancel", w.part.id))
                except (OSError, ValueError):
                    pass  # a dead worker: its pump reports it

    def _end(self, job: Job, state: str, error: Optional[str] = None) -> None:
        job.state, job.error, job.finished = state, error, time.time()
        if LOG:
            t = lambda x: f"{x - job.submitted:.2f}" if x else "-"  # noqa: E731
            print(f"[gan-clinic job {job.id}] {state} {job.spec.module} parts={len(job.parts)} "
                  f"watchers={len(job.watchers)} started={t(job.started)} first_event={t(job.first_event)} "
                  f"finished={t(job.finished)} (s after submit) "
                  f"trainer_cpu={sum(p.cpu_s or 0 for p in job.parts):.2f}", flush=True)
        if state != "done" and self._by_key.get(job.key) is job:
            self._by_key.pop(job.key, None)  # asking again runs it again
        self._evict()

    def _dispatch(self) -> None:
        """Start queued jobs on idle workers, first come first served. A job that starts alone
        (nothing else running, nobody waiting) is split over up to one worker per core."""
        idle = [w for w in self._workers if w.part is None and not self._closed]
        while idle and self._queue:
            job = self._queue.popleft()
            if job.cancel.is_set() or self._abandoned(job):
                self._end(job, "cancelled")
                continue
            alone = len(idle) == len(self._workers) and not self._queue
            n = min(self.cores, len(idle)) if (self.split and alone) else 1
            variants = job.spec.parts(n)
            job.state, job.started = "running", time.time()
            for vs in variants:
                w = idle.pop(0)
                kwargs = dict(job.spec.kwargs)
                if vs is not None:
                    kwargs["variants"] = list(vs)
                part = Part(next(self._part_ids), vs, self.threads)
                job.parts.append(part)
                w.part, w.job = part, job
                w.inbox.put((job, part, kwargs))

    # -- the pump: one thread per worker, files what the worker says under its job ---------------
    def _pump(self, w: _Slot) -> None:
        while True:
            item = w.inbox.get()
            if item is None:
                return
            job, part, kwargs = item
            outcome = self._run_part(w, job, part, kwargs)
            with self._lock:
                conn, w.conn, w.pid = w.conn, None, None
                w.part = w.job = None
                self._part_finished(job, part, *outcome)
                self._dispatch()
            if conn is not None:
                conn.close()

    def _run_part(self, w: _Slot, job: Job, part: Part, kwargs: dict) -> tuple:
        """Fork a trainer for ``part``, send it the part, file its events; its outcome."""
        spec = job.spec
        try:
            msg = pickle.dumps(("run", part.id, spec.module, spec.function, kwargs, part.threads))
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            return ("failed", f"the job cannot be sent to a trainer process ({type(e).__name__}: {e})")
        try:
            conn, pid = self._zygote.fork(part.threads)
        except OSError as e:
            return ("failed", f"no trainer process could be started ({e}); press Run to try again")
        with self._lock:
            w.conn, w.pid = conn, pid
            if job.cancel.is_set():  # cancelled while the trainer started: it stops at its first step
                conn.send(("cancel", part.id))
        try:
            with w.send_lock:
                conn.send_bytes(msg)
            while True:
                if not job.cancel.is_set() and self._abandoned(job):
                    with self._lock:
                        self._stop(job)
                if job.cancelled_at and time.time() - job.cancelled_at > self.kill_after:
                    _kill(pid)  # it did not stop between steps (stuck in one long step): it has to go
                if not conn.poll(0.5):
                    continue
                msg = conn.recv()
                if msg[0] == "event":
                    self._on_event(job, part, msg[2])
                elif msg[0] == "done":
                    part.cpu_s = msg[3]
                    return ("done", msg[2])
                elif msg[0] == "error":
                    print(f"GAN Clinic job {job.id} ({spec.module}.{spec.function}) failed:\n{msg[3]}", flush=True)
                    return ("failed", msg[2])
        except (EOFError, OSError, ValueError, pickle.UnpicklingError):
            code = self._zygote.exitcode(pid)
            if job.cancelled_at:
                return ("died", "stopped")
            return ("died", f"the training process stopped unexpectedly (exit code {code}); "
                            "the server is fine: press Run to try again")

    def _on_event(self, job: Job, part: Part, ev: dict) -> None:
        part.event = ev
        if ev.get("total"):
            part.progress = min(1.0, ev["step"] / ev["total"])
        events = [p.event for p in job.parts if p.event is not None]
        merged = merge(events, job.spec.kwargs.get("variants"))
        with self._lock:
            job.last_event = merged  # one reference swap: readers see a whole event
            job.progress = min(p.progress for p in job.parts)
            job.seq += 1
            job.first_event = job.first_event or time.time()

    def _part_finished(self, job: Job, part: Part, kind: str, payload) -> None:
        if kind == "done":
            part.state, part.result, part.progress = "done", payload, 1.0
        else:
            part.state, part.error = "failed", payload
        if job.done:
            return  # failed or cancelled already: a sibling's late outcome changes nothing
        if kind != "done" and not job.cancel.is_set():
            self._stop(job)  # the siblings' work is useless now
            self._end(job, "failed", payload)
            return
        if any(p.state == "running" for p in job.parts):
            job.progress = min(p.progress for p in job.parts)
            return
        done = [p.result for p in job.parts if p.state == "done"]
        if job.cancel.is_set():  # what the parts reached when they stopped (a killed one: nothing)
            job.result = merge(done, job.spec.kwargs.get("variants")) if done else None
            self._end(job, "cancelled")
            return
        result = merge(done, job.spec.kwargs.get("variants"))
        job.result, job.progress = result, 1.0
        if self.disk and not (isinstance(result, dict) and result.get("stopped")):
            self.disk.put(job.key, result)  # before "done": whoever sees done finds it on disk too
        self._end(job, "done")

    def _evict(self) -> None:
        """Keep at most ``cache_size`` finished jobs (oldest first)."""
        finished = sorted((j for j in self._jobs.values() if j.done), key=lambda j: j.finished or 0)
        for j in finished[: max(0, len(finished) - self.cache_size)]:
            self._jobs.pop(j.id, None)
            if self._by_key.get(j.key) is j:
                self._by_key.pop(j.key, None)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_registry: Optional[JobRegistry] = None
_registry_lock = threading.Lock()


def _env_int(name: str) -> Optional[int]:
    v = os.environ.get(name, "")
    return int(v) if v.isdigit() else None


def _nice() -> int:
    v = os.environ.get("GAN_CLINIC_WORKER_NICE", "")
    return int(v) if v.lstrip("-").isdigit() else 10


def registry(preload: tuple = (), warmup: tuple = ()) -> JobRegistry:
    """The process-wide registry, made on first use (its zygote imports ``preload`` and runs the
    tiny ``warmup`` specs once at start, so no trainer pays torch's first-use costs).
    Sized from the environment if set: $GAN_CLINIC_WORKERS (parts training at once; default 4 per
    core, at most 8), $GAN_CLINIC_THREADS (torch threads per part; default 1),
    $GAN_CLINIC_WORKER_NICE (niceness of the trainers, so page renders win the CPU; default 10)."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = JobRegistry(_env_int("GAN_CLINIC_WORKERS"), _env_int("GAN_CLINIC_THREADS"),
                                    disk_cache=ResultCache(), nice=_nice(),
                                    preload=("torch", *preload), warmup=warmup)
        return _registry


def snapshot(job: Job) -> dict[str, Any]:
    return registry().snapshot(job)
