"""`BlurControls`: pick the kind of blur (out of focus, motion, soft), its size and angle,
and see a small drawing of the kernel; the typed spec (``disk:3``, ``motion:15:30``,
``gaussian:1.5``) is only behind "Advanced".

`kernel_spec(kind, size, angle)` and `parse_kernel_choice(spec)` translate between the
controls and the spec string the models take (`core.degrade.parse_kernel`).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.core.degrade import parse_kernel
from deconv_gui.errors import DeconvError

#: kind -> (button text, spec name, tooltip)
KINDS = {
    "focus": ("Out of focus", "disk", "A lens out of focus: a round blur (radius in pixels)"),
    "motion": ("Motion", "motion", "Camera shake or a moving subject: a streak (length, angle)"),
    "soft": ("Soft", "gaussian", "Soft all over, e.g. a cheap lens or a resized photo"),
}
SIZE_RANGE = {"focus": (0.5, 8.0), "motion": (2.0, 30.0), "soft": (0.3, 5.0)}
SIZE_STEP = 0.1
KERNEL_PX = 44  # the drawing's side


def kernel_spec(kind: str, size: float, angle: float = 0.0) -> str:
    """``("motion", 15, 30)`` -> ``"motion:15:30"``."""
    name = KINDS[kind][1]
    if kind == "motion":
        return f"{name}:{size:g}:{angle:g}"
    return f"{name}:{size:g}"


def parse_kernel_choice(spec: str) -> tuple[str, float, float] | None:
    """The controls' (kind, size, angle) of a spec; None when it is no valid kernel."""
    try:
        parse_kernel(spec)
    except (DeconvError, ValueError):
        return None
    parts = spec.strip().split(":")
    by_name = {v[1]: k for k, v in KINDS.items()}
    kind = by_name.get(parts[0].strip().lower())
    if kind is None:
        return None
    size = float(parts[1])
    angle = float(parts[2]) if kind == "motion" and len(parts) > 2 else 0.0
    return kind, size, angle


