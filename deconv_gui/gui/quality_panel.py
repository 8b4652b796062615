"""`QualityPanel`: the SSIM / PSNR readout in plain words, what the result is compared with,
which two pictures the viewer shows, and the overlay over the result.

Against the input the numbers measure how much the result changed it, not how good it is,
and the panel says so ("changed little" / "changed a lot", thresholds in `quality`). Against
a reference (a clean photo, or the original in Simulate) it shows before -> after with the
gain in colour and a one-line verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.gui.document import SIMULATED_AGAINST
from deconv_gui.gui.quality import (
    CHANGED_A_LOT_SSIM,
    CHANGED_LITTLE_SSIM,
    change_verdict,
    gain_verdict,
)
from deconv_gui.gui.theme import mute, section_label, verdict_colour

SIMULATIONS = (
    ("noise=15", "Simulate noise σ 15"),
    ("noise=25", "Simulate noise σ 25"),
    ("noise=50", "Simulate noise σ 50"),
    ("blur=gaussian:2", "Simulate Gaussian blur σ 2"),
    ("blur=motion:15:30", "Simulate motion blur 15 px"),
    ("downscale=2", "Simulate downscale ×2"),
    ("downscale=4", "Simulate downscale ×4"),
)

SSIM_TIP = (
    "SSIM (structural similarity) compares local brightness, contrast and structure of two "
    "pictures: 1 means identical, 0 unrelated. Higher is better."
)
PSNR_TIP = (
    "PSNR (peak signal-to-noise ratio) measures the average pixel error in decibels. Higher "
    "is better: +1 dB is a small but real gain; above about 30 dB differences are hard to see."
)
INPUT_TIP = (
    "\n\nCompared with the input, these numbers only say how much the result changed the "
    "photo, not whether it is better."
)

OVERLAYS = (("", "No overlay"), ("ssim", "SSIM map"), ("diff", "Difference"))
DEFAULT_OPACITY = 0.7

# which two pictures the viewer compares, when there is a reference: (key, label in
# Simulate, label with a reference photo)
PAIRS = (
    ("input", "Degraded vs restored", "Before vs after"),
    ("reference", "Your photo vs restored", "Reference vs after"),
    ("reference_input", "Your photo vs degraded", "Reference vs before"),
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
    #: with a reference of another size than the result: the reference's (w, h), to which
    #: the result was resized to be compared
    compared_at: tuple[int, int] | None = None


def fmt_ssim(v: float | None) -> str:
    """Three significant digits for values near 1 (0.874, 0.999)."""
    return "—" if v is None else f"{v:.3f}"


def fmt_psnr(v: float | None) -> str:
    if v is None:
        return "—"
    return "∞ dB" if math.isinf(v) else f"{v:.1f} dB"


def fmt_gain(before: float | None, after: float | None, kind: str) -> str:
    """The signed difference after - before ("ssim": +0.262, "psnr": +7.3 dB)."""
    if before is None or after is None or math.isinf(before) or math.isinf(after):
        return ""
    d = after - before
    return f"{d:+.3f}" if kind == "ssim" else f"{d:+.1f} dB"


def verdict_text(r: Readout) -> tuple[str, str]:
    """The readout's one line in words and its kind ("good", "bad" or "")."""
    if r.after_ssim is None:
        if r.has_reference and r.before_ssim is not None:
            sim = r.label == f"vs {SIMULATED_AGAINST}"
            target = SIMULATED_AGAINST if sim else "the reference"
            return f"Run a model to see how much closer to {target} it gets.", ""
        return "", ""
    live = "So far: " if r.partial else ""
    if not r.has_reference:
        if r.after_psnr is not None and math.isinf(r.after_psnr):  # e.g. nothing to remove
            return f"{live}Unchanged: the result is identical to the input.", ""
        verdict = change_verdict(r.after_ssim).capitalize()
        return f"{live}{verdict}. This measures change from the input, not quality.", ""
    if r.before_ssim is None or r.before_psnr is None or r.after_psnr is None:
        return "", ""
    against = r.label.removeprefix("vs ")
    text, kind = gain_verdict(r.before_ssim, r.after_ssim, r.before_psnr, r.after_psnr, against)
    if r.compared_at is not None:
        w, h = r.compared_at
        text += f" (The result was resized to {against}'s {w} × {h} to compare them.)"
    return live + text, kind


