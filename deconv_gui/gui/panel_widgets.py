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


_BLUR_WORDS = {
    "gaussian": "soft blur {}",
    "disk": "out of focus {} px",
    "motion": "motion blur {} px",
}


def plain_degradation(spec: str) -> str:
    """A card's degradation in words: ``camera=3200`` "ISO 3200", ``jpeg=30``
    "JPEG quality 30", ``downscale=4`` "shrunk ÷4", ``blur=motion:11:30`` "motion blur 11
    px"; other parts as ``name value``, and text without ``=`` as it is."""
    words = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        key, eq, value = part.partition("=")
        if not eq:
            words.append(part)
        elif key == "camera":
            words.append(f"ISO {value}")  # camera noise as at that ISO
        elif key == "jpeg":
            words.append(f"JPEG quality {value}")
        elif key == "downscale":
            words.append(f"shrunk ÷{value}")
        elif key == "blur" and value.split(":")[0] in _BLUR_WORDS and ":" in value:
            kind, size = value.split(":")[:2]
            words.append(_BLUR_WORDS[kind].format(size))
        else:
            words.append(f"{key} {value}")
    return ", ".join(words)


def measured_lines(spec: ModelSpec | None, limit: int = 8) -> list[str]:
    """The card's measured quality in short lines: "CBSD68, noise 25: 20.5 → 30.9 dB"."""
    rows = (spec.card or {}).get("evaluation") if spec is not None else None
    out = []
    for r in rows or []:
        if not isinstance(r, dict) or r.get("psnr") is None:
            continue
        degrade = plain_degradation(str(r.get("degrade", "")))
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
        fm = self.fontMetrics()
        n = self.height() // max(1, fm.lineSpacing()) - 1
        lines = [self._elide(ln) for ln in self._lines[:n]] if n > 0 else []
        self.setText("\n".join(["Measured (higher dB is better):", *lines]) if lines else "")
        self.setToolTip("\n".join(self._lines) if lines != self._lines[: len(lines)] else "")

    def _elide(self, line: str) -> str:
        """`line` within the label's width: a long head ("LIVE1, shrunk ÷4, noise 10, ...")
        is cut with an ellipsis, never the figures after its colon."""
        fm, width = self.fontMetrics(), self.contentsRect().width()
        if width <= 0 or fm.horizontalAdvance(line) <= width:
            return line
        head, sep, gain = line.rpartition(": ")
        if not sep:
            return fm.elidedText(line, Qt.TextElideMode.ElideRight, width)
        room = width - fm.horizontalAdvance(sep + gain)
        return fm.elidedText(head, Qt.TextElideMode.ElideRight, max(room, 0)) + sep + gain


class StepList(QListWidget):
    """The steps list: asks for three rows (it grows when the window is tall), so a short
    window need not scroll."""

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        row = self.fontMetrics().height() + 8
        return QSize(super().sizeHint().width(), row * 3 + 6)