def kernel_pixmap(spec: str, side: int = KERNEL_PX) -> QPixmap:
    """The kernel drawn white on black, scaled up to `side` px (blank for a bad spec)."""
    try:
        k = parse_kernel(spec)
    except (DeconvError, ValueError):
        k = np.zeros((1, 1), np.float32)
    n = max(k.shape)
    pad = np.zeros((n, n), np.float32)
    y, x = (n - k.shape[0]) // 2, (n - k.shape[1]) // 2
    pad[y : y + k.shape[0], x : x + k.shape[1]] = k
    top = float(pad.max()) or 1.0
    u8 = np.ascontiguousarray(np.clip(pad / top * 255, 0, 255).astype(np.uint8))
    img = QImage(u8.data, n, n, n, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(img).scaled(
        side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )


class BlurControls(QWidget):
    """Kind buttons, size and angle sliders, the kernel drawing and an Advanced text field.

    ``changed()`` when the kernel changes; `spec()` is the kernel as the models take it.
    The angle row is always there (disabled unless Motion), so nothing jumps.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None, *, kind: str = "soft") -> None:
        super().__init__(parent)
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(4)
        outer = QHBoxLayout()
        outer.setSpacing(8)
        root.addLayout(outer)
        left = QVBoxLayout()
        left.setSpacing(4)
        kinds = QHBoxLayout()
        kinds.setSpacing(2)
        self.kind_group = QButtonGroup(self)
        self.kind_buttons: dict[str, QPushButton] = {}
        for key, (text, _, tip) in KINDS.items():
            b = QPushButton(text, self)
            b.setCheckable(True)
            b.setToolTip(tip)
            b.setMinimumWidth(10)
            b.setStyleSheet("QPushButton { padding: 2px 4px; }")
            self.kind_group.addButton(b)
            self.kind_buttons[key] = b
            kinds.addWidget(b)
            b.toggled.connect(lambda on, k=key: on and self._on_kind(k))
        left.addLayout(kinds)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        self.size_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.size_value = QLabel()
        self.angle_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.angle_slider.setRange(0, 179)
        self.angle_value = QLabel()
        self.angle_label = QLabel("Angle")
        for row, (label, slider, value) in enumerate(
            (
                (QLabel("Size"), self.size_slider, self.size_value),
                (self.angle_label, self.angle_slider, self.angle_value),
            )
        ):
            value.setMinimumWidth(40)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(label, row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(value, row, 2)
            slider.valueChanged.connect(self._on_slider)
        left.addLayout(grid)
        outer.addLayout(left, 1)
        right = QVBoxLayout()
        right.setSpacing(2)
        self.drawing = QLabel(self)
        self.drawing.setFixedSize(KERNEL_PX, KERNEL_PX)
        self.drawing.setToolTip("The blur to undo, as a point of light would look")
        self.drawing.setStyleSheet("background: black; border: 1px solid palette(mid);")
        right.addWidget(self.drawing)
        self.advanced_button = QToolButton(self)
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.setToolTip("Type the kernel (e.g. motion:15:30)")
        right.addWidget(self.advanced_button)
        outer.addLayout(right)
        self.spec_edit = QLineEdit(self)
        self.spec_edit.setPlaceholderText("disk:3 · motion:15:30 · gaussian:1.5")
        self.spec_edit.setVisible(False)
        self.spec_edit.editingFinished.connect(self._on_typed)
        root.addWidget(self.spec_edit)
        self.advanced_button.toggled.connect(self.spec_edit.setVisible)
        self._kind = ""
        self._quiet = False
        self.set_spec(kernel_spec(kind, 1.5 if kind == "soft" else 3.0))

    # ------------------------------------------------------------------ API
    def spec(self) -> str:
        return kernel_spec(self._kind, self._size(), float(self.angle_slider.value()))

    def kind(self) -> str:
        return self._kind

    def set_spec(self, spec: str) -> bool:
        """Show the kernel `spec` (False, nothing changed, for an invalid one)."""
        choice = parse_kernel_choice(spec)
        if choice is None:
            return False
        kind, size, angle = choice
        self._quiet = True
        try:
            self.kind_buttons[kind].setChecked(True)
            self._set_kind_range(kind)
            self.size_slider.setValue(round(size / SIZE_STEP))
            self.angle_slider.setValue(round(angle) % 180)
        finally:
            self._quiet = False
        self._refresh()
        return True

    # ------------------------------------------------------------------ internals
    def _size(self) -> float:
        return round(self.size_slider.value() * SIZE_STEP, 1)

    def _set_kind_range(self, kind: str) -> None:
        self._kind = kind
        lo, hi = SIZE_RANGE[kind]
        self.size_slider.setRange(round(lo / SIZE_STEP), round(hi / SIZE_STEP))
        motion = kind == "motion"
        for w in (self.angle_slider, self.angle_label, self.angle_value):
            w.setEnabled(motion)

    def _on_kind(self, kind: str) -> None:
        if self._quiet or kind == self._kind:
            return
        lo, hi = SIZE_RANGE[kind]
        size = min(max(self._size(), lo), hi)
        self._quiet = True
        try:
            self._set_kind_range(kind)
            self.size_slider.setValue(round(size / SIZE_STEP))
        finally:
            self._quiet = False
        self._refresh()

    def _on_slider(self, _v: int) -> None:
        if not self._quiet:
            self._refresh()

    def _on_typed(self) -> None:
        text = self.spec_edit.text().strip()
        if text and not self.set_spec(text):
            self.spec_edit.setToolTip(f"Not a blur kernel: {text}")

    def _refresh(self) -> None:
        unit = {"focus": "px radius", "motion": "px long", "soft": "px"}[self._kind]
        self.size_value.setText(f"{self._size():g} {unit}")
        self.angle_value.setText(f"{self.angle_slider.value()}°")
        spec = self.spec()
        self.drawing.setPixmap(kernel_pixmap(spec))
        self.spec_edit.setText(spec)
        self.changed.emit()
