"""The fine-tune panel's monitor widgets: `CurvePlot` (a small line plot drawn with
QPainter: the loss, the held-out PSNR) and `CropView` (a titled thumbnail of the held-out
crop before / now / target)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout, QWidget


def _qimage(u8: np.ndarray) -> QImage:
    a = np.ascontiguousarray(u8)
    h, w = a.shape[:2]
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class CurvePlot(QWidget):
    """A small line plot drawn with QPainter: one or two series against the step, a dashed
    reference line (e.g. the base model's score), axis labels at the ends."""

    def __init__(self, title: str, parent: QWidget | None = None, *, log_y: bool = False) -> None:
        super().__init__(parent)
        self.title = title
        self.log_y = log_y
        self.series: list[tuple[str, QColor, list[tuple[float, float]]]] = []
        self.reference: tuple[str, float] | None = None
        self.x_max = 1.0
        self.setMinimumSize(220, 130)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(320, 160)

    def clear(self) -> None:
        self.series = []
        self.reference = None
        self.update()

    def set_series(self, name: str, color: QColor, points: list[tuple[float, float]]) -> None:
        self.series = [s for s in self.series if s[0] != name] + [(name, color, list(points))]
        self.update()

    def set_reference(self, label: str, value: float | None) -> None:
        self.reference = None if value is None else (label, float(value))
        self.update()

    def _ty(self, v: float) -> float:
        return math.log10(max(v, 1e-8)) if self.log_y else v

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        muted = QColor(text)
        muted.setAlpha(120)
        grid = QColor(text)
        grid.setAlpha(40)
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        fm = p.fontMetrics()
        values = [self._ty(v) for _, _, pts in self.series for _, v in pts]
        if self.reference is not None:
            values.append(self._ty(self.reference[1]))
        lo = hi = 0.0
        if values:
            lo, hi = min(values), max(values)
            if hi - lo < 1e-6:
                lo, hi = lo - 0.5, hi + 0.5
            pad = (hi - lo) * 0.08
            lo, hi = lo - pad, hi + pad

        def label(v: float) -> str:
            real = 10**v if self.log_y else v
            return f"{real:.3g}" if self.log_y else f"{real:.2f}"

        widest = max(
            [fm.horizontalAdvance("00.00")] + [fm.horizontalAdvance(label(v)) for v in (lo, hi)]
        )
        left, top = widest + 10, fm.height() + 8
        plot = QRectF(left, top, self.width() - left - 10, self.height() - top - fm.height() - 8)
        # legend (right aligned), then the title in what is left of the line
        x = self.width() - 8.0
        p.setFont(self.font())
        for name, color, _ in reversed(self.series):
            w = fm.horizontalAdvance(name)
            x -= w
            p.setPen(text)
            p.drawText(QPointF(x, fm.ascent() + 4), name)
            x -= 16
            p.setPen(QPen(color, 2))
            p.drawLine(QPointF(x, fm.height() / 2 + 4), QPointF(x + 11, fm.height() / 2 + 4))
            x -= 10
        p.setPen(text)
        f = QFont(p.font())
        f.setBold(True)
        p.setFont(f)
        title = p.fontMetrics().elidedText(self.title, Qt.TextElideMode.ElideRight, int(x - 12))
        p.drawText(QPointF(8, fm.ascent() + 4), title)
        p.setFont(self.font())
        p.setPen(QPen(grid, 1))
        p.drawRect(plot)
        if not values:
            p.setPen(muted)
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "no data yet")
            p.end()
            return
        xmax = max([self.x_max] + [x for _, _, pts in self.series for x, _ in pts])

        def pt(xv: float, yv: float) -> QPointF:
            return QPointF(
                plot.left() + plot.width() * xv / max(xmax, 1e-9),
                plot.bottom() - plot.height() * (self._ty(yv) - lo) / (hi - lo),
            )

        for k in range(1, 4):  # grid
            y = plot.top() + plot.height() * k / 4
            p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        p.setPen(muted)
        p.drawText(QRectF(0, plot.top() - fm.height() / 2, left - 4, fm.height()),
                   Qt.AlignmentFlag.AlignRight, label(hi))  # fmt: skip
        p.drawText(QRectF(0, plot.bottom() - fm.height() / 2, left - 4, fm.height()),
                   Qt.AlignmentFlag.AlignRight, label(lo))  # fmt: skip
        p.drawText(QPointF(plot.left(), plot.bottom() + fm.ascent() + 2), "0")
        end = f"step {int(xmax)}"
        p.drawText(
            QPointF(plot.right() - fm.horizontalAdvance(end), plot.bottom() + fm.ascent() + 2), end
        )
        if self.reference is not None:
            name, v = self.reference
            y = pt(0, v).y()
            p.setPen(QPen(muted, 1, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            p.drawText(QPointF(plot.left() + 4, y - 3), name)
        p.setClipRect(plot.adjusted(-3, -3, 3, 3))
        for _, color, pts in self.series:
            if not pts:
                continue
            path = QPainterPath(pt(*pts[0]))
            for q in pts[1:]:
                path.lineTo(pt(*q))
            p.setPen(QPen(color, 1.8))
            p.drawPath(path)
            if len(pts) <= 40:
                p.setBrush(color)
                for q in pts:
                    p.drawEllipse(pt(*q), 2.5, 2.5)
                p.setBrush(Qt.BrushStyle.NoBrush)
        p.end()


class CropView(QWidget):
    """A titled image thumbnail (the held-out crop before / now / target)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(150, 150)
        self.image.setFrameShape(QFrame.Shape.StyledPanel)
        self.caption = QLabel(title)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.image, 1)
        lay.addWidget(self.caption)

    def set_image(self, u8: np.ndarray | None, caption: str | None = None) -> None:
        if u8 is None:
            self.image.clear()
        else:
            pm = QPixmap.fromImage(_qimage(u8))
            side = 180
            pm = pm.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                           Qt.TransformationMode.FastTransformation)  # fmt: skip
            self.image.setPixmap(pm)
        if caption is not None:
            self.caption.setText(caption)
