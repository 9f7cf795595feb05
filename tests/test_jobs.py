"""The shared job queue: bounded, deduplicating, cancellable, and failure-isolating."""
import threading
import time

import pytest

from engine.jobs import JobRegistry, QueueFull


def wait(job, timeout=10):
    t = time.time()
    while not job.done and time.time() - t < timeout:
        time.sleep(0.01)
    return job


def counting_fn(n_steps=5, delay=0.01, fail=False):
    def fn(on_event, should_stop):
        for i in range(n_steps):
            if should_stop():
                return {"stopped": True, "i": i}
            on_event({"step": i + 1, "total": n_steps})
            time.sleep(delay)
        if fail:
            raise RuntimeError("boom")
        return {"stopped": False, "i": n_steps}
    return fn


def test_job_runs_and_reports_progress():
    reg = JobRegistry(workers=1, threads_per_job=1)
    job = wait(reg.submit(("a",), counting_fn(), "alice"))
    assert job.state == "done" and job.result == {"stopped": False, "i": 5}
    assert job.progress == 1.0 and job.last_event["step"] == 5


def test_identical_requests_share_one_job():
    reg = JobRegistry(workers=1, threads_per_job=1)
    calls = []

    def fn(on_event, should_stop):
        calls.append(1)
        time.sleep(0.05)
        return {"x": 1}

    a = reg.submit(("same",), fn, "alice")
    b = reg.submit(("same",), fn, "bob")
    wait(a)
    c = reg.submit(("same",), fn, "carol")  # finished: served from the cache
    assert a is b is c and len(calls) == 1


def test_queue_is_bounded_and_positions_are_reported():
    reg = JobRegistry(workers=1, threads_per_job=1, max_queue=2)
    gate = threading.Event()

    def blocker(on_event, should_stop):
        gate.wait(5)
        return {}

    running = reg.submit(("r",), blocker, "u0")
    time.sleep(0.05)
    q1 = reg.submit(("q1",), blocker, "u1")
    q2 = reg.submit(("q2",), blocker, "u2")
    assert reg.position(running) == 0 and reg.position(q1) == 1 and reg.position(q2) == 2
    with pytest.raises(QueueFull):
        reg.submit(("q3",), blocker, "u3")
    gate.set()
    for j in (running, q1, q2):
        wait(j)


def test_cancel_stops_a_running_job_and_other_jobs_continue():
    reg = JobRegistry(workers=2, threads_per_job=1)
    slow = reg.submit(("slow",), counting_fn(500, 0.01), "alice")
    other = reg.submit(("other",), counting_fn(5), "bob")
    time.sleep(0.1)
    reg.cancel(slow, "alice")
    assert wait(slow).state == "cancelled" and slow.result["stopped"]
    assert wait(other).state == "done"


def test_a_job_watched_by_two_users_runs_until_both_leave():
    reg = JobRegistry(workers=1, threads_per_job=1)
    job = reg.submit(("shared",), counting_fn(300, 0.01), "alice")
    reg.submit(("shared",), counting_fn(300, 0.01), "bob")
    reg.cancel(job, "alice")
    time.sleep(0.1)
    assert not job.cancel.is_set()
    reg.cancel_owner("bob")
    assert wait(job).state == "cancelled"


def test_failure_is_contained():
    reg = JobRegistry(workers=1, threads_per_job=1)
    bad = wait(reg.submit(("bad",), counting_fn(fail=True), "alice"))
    assert bad.state == "failed" and "boom" in bad.error
    good = wait(reg.submit(("good",), counting_fn(), "bob"))
    assert good.state == "done"
    # a failed job is not cached: asking again runs it again
    again = reg.submit(("bad",), counting_fn(), "alice")
    assert again is not bad and wait(again).state == "done"


def test_abandoned_job_is_stopped():
    reg = JobRegistry(workers=1, threads_per_job=1, abandon_after=0.2)
    job = reg.submit(("lonely",), counting_fn(1000, 0.01), "alice")
    assert wait(job, 5).state == "cancelled"  # nobody polled (touch) it


