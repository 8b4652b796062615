"""Run generator jobs in a worker thread and re-emit what they do as Qt signals.

A job is a generator (or a callable returning one) that yields small progress records and
returns its result: `deconv_gui.core.jobs.restore_job`, a batch, a photo load. `JobRunner`
owns at most one `QThread` at a time and pulls the generator there; cancelling sets a flag
that is checked between two pulls, then closes the generator, so no tile starts after a
cancel. `TaskQueue` runs short jobs one after another on a runner (loads, saves, metrics) and
can keep only the latest request of a kind.

Every public signal is emitted in the thread the runner lives in (the GUI thread), so
handlers may touch widgets.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from deconv_gui.core.errors import describe_error, is_bug
from deconv_gui.errors import CancelledError

log = logging.getLogger(__name__)

Job = Generator[Any, Any, Any] | Callable[[], Any]

#: Niceness added to worker threads (Linux, where nice is per thread): under load the GUI thread wins the CPU,
#: so the window stays responsive while a model runs on every core.
WORKER_NICE = 5

# Worker threads started and not yet seen finished (tests assert none is left running).
_LIVE_THREADS: set[QThread] = set()


def running_worker_threads() -> int:
    """How many worker threads started by any `JobRunner` are still running."""
    return sum(1 for t in list(_LIVE_THREADS) if t.isRunning())


def _lower_priority() -> None:
    """Make the calling thread yield the CPU to the GUI thread (threads it starts inherit it)."""
    if WORKER_NICE and sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, current + WORKER_NICE))
        except OSError:  # not permitted or not per-thread on this system: keep the default
            pass


class _WorkerThread(QThread):
    """Pulls one generator; its signals are queued to the runner in the GUI thread."""

    item_ready = Signal(object)
    job_returned = Signal(object)
    job_raised = Signal(object, str)
    job_cancelled = Signal()

    def __init__(
        self,
        job: Job,
        cancel: threading.Event,
        prepare: Callable[[Any], Any] | None,
    ) -> None:
        super().__init__()
        self._job = job
        self._cancel = cancel
        self._prepare = prepare

    def run(self) -> None:  # runs in the worker thread
        _lower_priority()
        gen = None
        try:
            if inspect.isgenerator(self._job):
                gen = self._job
            else:
                made = self._job()  # e.g. builds the model: slow, so here and not in the GUI
                if not inspect.isgenerator(made):
                    self.job_returned.emit(made)
                    return
                gen = made
            while True:
                if self._cancel.is_set():
                    gen.close()
                    self.job_cancelled.emit()
                    return
                try:
                    item = next(gen)
                except StopIteration as stop:
                    self.job_returned.emit(stop.value)
                    return
                if self._prepare is not None:
                    item = self._prepare(item)
                self.item_ready.emit(item)
        except CancelledError:
            self.job_cancelled.emit()
        except BaseException as exc:  # reported to the GUI, never lost
            self.job_raised.emit(exc, traceback.format_exc())
        finally:
            if gen is not None:
                try:
                    gen.close()
                except Exception:  # pragma: no cover - a generator that fails to close
                    log.exception("closing a job generator failed")
            self._job = None


class JobRunner(QObject):
    """Owns one worker thread at a time and drives a generator job in it.

    Signals (all emitted in the GUI thread):
    - ``progressed(item)``: each record the job yields (after ``prepare`` ran on it).
    - ``result_ready(value)``: the job returned ``value``.
    - ``failed(message, details)``: the job raised; ``message`` is one readable line,
      ``details`` the traceback.
    - ``cancelled()``: the job stopped because `cancel` was called.
    - ``finished()``: after any of the three above; the runner is idle again.
    - ``busy_changed(bool)``.
    """

    progressed = Signal(object)
    result_ready = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    finished = Signal()
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: _WorkerThread | None = None
        self._cancel = threading.Event()
        self._outcome: tuple[str, Any, str] | None = None
        self._shut_down = False

    # ------------------------------------------------------------------ API
    @property
    def is_busy(self) -> bool:
        return self._thread is not None

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def start(self, job: Job, *, prepare: Callable[[Any], Any] | None = None) -> None:
        """Run `job` (a generator, or a callable returning one or a plain value).

        ``prepare`` runs in the worker thread on each yielded item before it is emitted
        (e.g. to convert pixels for display off the GUI thread).
        """
        if self._shut_down:
            raise RuntimeError("this runner was shut down")
        if self._thread is not None:
            raise RuntimeError("a job is already running")
        self._cancel = threading.Event()
        self._outcome = None
        thread = _WorkerThread(job, self._cancel, prepare)
        thread.item_ready.connect(self._on_item_ready)
        thread.job_returned.connect(self._on_job_returned)
        thread.job_raised.connect(self._on_job_raised)
        thread.job_cancelled.connect(self._on_job_cancelled)
        thread.finished.connect(self._on_thread_finished)
        self._thread = thread
        _LIVE_THREADS.add(thread)
        thread.start()
        self.busy_changed.emit(True)

    def cancel(self) -> None:
        """Ask the job to stop: no new tile starts; `cancelled` follows."""
        self._cancel.set()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the worker thread ended (True) or `msecs` passed (False)."""
        thread = self._thread
        if thread is None:
            return True
        return thread.wait() if msecs < 0 else thread.wait(msecs)

    def shutdown(self) -> None:
        """Cancel, wait for the worker and drop whatever it still reports (for closing)."""
        self._shut_down = True
        self.cancel()
        thread = self._thread
        if thread is not None:
            thread.wait()
            self._release(thread)

    # ------------------------------------------------------------------ slots (GUI thread)
    @Slot(object)
    def _on_item_ready(self, item: Any) -> None:
        if not self._shut_down and self._from_current():
            self.progressed.emit(item)

    @Slot(object)
    def _on_job_returned(self, value: Any) -> None:
        if self._from_current():
            self._outcome = ("ok", value, "")

    @Slot(object, str)
    def _on_job_raised(self, exc: BaseException, details: str) -> None:
        if not self._from_current():
            return
        message = describe_error(exc)
        if is_bug(exc):
            log.error("job failed: %s\n%s", message, details)
        else:
            log.info("job failed: %s", message)
        self._outcome = ("error", message, details)

    @Slot()
    def _on_job_cancelled(self) -> None:
        if self._from_current():
            self._outcome = ("cancelled", None, "")

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self._thread
        if not self._from_current():
            return
        self._release(thread)
        outcome, self._outcome = self._outcome, None
        if self._shut_down:
            return
        if outcome is None:  # cancelled before the thread reported anything
            outcome = ("cancelled", None, "")
        kind, value, details = outcome
        if kind == "ok":
            self.result_ready.emit(value)
        elif kind == "error":
            self.failed.emit(value, details)
        else:
            self.cancelled.emit()
        self.busy_changed.emit(False)
        self.finished.emit()

    def _from_current(self) -> bool:
        """Was the signal being handled sent by the thread of the job in hand?"""
        sender = self.sender()
        return sender is not None and self._thread is not None and sender is self._thread

    def _release(self, thread: QThread) -> None:
        # `finished` is emitted while the thread is still winding down: wait (a moment) until
        # it has really ended before the last Python reference, which owns it, goes away.
        # Destroying a QThread that is still running aborts the process.
        thread.wait()
        _LIVE_THREADS.discard(thread)
        if self._thread is thread:
            self._thread = None


