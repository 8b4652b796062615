"""Batch mode: many photos (the filmstrip, or a folder tree) through a recipe into a folder.

`batch_job` is a plain generator (no Qt) driven by the `BatchController`'s `JobRunner`: the
core's resumable batch (`core.batch.plan_batch` / `run_batch`, with the output folder's
manifest) or, with ``watch``, a watch on the folder (`core.watch.watch_folders`) until the
user stops it. It yields the `BatchPlan` first (what is to do, what was done before), then
a `BatchProgress` per photo start, tile and end (and a `WatchStatus` after each look at a
watched folder); it returns a `BatchSummary`.

`BatchDialog` picks the photos (with sub-folders and include/exclude patterns), the
settings (the model panel's, or a saved preset), how results are written and the watch
toggle, and shows progress in photos with the time left, each failure once, the summary and
an "Open output folder" button.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.core.batch import (
    DONE_BEFORE,
    NOT_RAW,
    BatchPlan,
    Execute,
    JobInfo,
    OutputSettings,
    plan_batch,
    run_batch,
    without_outputs,
)
from deconv_gui.core.inputs import InputFile, expand_inputs
from deconv_gui.core.manifest import Manifest
from deconv_gui.core.naming import plan_outputs
from deconv_gui.core.pipeline import FileProgress, RunSummary
from deconv_gui.core.watch import WatchStatus, watch_folders
from deconv_gui.errors import DeconvError
from deconv_gui.gui.restore_panel import format_duration

# The progress records and the summary are the core pipeline's (`restore_files`).
BatchProgress = FileProgress
BatchSummary = RunSummary

#: (label, extension) of the output formats offered; None keeps the original's.
FORMATS: tuple[tuple[str, str | None], ...] = (
    ("Format of the original", None),
    ("JPEG", ".jpg"),
    ("PNG", ".png"),
    ("TIFF", ".tif"),
    ("WebP", ".webp"),
    ("DNG (RAW data)", ".dng"),
)
BIT_DEPTHS: tuple[tuple[str, int | None], ...] = (
    ("Bit depth of the original", None),
    ("8 bits", 8),
    ("16 bits (PNG, TIFF)", 16),
)


@dataclass(frozen=True)
class WatchOptions:
    """Keep watching ``folder`` (settle and poll times in seconds) after the photos there."""

    folder: Path
    recursive: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    settle: float = 2.0
    interval: float = 1.0


def batch_job(
    files: Sequence[InputFile | Path],
    out_dir: Path | None,
    job: JobInfo,
    execute: Execute,
    suffix: str,
    *,
    overwrite: bool = False,
    force: bool = False,
    watch: WatchOptions | None = None,
) -> Generator[BatchPlan | BatchProgress | WatchStatus, None, BatchSummary]:
    """The dialog's run (see the module doc). Results go to ``out_dir`` (None: next to each
    original; no manifest then, so nothing is resumed) named with ``suffix`` and the job's
    output format; existing files not written by a run are kept unless ``overwrite``."""
    ext = job.output.format
    if watch is not None:
        if out_dir is None:
            raise DeconvError("Watching a folder needs an output folder.")
        return (
            yield from watch_folders(
                [watch.folder],
                out_dir,
                job,
                execute,
                suffix=suffix,
                ext=ext,
                recursive=watch.recursive,
                include=watch.include,
                exclude=watch.exclude,
                settle=watch.settle,
                interval=watch.interval,
                force=force,
                overwrite=overwrite,
            )
        )
    files = without_outputs(files, out_dir, suffix=suffix, ext=ext)
    manifest = Manifest.open(out_dir) if out_dir is not None else None
    try:
        owners = (
            manifest.owners(getattr(f, "path", f) for f in files) if manifest is not None else None
        )
        tasks = plan_outputs(files, suffix=suffix, out_dir=out_dir, ext=ext, owners=owners)
        plan = plan_batch(
            tasks, manifest, job, force=force, overwrite=overwrite, skip_existing=not overwrite
        )
        yield plan
        return (yield from run_batch(plan, execute, manifest=manifest, job=job))
    finally:
        if manifest is not None:
            manifest.close()


def _patterns(text: str) -> tuple[str, ...]:
    """``"*.jpg, *.tif raw/*"`` -> the patterns (separated by commas or spaces)."""
    return tuple(p for p in text.replace(",", " ").split() if p)


class BatchDialog(QDialog):
    """Choose the photos, the settings and where results go; run, watch and report."""

    start_requested = Signal()
    cancel_requested = Signal()
    #: A watched photo is taken when unchanged this long; the folder is looked at this often.
    watch_settle = 2.0
    watch_interval = 1.0
    preset_chosen = Signal(str)  # "" = the model panel's settings
    save_preset_requested = Signal(str)  # the name typed

    def __init__(
        self,
        filmstrip_paths: list[Path],
        model_name: str,
        out_dir: str,
        suffix: str,
        parent: QWidget | None = None,
        *,
        presets: Sequence[str] = (),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch process")
        self.setMinimumSize(620, 620)
        self._filmstrip = list(filmstrip_paths)
        self._running = False
        self._watching = False
        self._started_at = 0.0
        self._todo = 0
        self._finished = 0
        self._failed = 0
        lay = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        src = QVBoxLayout()
        self.filmstrip_radio = QRadioButton(f"Photos in the filmstrip ({len(self._filmstrip)})")
        self.folder_radio = QRadioButton("All photos in a folder:")
        group = QButtonGroup(self)
        group.addButton(self.filmstrip_radio)
        group.addButton(self.folder_radio)
        frow = QHBoxLayout()
        self.folder_edit = QLineEdit(self)
        self.folder_edit.setPlaceholderText("Folder with photos")
        self.folder_edit.textChanged.connect(lambda *_: self.folder_radio.setChecked(True))
        browse_in = QPushButton("Choose…", self)
        browse_in.clicked.connect(self._choose_input)
        frow.addWidget(self.folder_edit, 1)
        frow.addWidget(browse_in)
        self.recursive_check = QCheckBox("Include sub-folders (kept below the output folder)")
        prow = QHBoxLayout()
        self.include_edit = QLineEdit(self)
        self.include_edit.setPlaceholderText("Only: e.g. *.jpg, 2023/*")
        self.exclude_edit = QLineEdit(self)
        self.exclude_edit.setPlaceholderText("Leave out: e.g. *_small.jpg")
        prow.addWidget(self.include_edit)
        prow.addWidget(self.exclude_edit)
        self.watch_check = QCheckBox("Keep watching the folder for new photos (until Stop)")
        self.watch_check.setToolTip(
            "Photos copied into the folder later are processed once they are complete "
            "(their size has not changed for a moment). Needs an output folder."
        )
        src.addWidget(self.filmstrip_radio)
        src.addWidget(self.folder_radio)
        src.addLayout(frow)
        src.addWidget(self.recursive_check)
        src.addLayout(prow)
        src.addWidget(self.watch_check)
        (self.filmstrip_radio if self._filmstrip else self.folder_radio).setChecked(True)
        self.filmstrip_radio.setEnabled(bool(self._filmstrip))
        form.addRow("Photos", src)

        srow = QHBoxLayout()
        self.preset_combo = QComboBox(self)
        self._model_name = model_name
        self.set_presets(presets)
        self.preset_combo.currentIndexChanged.connect(self._on_preset_index)
        self.save_preset_button = QPushButton("Save as preset…", self)
        self.save_preset_button.clicked.connect(self._ask_preset_name)
        srow.addWidget(self.preset_combo, 1)
        srow.addWidget(self.save_preset_button)
        form.addRow("Settings", srow)

        orow = QHBoxLayout()
        self.output_edit = QLineEdit(out_dir, self)
        self.output_edit.setPlaceholderText("Next to each original")
        browse_out = QPushButton("Choose…", self)
        browse_out.clicked.connect(self._choose_output)
        orow.addWidget(self.output_edit, 1)
        orow.addWidget(browse_out)
        form.addRow("Save in", orow)
        self.suffix_edit = QLineEdit(suffix, self)
        form.addRow("Name suffix", self.suffix_edit)
        frmt = QHBoxLayout()
        self.format_combo = QComboBox(self)
        for label, ext in FORMATS:
            self.format_combo.addItem(label, ext)
            if ext == ".dng":
                tip = "The RAW denoiser's result as sensor data, for your RAW developer"
                self.format_combo.setItemData(
                    self.format_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole
                )
        self.quality_spin = QSpinBox(self)
        self.quality_spin.setRange(1, 100)
        self.quality_spin.setValue(95)
        self.quality_spin.setPrefix("quality ")
        self.quality_spin.setToolTip("JPEG and WebP quality")
        self.depth_combo = QComboBox(self)
        for label, bits in BIT_DEPTHS:
            self.depth_combo.addItem(label, bits)
        frmt.addWidget(self.format_combo, 1)
        frmt.addWidget(self.quality_spin)
        frmt.addWidget(self.depth_combo, 1)
        form.addRow("Format", frmt)
        self.format_combo.currentIndexChanged.connect(lambda _i: self._update_format_options())
        self.overwrite_check = QCheckBox("Replace files that already exist")
        self.force_check = QCheckBox("Redo photos already done in this output folder")
        form.addRow("", self.overwrite_check)
        form.addRow("", self.force_check)
        lay.addLayout(form)

        self.photo_label = QLabel(" ")
        self.overall = QProgressBar(self)
        self.overall.setFormat("not started")
        self.current = QProgressBar(self)
        self.current.setFormat("%p %")
        self.current.setRange(0, 1)
        self.current.setValue(0)
        self.overall.setRange(0, 1)
        self.overall.setValue(0)
        lay.addWidget(self.photo_label)
        lay.addWidget(self.overall)
        lay.addWidget(self.current)
        lay.addWidget(QLabel("Failed, and warnings (⚠):"))
        self.failures = QListWidget(self)
        lay.addWidget(self.failures, 1)
        self.summary_label = QLabel(" ")
        self.summary_label.setWordWrap(True)
        lay.addWidget(self.summary_label)

        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open output folder", self)
        self.open_button.clicked.connect(self.open_output_folder)
        self.output_edit.textChanged.connect(lambda *_: self._update_open_button())
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        self.start_button = QPushButton("Start", self)
        self.start_button.setDefault(True)
        self.cancel_button = QPushButton("Stop", self)
        self.cancel_button.setEnabled(False)
        self.close_button = QPushButton("Close", self)
        self.start_button.clicked.connect(self.start_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.close_button.clicked.connect(self.reject)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        lay.addLayout(buttons)
        self._update_open_button()

    # ------------------------------------------------------------ choices
    def _choose_input(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Photos to process", self.folder_edit.text())
        if d:
            self.folder_edit.setText(d)

    def _choose_output(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Save results in", self.output_edit.text())
        if d:
            self.output_edit.setText(d)

    def _ask_preset_name(self) -> None:
        name, ok = QInputDialog.getText(self, "Save as preset", "Preset name:")
        if ok and name.strip():
            self.save_preset_requested.emit(name.strip())

    def set_presets(self, names: Sequence[str], current: str = "") -> None:
        """Fill the settings list: the model panel's, then the saved presets; select
        ``current`` (a preset's name; "" the model panel)."""
        combo = self.preset_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(f"Model panel: {self._model_name}", "")
        # the whole recipe when the list is too narrow for it
        combo.setItemData(0, self._model_name, Qt.ItemDataRole.ToolTipRole)
        for name in names:
            combo.addItem(f"Preset: {name}", name)
        combo.setCurrentIndex(max(0, combo.findData(current)))
        combo.setToolTip(combo.currentText())
        combo.blockSignals(False)

    def preset_name(self) -> str:
        """The chosen preset ("" = the model panel's settings)."""
        return str(self.preset_combo.currentData() or "")

    def _on_preset_index(self, _index: int) -> None:
        self.preset_combo.setToolTip(self.preset_combo.currentText())
        self.preset_chosen.emit(self.preset_name())

    def show_output_settings(self, out: OutputSettings, suffix: str) -> None:
        """Show a preset's output settings (``suffix``: the preset's, or the model's)."""
        self.suffix_edit.setText(suffix)
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(out.format)))
        self.quality_spin.setValue(out.quality)
        self.depth_combo.setCurrentIndex(max(0, self.depth_combo.findData(out.bit_depth)))

    def output_settings(self) -> OutputSettings:
        """What the fields say (raises `OptionError` with the reason when they are wrong)."""
        return OutputSettings(
            format=self.format_combo.currentData(),
            quality=self.quality_spin.value(),
            bit_depth=self.depth_combo.currentData(),
            suffix=self.suffix(),
        )

    def is_folder(self) -> bool:
        return not self.filmstrip_radio.isChecked()

    def folder(self) -> Path:
        folder = Path(self.folder_edit.text().strip()).expanduser()
        if not self.folder_edit.text().strip() or not folder.is_dir():
            raise DeconvError(f"Not a folder: {folder}")
        return folder

    def photo_files(self) -> list[InputFile | Path]:
        """The photos to process: the filmstrip's, or the folder's (sub-folders and
        patterns as chosen)."""
        if not self.is_folder():
            return list(self._filmstrip)
        found = expand_inputs(
            [self.folder()],
            recursive=self.recursive_check.isChecked(),
            include=_patterns(self.include_edit.text()),
            exclude=_patterns(self.exclude_edit.text()),
        )
        if found.unlistable:  # its photos would be left out without a word
            first = found.unlistable[0]
            raise DeconvError(f"{first.path}: {first.reason} (its photos would be left out)")
        return list(found.files)

    def watch_options(self) -> WatchOptions | None:
        if not (self.is_folder() and self.watch_check.isChecked()):
            return None
        return WatchOptions(
            self.folder(),
            recursive=self.recursive_check.isChecked(),
            include=_patterns(self.include_edit.text()),
            exclude=_patterns(self.exclude_edit.text()),
            settle=self.watch_settle,
            interval=self.watch_interval,
        )

    def output_dir(self) -> Path | None:
        text = self.output_edit.text().strip()
        return Path(text).expanduser() if text else None

    def suffix(self) -> str:
        return self.suffix_edit.text()

    def overwrite(self) -> bool:
        return self.overwrite_check.isChecked()

    def force(self) -> bool:
        return self.force_check.isChecked()

    def _update_open_button(self) -> None:
        out = self.output_dir()
        self.open_button.setEnabled(out is not None and out.is_dir())

    def open_output_folder(self) -> bool:
        out = self.output_dir()
        if out is None or not out.is_dir():
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(out)))

    def _update_format_options(self) -> None:
        """Quality only for formats that use it (JPEG, WebP, or the original's, which may
        be one); no bit depth for a DNG (it keeps the sensor's own)."""
        ext = self.format_combo.currentData()
        idle = not self._running
        self.quality_spin.setEnabled(idle and ext in (None, ".jpg", ".webp"))
        self.depth_combo.setEnabled(idle and ext != ".dng")

    # ------------------------------------------------------------ progress
    def set_running(self, running: bool, *, watching: bool = False) -> None:
        self._running = running
        self._watching = watching and running
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.close_button.setEnabled(not running)
        for w in (
            self.filmstrip_radio,
            self.folder_radio,
            self.folder_edit,
            self.recursive_check,
            self.include_edit,
            self.exclude_edit,
            self.watch_check,
            self.preset_combo,
            self.save_preset_button,
            self.output_edit,
            self.suffix_edit,
            self.format_combo,
            self.quality_spin,
            self.depth_combo,
            self.overwrite_check,
            self.force_check,
        ):
            w.setEnabled(not running)
        self._update_format_options()
        if running:
            self.failures.clear()
            self.summary_label.setText(" ")
            self.photo_label.setText("Watching for photos…" if watching else "Starting…")
            self._started_at = time.monotonic()
            self._todo = self._finished = self._failed = 0
            self.overall.setFormat("%v / %m photos")
            self.overall.setRange(0, 1)
            self.overall.setValue(0)
        self._update_open_button()

    def show_plan(self, plan: BatchPlan) -> None:
        """Before the run: how many photos to do (and were done before)."""
        self._todo = len(plan.todo) + len(plan.refused) + len(plan.kept) + len(plan.not_raw)
        self.overall.setRange(0, max(1, self._todo))
        notes = [f"{len(plan.done)} done before, skipped"] * bool(plan.done)
        notes += [f"{len(plan.not_raw)} not camera RAW files, skipped"] * bool(plan.not_raw)
        note = f" ({'; '.join(notes)})" if notes else ""
        self.photo_label.setText(f"{self._todo} photos to do{note}")
        if plan.warning:
            self._warn(plan.warning)

    def _warn(self, text: str) -> None:
        """Listed with the failures, where it stays in view."""
        item = QListWidgetItem(f"⚠  {text[0].upper()}{text[1:]}")
        item.setToolTip(text)
        self.failures.addItem(item)

    def time_left(self) -> float | None:
        """Seconds left at the pace so far (None before the first photo ends)."""
        if not self._finished or self._watching:
            return None
        elapsed = time.monotonic() - self._started_at
        return elapsed / self._finished * max(0, self._todo - self._finished)

    def show_progress(self, bp: BatchProgress) -> None:
        self._todo = max(self._todo, bp.total)
        self.overall.setRange(0, max(1, self._todo))
        if bp.tiles_total:
            self.current.setRange(0, bp.tiles_total)
            self.current.setValue(bp.tiles_done)
        if bp.finished:
            self._finished = bp.index + 1
            self.overall.setValue(self._finished)
            self.current.setValue(self.current.maximum())
            if bp.error and not bp.skipped:
                self._failed += 1
                item = QListWidgetItem(f"✗  {bp.path.name}: {bp.error}")
                item.setForeground(Qt.GlobalColor.red)
                item.setToolTip(str(bp.path))
                self.failures.addItem(item)
            for text in bp.warnings:  # what the CLI prints on stderr for this photo
                self._warn(text)
            self.failures.scrollToBottom()
        parts = [f"{self._finished} / {self._todo} photos"]
        if self._failed:
            parts.append(f"{self._failed} failed")
        left = self.time_left()
        if left is not None and self._finished < self._todo:
            parts.append(f"about {format_duration(left)} left")
        if not bp.finished:
            parts.append(bp.path.name)
        self.photo_label.setText("  ·  ".join(parts))

    def show_watch(self, status: WatchStatus) -> None:
        for text in status.warnings:
            self._warn(text)
        arriving = f", {status.waiting} arriving" if status.waiting else ""
        failed = f", {status.failed} failed" if status.failed else ""
        self.photo_label.setText(f"Watching: {status.done} saved{failed}{arriving}")

    def show_summary(self, text: str) -> None:
        self.summary_label.setText(text)
        self._update_open_button()

    def reject(self) -> None:
        if self._running:
            self.cancel_requested.emit()
            return
        super().reject()


def summary_text(summary: BatchSummary) -> str:
    """The dialog's closing line (failures are listed above it, once)."""
    done_before = sum(1 for _, why in summary.skipped if why == DONE_BEFORE)
    not_raw = sum(1 for _, why in summary.skipped if why == NOT_RAW)
    kept = len(summary.skipped) - done_before - not_raw
    parts = [f"{len(summary.done)} saved"]
    if summary.failed:
        parts.append(f"{len(summary.failed)} failed (listed above)")
    if summary.warned:
        parts.append(f"{summary.warned_photos} with warnings (listed above)")
    if done_before:
        parts.append(f"{done_before} done before")
    if kept:
        parts.append(f"{kept} kept (the result existed)")
    if not_raw:
        parts.append(f"{not_raw} skipped (not camera RAW files)")
    return f"Finished in {format_duration(summary.elapsed)}: {', '.join(parts)}."
