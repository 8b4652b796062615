"""`NoiseProfilePlot`: the camera's noise as measured from the user's RAW files (a card's
``noise_profile``, `core.camera_noise.CameraNoise.to_json`): noise (standard deviation, % of
the white level) against brightness, one line per ISO, drawn with QPainter; the legend gives
each ISO's row banding (standard deviation of a row's offset, % of white) where measured."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

_COLOURS = ("#2e86de", "#e67e22", "#27ae60", "#c0392b", "#8e44ad", "#16a085")


class NoiseProfilePlot(QWidget):
    """Noise against brightness per ISO (empty until `set_profile`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lines: list[tuple[str, float, float]] = []  # (label, shot, read)
        self.banding: dict[str, float] = {}  # label -> row-offset variance
        self.setMinimumSize(220, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setAccessibleName("Camera noise profile")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(320, 140)

    def set_profile(self, profile: dict[str, Any] | None) -> None:
        """Show a card's ``noise_profile`` (None clears the plot)."""
        per_iso = (profile or {}).get("per_iso", {})
        self.lines = [(f"ISO {iso}", float(p["shot"]), float(p["read"]))
                      for iso, p in sorted(per_iso.items(), key=lambda kv: float(kv[0]))]  # fmt: skip
        self.banding = {f"ISO {iso}": float(p.get("row", 0.0)) for iso, p in per_iso.items()}
        self.setToolTip("\n".join(f"{n}: shot {s:.3g}, read {r:.3g}, row {self.banding[n]:.3g} "
                                  "(variances)" for n, s, r in self.lines))  # fmt: skip
        self.update()

    @staticmethod
    def std_percent(shot: float, read: float, x: float) -> float:
        return 100.0 * math.sqrt(max(shot * x + read, 0.0))

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        muted = QColor(text)
        muted.setAlpha(140)
        r = QRectF(self.rect()).adjusted(40, 18, -8, -20)
        p.setPen(text)
        p.drawText(QRectF(0, 0, self.width(), 16), Qt.AlignmentFlag.AlignCenter,
                   "Your camera's noise (% of white) vs brightness")  # fmt: skip
        if not self.lines:
            p.setPen(muted)
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "measured when training starts")
            p.end()
            return
        top = max(self.std_percent(s, rd, 1.0) for _, s, rd in self.lines) * 1.1 or 1.0
        p.setPen(QPen(muted, 1))
        p.drawLine(r.bottomLeft(), r.bottomRight())
        p.drawLine(r.bottomLeft(), r.topLeft())
        p.drawText(QRectF(0, r.top() - 6, 38, 12), Qt.AlignmentFlag.AlignRight, f"{top:.1f}")
        p.drawText(QRectF(0, r.bottom() - 6, 38, 12), Qt.AlignmentFlag.AlignRight, "0")
        p.drawText(QRectF(r.left(), r.bottom() + 2, r.width(), 16),
                   Qt.AlignmentFlag.AlignCenter, "black → white")  # fmt: skip
        for k, (label, shot, read) in enumerate(self.lines):
            colour = QColor(_COLOURS[k % len(_COLOURS)])
            path = QPainterPath()
            for i in range(41):
                x = i / 40
                y = self.std_percent(shot, read, x) / top
                pt = QPointF(r.left() + x * r.width(), r.bottom() - y * r.height())
                path.moveTo(pt) if i == 0 else path.lineTo(pt)
            p.setPen(QPen(colour, 2))
            p.drawPath(path)
            row = self.banding.get(label, 0.0)
            legend = f"{label}, banding {100 * math.sqrt(row):.2f} %" if row > 0 else label
            p.drawText(QPointF(r.left() + 6, r.top() + 12 + 13 * k), legend)
        p.end()
