"""The shared job queue: worker processes, bounded and fair, deduplicating, cancellable, failure- and
crash-isolating; a lone job split over processes merges to what one process gives; the live
view's frames are built once per job event."""
import dataclasses
import json
import math
import time

import pytest

from engine.jobs import JobRegistry, JobSpec, QueueFull, merge

FNS = "tests.job_fns"


def wait(job, timeout=30):
    t = time.time()
    while not job.done and time.time() - t < timeout:
        time.sleep(0.01)
    return job


@pytest.fixture
def make():
    made = []

    def make_registry(**kw):
        kw.setdefault("workers", 1)
        reg = JobRegistry(**kw)
        made.append(reg)
        return reg

    yield make_registry
    for reg in made:
        reg.close()


def spec(function, **kwargs):
    groups = kwargs.pop("groups", ())
    return JobSpec(FNS, function, kwargs, groups=groups)


def test_job_runs_in_a_worker_process_and_reports_progress(make):
    import os

    reg = make()
    job = wait(reg.submit(spec("count", n=5), "alice"))
    assert job.state == "done" and job.result["i"] == 5 and not job.result["stopped"]
    assert job.result["pid"] != os.getpid()  # trained outside the server process
    assert job.progress == 1.0 and job.last_event["step"] == 5 and job.seq >= 1
    snap = reg.snapshot(job)
    assert snap["state"] == "done" and snap["place"] == 0 and snap["result"] == job.result


def test_identical_requests_share_one_job(make):
    reg = make()
    a = reg.submit(spec("count", n=20), "alice")
    b = reg.submit(spec("count", n=20), "bob")
    wait(a)
    c = reg.submit(spec("count", n=20), "carol")  # finished: served from memory
    assert a is b is c and len(a.parts) == 1 and a.watchers == {"alice", "bob", "carol"}


def test_spec_key_is_its_content():
    @dataclasses.dataclass(frozen=True)
    class Cfg:
        steps: int = 3

    a = JobSpec("m", "run", {"cfg": Cfg(), "variants": ["x"]}, version="m/1")
    assert a.key == JobSpec("m", "run", {"variants": ["x"], "cfg": Cfg()}, version="m/1").key
    assert a.key != JobSpec("m", "run", {"cfg": Cfg(steps=4), "variants": ["x"]}, version="m/1").key
    assert a.key != JobSpec("m", "run", {"cfg": Cfg(), "variants": ["x"]}, version="m/2").key


def test_queue_is_bounded_first_come_first_served_and_places_are_reported(make, tmp_path):
    gate = tmp_path / "gate"
    reg = make(max_queue=2)
    running = reg.submit(spec("wait_for_file", path=str(gate)), "u0")
    q1 = reg.submit(spec("count", n=1), "u1")
    q2 = reg.submit(spec("count", n=2), "u2")
    assert running.state == "running" and reg.position(running) == 0
    assert reg.position(q1) == 1 and reg.position(q2) == 2 and reg.snapshot(q2)["place"] == 2
    with pytest.raises(QueueFull, match="queue is full"):
        reg.submit(spec("count", n=3), "u3")
    gate.touch()
    for j in (running, q1, q2):
        assert wait(j).state == "done"
    assert q1.started <= q2.started


def test_one_person_cannot_fill_the_queue(make, tmp_path):
    reg = make(max_per_owner=2)
    reg.submit(spec("wait_for_file", path=str(tmp_path / "a")), "alice")
    reg.submit(spec("wait_for_file", path=str(tmp_path / "b")), "alice")
    with pytest.raises(QueueFull, match="at most 2 per person"):
        reg.submit(spec("wait_for_file", path=str(tmp_path / "c")), "alice")
    bob = reg.submit(spec("wait_for_file", path=str(tmp_path / "c")), "bob")
    assert bob.state == "queued"
    for name in "abc":
        (tmp_path / name).touch()


def test_cancel_stops_a_running_job_in_its_process_and_other_jobs_continue(make):
    reg = make(workers=2)
    slow = reg.submit(spec("count", n=3000, delay=0.01), "alice")
    other = reg.submit(spec("count", n=5), "bob")
    time.sleep(0.3)
    reg.cancel(slow, "alice")
    assert wait(slow, 10).state == "cancelled" and slow.result["stopped"] and slow.result["i"] < 3000
    assert wait(other).state == "done"
    again = reg.submit(spec("count", n=3000, delay=0.01), "alice")  # a cancelled run is not cached
    assert again is not slow
    reg.cancel(again, "alice")


