"""Live runs on demo pages: submit a job spec to the shared queue, poll it, draw it, Stop.

The page never trains: Run submits a :class:`engine.jobs.JobSpec` to :func:`engine.jobs.registry`,
whose worker processes train while this server only renders. A fragment polls the job and redraws
the live view; when the job ends the fragment stops polling and reruns the page, which then draws
the final result at full size.

Two things keep a class of 30 on a 2-core server responsive (docs/classroom.md has the figures):

* **One live frame per job.** Building a page's Plotly figures costs ~50 ms of Python (most of it
  Plotly's validation), and every watcher of a job would otherwise rebuild them on every poll.
  :func:`chart` builds each figure once per (job, event) and every watcher sends that one, frozen
  (its dict is made once, so a poll only serialises it: ~0.5 ms a figure).
* **Polling that backs off.** Each poll's CPU cost is measured; the interval is the one at which
  all watchers' polls together take at most ``POLL_BUDGET`` of one core (0.5 s alone, up to
  ``POLL_MAX``). A poll never starts a full rerun except once, when its job has ended; polls are
  fragment reruns, which Streamlit never lets interrupt a full rerun.
"""
from __future__ import annotations

import collections
import contextlib
import contextvars
import threading
import time
import uuid
from typing import Callable, Optional

import plotly.graph_objects as go
import streamlit as st

from app_pages.figures import FrozenFigure  # noqa: F401 (pages and tests use live.FrozenFigure)
from demos.catalog import CATALOG
from engine.jobs import Job, JobSpec, QueueFull, registry as _registry

POLL_MIN, POLL_MAX = 0.5, 4.0  # seconds between live redraws: alone, and at most under load
POLL_BUDGET = 0.25  # share of one core that all watchers' polls may take together
PRELOAD = tuple(info.module for info in CATALOG.values() if info.module)


def _warmup() -> tuple:
    """One tiny run of each 2D demo (1 seed, a few steps): the trainers are forked after it, so a
    Run's first live frame does not wait ~2 s for torch's lazy first-use costs."""
    from demos import instability as ins
    from demos import mode_collapse as mc
    from demos import oscillation as osc
    from demos import vanishing_gradients as vg

    return (spec(mc, mc.Config(steps=10, eval_every=10), ["gan", "pacgan"], 1),
            spec(osc, osc.Config(steps=50, eval_every=10, frame_every=50, eval_samples=100), ["gan", "r1"], 1),
            spec(ins, ins.Config(steps=10, warmup=2, eval_every=5, arrows=3), ["saturating", "nonsaturating"], 1),
            spec(vg, vg.Config(steps=10, record_every=5), ["saturating", "lsgan"], 1))


def registry():
    """The process-wide job registry; its trainers are forked from one process that imported every
    demo module and warmed torch up once, at start."""
    return _registry(preload=PRELOAD, warmup=_warmup())


# ---- poll cost and interval ---------------------------------------------------------------------
class _Ewma:
    def __init__(self, value: float, weight: float = 0.2):
        self.value, self.weight, self._lock = value, weight, threading.Lock()

    def add(self, x: float) -> None:
        with self._lock:
            self.value += self.weight * (x - self.value)


POLL_COST = _Ewma(0.01)  # CPU seconds of one poll (its script thread), measured


def poll_interval(watchers: int, cost: Optional[float] = None, poll_min: float = POLL_MIN) -> float:
    """Seconds between polls so that ``watchers`` polls of ``cost`` CPU seconds each take at most
    ``POLL_BUDGET`` of a core: ``clamp(watchers x cost / budget, poll_min, max(POLL_MAX, poll_min))``."""
    cost = POLL_COST.value if cost is None else cost
    return min(max(POLL_MAX, poll_min), max(poll_min, watchers * cost / POLL_BUDGET))


