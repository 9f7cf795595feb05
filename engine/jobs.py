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
import importlib
import itertools
import json
import os
import pickle
import queue as queue_mod
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

    @property
    def done(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


# -------------------------------------------------------------------------------------------------
# The worker process


def _worker_main(conn, nice: int, preload: tuple) -> None:
    """Run parts sent by the server until the pipe closes. Never touches Streamlit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C on the server's terminal: the server stops us
    if nice:
        try:
            os.nice(nice)
        except OSError:
            pass
    for name in preload:  # torch and the demo modules, once, before the first Run asks for them
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a broken module fails the job that names it, with its message
            pass
    parent = os.getppid()
    cancelled: set[int] = set()

    def read_control() -> None:
        while conn.poll():
            msg = conn.recv()
            if msg is None:
                raise SystemExit(0)
            if msg[0] == "cancel":
                cancelled.add(msg[1])

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        if msg[0] == "cancel":
            cancelled.add(msg[1])
            continue
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
                read_control()
                clock["stopped"] = part_id in cancelled or os.getppid() != parent
            return clock["stopped"]

        try:
            fn = getattr(importlib.import_module(module), function)
            if threads and "torch" in sys.modules:  # (a later import starts at $OMP_NUM_THREADS)
                sys.modules["torch"].set_num_threads(threads)
            result = fn(**kwargs, on_event=on_event, should_stop=should_stop, threads=threads)
            if pending:
                conn.send(("event", part_id, pending[0]))
            conn.send(("done", part_id, result))
        except SystemExit:
            return
        except BaseException as e:  # the job fails with its message; the worker lives on
            tb = traceback.format_exc(limit=-3)
            try:
                conn.send(("error", part_id, f"{type(e).__name__}: {e}", tb))
            except (OSError, ValueError):
                return
        cancelled.discard(part_id)


class _Worker:
    """The server's handle on one worker process: its pipe, its current part, its pump thread.

    The process is a fresh interpreter (``python -c``, not multiprocessing's spawn, which would
    re-run the server's main script in it) given the server's ``sys.path`` and one end of a socket
    pair, over which pickled messages go both ways (multiprocessing.connection framing)."""

    def __init__(self, index: int, nice: int, preload: tuple, threads: int):
        self.index, self.nice, self.preload, self.threads = index, nice, preload, threads
        self.send_lock = threading.Lock()
        self.inbox: queue_mod.Queue = queue_mod.Queue()
        self.part: Optional[Part] = None
        self.job: Optional[Job] = None
        self.parts_run = 0
        self._spawn()

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "GAN_CLINIC_WORKER_PATH": json.dumps(sys.path),
               "GAN_CLINIC_WORKER_ARGS": json.dumps([theirs.fileno(), self.nice, list(self.preload)])}
        code = ("import json, os, sys; sys.path[:] = json.loads(os.environ['GAN_CLINIC_WORKER_PATH']); "
                "from engine.jobs import _worker_entry; _worker_entry()")
        self.proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=[theirs.fileno()], env=env,
                                     stdin=subprocess.DEVNULL)
        theirs.close()
        self.conn = Connection(ours.detach())

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def exitcode(self) -> Optional[int]:
        try:
            return self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return None

    def send(self, msg) -> None:
        with self.send_lock:
            self.conn.send(msg)

    def restart(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        if self.alive():
            self.proc.kill()
        self.exitcode()
        self._spawn()

    def stop(self) -> None:
        try:
            self.send(None)
        except (OSError, ValueError):
            pass
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.exitcode()
        try:
            self.conn.close()
        except OSError:
            pass


def _worker_entry() -> None:
    fd, nice, preload = json.loads(os.environ.pop("GAN_CLINIC_WORKER_ARGS"))
    os.environ.pop("GAN_CLINIC_WORKER_PATH", None)
    _worker_main(Connection(fd), nice, tuple(preload))


# -------------------------------------------------------------------------------------------------
# The registry


class JobRegistry:
    def __init__(self, workers: Optional[int] = None, threads_per_job: Optional[int] = None,
                 max_queue: int = 64, cache_size: int = 64, abandon_after: float = 45.0,
                 disk_cache: Optional[ResultCache] = None, max_per_owner: int = 3, nice: int = 0,
                 split: bool = True, recycle_after: int = 200, preload: tuple = ()):
        cores = os.cpu_count() or 2
        self.workers = workers or cores
        # One torch thread per part: on a busy 2-core machine a 2-thread job measured 15x slower
        # than a 1-thread one (OpenMP threads spin while the other core is taken); a lone job uses
        # every core by splitting over processes instead (``split``).
        self.threads = threads_per_job or 1
        self.max_queue, self.cache_size, self.max_per_owner = max_queue, cache_size, max_per_owner
        self.abandon_after = abandon_after  # a job nobody has polled for this long: a closed tab
        self.disk, self.split, self.recycle_after = disk_cache, split, recycle_after
        self._lock = threading.RLock()
        self._jobs: dict[int, Job] = {}
        self._by_key: dict[tuple, Job] = {}
        self._queue: collections.deque[Job] = collections.deque()
        self._ids, self._part_ids = itertools.count(1), itertools.count(1)
        self._closed = False
        self._workers = [_Worker(i, nice, tuple(preload), self.threads) for i in range(self.workers)]
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
            "worker_pids": [w.pid for w in self._workers]}

    def close(self) -> None:
        """Stop every job and worker (tests; the server's workers die with it anyway)."""
        with self._lock:
            self._closed = True
            for job in list(self._jobs.values()):
                if not job.done:
                    self._stop(job)
        for w in self._workers:
            w.inbox.put(None)
        for w in self._workers:
            w.stop()

    # -- scheduling (caller holds the lock) ----------------------------------------------------
    def _abandoned(self, job: Job) -> bool:
        return time.time() - job.last_seen > self.abandon_after

    def _stop(self, job: Job) -> None:
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
        if state != "done" and self._by_key.get(job.key) is job:
            self._by_key.pop(job.key, None)  # asking again runs it again
        self._evict()

    def _dispatch(self) -> None:
        """Start queued jobs on idle workers, first come first served; split a job that starts
        alone (nobody waiting behind it) over the idle workers."""
        idle = [w for w in self._workers if w.part is None and not self._closed]
        while idle and self._queue:
            job = self._queue.popleft()
            if job.cancel.is_set() or self._abandoned(job):
                self._end(job, "cancelled")
                continue
            n = len(idle) if (self.split and not self._queue) else 1
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
    def _pump(self, w: _Worker) -> None:
        while True:
            item = w.inbox.get()
            if item is None:
                return
            job, part, kwargs = item
            outcome = self._run_part(w, job, part, kwargs)
            with self._lock:
                w.part = w.job = None
                w.parts_run += 1
                self._part_finished(job, part, *outcome)
                recycle = outcome[0] == "died" or w.parts_run >= self.recycle_after
            if recycle and not self._closed:
                w.restart()  # a fresh process: after a crash, or to return memory now and then
                w.parts_run = 0
            with self._lock:
                self._dispatch()

    def _run_part(self, w: _Worker, job: Job, part: Part, kwargs: dict) -> tuple:
        spec = job.spec
        try:
            w.send(("run", part.id, spec.module, spec.function, kwargs, part.threads))
        except (pickle.PicklingError, TypeError, AttributeError) as e:  # pickled before anything is sent
            return ("failed", f"the job cannot be sent to a trainer process ({type(e).__name__}: {e})")
        except (OSError, ValueError):
            return self._died(w)
        try:
            while True:
                if not job.cancel.is_set() and self._abandoned(job):
                    with self._lock:
                        self._stop(job)
                if not w.conn.poll(0.5):
                    if not w.alive():
                        raise EOFError
                    continue
                msg = w.conn.recv()
                if msg[0] == "event":
                    self._on_event(job, part, msg[2])
                elif msg[0] == "done":
                    return ("done", msg[2])
                elif msg[0] == "error":
                    print(f"GAN Clinic job {job.id} ({spec.module}.{spec.function}) failed:\n{msg[3]}", flush=True)
                    return ("failed", msg[2])
        except (EOFError, OSError, ValueError, pickle.UnpicklingError):
            return self._died(w)

    @staticmethod
    def _died(w: _Worker) -> tuple:
        return ("died", f"the training process stopped unexpectedly (exit code {w.exitcode()}); "
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

    def _part_finished(self, job: Job, part: Part, kind: str, payload) -> None:
        if kind == "done":
            part.state, part.result, part.progress = "done", payload, 1.0
        else:
            part.state, part.error = "failed", payload
        if job.done:
            return  # failed or cancelled already: a sibling's late outcome changes nothing
        if kind != "done":
            self._stop(job)  # the siblings' work is useless now
            self._end(job, "failed", payload)
            return
        if any(p.state == "running" for p in job.parts):
            job.progress = min(p.progress for p in job.parts)
            return
        result = merge([p.result for p in job.parts], job.spec.kwargs.get("variants"))
        job.result, job.progress = result, 1.0
        stopped = job.cancel.is_set() or (isinstance(result, dict) and result.get("stopped"))
        if self.disk and not stopped:
            self.disk.put(job.key, result)  # before "done": whoever sees done finds it on disk too
        self._end(job, "cancelled" if job.cancel.is_set() else "done")

    def _evict(self) -> None:
        """Keep at most ``cache_size`` finished jobs (oldest first)."""
        finished = sorted((j for j in self._jobs.values() if j.done), key=lambda j: j.finished or 0)
        for j in finished[: max(0, len(finished) - self.cache_size)]:
            self._jobs.pop(j.id, None)
            if self._by_key.get(j.key) is j:
                self._by_key.pop(j.key, None)


_registry: Optional[JobRegistry] = None
_registry_lock = threading.Lock()


def _env_int(name: str) -> Optional[int]:
    v = os.environ.get(name, "")
    return int(v) if v.isdigit() else None


def registry(preload: tuple = ()) -> JobRegistry:
    """The process-wide registry, made on first use (its workers import ``preload`` at start).
    Sized from the environment if set: $GAN_CLINIC_WORKERS (worker processes; default the number
    of cores), $GAN_CLINIC_THREADS (torch threads per part; default 1), $GAN_CLINIC_WORKER_NICE
    (niceness of the workers, so page renders win the CPU; default 0)."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = JobRegistry(_env_int("GAN_CLINIC_WORKERS"), _env_int("GAN_CLINIC_THREADS"),
                                    disk_cache=ResultCache(), nice=_env_int("GAN_CLINIC_WORKER_NICE") or 0,
                                    preload=("torch", *preload))
        return _registry


def snapshot(job: Job) -> dict[str, Any]:
    return registry().snapshot(job)