@dataclass
class _Task:
    job: Job
    on_result: Callable[[Any], None] | None
    on_error: Callable[[str, str], None] | None
    on_progress: Callable[[Any], None] | None
    on_cancel: Callable[[], None] | None
    key: str | None
    prepare: Callable[[Any], Any] | None


class TaskQueue(QObject):
    """Short jobs run one after another in a worker thread, with per-task callbacks.

    ``submit(..., key=K)`` replaces a still-pending task with the same key, so a queue of
    metric requests keeps only the latest one of each kind. A task dropped before it ran
    (replaced or cancelled) hears ``on_cancel``.
    """

    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = JobRunner(self)
        self._runner.progressed.connect(self._on_progressed)
        self._runner.result_ready.connect(self._on_result_ready)
        self._runner.failed.connect(self._on_failed)
        self._runner.cancelled.connect(self._on_cancelled)
        self._runner.finished.connect(self._on_finished)
        self._pending: list[_Task] = []
        self._current: _Task | None = None
        self._closed = False

    @property
    def is_busy(self) -> bool:
        return self._current is not None or bool(self._pending)

    @property
    def current_key(self) -> str | None:
        return self._current.key if self._current else None

    def pending_keys(self) -> list[str | None]:
        return [t.key for t in self._pending]

    def submit(
        self,
        job: Job,
        *,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[str, str], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
        key: str | None = None,
        prepare: Callable[[Any], Any] | None = None,
    ) -> None:
        if self._closed:
            return
        if key is not None:
            self._drop(lambda t: t.key == key)
        was_busy = self.is_busy
        self._pending.append(_Task(job, on_result, on_error, on_progress, on_cancel, key, prepare))
        if not was_busy:
            self.busy_changed.emit(True)
        self._kick()

    def cancel(self, key: str | None = None) -> None:
        """Drop pending tasks (those with `key`, or all) and cancel the running one if it matches."""
        self._drop(lambda t: key is None or t.key == key)
        if self._current is not None and (key is None or self._current.key == key):
            self._runner.cancel()

    def _drop(self, which: Callable[[_Task], bool]) -> None:
        """Remove pending tasks; each dropped task hears ``on_cancel``."""
        dropped = [t for t in self._pending if which(t)]
        self._pending = [t for t in self._pending if not which(t)]
        for t in dropped:
            if t.on_cancel is not None:
                t.on_cancel()

    def shutdown(self) -> None:
        self._closed = True
        self._pending.clear()
        self._runner.shutdown()
        self._current = None

    def _kick(self) -> None:
        if self._closed or self._current is not None or not self._pending:
            return
        self._current = self._pending.pop(0)
        self._runner.start(self._current.job, prepare=self._current.prepare)

    def _on_progressed(self, item: Any) -> None:
        if self._current and self._current.on_progress:
            self._current.on_progress(item)

    def _on_result_ready(self, value: Any) -> None:
        if self._current and self._current.on_result:
            self._current.on_result(value)

    def _on_failed(self, message: str, details: str) -> None:
        if self._current and self._current.on_error:
            self._current.on_error(message, details)

    def _on_cancelled(self) -> None:
        if self._current and self._current.on_cancel:
            self._current.on_cancel()

    def _on_finished(self) -> None:
        self._current = None
        self._kick()
        if not self.is_busy:
            self.busy_changed.emit(False)