# ---- one live frame per job ----------------------------------------------------------------------
_FRAME: contextvars.ContextVar = contextvars.ContextVar("gan_clinic_live_frame", default=None)
_frames: collections.OrderedDict = collections.OrderedDict()
_frames_lock = threading.Lock()
FRAMES_MAX = 400  # figures kept (a few per running job are ever used)
BUILDS = {"built": 0, "shared": 0}  # for tests and the load test's report


@contextlib.contextmanager
def frame(name: tuple):
    """Within this block, :func:`chart` and :func:`shared` build each thing once per ``name`` for
    every session: a live job's event, a finished job's result, a page's shipped result. ``name``
    must fix everything the drawing depends on (a job id; a spec key, which holds the config)."""
    token = _FRAME.set(name)
    try:
        yield
    finally:
        _FRAME.reset(token)


def shared(key: str, build: Callable):
    """``build()``; while a live job is drawn, built once per job event and shared by every watcher
    of that job (``key`` names the thing within the page)."""
    frame = _FRAME.get()
    if frame is None:
        return build()
    k = (*frame, key)
    with _frames_lock:  # builds are GIL-bound anyway: one at a time, and the next watcher finds it
        obj = _frames.get(k)
        if obj is None:
            obj = _frames[k] = build()
            BUILDS["built"] += 1
            while len(_frames) > FRAMES_MAX:
                _frames.popitem(last=False)
        else:
            BUILDS["shared"] += 1
    return obj


def chart(where, key: str, build: Callable[[], go.Figure], **kwargs) -> None:
    """``where.plotly_chart(build(), key=key, width="stretch")``, the figure shared (:func:`shared`)
    and frozen while a live job is drawn."""
    if _FRAME.get() is None:
        where.plotly_chart(build(), key=key, width="stretch", **kwargs)
    else:
        where.plotly_chart(shared(key, lambda: FrozenFigure(build())), key=key, width="stretch", **kwargs)


# ---- sessions, specs, jobs ----------------------------------------------------------------------
def session_id() -> str:
    if "_gan_clinic_sid" not in st.session_state:
        st.session_state["_gan_clinic_sid"] = uuid.uuid4().hex
    return st.session_state["_gan_clinic_sid"]


def spec(module, cfg, variants: list, seeds: int, groups: Optional[list] = None) -> JobSpec:
    """A demo run as a job: ``module.run(cfg, variants, seeds)``. ``groups``: variant groups whose
    results do not depend on each other (default: every variant alone), so a lone job can train
    them in separate processes."""
    groups = [(v,) for v in variants] if groups is None else groups
    return JobSpec(module.__name__, "run", {"cfg": cfg, "variants": list(variants), "seeds": int(seeds)},
                   version=module.CODE_VERSION, groups=tuple(tuple(g) for g in groups))


def current_job(slot: str) -> Optional[Job]:
    reg = registry()  # made when the first demo page opens: its trainers are warm before any Run
    job_id = st.session_state.get(f"_job:{slot}")
    return reg.get(job_id) if job_id else None


def start(slot: str, job_spec: JobSpec) -> Optional[Job]:
    """Submit (or join an identical) job for this page slot; shows a message if the queue refuses."""
    old = current_job(slot)
    if old is not None and not old.done:
        registry().cancel(old, session_id())
    try:
        job = registry().submit(job_spec, session_id())
    except QueueFull as e:
        st.warning(str(e), icon="⏳")
        return None
    st.session_state[f"_job:{slot}"] = job.id
    return job


def forget(slot: str) -> None:
    job = current_job(slot)
    if job is not None:
        registry().cancel(job, session_id())
    st.session_state.pop(f"_job:{slot}", None)


