"""`BatchController`: the batch dialog and its own runner driving `batch_job`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from deconv_gui.errors import DeconvError
from deconv_gui.gui.batch import BatchDialog, BatchProgress, BatchSummary, batch_job
from deconv_gui.gui.preferences import Preferences
from deconv_gui.gui.restore_panel import RunSettings
from deconv_gui.gui.runner import JobRunner


class BatchController(QObject):
    """Processes many photos with the model panel's settings into an output folder.

    ``settings()`` returns the model panel's `RunSettings` when a batch starts (None when no
    model is chosen); ``can_start()`` is False while something else runs (one job at a
    time). ``dialog_parent`` parents the dialog.

    Signals: ``progressed(BatchProgress)``, ``finished(BatchSummary)`` (after the dialog
    shows the summary), ``failed(message)``, ``cancelled()``, ``stopping()`` (a cancel was asked
    for), ``busy_changed(bool)``, ``notice(text, kind, timeout_ms)`` for the message bar
    (when the dialog is closed) and ``status(text, timeout_ms)`` for the status bar.
    """

    progressed = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    stopping = Signal()
    busy_changed = Signal(bool)
    notice = Signal(str, str, int)
    status = Signal(str, int)

    def __init__(
        self,
        prefs: Preferences,
        dialog_parent: QWidget,
        *,
        settings: Callable[[], RunSettings | None],
        can_start: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__(dialog_parent)
        self._prefs = prefs
        self._parent = dialog_parent
        self._settings = settings
        self._can_start = can_start
        self.runner = JobRunner(self)
        self.dialog: BatchDialog | None = None
        self.last_summary: BatchSummary | None = None
        self.runner.progressed.connect(self._on_progressed)
        self.runner.result_ready.connect(self._on_result_ready)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.busy_changed.connect(self.busy_changed)

    @property
    def is_busy(self) -> bool:
        return self.runner.is_busy

    def open_dialog(self, paths: list[Path]) -> BatchDialog | None:
        """Show the batch dialog for `paths` (the filmstrip's photos); None without a model."""
        run = self._settings()
        if run is None:
            return None
        if self.dialog is not None:
            self.dialog.raise_()
            return self.dialog
        spec = run.spec
        dlg = BatchDialog(
            paths,
            spec.name,
            self._prefs.output_dir,
            self._prefs.suffix_for(spec.task, spec.scale),
            self._parent,
        )
        dlg.start_requested.connect(self.start)
        dlg.cancel_requested.connect(self.cancel)
        dlg.finished.connect(self._on_dialog_closed)
        self.dialog = dlg
        dlg.show()
        return dlg

    def _on_dialog_closed(self, *_args: object) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = None

    def start(self) -> bool:
        """Start the batch the dialog describes; False (with the reason in the dialog) when
        it cannot."""
        dlg, run = self.dialog, self._settings()
        if dlg is None or run is None:
            return False
        if self.is_busy or not self._can_start():
            dlg.show_summary("Wait for the current run to finish (or cancel it).")
            return False
        try:
            paths = dlg.photo_paths()
        except DeconvError as exc:
            dlg.show_summary(str(exc))
            return False
        if not paths:
            dlg.show_summary("No photos to process.")
            return False
        out_dir, suffix, overwrite = dlg.output_dir(), dlg.suffix(), dlg.overwrite()
        if out_dir is None and not suffix:
            dlg.show_summary(
                "Choose an output folder or a name suffix: originals are never replaced."
            )
            return False
        dlg.set_running(True)
        self.runner.start(
            lambda: batch_job(
                paths,
                run.spec,
                run.options,
                out_dir,
                suffix,
                tile_size=run.tile_size,
                overwrite=overwrite,
            )
        )
        self.status.emit(f"Batch: {len(paths)} photos with {run.spec.name}…", 0)
        return True

    def cancel(self) -> bool:
        if not self.runner.is_busy:
            return False
        self.runner.cancel()
        self.stopping.emit()
        return True

    def _on_progressed(self, bp: BatchProgress) -> None:
        if self.dialog is not None:
            self.dialog.show_progress(bp)
        self.progressed.emit(bp)

    def _on_result_ready(self, summary: BatchSummary) -> None:
        self.last_summary = summary
        if self.dialog is not None:
            text = f"Finished: {summary.text()}."
            if summary.failed:
                text += "\nFailed:\n" + "\n".join(f"• {p.name}: {why}" for p, why in summary.failed)
            self.dialog.set_running(False)
            self.dialog.show_summary(text)
        self.status.emit(f"Batch finished: {summary.text()}", 10000)
        self.finished.emit(summary)

    def _on_failed(self, message: str, _details: str) -> None:
        if self.dialog is not None:
            self.dialog.set_running(False)
            self.dialog.show_summary(f"The batch stopped: {message}")
        else:
            self.notice.emit(f"The batch stopped: {message}", "error", 0)
        self.failed.emit(message)

    def _on_cancelled(self) -> None:
        if self.dialog is not None:
            self.dialog.set_running(False)
            self.dialog.show_summary("Cancelled. Photos finished so far are saved.")
        self.cancelled.emit()

    def shutdown(self) -> None:
        self.runner.shutdown()
        if self.dialog is not None:
            self.dialog.close()
