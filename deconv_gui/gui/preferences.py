"""Preferences kept in `QSettings`, and the dialog that edits them.

`Preferences` is a typed view over a `QSettings` object the window receives (tests pass one
backed by an INI file in a temporary folder, so they never touch the user's settings).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.core.naming import check_suffix
from deconv_gui.core.validate import OptionError, check_threads, check_tile_size
from deconv_gui.gui.restore_panel import TILE_CHOICES
from deconv_gui.models.registry import default_suffix

MAX_RECENT = 12
log = logging.getLogger(__name__)


def _valid(check: Callable[[Any], object], value: object) -> bool:
    """Does ``value`` pass one of the shared option checks (a hand-edited settings file)?"""
    try:
        check(value)
    except OptionError:
        return False
    return True


class Preferences:
    """Typed access to the app's settings."""

    def __init__(self, settings: QSettings) -> None:
        self.qsettings = settings

    # -- helpers
    def _get(self, key: str, default, kind=str):
        v = self.qsettings.value(key, default)
        if v is None:
            return default
        try:
            if kind is bool:
                return v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")
            if kind is list:
                if isinstance(v, str):
                    return [v] if v else []
                return [str(x) for x in v]
            return kind(v)
        except (TypeError, ValueError):
            return default

    def _set(self, key: str, value) -> None:
        self.qsettings.setValue(key, value)

    def sync(self) -> None:
        self.qsettings.sync()

    # -- processing
    @property
    def device(self) -> str:
        return self._get("processing/device", "auto")

    @device.setter
    def device(self, v: str) -> None:
        self._set("processing/device", v)

    @property
    def threads(self) -> int:
        """CPU threads for PyTorch/OpenCV; 0 = automatic (also for a bad value in the file)."""
        n = self._get("processing/threads", 0, int)
        return n if n == 0 or _valid(check_threads, n) else 0

    @threads.setter
    def threads(self, v: int) -> None:
        self._set("processing/threads", int(v))

    @property
    def tile_size(self) -> int:
        """0 = automatic (also for a bad value in the file)."""
        n = self._get("processing/tile_size", 0, int)
        return n if n == 0 or _valid(check_tile_size, n) else 0

    @tile_size.setter
    def tile_size(self, v: int | None) -> None:
        self._set("processing/tile_size", int(v or 0))

    @property
    def reduced_precision(self) -> bool:
        """Let models that allow it run in float16 on GPUs and bfloat16 on CPUs with native
        support (about twice as fast there, within 0.01 dB); False = always float32."""
        return self._get("processing/reduced_precision", True, bool)

    @reduced_precision.setter
    def reduced_precision(self, v: bool) -> None:
        self._set("processing/reduced_precision", bool(v))

    @property
    def extra_quality(self) -> bool:
        """Networks average eight flipped passes per tile (`core.runner`): 8x the time."""
        return self._get("processing/extra_quality", False, bool)

    @extra_quality.setter
    def extra_quality(self, v: bool) -> None:
        self._set("processing/extra_quality", bool(v))

    @property
    def last_model(self) -> str:
        return self._get("processing/model", "")

    @last_model.setter
    def last_model(self, v: str) -> None:
        self._set("processing/model", v)

    # -- output
    @property
    def output_dir(self) -> str:
        """Empty = next to the original."""
        return self._get("output/folder", "")

    @output_dir.setter
    def output_dir(self, v: str) -> None:
        self._set("output/folder", v)

    @property
    def suffix(self) -> str:
        """Empty = by task (_denoised, _x4, _deblurred; also for a suffix that is no name)."""
        v = self._get("output/suffix", "")
        return v if _valid(check_suffix, v) else ""

    @suffix.setter
    def suffix(self, v: str) -> None:
        self._set("output/suffix", v)

    def suffix_for(self, task: str, scale: int) -> str:
        return self.suffix or default_suffix(task, scale)

    # -- window
    @property
    def geometry(self) -> QByteArray | None:
        v = self.qsettings.value("window/geometry")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    @geometry.setter
    def geometry(self, v: QByteArray) -> None:
        self._set("window/geometry", v)

    @property
    def window_state(self) -> QByteArray | None:
        v = self.qsettings.value("window/state")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    @window_state.setter
    def window_state(self, v: QByteArray) -> None:
        self._set("window/state", v)

    @property
    def splitter_state(self) -> QByteArray | None:
        v = self.qsettings.value("window/splitter")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    @splitter_state.setter
    def splitter_state(self, v: QByteArray) -> None:
        self._set("window/splitter", v)

    @property
    def compare_mode(self) -> str:
        return self._get("view/compare_mode", "split")

    @compare_mode.setter
    def compare_mode(self, v: str) -> None:
        self._set("view/compare_mode", v)

    @property
    def last_dir(self) -> str:
        return self._get("files/last_dir", "")

    @last_dir.setter
    def last_dir(self, v: str) -> None:
        self._set("files/last_dir", v)

    # -- recent files
    @property
    def recent_files(self) -> list[str]:
        return self._get("files/recent", [], list)

    def add_recent(self, path: str | os.PathLike) -> None:
        p = str(Path(path).resolve())
        items = [p] + [x for x in self.recent_files if x != p]
        self._set("files/recent", items[:MAX_RECENT])

    def remove_recent(self, path: str | os.PathLike) -> None:
        gone = {str(path), str(Path(path).expanduser().resolve())}
        self._set("files/recent", [x for x in self.recent_files if x not in gone])

    def clear_recent(self) -> None:
        self._set("files/recent", [])

    def restore_layout(self, window: QMainWindow, splitter: QSplitter) -> None:
        """The window's size and place and the splitter's position, as last saved."""
        if self.geometry is not None:
            window.restoreGeometry(self.geometry)
        else:
            window.resize(1280, 800)
        if self.splitter_state is not None:
            splitter.restoreState(self.splitter_state)

    def save_layout(self, window: QMainWindow, splitter: QSplitter) -> None:
        self.geometry = window.saveGeometry()
        self.splitter_state = splitter.saveState()

    def apply_threads(self) -> None:
        """Use the CPU threads chosen (0: the libraries' default)."""
        if self.threads > 0:
            from deconv_gui.core import devices

            try:
                devices.set_cpu_threads(self.threads)
            except (ValueError, RuntimeError) as exc:
                log.warning("could not set %d threads: %s", self.threads, exc)


