"""Unexpected exceptions: written to a log file in the user folder and shown in a dialog.

A bug must never be a silent crash: `install_excepthook` routes uncaught exceptions (from the
GUI thread, Qt slots and other threads) to the log and to a dialog with the details, and the
app goes on. What no hook can catch (an abort, a segmentation fault in a library) ends the
process; `enable_fatal_log` has Python write where each thread was to `fatal.log` in the log
folder then, and the next start says that the last run stopped and where the details are.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import sys
import threading
import traceback
from datetime import datetime
from pathlib import Path
from typing import TextIO

from deconv_gui.logs import log_dir, log_file, setup_logging

__all__ = [
    "enable_fatal_log",
    "fatal_log",
    "install_excepthook",
    "log_dir",
    "log_file",
    "report_exception",
    "setup_logging",
]

FATAL_LOG_LIMIT = 1_000_000  # bytes kept of the file (its newest part)
_RUN_START = "=== Deconv GUI started"
_fatal_file: TextIO | None = None

log = logging.getLogger("deconv_gui")

_installed = False
_open_dialogs: list = []


def report_exception(exc_type, exc, tb) -> str:
    """Log an unexpected exception; returns the formatted traceback."""
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    log.error("unexpected error\n%s", details)
    return details


def _show_dialog(summary: str, details: str) -> None:
    from PySide6.QtCore import Qt, QThread, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    app = QApplication.instance()
    if app is None:
        return

    def show() -> None:
        box = QMessageBox(QMessageBox.Icon.Critical, "Deconv GUI: unexpected error", summary)
        box.setInformativeText(
            "The app keeps running; your photos and results are still open. "
            f"Details were written to {log_file()}."
        )
        box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        _open_dialogs.append(box)  # parentless: keep the Python side alive while it shows
        box.finished.connect(lambda *_: _open_dialogs.remove(box) if box in _open_dialogs else None)
        box.open()

    if QThread.currentThread() == app.thread():
        show()
    else:  # from another thread: show it from the GUI thread
        QTimer.singleShot(0, app, show)


def install_excepthook() -> None:
    """Route uncaught exceptions to the log file and a dialog."""
    global _installed
    if _installed:
        return
    _installed = True
    setup_logging()

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        details = report_exception(exc_type, exc, tb)
        sys.__stderr__ and sys.__stderr__.write(details)
        with contextlib.suppress(Exception):  # never raise from the hook
            _show_dialog(f"{exc_type.__name__}: {exc}", details)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        hook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook


def fatal_log() -> Path:
    return log_dir() / "fatal.log"


def enable_fatal_log() -> str:
    """Have Python write the traceback of every thread to `fatal_log()` if the process dies
    of a fatal error (once per process). Returns the first line of what the previous run
    wrote there ("Fatal Python error: Aborted"; "" when it ended normally or never ran)."""
    global _fatal_file
    path = fatal_log()
    try:
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    except OSError:
        text = ""
    last_run = text.rsplit(_RUN_START, 1)[-1]
    previous = next(
        (line.strip() for line in last_run.splitlines() if line.startswith("Fatal Python error")),
        "",
    )
    if _fatal_file is not None:
        return previous
    try:
        if len(text) > FATAL_LOG_LIMIT:  # keep the newest part
            path.write_text(text[-FATAL_LOG_LIMIT // 2 :], encoding="utf-8")
        f = path.open("a", encoding="utf-8")
        f.write(f"{_RUN_START} {datetime.now():%Y-%m-%d %H:%M:%S}, process {os.getpid()}\n")
        f.flush()
        faulthandler.enable(file=f, all_threads=True)
    except (OSError, RuntimeError) as exc:  # a read-only home: run without it
        log.warning("cannot keep a log of fatal errors in %s: %s", path, exc)
        return previous
    _fatal_file = f  # open for the whole process: faulthandler writes to its descriptor
    return previous