def test_cancelling_a_queued_job_frees_its_place(make, tmp_path):
    reg = make()
    running = reg.submit(spec("wait_for_file", path=str(tmp_path / "g")), "u0")
    queued = reg.submit(spec("count", n=1), "u1")
    behind = reg.submit(spec("count", n=2), "u2")
    reg.cancel(queued, "u1")
    assert queued.state == "cancelled" and reg.position(behind) == 1
    (tmp_path / "g").touch()
    assert wait(behind).state == "done" and wait(running).state == "done"


def test_a_job_watched_by_two_users_runs_until_both_leave(make):
    reg = make()
    job = reg.submit(spec("count", n=3000, delay=0.01), "alice")
    reg.submit(spec("count", n=3000, delay=0.01), "bob")
    reg.cancel(job, "alice")
    time.sleep(0.2)
    assert not job.cancel.is_set() and job.state == "running"
    reg.cancel_owner("bob")
    assert wait(job, 10).state == "cancelled"


def test_an_exception_fails_its_job_with_its_message(make):
    reg = make()
    bad = wait(reg.submit(spec("count", fail=True), "alice"))
    assert bad.state == "failed" and bad.error == "RuntimeError: boom"
    assert wait(reg.submit(spec("count", n=2), "bob")).state == "done"  # the same worker lives on
    again = reg.submit(spec("count", fail=True), "alice")  # a failed job is not cached
    assert again is not bad


def test_a_crashed_trainer_fails_its_job_and_the_next_job_runs(make):
    reg = make()
    dead = wait(reg.submit(spec("crash"), "alice"))
    assert dead.state == "failed" and "stopped unexpectedly (exit code 3)" in dead.error
    assert wait(reg.submit(spec("count", n=2), "bob")).state == "done"


def test_a_dead_zygote_is_replaced(make):
    import os
    import signal

    reg = make()
    first = wait(reg.submit(spec("count", n=2), "alice"))
    os.kill(reg.stats()["zygote_pid"], signal.SIGKILL)
    time.sleep(0.2)
    again = wait(reg.submit(spec("count", n=3), "bob"), 120)
    assert first.state == again.state == "done" and again.result["pid"] != first.result["pid"]


def test_a_trainer_that_ignores_stop_is_killed(make):
    reg = make(kill_after=0.5)
    job = reg.submit(spec("deaf", seconds=60), "alice")
    t = time.time()
    while job.last_event is None and time.time() - t < 30:
        time.sleep(0.01)
    reg.cancel(job, "alice")
    assert wait(job, 15).state == "cancelled" and time.time() - t < 40
    assert wait(reg.submit(spec("count", n=2), "bob")).state == "done"  # its slot is free again


def test_an_unpicklable_spec_fails_with_a_message(make):
    reg = make()
    bad = wait(reg.submit(JobSpec(FNS, "count", {"n": 2, "fail": lambda: 0}), "alice"))
    assert bad.state == "failed" and "cannot be sent" in bad.error
    assert wait(reg.submit(spec("count", n=2), "bob")).state == "done"


def test_an_abandoned_job_is_stopped(make):
    reg = make(abandon_after=0.5)
    job = reg.submit(spec("count", n=5000, delay=0.01), "alice")
    assert wait(job, 10).state == "cancelled"  # nobody polled (touched) it


def test_the_worker_runs_on_its_thread_budget(make):
    reg = make(threads_per_job=1)
    job = wait(reg.submit(spec("torch_threads"), "alice"), 120)
    assert job.state == "done", job.error
    assert job.result["threads"] == 1 and job.result["asked"] == 1


def test_a_lone_job_is_split_over_the_idle_workers_and_merged(make):
    reg = make(workers=3, cores=2)
    s = spec("per_variant", variants=["fail", "fix"], steps=100, groups=(("fail",), ("fix",)))
    job = reg.submit(s, "alice")
    t = time.time()
    while job.last_event is None and time.time() - t < 30:
        time.sleep(0.01)
    ev = job.last_event  # a live event, merged from whichever parts have spoken
    wait(job)
    assert job.state == "done" and len(job.parts) == 2
    r = job.result
    assert list(r["variants"]) == ["fail", "fix"]  # the spec's order, whichever part ended first
    assert r["variants"]["fail"]["pid"] != r["variants"]["fix"]["pid"]  # two processes, one core each
    assert r["variants"]["fail"]["value"] == 4 and r["variants"]["fix"]["value"] == 3
    assert ev is not None and set(ev["curves"]) <= {"fail", "fix"}
    assert set(job.last_event["variants"]) == {"fail", "fix"}