class PreferencesDialog(QDialog):
    """Edits `Preferences`; applied on OK."""

    def __init__(
        self, prefs: Preferences, devices: list[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(460)
        self._prefs = prefs
        lay = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.device_combo = QComboBox(self)
        self.device_combo.addItem("Auto (GPU when available)", "auto")
        for d in devices:
            self.device_combo.addItem(d.upper() if d != "cpu" else "CPU", d)
        i = self.device_combo.findData(prefs.device)
        self.device_combo.setCurrentIndex(max(0, i))
        form.addRow("Default device", self.device_combo)

        self.threads_spin = QSpinBox(self)
        self.threads_spin.setRange(0, max(1, os.cpu_count() or 1))
        self.threads_spin.setSpecialValueText("Automatic")
        self.threads_spin.setValue(prefs.threads)
        self.threads_spin.setToolTip("CPU threads used by PyTorch and OpenCV")
        form.addRow("CPU threads", self.threads_spin)

        self.tile_combo = QComboBox(self)
        for t in TILE_CHOICES:
            self.tile_combo.addItem("Automatic" if t == 0 else f"{t} px", t)
        i = self.tile_combo.findData(prefs.tile_size)
        self.tile_combo.setCurrentIndex(max(0, i))
        form.addRow("Tile size", self.tile_combo)

        def check(row: str, text: str, on: bool, tip: str) -> QCheckBox:
            box = QCheckBox(text, self)
            box.setChecked(on)
            box.setToolTip(tip)
            form.addRow(row, box)
            return box

        self.precision_check = check(
            "Precision",
            "Faster reduced precision",
            prefs.reduced_precision,
            "Float16 on GPUs and bfloat16 on CPUs that support it natively, for the models "
            "that allow it: about twice as fast, within 0.01 dB of float32. "
            "Off: always float32.",
        )
        self.quality_check = check(
            "Quality",
            "Extra quality (about 8x slower)",
            prefs.extra_quality,
            "Each part of the photo goes through the model eight times, flipped and turned, "
            "and the results are averaged: a little less noise and cleaner edges (about "
            "0.1-0.2 dB), for up to eight times the time.",
        )

        out_row = QHBoxLayout()
        self.output_edit = QLineEdit(prefs.output_dir, self)
        self.output_edit.setPlaceholderText("Next to the original photo")
        browse = QPushButton("Choose…", self)
        browse.clicked.connect(self._choose_output)
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(browse)
        form.addRow("Save results in", out_row)

        self.suffix_edit = QLineEdit(prefs.suffix, self)
        self.suffix_edit.setPlaceholderText("By task: _denoised, _x4, _deblurred")
        form.addRow("Name suffix", self.suffix_edit)
        lay.addLayout(form)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.accepted.connect(self.apply)  # before anyone else hears `accepted`

    def _choose_output(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Save results in", self.output_edit.text())
        if d:
            self.output_edit.setText(d)

    def apply(self) -> None:
        p = self._prefs
        p.device = str(self.device_combo.currentData())
        p.threads = self.threads_spin.value()
        p.tile_size = int(self.tile_combo.currentData() or 0)
        p.reduced_precision = self.precision_check.isChecked()
        p.extra_quality = self.quality_check.isChecked()
        p.output_dir = self.output_edit.text().strip()
        p.suffix = self.suffix_edit.text().strip()
        p.sync()