def test_thread_budget_applies_inside_job():
    import torch

    reg = JobRegistry(workers=1, threads_per_job=1)
    seen = {}

    def fn(on_event, should_stop):
        seen["threads"] = torch.get_num_threads()
        return {}

    wait(reg.submit(("t",), fn, "alice"))
    assert seen["threads"] == 1


def test_thread_budget_holds_when_a_concurrent_job_ends():
    """Two workers: when the short job ends and restores the thread count it saved (the server's
    2), the long one still runs on its budget of 1. This holds because torch's intra-op count is
    per calling thread in the OpenMP build (measured: a worker's set_num_threads does not change
    what the main thread sees); with a process-wide count the long job would run on 2 threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)  # what an idle 2-core server starts with
    try:
        reg = JobRegistry(workers=2, threads_per_job=1)
        short_done, seen = threading.Event(), {}

        def short(on_event, should_stop):
            time.sleep(0.1)
            return {}

        def long(on_event, should_stop):
            short_done.wait(5)
            time.sleep(0.1)  # the short job's worker has left its job by now
            seen["threads"] = torch.get_num_threads()
            return {}

        j_short = reg.submit(("short",), short, "bob")  # starts first, on the server's 2 threads
        time.sleep(0.03)
        j_long = reg.submit(("long",), long, "alice")
        wait(j_short)
        short_done.set()
        wait(j_long)
        assert seen["threads"] == 1
    finally:
        torch.set_num_threads(before)


def test_disk_cache_serves_a_finished_run_and_survives_deletion(tmp_path):
    import shutil

    from engine.cache import ResultCache

    root = tmp_path / "cache"
    calls = []

    def fn(on_event, should_stop):
        calls.append(1)
        return {"value": 42, "nan": float("nan")}

    reg = JobRegistry(workers=1, threads_per_job=1, disk_cache=ResultCache(root))
    assert wait(reg.submit(("k", 1), fn, "alice")).result["value"] == 42
    # a new server (fresh registry) with the same cache folder serves it without running
    reg2 = JobRegistry(workers=1, threads_per_job=1, disk_cache=ResultCache(root))
    job = reg2.submit(("k", 1), fn, "bob")
    assert job.state == "done" and job.result["value"] == 42 and job.result["nan"] is None
    assert len(calls) == 1
    shutil.rmtree(root)  # deleted while serving: the next result recreates it
    reg3 = JobRegistry(workers=1, threads_per_job=1, disk_cache=ResultCache(root))
    assert wait(reg3.submit(("k", 1), fn, "carol")).state == "done" and len(calls) == 2
    assert root.is_dir() and len(list(root.glob("*.json"))) == 1


def test_corrupt_cache_entry_is_dropped_and_recomputed(tmp_path):
    from engine.cache import ResultCache

    cache = ResultCache(tmp_path)
    cache.put(("x",), {"a": 1})
    (f,) = tmp_path.glob("*.json")
    f.write_text("{garbage")
    assert cache.get(("x",)) is None and not f.exists()
    cache.put(("y",), {"a": 2})
    (g,) = tmp_path.glob("*.json")
    g.rename(cache._path(("z",)))  # a file under another key's name is never served as it
    assert cache.get(("z",)) is None


def test_poll_interval_grows_with_watchers():
    from app_pages.live import POLL_S, poll_interval

    assert poll_interval(1) == POLL_S
    assert poll_interval(10) > POLL_S
    assert poll_interval(30) == poll_interval(300) == 2.5


def test_active_watchers_counts_unfinished_jobs():
    reg = JobRegistry(workers=1, threads_per_job=1)
    gate = threading.Event()

    def blocker(on_event, should_stop):
        gate.wait(5)
        return {}

    a = reg.submit(("a",), blocker, "u1")
    reg.submit(("a",), blocker, "u2")
    b = reg.submit(("b",), blocker, "u3")
    assert reg.active_watchers() == 3
    gate.set()
    wait(a), wait(b)
    assert reg.active_watchers() == 0
