"""A process-wide queue of training jobs, shared by every browser session of the app.

Why: a Streamlit page script reruns on every click, so training inline would stack trainings on
2 cores. Instead a page submits a job here and polls its snapshot. The pool is bounded
(``workers``), each job runs with its own torch thread budget (workers x threads <= cores), the
queue is bounded (a full queue refuses politely), a waiting job knows its place, and a job is
cancelled by its Stop button or when its session goes away. Worker threads never touch Streamlit.

Results are cached by (demo, config, variants, seeds, code version): identical runs by many
students are computed once, and a second identical request joins the running job.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .cache import ResultCache
from .train import torch_threads


class QueueFull(RuntimeError):
    pass


@dataclass
class Job:
    id: int
    key: tuple
    fn: Callable[..., dict]  # fn(on_event, should_stop) -> result
    owner: str
    submitted: float = field(default_factory=time.time)
    started: Optional[float] = None
    finished: Optional[float] = None
    state: str = "queued"  # queued | running | done | failed | cancelled
    progress: float = 0.0
    last_event: Optional[dict] = None
    events: int = 0
    result: Optional[dict] = None
    error: Optional[str] = None
    cancel: threading.Event = field(default_factory=threading.Event)
    watchers: set = field(default_factory=set)
    last_seen: float = field(default_factory=time.time)  # last poll by any watcher

    @property
    def done(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


class JobRegistry:
    def __init__(self, workers: Optional[int] = None, threads_per_job: Optional[int] = None,
                 max_queue: int = 64, cache_size: int = 64, abandon_after: float = 30.0,
                 disk_cache: Optional[ResultCache] = None):
        cores = os.cpu_count() or 2
        self.workers = workers or max(1, min(2, cores))
        self.threads = threads_per_job or max(1, cores // self.workers)
        self.max_queue = max_queue
        self.cache_size = cache_size
        # a job nobody has polled for this long belongs to a closed tab / ended session: stop it
        self.abandon_after = abandon_after
        self.disk = disk_cache
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="gan-job")
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._by_key: dict[tuple, Job] = {}
        self._order: list[int] = []  # queued job ids in submission order
        self._ids = itertools.count(1)

    # -- submit / observe --------------------------------------------------------------------
    def submit(self, key: tuple, fn: Callable[..., dict], owner: str) -> Job:
        """Queue ``fn`` unless an identical job (same key) is queued, running or cached."""
        with self._lock:
            job = self._by_key.get(key)
            if job is not None and job.state in ("queued", "running", "done"):
                job.watchers.add(owner)
                return job
            cached = self.disk.get(key) if self.disk else None
            if cached is not None:  # computed before, maybe by an earlier server: serve it
                job = Job(next(self._ids), key, fn, owner, watchers={owner}, state="done", result=cached,
                          progress=1.0, started=time.time(), finished=time.time())
                self._jobs[job.id] = job
                self._by_key[key] = job
                return job
            if len(self._order) >= self.max_queue:
                raise QueueFull(f"the training queue is full ({self.max_queue} waiting); try again in a minute")
            job = Job(next(self._ids), key, fn, owner, watchers={owner})
            self._jobs[job.id] = job
            self._by_key[key] = job
            self._order.append(job.id)
            self._evict()
        self._pool.submit(self._run, job)
        return job

    def get(self, job_id: int) -> Optional[Job]:
        return self._jobs.get(job_id)

    def touch(self, job: Job) -> None:
        """A watcher polled: the job is still wanted (see ``abandon_after``)."""
        job.last_seen = time.time()

    def position(self, job: Job) -> int:
        """0 when running or finished, else 1-based place in the queue."""
        with self._lock:
            return self._order.index(job.id) + 1 if job.id in self._order else 0

    def cancel(self, job: Job, owner: str) -> None:
        """Stop watching; the job stops when nobody watches it any more."""
        with self._lock:
            job.watchers.discard(owner)
            if not job.watchers and not job.done:
                job.cancel.set()

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
        return {s: states.count(s) for s in ("queued", "running", "done", "failed", "cancelled")} | {
            "workers": self.workers, "threads_per_job": self.threads}

    # -- worker side -------------------------------------------------------------------------
    def _run(self, job: Job) -> None:
        with self._lock:
            if job.id in self._order:
                self._order.remove(job.id)
            if job.cancel.is_set() or time.time() - job.last_seen > self.abandon_after:
                job.state, job.finished = "cancelled", time.time()
                self._by_key.pop(job.key, None)
                return
            job.state, job.started = "running", time.time()

        def on_event(ev: dict) -> None:
            job.last_event = ev  # one reference swap: readers see a whole event or the previous one
            job.events += 1
            if ev.get("total"):
                job.progress = min(1.0, ev["step"] / ev["total"])

        def should_stop() -> bool:
            if not job.cancel.is_set() and time.time() - job.last_seen > self.abandon_after:
                job.cancel.set()
            return job.cancel.is_set()

        try:
            with torch_threads(self.threads):
                result = job.fn(on_event, should_stop)
            if self.disk and not job.cancel.is_set() and not result.get("stopped"):
                self.disk.put(job.key, result)  # before "done": whoever sees done finds it on disk
            with self._lock:
                job.result = result
                job.state = "cancelled" if job.cancel.is_set() else "done"
                if job.state != "done":
                    self._by_key.pop(job.key, None)

        except Exception as e:  # a failing job must never take the server down
            with self._lock:
                job.error = f"{type(e).__name__}: {e}"
                job.state = "failed"
                self._by_key.pop(job.key, None)
            traceback.print_exc()
        finally:
            job.finished = time.time()

    def _evict(self) -> None:
        """Keep at most ``cache_size`` finished jobs (oldest first)."""
        finished = sorted((j for j in self._jobs.values() if j.done), key=lambda j: j.finished or 0)
        for j in finished[: max(0, len(finished) - self.cache_size)]:
            self._jobs.pop(j.id, None)
            if self._by_key.get(j.key) is j:
                self._by_key.pop(j.key, None)


_registry: Optional[JobRegistry] = None
_registry_lock = threading.Lock()


def registry() -> JobRegistry:
    """The process-wide registry; size from $GAN_CLINIC_WORKERS / $GAN_CLINIC_THREADS if set."""
    global _registry
    with _registry_lock:
        if _registry is None:
            env = {k: int(os.environ[k]) for k in ("GAN_CLINIC_WORKERS", "GAN_CLINIC_THREADS") if os.environ.get(k, "").isdigit()}
            _registry = JobRegistry(env.get("GAN_CLINIC_WORKERS"), env.get("GAN_CLINIC_THREADS"),
                                    disk_cache=ResultCache())
        return _registry


def snapshot(job: Job) -> dict[str, Any]:
    return {"state": job.state, "progress": job.progress, "event": job.last_event,
            "result": job.result, "error": job.error}
