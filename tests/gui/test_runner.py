"""The job runner: generators driven in a worker thread, re-emitted as signals."""

from __future__ import annotations

import threading

import pytest

from deconv_gui.errors import ImageReadError
from deconv_gui.gui.runner import JobRunner, TaskQueue, running_worker_threads


def counting_job(n: int, gate: threading.Event | None = None):
    for i in range(n):
        if gate is not None:
            gate.wait(5)
        yield i
    return "done"


def test_progress_and_result_arrive_in_the_gui_thread(qtbot):
    runner = JobRunner()
    seen: list[int] = []
    threads: set = set()
    runner.progressed.connect(lambda i: (seen.append(i), threads.add(threading.get_ident())))
    with qtbot.waitSignal(runner.result_ready, timeout=5000) as blocker:
        runner.start(lambda: counting_job(5))
        assert runner.is_busy
    assert blocker.args == ["done"]
    assert seen == [0, 1, 2, 3, 4]
    assert threads == {threading.get_ident()}
    qtbot.waitUntil(lambda: not runner.is_busy)
    assert running_worker_threads() == 0


def test_failure_is_reported_with_a_readable_message(qtbot):
    def broken():
        yield 1
        raise ImageReadError("photo.jpg is truncated")

    runner = JobRunner()
    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.start(broken)
    assert blocker.args[0] == "photo.jpg is truncated"
    assert "Traceback" in blocker.args[1]


def test_unexpected_error_message_names_the_exception(qtbot):
    def buggy():
        raise ZeroDivisionError("oops")
        yield  # pragma: no cover

    runner = JobRunner()
    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.start(buggy)
    assert "ZeroDivisionError" in blocker.args[0]


def test_cancel_stops_pulling_and_closes_the_generator(qtbot):
    step = threading.Semaphore(0)  # the test lets the job make one step at a time
    closed = threading.Event()
    pulled: list[int] = []

    def job():
        try:
            for i in range(100):
                step.acquire(timeout=5)
                pulled.append(i)
                yield i
        finally:
            closed.set()

    runner = JobRunner()
    busy: list[bool] = []
    runner.busy_changed.connect(busy.append)
    with qtbot.waitSignal(runner.progressed, timeout=5000):
        runner.start(job)
        step.release()
    with qtbot.waitSignal(runner.cancelled, timeout=5000):
        runner.cancel()
        step.release()  # the step in progress finishes; no further step starts
    assert closed.is_set()
    # the worker may see the cancel before it pulls again: the step in progress, if any,
    # finishes, and no further one starts
    assert pulled in ([0], [0, 1])
    assert busy == [True, False]
    runner.shutdown()
    with pytest.raises(RuntimeError):
        runner.start(job)


def test_task_queue_keeps_only_the_latest_of_a_key(qtbot):
    queue = TaskQueue()
    gate = threading.Event()
    results: list[str] = []

    def slow():
        gate.wait(5)
        return "first"

    queue.submit(slow, on_result=results.append)
    for i in range(5):
        queue.submit(lambda i=i: f"visible {i}", on_result=results.append, key="visible")
    gate.set()
    qtbot.waitUntil(lambda: not queue.is_busy, timeout=5000)
    assert results == ["first", "visible 4"]
    queue.shutdown()
