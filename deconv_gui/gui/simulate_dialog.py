"""`SimulateDialog`: degrade a clean photo with sliders (noise, blur, downscale, JPEG), never
a typed spec; the spec (``noise=25,blur=disk:3,downscale=2,jpeg=40``) is behind "Advanced".

`spec_from_controls(...)` builds the degradation spec `core.degrade.parse_spec` reads, in the
order a camera and a web upload apply them: blur, downscale, noise, JPEG.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.core.degrade import parse_spec
from deconv_gui.errors import DeconvError
from deconv_gui.gui.blur_controls import BlurControls


def spec_from_controls(
    *, noise: float = 0, blur: str = "", downscale: int = 1, jpeg: int = 0
) -> str:
    """The degradation spec of the controls ("" when nothing is chosen)."""
    parts = []
    if blur:
        parts.append(f"blur={blur}")
    if downscale > 1:
        parts.append(f"downscale={downscale}")
    if noise > 0:
        parts.append(f"noise={noise:g}")
    if jpeg > 0:
        parts.append(f"jpeg={jpeg}")
    return ",".join(parts)


def _slider(lo: int, hi: int, value: int) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    return s


class SimulateDialog(QDialog):
    """Sliders for what to do to the clean photo; `spec()` is the result."""

    def __init__(self, current: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Simulate Degradation")
        lay = QVBoxLayout(self)
        intro = QLabel(
            "Degrade this clean photo, restore the degraded version and compare the result "
            "with the original."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QFormLayout()
        self.noise_slider = _slider(0, 75, 25)
        self.noise_value = QLabel()
        form.addRow("Noise", self._with_value(self.noise_slider, self.noise_value))
        self.blur_check = QCheckBox("Blur")
        self.blur = BlurControls(self, kind="focus")
        self.blur.setEnabled(False)
        self.blur_check.toggled.connect(self.blur.setEnabled)
        form.addRow(self.blur_check, self.blur)
        self.downscale_combo = QComboBox()
        for n, text in ((1, "Full size"), (2, "Half size (÷2)"), (3, "A third (÷3)"),
                        (4, "A quarter (÷4)")):  # fmt: skip
            self.downscale_combo.addItem(text, n)
        form.addRow("Size", self.downscale_combo)
        self.jpeg_slider = _slider(0, 95, 0)
        self.jpeg_value = QLabel()
        self.jpeg_slider.setToolTip("Save as JPEG at this quality (off: not compressed)")
        form.addRow("JPEG quality", self._with_value(self.jpeg_slider, self.jpeg_value))
        lay.addLayout(form)
        adv = QHBoxLayout()
        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setAutoRaise(True)
        self.spec_edit = QLineEdit()
        self.spec_edit.setToolTip(
            "The degradation as text: noise=25, pgnoise=A:B, blur=disk:3, blur=motion:15:30, "
            "blur=gaussian:2, downscale=2, jpeg=40 (comma-separated, in order)"
        )
        self.spec_edit.setVisible(False)
        self.advanced_button.toggled.connect(self.spec_edit.setVisible)
        self.advanced_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        adv.addWidget(self.advanced_button)
        adv.addWidget(self.spec_edit, 1)
        adv.addStretch(0)
        lay.addLayout(adv)
        self.error_label = QLabel(" ")
        lay.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Simulate")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self._typed = False
        for w in (self.noise_slider, self.jpeg_slider):
            w.valueChanged.connect(self._refresh)
        self.downscale_combo.currentIndexChanged.connect(self._refresh)
        self.blur.changed.connect(self._refresh)
        self.blur_check.toggled.connect(self._refresh)
        self.spec_edit.textEdited.connect(self._on_typed)
        self._refresh()
        self.set_spec(current)
        self._check()

    @staticmethod
    def _with_value(slider: QSlider, value: QLabel) -> QWidget:
        w = QWidget()
        row = QHBoxLayout(w)
        row.setContentsMargins(0, 0, 0, 0)
        value.setMinimumWidth(44)
        value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(slider, 1)
        row.addWidget(value)
        return w

    def set_spec(self, spec: str) -> None:
        """Set the controls from a spec (steps the sliders cannot show stay typed)."""
        self.noise_slider.setValue(0)
        self.jpeg_slider.setValue(0)
        self.blur_check.setChecked(False)
        self.downscale_combo.setCurrentIndex(0)
        shown = True
        for part in filter(None, (p.strip() for p in (spec or "").split(","))):
            name, _, value = part.partition("=")
            try:
                if name == "noise":
                    self.noise_slider.setValue(round(float(value)))
                elif name == "jpeg":
                    self.jpeg_slider.setValue(int(float(value)))
                elif name == "downscale":
                    i = self.downscale_combo.findData(int(float(value)))
                    shown = shown and i >= 0
                    self.downscale_combo.setCurrentIndex(max(0, i))
                elif name == "blur" and self.blur.set_spec(value):
                    self.blur_check.setChecked(True)
                else:
                    shown = False
            except ValueError:
                shown = False
        if not shown:
            self.spec_edit.setText(spec)
            self.advanced_button.setChecked(True)
            self._typed = True

    def _on_typed(self, _text: str) -> None:
        self._typed = True
        self._check()

    def _refresh(self) -> None:
        n = self.noise_slider.value()
        self.noise_value.setText(f"σ {n}" if n else "Off")
        q = self.jpeg_slider.value()
        self.jpeg_value.setText(str(q) if q else "Off")
        self._typed = False
        self.spec_edit.setText(self._controls_spec())
        self._check()

    def _controls_spec(self) -> str:
        return spec_from_controls(
            noise=self.noise_slider.value(),
            blur=self.blur.spec() if self.blur_check.isChecked() else "",
            downscale=int(self.downscale_combo.currentData() or 1),
            jpeg=self.jpeg_slider.value(),
        )

    def spec(self) -> str:
        return self.spec_edit.text().strip() if self._typed else self._controls_spec()

    def _check(self) -> None:
        spec = self.spec()
        ok = bool(spec)
        message = "" if ok else "Choose at least one degradation."
        if ok:
            try:
                parse_spec(spec)
            except (DeconvError, ValueError) as exc:
                ok, message = False, str(exc)
        self.error_label.setText(message or " ")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