def watch(slot: str, draw_live: Callable[[Optional[dict]], None], poll_min: float = POLL_MIN) -> Optional[Job]:
    """While this slot's job runs, poll it: progress bar, queue place, Stop, ``draw_live(event)``.
    ``poll_min``: the shortest interval between polls (a page whose jobs send an event every few
    seconds gains nothing from redrawing the same one twice a second). Returns the job (finished or
    not) or None."""
    job = current_job(slot)
    if job is None or job.done:
        return job
    reg = registry()

    @st.fragment(run_every=poll_interval(reg.active_watchers(), poll_min=poll_min))
    def _poll():
        t0 = time.thread_time()
        j = current_job(slot)
        if j is None:
            return
        reg.touch(j)
        snap = reg.snapshot(j)
        if j.done:
            st.rerun()  # the one full rerun: the page draws the final result and this fragment goes
        if snap["state"] == "queued":
            st.info(f"Waiting for a free trainer: place {snap['place']} in the queue.", icon="⏳")
        st.progress(snap["progress"], text=f"Training… {snap['progress']:.0%}" if snap["state"] == "running"
                    else "Queued")
        if st.button("Stop", key=f"stop:{slot}", type="secondary"):
            reg.cancel(j, session_id())
            st.rerun()
        if snap["state"] == "running":  # nothing to draw while queued: keep polls cheap for the server
            with frame(("live", j.id, snap["seq"])):
                draw_live(snap["event"])
        POLL_COST.add(time.thread_time() - t0)

    _poll()
    return job


def shipped_result(demo_id: str, name: str, code_version: str, cfg, fix: Optional[str] = None,
                   ignore: tuple[str, ...] = ()) -> Optional[dict]:
    """The shipped result ``name`` of a demo if it was made with exactly ``cfg`` (and holds ``fix``),
    else None; a missing or corrupt file is named on the page, which then offers a live run.
    ``ignore``: config fields that only set how often a run is observed, never its results (a
    demo says which: e.g. the medical demos' frame cadence)."""
    import dataclasses
    import json

    from engine import pretrained

    try:
        shipped = pretrained.load(pretrained.path_for(demo_id, name), code_version)
    except pretrained.PretrainedError as e:
        st.info(f"No shipped result to show ({e}); press Run to train live.", icon="ℹ️")
        return None
    want = json.loads(json.dumps(dataclasses.asdict(cfg)))
    if {k: v for k, v in shipped["config"].items() if k not in ignore} != {k: v for k, v in want.items() if k not in ignore}:
        return None
    return shipped if fix is None or fix in shipped["variants"] else None


def show(slot: str, job_spec: JobSpec, draw: Callable, show_result: Callable, shipped: Optional[dict],
         seeds: int, fix: str, fmt: str = "({})", poll_min: float = POLL_MIN) -> None:
    """The lower half every side-by-side demo page shares: the live job for this view (polled),
    its final result, its failure, else the shipped result, else empty plots.

    ``draw(frames, curves, step_text)`` draws failure and fix; ``show_result(result, origin)`` draws
    a finished result; ``fmt`` wraps the step text (e.g. "({})" -> "(step 3/10)")."""
    job = current_job(slot)
    if job is not None and job.key != job_spec.key:
        job = None  # the controls changed since that run: it no longer describes this view

    def draw_live(event):
        if event:
            draw(event["variants"], event["curves"], fmt.format(f"step {event['step']}/{event['total']}"))
        else:
            draw({}, {}, fmt.format("starting…"))

    if job is not None and not job.done:
        watch(slot, draw_live, poll_min)
    elif job is not None and job.state == "done":
        with frame(("result", job.id)):
            show_result(job.result, f"Live run, {seeds} seeds, {job.result['wall_time_s']:.1f} s on "
                                    f"{job.result['variants'][fix]['device']}.")
    elif job is not None and job.state == "failed":
        st.error(f"The run failed: {job.error}")
    elif shipped is not None:
        with frame(("shipped", job_spec.key)):
            show_result(shipped, "Shipped result for the default settings (press Run live to reproduce it).")
    else:
        with frame(("empty", job_spec.key)):
            draw({}, {}, "")
        st.caption("Press Run to train both GANs live.")
