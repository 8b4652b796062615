"""The fine-tune panel's training-data pages, one per mode: before/after folders, clean
photos with a degradation applied per patch, noisy photos. Checking what the fields hold is
the panel's job (it asks the training code)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QStackedWidget,
    QToolButton,
    QWidget,
)

from deconv_gui.gui.noise_plot import NoiseProfilePlot


def _form_page() -> tuple[QWidget, QFormLayout]:
    """A borderless page with a form layout (one per training-data mode)."""
    page = QWidget()
    form = QFormLayout(page)
    form.setContentsMargins(0, 0, 0, 0)
    return page, form


class FolderField(QWidget):
    """A folder path with a Browse button."""

    changed = Signal(str)

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.button = QToolButton()
        self.button.setText("Browse…")
        self.button.clicked.connect(self._browse)
        self.edit.editingFinished.connect(lambda: self.changed.emit(self.path()))
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.button)

    def path(self) -> str:
        return self.edit.text().strip()

    def set_path(self, path: str | Path) -> None:
        self.edit.setText(str(path))
        self.changed.emit(self.path())

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Choose a folder of photos", self.path())
        if d:
            self.set_path(d)


class DataPages(QStackedWidget):
    """The pages in the order of the modes: pairs, clean, noisy, noisy RAW files (with the
    camera's noise profile, measured when training starts). ``presets`` are the
    degradations offered, as (spec, description)."""

    def __init__(self, presets: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        w_pairs, fp = _form_page()
        self.before_field = FolderField("folder of photos as they are")
        self.after_field = FolderField("folder of the same photos, corrected")
        fp.addRow("Before:", self.before_field)
        fp.addRow("After:", self.after_field)
        self.pair_report_label = QLabel()
        self.pair_report_label.setWordWrap(True)
        self.pair_report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        fp.addRow(self.pair_report_label)
        self.skip_check = QCheckBox("Skip the photos that do not match and go on")
        self.skip_check.setVisible(False)
        fp.addRow(self.skip_check)

        w_clean, fc = _form_page()
        self.clean_field = FolderField("folder of clean photos")
        fc.addRow("Clean photos:", self.clean_field)
        self.degrade_combo = QComboBox()
        self.degrade_combo.setEditable(True)
        self.degrade_combo.setAccessibleName("Degradation")
        for spec, label in presets:
            self.degrade_combo.addItem(spec, spec)
            self.degrade_combo.setItemData(self.degrade_combo.count() - 1, label,
                                           Qt.ItemDataRole.ToolTipRole)  # fmt: skip
        self.degrade_combo.setToolTip(
            "Steps joined by commas, applied in order: noise=SIGMA, pgnoise=A:B, "
            "blur=gaussian:SIGMA | disk:RADIUS | motion:LENGTH:ANGLE, jpeg=QUALITY, "
            "downscale=2|3|4.\nNumbers may be ranges (noise=10-30, drawn per patch) and a "
            "step may list alternatives with | (blur=gaussian:1-2|disk:1-3)."
        )
        fc.addRow("Degradation:", self.degrade_combo)
        self.degrade_hint = QLabel()
        self.degrade_hint.setWordWrap(True)
        fc.addRow(self.degrade_hint)

        w_noisy, fn = _form_page()
        self.noisy_field = FolderField("folder of noisy photos")
        fn.addRow("Noisy photos:", self.noisy_field)

        w_raw, fr = _form_page()
        self.raw_field = FolderField("folder of your camera's RAW files")
        fr.addRow("RAW files:", self.raw_field)
        self.frames_field = FolderField("optional: dark and flat frames")
        self.frames_field.setToolTip(
            "Optional. Dark frames (lens cap on) and flat frames (an evenly lit white wall, out "
            "of focus) shot with this camera at the ISO settings you use. They are measured "
            "for the camera's noise only, never trained on."
        )
        fr.addRow("Dark/flat frames:", self.frames_field)
        self.noise_plot = NoiseProfilePlot()
        fr.addRow(self.noise_plot)
        for w in (w_pairs, w_clean, w_noisy, w_raw):
            self.addWidget(w)
