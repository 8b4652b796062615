"""Batch mode: many photos through one model into an output folder.

`batch_job` is a plain generator (no Qt) driven by the window's `JobRunner`: the core's
`restore_files`, which yields a `BatchProgress` per tile and per finished photo and returns a
`BatchSummary`. A photo that fails (unreadable, model error, disk full...) is recorded and
the batch goes on.
`BatchDialog` picks the photos and the folder and shows the progress and the summary.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.core.inputs import expand_inputs
from deconv_gui.core.naming import plan_outputs
from deconv_gui.core.pipeline import FileProgress, RunSummary, photo_job, restore_files
from deconv_gui.errors import DeconvError
from deconv_gui.models.registry import LoadOptions, ModelSpec

# The progress records and the summary are the core pipeline's (`restore_files`).
BatchProgress = FileProgress
BatchSummary = RunSummary


def batch_job(
    paths: list[Path],
    spec: ModelSpec,
    options: LoadOptions,
    out_dir: Path | None,
    suffix: str,
    *,
    tile_size: int | None = None,
    overwrite: bool = False,
) -> Generator[BatchProgress, None, BatchSummary]:
    """`restore_files` over ``paths`` (names from `plan_outputs`): existing results are
    skipped unless ``overwrite``."""
    tasks = plan_outputs(paths, suffix=suffix, out_dir=out_dir)
    work = photo_job(spec, options, tile_size=tile_size)
    return (yield from restore_files(tasks, work, overwrite=overwrite, skip_existing=not overwrite))


class BatchDialog(QDialog):
    """Choose the photos (the filmstrip or a folder) and the output folder; run and report."""

    start_requested = Signal()
    cancel_requested = Signal()

    def __init__(
        self,
        filmstrip_paths: list[Path],
        model_name: str,
        out_dir: str,
        suffix: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch process")
        self.setMinimumSize(560, 460)
        self._filmstrip = list(filmstrip_paths)
        self._running = False
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
        src.addWidget(self.filmstrip_radio)
        src.addWidget(self.folder_radio)
        src.addLayout(frow)
        (self.filmstrip_radio if self._filmstrip else self.folder_radio).setChecked(True)
        self.filmstrip_radio.setEnabled(bool(self._filmstrip))
        form.addRow("Photos", src)

        form.addRow("Model", QLabel(f"<b>{model_name}</b> (as set in the model panel)"))

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
        self.overwrite_check = QCheckBox("Replace files that already exist")
        form.addRow("", self.overwrite_check)
        lay.addLayout(form)

        self.photo_label = QLabel(" ")
        self.overall = QProgressBar(self)
        self.overall.setFormat("%v / %m photos")
        self.current = QProgressBar(self)
        self.current.setFormat("%p %")
        self.current.setRange(0, 1)
        self.current.setValue(0)
        self.overall.setRange(0, 1)
        self.overall.setValue(0)
        lay.addWidget(self.photo_label)
        lay.addWidget(self.overall)
        lay.addWidget(self.current)
        self.log = QListWidget(self)
        lay.addWidget(self.log, 1)
        self.summary_label = QLabel(" ")
        self.summary_label.setWordWrap(True)
        lay.addWidget(self.summary_label)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.start_button = QPushButton("Start", self)
        self.start_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setEnabled(False)
        self.close_button = QPushButton("Close", self)
        self.start_button.clicked.connect(self.start_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.close_button.clicked.connect(self.reject)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        lay.addLayout(buttons)

    # ------------------------------------------------------------ choices
    def _choose_input(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Photos to process", self.folder_edit.text())
        if d:
            self.folder_edit.setText(d)

    def _choose_output(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Save results in", self.output_edit.text())
        if d:
            self.output_edit.setText(d)

    def photo_paths(self) -> list[Path]:
        if self.filmstrip_radio.isChecked():
            return list(self._filmstrip)
        folder = Path(self.folder_edit.text().strip()).expanduser()
        if not folder.is_dir():
            raise DeconvError(f"not a folder: {folder}")
        return expand_inputs([folder]).paths

    def output_dir(self) -> Path | None:
        text = self.output_edit.text().strip()
        return Path(text).expanduser() if text else None

    def suffix(self) -> str:
        return self.suffix_edit.text()

    def overwrite(self) -> bool:
        return self.overwrite_check.isChecked()

    # ------------------------------------------------------------ progress
    def set_running(self, running: bool) -> None:
        self._running = running
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.close_button.setEnabled(not running)
        for w in (
            self.filmstrip_radio,
            self.folder_radio,
            self.folder_edit,
            self.output_edit,
            self.suffix_edit,
            self.overwrite_check,
        ):
            w.setEnabled(not running)
        if running:
            self.log.clear()
            self.summary_label.setText(" ")

    def show_progress(self, bp: BatchProgress) -> None:
        self.overall.setRange(0, max(1, bp.total))
        self.overall.setValue(bp.index + (1 if bp.finished else 0))
        self.photo_label.setText(f"{bp.index + 1} / {bp.total}: {bp.path.name}")
        if bp.tiles_total:
            self.current.setRange(0, bp.tiles_total)
            self.current.setValue(bp.tiles_done)
        if bp.finished:
            if bp.error:
                item = QListWidgetItem(f"✗  {bp.path.name}: {bp.error}")
                item.setForeground(Qt.GlobalColor.red)
            else:
                item = QListWidgetItem(f"✓  {bp.path.name} → {bp.output}")
            self.log.addItem(item)
            self.log.scrollToBottom()
            self.current.setValue(self.current.maximum())

    def show_summary(self, text: str) -> None:
        self.summary_label.setText(text)

    def reject(self) -> None:
        if self._running:
            self.cancel_requested.emit()
            return
        super().reject()