def test_under_load_every_job_runs_whole(make, tmp_path):
    reg = make(workers=2, cores=2)
    gate = tmp_path / "gate"
    first = reg.submit(spec("wait_for_file", path=str(gate)), "u0")  # no groups: one part
    jobs = [reg.submit(spec("per_variant", variants=["a", "b"], steps=5 + i, groups=(("a",), ("b",))), f"u{i}")
            for i in range(1, 4)]
    gate.touch()
    for j in [first, *jobs]:
        assert wait(j).state == "done"
    # the first job of three started on the one idle worker with two waiting behind it: whole
    assert len(jobs[0].parts) == 1 and list(jobs[0].result["variants"]) == ["a", "b"]


def test_merge_joins_parts_as_one_run():
    a = {"step": 7, "total": 9, "variants": {"x": 1}, "curves": {"x": [1]}, "stopped": False, "wall_time_s": 2.0,
         "config": {"k": 1}}
    b = {"step": 5, "total": 9, "variants": {"y": 2}, "curves": {"y": [2]}, "stopped": True, "wall_time_s": 3.0,
         "config": {"k": 1}}
    m = merge([b, a], ["x", "y"])
    assert m["step"] == 5 and m["stopped"] and m["wall_time_s"] == 3.0 and m["config"] == {"k": 1}
    assert list(m["variants"]) == ["x", "y"] and m["curves"] == {"x": [1], "y": [2]}
    assert merge([a]) is a


def test_parts_deal_groups_in_variant_order():
    s = JobSpec("m", kwargs={"variants": ["a", "b", "c"]}, groups=(("a",), ("b",), ("c",)))
    assert s.parts(2) == [("a", "c"), ("b",)] and s.parts(1) == [None] and s.parts(5) == [("a",), ("b",), ("c",)]
    assert JobSpec("m", kwargs={"variants": ["a", "b"]}).parts(2) == [None]


def test_disk_cache_serves_a_finished_run_and_survives_deletion(make, tmp_path):
    import shutil

    from engine.cache import ResultCache

    root = tmp_path / "cache"
    reg = make(disk_cache=ResultCache(root))
    first = wait(reg.submit(spec("count", n=2), "alice"))
    assert first.state == "done"
    # a new server (fresh registry) with the same cache folder serves it without running
    reg2 = make(disk_cache=ResultCache(root))
    job = reg2.submit(spec("count", n=2), "bob")
    assert job.state == "done" and job.result == first.result and job.parts == []
    shutil.rmtree(root)  # deleted while serving: the next result recreates it
    reg3 = make(disk_cache=ResultCache(root))
    again = wait(reg3.submit(spec("count", n=2), "carol"))
    assert again.state == "done" and again.parts and root.is_dir() and len(list(root.glob("*.json"))) == 1


def test_corrupt_cache_entry_is_dropped_and_recomputed(tmp_path):
    from engine.cache import ResultCache

    cache = ResultCache(tmp_path)
    cache.put(("x",), {"a": 1, "nan": float("nan")})
    assert cache.get(("x",)) == {"a": 1, "nan": None}  # NaN is stored as null, as in every JSON we write
    (f,) = tmp_path.glob("*.json")
    f.write_text("{garbage")
    assert cache.get(("x",)) is None and not f.exists()
    cache.put(("y",), {"a": 2})
    (g,) = tmp_path.glob("*.json")
    g.rename(cache._path(("z",)))  # a file under another key's name is never served as it
    assert cache.get(("z",)) is None


def test_active_watchers_counts_unfinished_jobs(make, tmp_path):
    reg = make(workers=2)
    a = reg.submit(spec("wait_for_file", path=str(tmp_path / "g")), "u1")
    reg.submit(spec("wait_for_file", path=str(tmp_path / "g")), "u2")
    b = reg.submit(JobSpec(FNS, "wait_for_file", {"path": str(tmp_path / "g")}, version="other"), "u3")
    assert reg.active_watchers() == 3
    (tmp_path / "g").touch()
    wait(a), wait(b)
    assert reg.active_watchers() == 0


# ---- the live view -------------------------------------------------------------------------------

