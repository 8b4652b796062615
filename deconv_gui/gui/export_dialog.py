"""`ExportDialog`: format, JPEG quality, bit depth, colour space and an optional long edge for
saving a result (`core.export.ExportOptions`), remembered between runs in the settings
(`load_export_options`, `store_export_options`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.core.export import (
    COLOUR_CHOICES,
    COLOUR_LABELS,
    FORMAT_LABELS,
    FORMATS,
    ExportError,
    ExportOptions,
)
from deconv_gui.core.icc import profile_name

_KEY = "export/"


def load_export_options(settings: QSettings) -> ExportOptions:
    """The options used last (defaults for missing or hand-broken values)."""
    d = ExportOptions()

    def get(name: str, default: object, kind: type) -> object:
        try:
            return kind(settings.value(_KEY + name, default))
        except (TypeError, ValueError):
            return default

    try:
        return ExportOptions(
            format=str(get("format", d.format, str)),
            quality=int(get("quality", d.quality, int)),  # type: ignore[call-overload]
            bits=int(get("bits", d.bits, int)),  # type: ignore[call-overload]
            colour=str(get("colour", d.colour, str)),
            long_edge=int(get("long_edge", d.long_edge, int)),  # type: ignore[call-overload]
        )
    except ExportError:
        return d


def store_export_options(settings: QSettings, options: ExportOptions) -> None:
    for name in ("format", "quality", "bits", "colour", "long_edge"):
        settings.setValue(_KEY + name, getattr(options, name))


class ExportDialog(QDialog):
    """Choose how and where to export. ``source_bits`` and ``source_icc`` describe the
    result (what "as the photo" and "Keep" mean); ``size`` is its (width, height)."""

    def __init__(
        self,
        options: ExportOptions,
        path: Path,
        *,
        size: tuple[int, int],
        source_bits: int = 8,
        source_icc: bytes | None = None,
        dng: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export Result")
        self._size = size
        self._source_bits = 16 if source_bits > 8 else 8
        # 0: as the photo; 8 or 16 once chosen (kept while a format without 16 bits is on)
        self._wanted_bits = 0
        lay = QVBoxLayout(self)
        form = QFormLayout()
        form.setHorizontalSpacing(12)

        self.format_combo = QComboBox()
        for fmt in FORMATS:  # DNG only for a RAW denoiser's result (``dng``)
            if fmt != "dng" or dng:
                self.format_combo.addItem(FORMAT_LABELS[fmt], fmt)
        form.addRow("Format", self.format_combo)

        self.quality_slider = QSlider()
        self.quality_slider.setOrientation(self.quality_slider.orientation().Horizontal)
        self.quality_slider.setRange(1, 100)
        self.quality_value = QLabel()
        self.quality_value.setMinimumWidth(30)
        qrow = QWidget()
        q = QHBoxLayout(qrow)
        q.setContentsMargins(0, 0, 0, 0)
        q.addWidget(self.quality_slider, 1)
        q.addWidget(self.quality_value)
        self.quality_label = QLabel("Quality")
        form.addRow(self.quality_label, qrow)

        brow = QWidget()
        b = QHBoxLayout(brow)
        b.setContentsMargins(0, 0, 0, 0)
        self.bits_group = QButtonGroup(self)
        same = " (as the photo)"
        self.bits8 = QRadioButton("8-bit" + same * (self._source_bits == 8))
        self.bits16 = QRadioButton("16-bit" + same * (self._source_bits == 16))
        for i, r in ((8, self.bits8), (16, self.bits16)):
            self.bits_group.addButton(r, i)
            b.addWidget(r)
        b.addStretch(1)
        self.bits_label = QLabel("Bit depth")
        form.addRow(self.bits_label, brow)

        self.colour_combo = QComboBox()
        for c in COLOUR_CHOICES:
            label = COLOUR_LABELS[c]
            if c == "keep":
                label += f" ({profile_name(source_icc) or 'unknown profile'})"
            self.colour_combo.addItem(label, c)
        self.colour_combo.setToolTip(
            "Convert the colours (LittleCMS) and embed that profile: sRGB for the web, "
            "Display P3 for recent screens, Adobe RGB for print"
        )
        form.addRow("Colour space", self.colour_combo)

        rrow = QWidget()
        r = QHBoxLayout(rrow)
        r.setContentsMargins(0, 0, 0, 0)
        self.resize_check = QCheckBox("Long edge")
        self.edge_spin = QSpinBox()
        self.edge_spin.setRange(16, 65535)
        self.edge_spin.setSuffix(" px")
        self.edge_spin.setValue(max(size))
        self.size_label = QLabel()
        r.addWidget(self.resize_check)
        r.addWidget(self.edge_spin)
        r.addWidget(self.size_label, 1)
        form.addRow("Resize", rrow)

        prow = QWidget()
        p = QHBoxLayout(prow)
        p.setContentsMargins(0, 0, 0, 0)
        self.path_edit = QLineEdit(str(path))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        p.addWidget(self.path_edit, 1)
        p.addWidget(browse)
        form.addRow("Save as", prow)
        lay.addLayout(form)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)

        self.set_options(options)
        self.format_combo.currentIndexChanged.connect(self._on_format)
        self.quality_slider.valueChanged.connect(self._refresh)
        self.resize_check.toggled.connect(self._refresh)
        self.edge_spin.valueChanged.connect(self._refresh)
        self.bits_group.idClicked.connect(self._on_bits_chosen)
        self._refresh()

    # ------------------------------------------------------------------ API
    def set_options(self, o: ExportOptions) -> None:
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(o.format)))
        self.quality_slider.setValue(int(o.quality))
        self._wanted_bits = o.bits
        self.colour_combo.setCurrentIndex(max(0, self.colour_combo.findData(o.colour)))
        self.resize_check.setChecked(bool(o.long_edge))
        if o.long_edge:
            self.edge_spin.setValue(int(o.long_edge))
        self._on_format()

    def options(self) -> ExportOptions:
        return ExportOptions(
            format=str(self.format_combo.currentData()),
            quality=self.quality_slider.value(),
            bits=self._wanted_bits,
            colour=str(self.colour_combo.currentData()),
            long_edge=self.edge_spin.value() if self.resize_check.isChecked() else 0,
        )

    def path(self) -> Path:
        """The file to write, with the format's extension."""
        p = Path(self.path_edit.text().strip()).expanduser()
        ext = self.options().extension
        return p if p.suffix.lower() in _extensions(self.options().format) else p.with_suffix(ext)

    # ------------------------------------------------------------------ internals
    def _on_format(self) -> None:
        o = self.options()
        for w in (self.quality_label, self.quality_slider, self.quality_value):
            w.setEnabled(o.has_quality)
        for w in (self.bits_label, self.bits16):
            w.setEnabled(o.has_16_bits)
        self._show_bits()
        raw = o.format == "dng"  # the sensor's data: no depth, colour or size choices
        for w in (self.bits8, self.colour_combo, self.resize_check):
            w.setEnabled(not raw)
        if raw:
            self.colour_combo.setCurrentIndex(max(0, self.colour_combo.findData("keep")))
            self.resize_check.setChecked(False)
        self.path_edit.setText(str(self.path()))
        self._refresh()

    def _on_bits_chosen(self, bits: int) -> None:
        """A depth clicked: that one from now on; the photo's own is "as the photo"."""
        self._wanted_bits = 0 if bits == self._source_bits else bits
        self._show_bits()

    def _show_bits(self) -> None:
        """The depth that will be written: 8 where the format holds no more, else the
        chosen one or the photo's."""
        o = self.options()
        bits = o.output_bits(self._source_bits)
        (self.bits16 if bits == 16 else self.bits8).setChecked(True)

    def _refresh(self) -> None:
        self.quality_value.setText(str(self.quality_slider.value()))
        self.edge_spin.setEnabled(self.resize_check.isChecked())
        w, h = self._size
        edge = self.edge_spin.value() if self.resize_check.isChecked() else max(w, h)
        s = edge / max(w, h)
        text = f"→ {max(1, round(w * s))} × {max(1, round(h * s))}"
        if s > 1:  # a plain resampling adds pixels, not detail
            text += "  (enlarged by resampling: no new detail)"
        self.size_label.setText(text)

    def _browse(self) -> None:
        fmt = str(self.format_combo.currentData())
        pattern = " ".join(f"*{e}" for e in _extensions(fmt))
        path, _ = QFileDialog.getSaveFileName(
            self, "Export As", str(self.path()), f"{FORMAT_LABELS[fmt]} ({pattern})"
        )
        if path:
            self.path_edit.setText(path)
            self.set_options(
                replace(self.options(), format=self.options().with_path_format(path).format)
            )


def _extensions(fmt: str) -> tuple[str, ...]:
    return {"jpeg": (".jpg", ".jpeg"), "tiff": (".tif", ".tiff")}.get(fmt, (FORMATS[fmt][0],))
