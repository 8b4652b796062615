"""`QualityPanel`: the live SSIM / PSNR readout and what the result is compared with."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.gui.theme import section_label

SIMULATIONS = (
    ("noise=15", "Simulate noise σ 15"),
    ("noise=25", "Simulate noise σ 25"),
    ("noise=50", "Simulate noise σ 50"),
    ("blur=gaussian:2", "Simulate Gaussian blur σ 2"),
    ("blur=motion:15:30", "Simulate motion blur 15 px"),
    ("downscale=2", "Simulate downscale ×2"),
    ("downscale=4", "Simulate downscale ×4"),
)


@dataclass
class Readout:
    """Numbers to show. ``before_*`` only exist with a reference."""

    label: str = "similarity to input"
    has_reference: bool = False
    before_ssim: float | None = None
    before_psnr: float | None = None
    after_ssim: float | None = None
    after_psnr: float | None = None
    partial: bool = False  # a live estimate over the finished tiles
    fraction: float = 1.0  # of the result finished
    visible_before: float | None = None
    visible_after: float | None = None


def _fmt_ssim(v: float | None) -> str:
    return "—" if v is None else f"{v:.4f}"


def _fmt_psnr(v: float | None) -> str:
    if v is None:
        return "—"
    return "∞ dB" if math.isinf(v) else f"{v:.2f} dB"


def _fmt_gain(a: float | None, b: float | None, fmt: str) -> str:
    if a is None or b is None or math.isinf(a) or math.isinf(b):
        return "—"
    return format(b - a, fmt)


class QualityPanel(QWidget):
    """SSIM/PSNR of the result (before vs reference, after vs reference, or after vs input)."""

    updated = Signal()  # the numbers shown changed
    comparison_requested = Signal(str)  # "input", "reference", "sim:SPEC" or "custom"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._readout = Readout()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 6, 12, 10)
        lay.setSpacing(6)
        head = QHBoxLayout()
        head.addWidget(section_label("Quality"))
        head.addStretch(1)
        self.caption = QLabel("similarity to input")
        self.caption.setEnabled(False)
        head.addWidget(self.caption)
        lay.addLayout(head)

        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(3)
        self._cells: dict[str, QLabel] = {}
        for col, text in ((1, "SSIM"), (2, "PSNR")):
            h = QLabel(text)
            h.setEnabled(False)
            h.setAlignment(Qt.AlignmentFlag.AlignRight)
            grid.addWidget(h, 0, col)
        big = QFont(self.font())
        big.setPointSizeF(big.pointSizeF() * 1.15)
        big.setWeight(QFont.Weight.DemiBold)
        for row, key, title in (
            (1, "before", "Before"),
            (2, "after", "After"),
            (3, "gain", "Gain"),
        ):
            t = QLabel(title)
            grid.addWidget(t, row, 0)
            self._cells[f"{key}_title"] = t
            for col, metric in ((1, "ssim"), (2, "psnr")):
                lab = QLabel("—")
                lab.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                if key == "after":
                    lab.setFont(big)
                grid.addWidget(lab, row, col)
                self._cells[f"{key}_{metric}"] = lab
        grid.setColumnStretch(0, 1)
        lay.addLayout(grid)

        self.visible_label = QLabel("Visible region: —")
        self.visible_label.setToolTip("SSIM over the part of the photo shown in the viewer")
        lay.addWidget(self.visible_label)

        row = QHBoxLayout()
        row.addWidget(QLabel("Compare with"))
        self.compare_combo = QComboBox(self)
        self.compare_combo.setToolTip(
            "Input: how much the result changed the photo.\n"
            "Reference photo: a clean version of the same shot.\n"
            "Simulate: degrade this (clean) photo, restore it and compare with the original."
        )
        self._fill_combo()
        self.compare_combo.activated.connect(self._on_combo_activated)
        row.addWidget(self.compare_combo, 1)
        lay.addLayout(row)
        self.show_readout(Readout())

    def _fill_combo(self, current_sim: str | None = None) -> None:
        c = self.compare_combo
        c.blockSignals(True)
        c.clear()
        c.addItem("Input (no reference)", "input")
        c.addItem("Reference photo…", "reference")
        for spec, label in SIMULATIONS:
            c.addItem(label, f"sim:{spec}")
        if current_sim and f"sim:{current_sim}" not in [c.itemData(i) for i in range(c.count())]:
            c.addItem(f"Simulate {current_sim}", f"sim:{current_sim}")
        c.addItem("Simulate custom…", "custom")
        c.blockSignals(False)

    def _on_combo_activated(self, index: int) -> None:
        key = self.compare_combo.itemData(index)
        self.comparison_requested.emit(str(key))

    def set_comparison(self, key: str, reference_name: str = "") -> None:
        """Reflect the document's comparison ("input", "reference" or "sim:SPEC")."""
        sim = key[4:] if key.startswith("sim:") else None
        self._fill_combo(sim)
        c = self.compare_combo
        i = c.findData(key)
        if key == "reference" and reference_name:
            c.setItemText(i, f"Reference: {reference_name}")
        c.setCurrentIndex(max(0, i))

    def comparison_key(self) -> str:
        return str(self.compare_combo.currentData())

    # ---------------------------------------------------------------- readout
    def readout(self) -> Readout:
        return self._readout

    def show_readout(self, r: Readout) -> None:
        self._readout = r
        ref = r.has_reference
        for key in ("before", "gain"):
            for part in ("title", "ssim", "psnr"):
                self._cells[f"{key}_{part}"].setVisible(ref)
        self._cells["after_title"].setText("After" if ref else "Result")
        self._cells["before_ssim"].setText(_fmt_ssim(r.before_ssim))
        self._cells["before_psnr"].setText(_fmt_psnr(r.before_psnr))
        prefix = "≈ " if r.partial and r.after_ssim is not None else ""
        self._cells["after_ssim"].setText(prefix + _fmt_ssim(r.after_ssim))
        self._cells["after_psnr"].setText(prefix + _fmt_psnr(r.after_psnr))
        self._cells["gain_ssim"].setText(_fmt_gain(r.before_ssim, r.after_ssim, "+.4f"))
        self._cells["gain_psnr"].setText(
            _fmt_gain(r.before_psnr, r.after_psnr, "+.2f")
            + (" dB" if r.after_psnr is not None and r.before_psnr is not None else "")
        )
        caption = r.label
        if r.partial and r.after_ssim is not None:
            caption += f"  ·  live, {r.fraction:.0%} done"
        self.caption.setText(caption)
        if r.visible_after is None:
            self.visible_label.setText("Visible region: —")
        elif ref and r.visible_before is not None:
            self.visible_label.setText(
                f"Visible region SSIM: {r.visible_before:.4f} → {r.visible_after:.4f}"
            )
        else:
            self.visible_label.setText(f"Visible region SSIM: {r.visible_after:.4f}")
        self.updated.emit()

    def after_ssim_text(self) -> str:
        return self._cells["after_ssim"].text()
