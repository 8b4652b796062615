"""Small widgets of the restore panel: the Amount/Detail slider, the suggestion banner, the
model's measured notes and the list of recipe steps, with their text helpers."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.core.recipe import RecipeStep
from deconv_gui.models.registry import ModelSpec, plain_name


def step_summary(spec: ModelSpec | None, step: RecipeStep) -> str:
    """One line for the steps list: "Denoise - camera noise · Auto · Amount 80 %"."""
    parts = [plain_name(spec) if spec is not None else f"{step.model} (missing)"]
    if spec is not None and spec.strength is not None:
        parts.append("Auto" if step.strength is None else f"{step.strength:g}")
    if "kernel" in step.params:
        parts.append(str(step.params["kernel"]))
    if step.amount < 1.0:
        parts.append(f"Amount {step.amount * 100:.0f} %")
    if step.detail > 0.0:
        parts.append(f"Detail {step.detail * 100:.0f} %")
    return " · ".join(parts)


class PercentSlider(QWidget):
    """A 0-100 % slider with its value; ``changed(float 0-1)``."""

    changed = Signal(float)

    def __init__(self, value: int, tip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, 100)
        self.slider.setValue(value)
        self.slider.setToolTip(tip)
        self.label = QLabel(f"{value} %")
        self.label.setMinimumWidth(44)
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.label)
        self.slider.valueChanged.connect(self._on_moved)

    def _on_moved(self, v: int) -> None:
        self.label.setText(f"{v} %")
        self.changed.emit(v / 100.0)

    def value(self) -> float:
        return self.slider.value() / 100.0

    def set_value(self, fraction: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(fraction * 100))
        self.slider.blockSignals(False)
        self.label.setText(f"{self.slider.value()} %")


class SuggestionBanner(QFrame):
    """What the photo seems to need, in plain words, with "Apply suggestion"."""

    apply_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Suggestion")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.setStyleSheet(
            "#Suggestion { border: 1px solid palette(mid); border-radius: 6px;"
            " background: palette(alternate-base); }"
        )
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.setSpacing(2)
        self.label = QLabel("Open a photo: a suggestion of what it needs appears here.")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        lay.addWidget(self.label)
        self.apply_button = QPushButton("Apply suggestion", self)
        self.apply_button.setToolTip("Set up these steps, with their models and strengths")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self.apply_requested)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.apply_button)
        lay.addLayout(row)

    def show_text(self, text: str, *, can_apply: bool) -> None:
        self.label.setText(text)
        self.apply_button.setEnabled(can_apply)


def measured_lines(spec: ModelSpec | None, limit: int = 8) -> list[str]:
    """The card's measured quality in short lines: "CBSD68, noise 25: 20.5 → 30.9 dB"."""
    rows = (spec.card or {}).get("evaluation") if spec is not None else None
    out = []
    for r in rows or []:
        if not isinstance(r, dict) or r.get("psnr") is None:
            continue
        degrade = str(r.get("degrade", "")).replace("=", " ").replace(",", ", ")
        degrade = degrade.replace("downscale", "shrunk ÷")
        head = f"{r.get('set', '?')}, {degrade}" if degrade else str(r.get("set", "?"))
        if r.get("strength") == "auto":
            head += " (Auto)"
        before = r.get("input_psnr")
        gain = f"{before:.1f} → {r['psnr']:.1f} dB" if before is not None else f"{r['psnr']:.1f} dB"
        out.append(f"{head}: {gain}")
    return out[:limit]


class ModelNotes(QLabel):
    """What the chosen model measured, in as many whole lines as the spare height holds (a
    tall window fills its panel; a short one shows none, so it never scrolls)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.setEnabled(False)
        self._lines: list[str] = []

    def set_lines(self, lines: list[str]) -> None:
        self._lines = lines
        self._fit()

    def shown_lines(self) -> list[str]:
        return [ln for ln in self.text().split("\n") if ln]

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt API
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if not self._lines:
            self.setText("")
            return
        n = self.height() // max(1, self.fontMetrics().lineSpacing()) - 1
        lines = self._lines[:n] if n > 0 else []
        self.setText("\n".join(["Measured (higher dB is better):", *lines]) if lines else "")


class StepList(QListWidget):
    """The steps list: asks for three rows (it grows when the window is tall), so a short
    window need not scroll."""

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        row = self.fontMetrics().height() + 8
        return QSize(super().sizeHint().width(), row * 3 + 6)
