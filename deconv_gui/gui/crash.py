"""Unexpected exceptions: written to a log file in the user folder and shown in a dialog.

A bug must never be a silent crash: `install_excepthook` routes uncaught exceptions (from the
GUI thread, Qt slots and other threads) to the log and to a dialog with the details, and the
app goes on.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import traceback

from deconv_gui.logs import log_dir, log_file, setup_logging

__all__ = ["install_excepthook", "log_dir", "log_file", "report_exception", "setup_logging"]

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
