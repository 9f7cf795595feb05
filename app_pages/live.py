"""Live runs on demo pages: submit to the shared job queue, poll, show progress, Stop.

The page never trains inline (a rerun per click would stack trainings on 2 cores): it submits
a job to :func:`engine.jobs.registry` and a fragment polls the job's snapshot every half second,
redrawing the live plots. When the job ends the fragment stops polling and reruns the page, which
then draws the final result at full size.
"""
from __future__ import annotations

import uuid
from typing import Callable, Optional

import streamlit as st

from engine.jobs import Job, QueueFull, registry

POLL_S = 0.5  # poll interval with few live runs; it grows with the number of watchers


def poll_interval(watchers: int) -> float:
    """Seconds between live redraws. Each poll rebuilds and ships the page's figures (~40 ms of
    Python per poll); the load test measured 30 students polling every 0.5 s saturating a 2-core
    server (run-to-result p50 310 s) against 19 s when polling every 2 s. So: 0.5 s for a few
    watchers, up to 2.5 s for a class."""
    return min(2.5, max(POLL_S, 0.1 * watchers))


def session_id() -> str:
    if "_gan_clinic_sid" not in st.session_state:
        st.session_state["_gan_clinic_sid"] = uuid.uuid4().hex
    return st.session_state["_gan_clinic_sid"]


def current_job(slot: str) -> Optional[Job]:
    job_id = st.session_state.get(f"_job:{slot}")
    return registry().get(job_id) if job_id else None


def start(slot: str, key: tuple, fn: Callable) -> Optional[Job]:
    """Submit (or join an identical) job for this page slot; shows a message if the queue is full."""
    old = current_job(slot)
    if old is not None and not old.done:
        registry().cancel(old, session_id())
    try:
        job = registry().submit(key, fn, session_id())
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


def watch(slot: str, draw_live: Callable[[Optional[dict]], None]) -> Optional[Job]:
    """While this slot's job runs, poll it: progress bar, queue place, Stop, ``draw_live(event)``.
    Returns the job (finished or not) or None."""
    job = current_job(slot)
    if job is None or job.done:
        return job

    @st.fragment(run_every=poll_interval(registry().active_watchers()))
    def _poll():
        j = current_job(slot)
        if j is None:
            return
        registry().touch(j)
        if j.done:
            st.rerun()  # full rerun: the page draws the final result and this fragment goes
        place = registry().position(j)
        if j.state == "queued":
            st.info(f"Waiting for a free trainer: place {place} in the queue.", icon="⏳")
        st.progress(j.progress, text=f"Training… {j.progress:.0%}" if j.state == "running" else "Queued")
        if st.button("Stop", key=f"stop:{slot}", type="secondary"):
            registry().cancel(j, session_id())
            st.rerun()
        if j.state == "running":  # nothing to draw while queued: keep polls cheap for the server
            draw_live(j.last_event)

    _poll()
    return job


def shipped_result(demo_id: str, name: str, code_version: str, cfg, fix: Optional[str] = None) -> Optional[dict]:
    """The shipped result ``name`` of a demo if it was made with exactly ``cfg`` (and holds ``fix``),
    else None; a missing or corrupt file is named on the page, which then offers a live run."""
    import dataclasses
    import json

    from engine import pretrained

    try:
        shipped = pretrained.load(pretrained.path_for(demo_id, name), code_version)
    except pretrained.PretrainedError as e:
        st.info(f"No shipped result to show ({e}); press Run to train live.", icon="ℹ️")
        return None
    if shipped["config"] != json.loads(json.dumps(dataclasses.asdict(cfg))):
        return None
    return shipped if fix is None or fix in shipped["variants"] else None


def show(slot: str, key: tuple, draw: Callable, show_result: Callable, shipped: Optional[dict],
         seeds: int, fix: str, fmt: str = "({})") -> None:
    """The lower half every side-by-side demo page shares: the live job for this view (polled),
    its final result, its failure, else the shipped result, else empty plots.

    ``draw(frames, curves, step_text)`` draws failure and fix; ``show_result(result, origin)`` draws
    a finished result; ``fmt`` wraps the step text (e.g. "({})" -> "(step 3/10)")."""
    job = current_job(slot)
    if job is not None and job.key != key:
        job = None  # the controls changed since that run: it no longer describes this view

    def draw_live(event):
        if event:
            draw(event["variants"], event["curves"], fmt.format(f"step {event['step']}/{event['total']}"))
        else:
            draw({}, {}, fmt.format("starting…"))

    if job is not None and not job.done:
        watch(slot, draw_live)
    elif job is not None and job.state == "done":
        show_result(job.result, f"Live run, {seeds} seeds, {job.result['wall_time_s']:.1f} s on "
                                f"{job.result['variants'][fix]['device']}.")
    elif job is not None and job.state == "failed":
        st.error(f"The run failed: {job.error}")
    elif shipped is not None:
        show_result(shipped, "Shipped result for the default settings (press Run live to reproduce it).")
    else:
        draw({}, {}, "")
        st.caption("Press Run to train both GANs live.")