CHANGE_TIP = (
    f"Changed little: SSIM vs the input of {CHANGED_LITTLE_SSIM:.2f} or more; changed a lot: "
    f"below {CHANGED_A_LOT_SSIM:.2f}. A strong denoiser changes a noisy photo a lot, a "
    "gentle one little: neither says which looks better. Load a reference or Simulate to "
    "measure quality."
)


class QualityPanel(QWidget):
    """SSIM/PSNR of the result (before and after vs a reference, or after vs the input).

    Signals: ``comparison_requested(key)`` ("input", "reference", "sim:SPEC" or "custom"),
    ``pair_requested(key)`` (a `PAIRS` key), ``overlay_requested(kind)`` ("", "ssim" or
    "diff"), ``opacity_changed(float)`` (0-1), ``updated()`` (the numbers shown changed).
    """

    updated = Signal()
    comparison_requested = Signal(str)
    pair_requested = Signal(str)
    overlay_requested = Signal(str)
    opacity_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._readout = Readout()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 6, 12, 10)
        lay.setSpacing(6)
        head = QHBoxLayout()
        head.addWidget(section_label("Quality"))
        head.addStretch(1)
        self.caption = mute(QLabel("change from the input"))
        head.addWidget(self.caption)
        lay.addLayout(head)

        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(3)
        self._cells: dict[str, QLabel] = {}
        for col, key in ((1, "before"), (2, "arrow"), (3, "after"), (4, "gain")):
            h = mute(QLabel())
            h.setAlignment(Qt.AlignmentFlag.AlignRight)
            grid.addWidget(h, 0, col)
            self._cells[f"head_{key}"] = h
        big = QFont(self.font())
        big.setWeight(QFont.Weight.DemiBold)
        self._tips = {"ssim": SSIM_TIP, "psnr": PSNR_TIP}
        for row, metric in ((1, "ssim"), (2, "psnr")):
            t = QLabel(metric.upper())
            grid.addWidget(t, row, 0)
            self._cells[f"{metric}_title"] = t
            for col, key in ((1, "before"), (2, "arrow"), (3, "after"), (4, "gain")):
                lab = QLabel("→" if key == "arrow" else "")
                lab.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                if key in ("after", "gain"):
                    lab.setFont(big)
                grid.addWidget(lab, row, col)
                self._cells[f"{metric}_{key}"] = lab
        grid.setColumnStretch(0, 1)
        lay.addLayout(grid)

        self.verdict_label = QLabel()
        self.verdict_label.setWordWrap(True)
        lay.addWidget(self.verdict_label)

        self.visible_label = mute(QLabel("Visible region: —"))
        self.visible_label.setToolTip("SSIM over the part of the photo shown in the viewer")
        lay.addWidget(self.visible_label)

        row = QHBoxLayout()
        row.addWidget(QLabel("Compare with"))
        self.compare_combo = QComboBox(self)
        self.compare_combo.setToolTip(
            "Input: how much the result changed the photo.\n"
            "Reference photo: a clean version of the same shot.\n"
            "Simulate: damage a copy of this photo, restore it and compare with the photo "
            "(best on a clean photo)."
        )
        self._fill_combo()
        self.compare_combo.activated.connect(self._on_combo_activated)
        row.addWidget(self.compare_combo, 1)
        lay.addLayout(row)

        self.pair_row = QWidget(self)
        pr = QHBoxLayout(self.pair_row)
        pr.setContentsMargins(0, 0, 0, 0)
        pr.addWidget(QLabel("Show"))
        self.pair_combo = QComboBox(self.pair_row)
        self.pair_combo.setToolTip("Which two pictures the viewer compares")
        self.pair_combo.activated.connect(
            lambda i: self.pair_requested.emit(str(self.pair_combo.itemData(i)))
        )
        pr.addWidget(self.pair_combo, 1)
        lay.addWidget(self.pair_row)
        self.set_pairs(False)

        orow = QHBoxLayout()
        self.overlay_combo = QComboBox(self)
        for kind, text in OVERLAYS:
            self.overlay_combo.addItem(text, kind)
        self.overlay_combo.setToolTip(
            "Draw a false-colour map over the result: where it differs from what it is "
            "compared with (M: SSIM map, D: difference)"
        )
        self.overlay_combo.activated.connect(
            lambda i: self.overlay_requested.emit(str(self.overlay_combo.itemData(i)))
        )
        orow.addWidget(self.overlay_combo, 1)
        self.opacity_label = QLabel("Opacity")
        orow.addWidget(self.opacity_label)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity_slider.setRange(10, 100)
        self.opacity_slider.setValue(round(DEFAULT_OPACITY * 100))
        self.opacity_slider.setToolTip("Opacity of the overlay")
        self.opacity_slider.setAccessibleName("Overlay opacity")
        self.opacity_slider.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100))
        orow.addWidget(self.opacity_slider, 1)
        lay.addLayout(orow)
        self.set_overlay("")
        self.show_readout(Readout())

    # ---------------------------------------------------------------- comparison
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

    def set_pairs(self, available: bool, *, simulate: bool = False, current: str = "input") -> None:
        """Offer the `PAIRS` to show (only with a reference; their names say "degraded" and
        "your photo" in Simulate)."""
        c = self.pair_combo
        c.blockSignals(True)
        c.clear()
        for key, sim_label, ref_label in PAIRS:
            c.addItem(sim_label if simulate else ref_label, key)
        c.setCurrentIndex(max(0, c.findData(current)))
        c.blockSignals(False)
        self.pair_row.setVisible(available)

    # ---------------------------------------------------------------- overlay
    def set_overlay(self, kind: str) -> None:
        """Reflect the overlay shown ("", "ssim" or "diff")."""
        self.overlay_combo.setCurrentIndex(max(0, self.overlay_combo.findData(kind)))
        self.opacity_slider.setEnabled(bool(kind))
        self.opacity_label.setEnabled(bool(kind))

    def opacity(self) -> float:
        return self.opacity_slider.value() / 100

    # ---------------------------------------------------------------- readout
    def readout(self) -> Readout:
        return self._readout

    def show_readout(self, r: Readout) -> None:
        self._readout = r
        ref = r.has_reference
        for metric in ("ssim", "psnr"):
            for key in ("before", "arrow", "gain"):
                self._cells[f"{metric}_{key}"].setVisible(ref)
            tip = self._tips[metric] + ("" if ref else INPUT_TIP)
            for key in ("title", "before", "after", "gain"):
                self._cells[f"{metric}_{key}"].setToolTip(tip)
        for key in ("before", "arrow", "after", "gain"):
            self._cells[f"head_{key}"].setVisible(ref)
        self._cells["head_before"].setText("Before")
        self._cells["head_after"].setText("After")
        self._cells["head_gain"].setText("Gain")
        approx = "≈ " if r.partial and r.after_ssim is not None else ""
        self._cells["ssim_before"].setText(fmt_ssim(r.before_ssim))
        self._cells["psnr_before"].setText(fmt_psnr(r.before_psnr))
        self._cells["ssim_after"].setText(approx + fmt_ssim(r.after_ssim))
        self._cells["psnr_after"].setText(approx + fmt_psnr(r.after_psnr))
        for metric, before, after in (
            ("ssim", r.before_ssim, r.after_ssim),
            ("psnr", r.before_psnr, r.after_psnr),
        ):
            cell = self._cells[f"{metric}_gain"]
            cell.setText(fmt_gain(before, after, metric))
            d = None if before is None or after is None else after - before
            kind = "" if d is None or d == 0 or math.isnan(d) else ("good" if d > 0 else "bad")
            self._colour(cell, kind)
        text, kind = verdict_text(r)
        self.verdict_label.setText(text)
        self.verdict_label.setToolTip("" if ref else CHANGE_TIP)
        self.verdict_label.setVisible(bool(text))
        self._colour(self.verdict_label, kind)
        caption = r.label if ref else "change from the input"
        if r.partial and r.after_ssim is not None:
            caption += f"  ·  live, {r.fraction:.0%} done"
        self.caption.setText(caption)
        if r.visible_after is None:
            self.visible_label.setText("Visible region: —")
        elif ref and r.visible_before is not None:
            self.visible_label.setText(
                f"Visible region SSIM: {r.visible_before:.3f} → {r.visible_after:.3f}"
            )
        else:
            self.visible_label.setText(f"Visible region SSIM: {r.visible_after:.3f}")
        self.updated.emit()

    def _colour(self, label: QLabel, kind: str) -> None:
        """Good / bad text colour of the theme (readable on it), or the normal text."""
        c = verdict_colour(self.palette(), kind)
        label.setStyleSheet(f"color: {c.name()};" if c is not None else "")

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # a theme switch: recolour
            self.show_readout(self._readout)

    def after_ssim_text(self) -> str:
        return self._cells["ssim_after"].text()

    def gain_text(self, metric: str) -> str:
        return self._cells[f"{metric}_gain"].text()