def test_poll_interval_backs_off_with_watchers_and_poll_cost():
    from app_pages.live import POLL_BUDGET, POLL_MAX, POLL_MIN, poll_interval

    assert poll_interval(1, 0.005) == POLL_MIN  # alone: twice a second
    assert poll_interval(30, 0.005) == pytest.approx(30 * 0.005 / POLL_BUDGET)
    assert poll_interval(30, 0.05) == poll_interval(300, 0.005) == POLL_MAX
    assert poll_interval(10, 0.02) > poll_interval(10, 0.01)  # a slower server polls less
    # a page with a floor (the medical pages: an event every ~10 s) never polls faster than it
    assert poll_interval(1, 0.005, poll_min=1.0) == 1.0
    assert poll_interval(30, 0.05, poll_min=1.0) == POLL_MAX
    assert poll_interval(1, 0.005, poll_min=2 * POLL_MAX) == 2 * POLL_MAX


def test_frozen_figure_sends_the_same_spec():
    import plotly.graph_objects as go
    import plotly.io as pio
    import plotly.tools

    from app_pages.live import FrozenFigure

    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, math.nan], name="a"))
    fig.update_layout(title={"text": "t (step 1/2)"}, uirevision="keep")
    frozen = FrozenFigure(fig)
    assert pio.to_json(frozen, validate=False) == pio.to_json(fig, validate=False)
    assert plotly.tools.return_figure_from_figure_or_data(frozen, True) == fig.to_dict()


def test_a_live_frame_is_built_once_for_all_watchers():
    import plotly.graph_objects as go

    from app_pages import live

    class Where:
        def __init__(self):
            self.sent = []

        def plotly_chart(self, fig, **kw):
            self.sent.append(json.loads(fig.to_json()))

    builds = []

    def build():
        builds.append(1)
        return go.Figure(go.Scatter(x=[0, 1], y=[1, 0]))

    watchers = [Where() for _ in range(5)]
    token = live._FRAME.set((10**9, 3))  # job id, event seq
    try:
        for w in watchers:
            live.chart(w, "k", build)
    finally:
        live._FRAME.reset(token)
    assert len(builds) == 1 and all(w.sent == watchers[0].sent for w in watchers)
    live.chart(Where(), "k", build)  # outside a live poll (a final result): built as usual
    assert len(builds) == 2


# ---- splitting is exact for every demo that allows it --------------------------------------------

def _tiny(module):
    import demos.instability as ins
    import demos.mode_collapse as mc
    import demos.oscillation as osc
    import demos.vanishing_gradients as vg

    return {
        mc: (mc.Config(steps=20, eval_every=10), ["gan", "pacgan"]),
        osc: (osc.Config(steps=60, eval_every=10, frame_every=30, eval_samples=200), ["gan", "r1"]),
        ins: (ins.Config(steps=20, warmup=5, eval_every=10, arrows=5), ["saturating", "nonsaturating"]),
        vg: (vg.Config(steps=20, record_every=5), ["saturating", "lsgan"]),
    }[module]


def _strip(x):
    """A result without its timings (they differ run to run)."""
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in ("wall_time_s",)}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


@pytest.mark.parametrize("name", ["mode_collapse", "oscillation", "instability", "vanishing_gradients"])
def test_split_parts_merge_to_the_lockstep_result(name):
    """The pages declare each variant (vanishing gradients: each discriminator kind) a group that
    may train in its own process; that is only honest if the parts merge to exactly the result of
    one process training them in lockstep."""
    import importlib

    module = importlib.import_module(f"demos.{name}")
    cfg, variants = _tiny(module)
    whole = module.run(cfg, variants, 2, threads=1)
    parts = [module.run(cfg, [v], 2, threads=1) for v in variants]
    merged = merge(parts, variants)
    assert list(merged["variants"]) == variants
    assert json.dumps(_strip(merged), sort_keys=True) == json.dumps(_strip(whole), sort_keys=True)


def test_the_zygote_stays_single_threaded_so_forking_it_is_safe(make):
    """Forking a process that has other threads copies their locks, not the threads: a child can
    hang. The zygote imports torch and warms it up with one thread, and must stay at one."""
    import os

    from app_pages import live

    reg = make(preload=("torch", *live.PRELOAD), warmup=live._warmup())
    job = wait(reg.submit(spec("count", n=2), "alice"), 180)  # queued behind the warm-up
    assert job.state == "done"
    zygote = reg.stats()["zygote_pid"]
    assert len(os.listdir(f"/proc/{zygote}/task")) == 1
