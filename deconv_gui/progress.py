"""How the batch commands (``restore``, ``watch``) show a run in a terminal or to a script.

`BatchReporter` takes the pipeline's records (`FileProgress`, the watch's `WatchStatus`) and
either draws two progress bars with `rich` on stderr (the photos, with time left; the tiles
of the photo being processed) when stderr is a terminal, or stays quiet but for failures and
the summary when it is not (a single photo's summary says what Auto chose); with
``json_lines`` it prints one JSON object per event on stdout instead (``plan``,
``cluster``, ``start``, ``tile``, ``done`` with ``auto`` when Auto chose a strength,
``failed``, ``skipped``, ``watching``, ``summary``), for scripts.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from deconv_gui.core.batch import DONE_BEFORE
from deconv_gui.core.pipeline import FileProgress, RunSummary
from deconv_gui.errors import read_reason

if TYPE_CHECKING:
    from deconv_gui.core.batch import BatchPlan

__all__ = ["BatchReporter", "failure_line", "format_seconds"]

R = TypeVar("R")


def failure_line(path: str | Path, error: str, *, skipped: bool = False) -> str:
    """One line for a photo that failed (or was skipped): ``error: PATH: why``. The loader's
    messages already name the file (``Cannot read a.png: the file is empty``); that name is
    not said twice: ``error: cannot read photos/a.png: the file is empty``."""
    word = "warning: skipped" if skipped else "error:"
    why = read_reason(error, Path(path).name)
    if not skipped and why != error:
        return f"error: cannot read {path}: {why}"
    return f"{word} {path}: {error}"


def format_seconds(seconds: float) -> str:
    """``4.2s``, ``3m05s``, ``2h03m``."""
    s = max(0.0, float(seconds))
    if s < 60:
        return f"{s:.1f}s"
    m, s = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


class BatchReporter:
    """Shows one batch or watch (see the module doc); use it as a context manager and pass
    every record to `event` (or let `drive` pull the whole run)."""

    def __init__(
        self,
        label: str,
        *,
        json_lines: bool = False,
        stderr: IO[str] | None = None,
        stdout: IO[str] | None = None,
    ) -> None:
        from rich.console import Console

        self.label = label
        self.json_lines = json_lines
        self._out = stdout or sys.stdout
        self._err = stderr or sys.stderr
        self.console = Console(file=self._err, highlight=False)
        self.live = not json_lines and self.console.is_terminal
        self._progress: Any = None
        self._overall: Any = None
        self._current: Any = None
        self._started: dict[int, float] = {}
        self._waiting: tuple[int, ...] | None = None
        #: the last photo done and what Auto chose for it (a one-photo summary says it)
        self._auto: tuple[Path | None, tuple[str, ...]] = (None, ())

    # ------------------------------------------------------------------ set-up
    def __enter__(self) -> BatchReporter:
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}", markup=False),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
            self._overall = self._progress.add_task(self.label, total=None, unit="photos")
            self._current = self._progress.add_task("", total=None, unit="tiles", visible=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # ------------------------------------------------------------------ events
    def _json(self, event: str, **fields: Any) -> None:
        self._out.write(json.dumps({"event": event, **fields}, default=str) + "\n")
        self._out.flush()

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def plan(self, plan: BatchPlan, out_dir: Path | None) -> None:
        """Before the run: what is to do and what was done before (and a warning about the
        manifest, on stderr)."""
        if plan.warning:
            print(f"warning: {plan.warning}", file=sys.stderr, flush=True)
        if self.json_lines:
            self._json(
                "plan",
                total=plan.total,
                todo=len(plan.todo),
                done_before=len(plan.done),
                existing=len(plan.refused) + len(plan.kept),
                not_raw=len(plan.not_raw),
                out_dir=out_dir,
            )
        elif plan.done or plan.not_raw:
            where = f" in {out_dir}" if out_dir is not None else ""
            manifest = f" (manifest{where})" if plan.done else ""  # what says they were done
            self._line(f"{self.label}: {plan.text()}{manifest}")
        if self._progress is not None:
            self._progress.update(self._overall, total=len(plan.todo) + len(plan.refused))

    def note(self, event: str, text: str, **fields: Any) -> None:
        """A one-off message (e.g. the cluster that was found)."""
        if self.json_lines:
            self._json(event, message=text, **fields)
        else:
            self._line(text)

    def event(self, ev: Any) -> None:
        if isinstance(ev, FileProgress):
            self._file(ev)
        else:  # a WatchStatus
            self._watch(ev)

    def _file(self, ev: FileProgress) -> None:
        p = self._progress
        if not ev.finished and ev.tile is None:  # a photo starts
            self._started[ev.index] = time.monotonic()
            if self.json_lines:
                self._json("start", index=ev.index, total=ev.total, input=ev.path)
            elif p is not None:
                p.update(self._overall, total=ev.total)
                p.reset(self._current, total=None, description=ev.path.name, visible=True)
            return
        if not ev.finished:  # a tile
            if self.json_lines:
                self._json("tile", index=ev.index, done=ev.tiles_done, of=ev.tiles_total)
            elif p is not None:
                p.update(self._current, completed=ev.tiles_done, total=ev.tiles_total)
            return
        began = self._started.pop(ev.index, None)
        seconds = round(time.monotonic() - began, 3) if began is not None else None
        if ev.output is not None:
            self._auto = (ev.path, ev.auto)
        if self.json_lines:
            said = {"warnings": list(ev.warnings)} if ev.warnings else {}  # also on stderr
            if ev.auto:
                said["auto"] = list(ev.auto)
            if ev.output is not None:
                self._json("done", index=ev.index, input=ev.path, output=ev.output,
                           seconds=seconds, **said)  # fmt: skip
            elif ev.skipped:
                self._json("skipped", index=ev.index, input=ev.path, reason=ev.error)
            else:
                self._json("failed", index=ev.index, input=ev.path, error=ev.error, **said)
            return
        if ev.output is None:
            self._line(failure_line(ev.path, ev.error, skipped=ev.skipped))
        if p is not None:
            p.update(self._overall, total=ev.total, completed=ev.index + 1)
            p.update(self._current, visible=False)

    def _watch(self, status: Any) -> None:
        for text in status.warnings:  # on stderr, as a batch's plan warning
            print(f"warning: {text}", file=sys.stderr, flush=True)
        key = (status.waiting, status.done, status.failed, status.skipped)
        if key == self._waiting:
            return
        self._waiting = key
        if self.json_lines:
            self._json(
                "watching",
                waiting=status.waiting,
                done=status.done,
                failed=status.failed,
                skipped=status.skipped,
            )
        elif self._progress is not None:
            wait = f", {status.waiting} arriving" if status.waiting else ""
            self._progress.update(self._overall, description=f"{self.label}: watching{wait}")

    def drive(self, run: Generator[Any, Any, R]) -> R:
        """Pull ``run`` to its end, showing every record; returns its result."""
        try:
            while True:
                try:
                    ev = next(run)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                self.event(ev)
        finally:
            run.close()

    def summary(self, summary: RunSummary, *, out_dir: Path | None = None) -> None:
        """After the run: counts, time, where the results are."""
        done_before = sum(1 for _, why in summary.skipped if why == DONE_BEFORE)
        if self.json_lines:
            self._json(
                "summary",
                done=len(summary.done),
                failed=len(summary.failed),
                skipped=len(summary.skipped),
                warned=summary.warned_photos,
                done_before=done_before,
                cancelled=summary.cancelled,
                stopped=summary.stopped or None,
                elapsed=round(summary.elapsed, 3),
            )
            return
        self.__exit__()
        one_failure = len(summary.failed) == 1 and not summary.done and not summary.skipped
        if one_failure and not summary.cancelled and not summary.stopped:
            return  # its own error line says it all (a one-photo run: one line, not three)
        text = f"{self.label}: {summary.text()} in {format_seconds(summary.elapsed)}"
        if done_before:
            text += f" ({done_before} done before)"
        if len(summary.done) == 1:
            text += f" -> {summary.done[0][1]}"
            path, auto = self._auto
            if auto and path == summary.done[0][0]:
                text += f" (Auto: {', '.join(auto)})"
        elif out_dir is not None and summary.done:
            text += f" -> {out_dir}"
        if summary.cancelled:
            text += "; stopped: run the same command again to go on"
        elif summary.stopped:
            text += "; free some space and run the same command again for the photos not begun"
        self._line(text)
