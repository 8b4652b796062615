"""`CompareView`: before/after viewer with split, side-by-side and flicker modes.

Scene coordinates are result pixels: the "after" picture fills the scene one to one and the
"before" picture is stretched over the same rectangle (the viewer gives an upscale's input
already enlarged with Lanczos, so it is not compared with hard pixel blocks). Zoom is in
device pixels per scene pixel, so 100 % is one image pixel per screen pixel on high-DPI
screens too. As in Lightroom, pictures are filtered smoothly below `CRISP_ZOOM` (200 %) and
drawn as crisp pixels from there up, from the pyramid level closest to the zoom.

A photo with transparency is painted through its alpha (`set_transparency`) over a
checkerboard, as image editors show it; a loaded reference photo is not.

Also: an overlay (SSIM map, difference) drawn over the result at an opacity with its legend,
sides that can be swapped, flicker that flicks by itself (`FLICKER_INTERVAL_MS`), and a
navigator thumbnail while zoomed in (click or drag in it to move the view).
"""

from __future__ import annotations

import functools
import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from deconv_gui.gui.display import (
    CHECKER_GREYS,
    OVERLAY_NAMES,
    DisplayImage,
    Overlay,
    colour_bar,
)

MODES = ("split", "side", "flicker")
MODE_LABELS = {"split": "Split", "side": "Side by side", "flicker": "Flicker"}
ZOOM_STEPS = (
    1 / 32, 1 / 24, 1 / 16, 1 / 12, 1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2, 2 / 3,
    1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0,
)  # fmt: skip
MIN_ZOOM, MAX_ZOOM = 1 / 64, 64.0
PANE_GAP = 2  # logical px between the two panes of side by side
DIVIDER_GRAB = 8  # logical px either side of the split line that grab it
CRISP_ZOOM = 2.0  # from this zoom up pixels are drawn crisp (nearest); smooth below
FLICKER_INTERVAL_MS = 500  # auto flicker: the picture changes twice a second (2 Hz)
NAV_SIZE = 150  # logical px, the navigator's longer side
NAV_MARGIN = 12
CHECKER_SQUARE = 8  # logical px, the squares shown behind transparent pixels


class CompareView(QWidget):
    """Shows ``before`` and ``after`` pictures for comparison; pan and zoom are shared."""

    mode_changed = Signal(str)
    zoom_changed = Signal(float)
    view_changed = Signal()  # zoom, pan or size changed: the visible region moved
    before_shown_changed = Signal(bool)
    auto_flicker_changed = Signal(bool)
    swapped_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._before: DisplayImage | None = None
        self._after: DisplayImage | None = None
        self._after_partial = False
        self._overlay: Overlay | None = None
        self._alpha: DisplayImage | None = None  # the photo's transparency (a mask)
        self._alpha_on = (False, False)  # painted through it: (before, after)
        self._overlay_opacity = 0.7
        self._swapped = False
        self._flicker_timer = QTimer(self)
        self._flicker_timer.setInterval(FLICKER_INTERVAL_MS)
        self._flicker_timer.timeout.connect(lambda: self.set_show_before(not self._show_before))
        self._scene_w, self._scene_h = 1, 1
        self._zoom = 1.0
        self._center = QPointF(0.5, 0.5)
        self._fit_mode = True
        self._mode = "split"
        self._divider = 0.5
        self._show_before = False
        self._drag: str | None = None  # "pan", "divider" or "navigator"
        self._last_pos = QPointF()
        self._labels = ("Before", "After")
        self._placeholder = ""

    # ================================================================ content
    def set_pictures(
        self,
        before: DisplayImage | None,
        after: DisplayImage | None = None,
        *,
        scene_size: tuple[int, int] | None = None,
        partial: bool = False,
    ) -> None:
        """Show new pictures. ``scene_size`` (w, h) defaults to the after (else before) size.

        When the scene changes size (preview -> full photo, input -> upscaled result) the view
        keeps showing the same part of the picture.
        """
        self._before, self._after, self._after_partial = before, after, partial
        if scene_size is None:
            ref = after or before
            scene_size = ref.size if ref else (1, 1)
        self._resize_scene(*scene_size)
        self.update()

    def set_after(self, after: DisplayImage | None, *, partial: bool = False) -> None:
        self._after, self._after_partial = after, partial
        if after is not None:
            self._resize_scene(after.width, after.height)
        self.update()

    def set_after_partial(self, partial: bool) -> None:
        self._after_partial = partial
        self.update()

    def before(self) -> DisplayImage | None:
        return self._before

    def after(self) -> DisplayImage | None:
        return self._after

    def set_transparency(
        self, mask: DisplayImage | None, *, before: bool = True, after: bool = True
    ) -> None:
        """Paint the before and/or after picture through `mask` (`DisplayImage.transparency`,
        stretched over the scene like the pictures) over a checkerboard; None: opaque."""
        on = (before, after) if mask is not None else (False, False)
        if mask is not self._alpha or on != self._alpha_on:
            self._alpha, self._alpha_on = mask, on
            self.update()

    def transparency(self) -> tuple[DisplayImage | None, tuple[bool, bool]]:
        return self._alpha, self._alpha_on

    def set_overlay(self, overlay: Overlay | None) -> None:
        """Draw `overlay` (stretched over the scene) over the after picture."""
        self._overlay = overlay
        self.update()

    def overlay(self) -> Overlay | None:
        return self._overlay

    def overlay_kind(self) -> str:
        return self._overlay.kind if self._overlay is not None else ""

    def set_overlay_opacity(self, opacity: float) -> None:
        self._overlay_opacity = min(1.0, max(0.0, float(opacity)))
        self.update()

    def overlay_opacity(self) -> float:
        return self._overlay_opacity

    def set_labels(self, before: str, after: str) -> None:
        self._labels = (before, after)
        self.update()

    def labels(self) -> tuple[str, str]:
        """The corner labels of the before and the after pictures as painted (the after one
        names the overlay drawn over it)."""
        after = self._labels[1]
        if self._overlay is not None:
            after = f"{OVERLAY_NAMES.get(self._overlay.kind, 'Overlay')} over {after}"
        return self._labels[0], after

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def tile_finished(self, box: tuple[int, int, int, int]) -> None:
        """Repaint only where a new result tile landed (scene coordinates y0, y1, x0, x1)."""
        y0, y1, x0, x1 = box
        for pane, _ in self._panes():
            r = self._scene_to_widget_rect(QRectF(x0, y0, x1 - x0, y1 - y0), pane)
            self.update(r.toAlignedRect().adjusted(-2, -2, 2, 2))

    def _resize_scene(self, w: int, h: int) -> None:
        w, h = max(1, int(w)), max(1, int(h))
        if (w, h) == (self._scene_w, self._scene_h):
            return
        sx, sy = w / self._scene_w, h / self._scene_h
        first = self._scene_w == 1 and self._scene_h == 1
        self._center = QPointF(self._center.x() * sx, self._center.y() * sy)
        self._scene_w, self._scene_h = w, h
        if first or self._fit_mode:
            self.fit()
        else:
            self._set_zoom_value(self._zoom / math.sqrt(sx * sy))

    def scene_size(self) -> tuple[int, int]:
        return self._scene_w, self._scene_h

    # ================================================================ modes
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown compare mode {mode!r}")
        if mode != self._mode:
            self._mode = mode
            if mode != "flicker":
                self.set_auto_flicker(False)
            if self._fit_mode:
                self.fit()
            self.update()
            self.mode_changed.emit(mode)
            self.view_changed.emit()

    def divider_position(self) -> float:
        return self._divider

    def set_divider_position(self, fraction: float) -> None:
        self._divider = min(1.0, max(0.0, float(fraction)))
        self.update()

    def is_showing_before(self) -> bool:
        return self._show_before

    def set_show_before(self, on: bool) -> None:
        """Flicker: show the before picture in place of the after one while `on`."""
        if on != self._show_before:
            self._show_before = on
            self.update()
            self.before_shown_changed.emit(on)

    def is_auto_flicker(self) -> bool:
        return self._flicker_timer.isActive()

    def set_auto_flicker(self, on: bool) -> None:
        """Flick between before and after by itself (in flicker mode) every
        `FLICKER_INTERVAL_MS`; off shows the after picture again."""
        if on == self.is_auto_flicker():
            return
        if on:
            self.set_mode("flicker")
            self._flicker_timer.start()
        else:
            self._flicker_timer.stop()
            self.set_show_before(False)
        self.auto_flicker_changed.emit(on)

    def is_swapped(self) -> bool:
        return self._swapped

    def set_swapped(self, on: bool) -> None:
        """Swap sides: the after picture on the left, the before on the right."""
        if on != self._swapped:
            self._swapped = on
            self.update()
            self.swapped_changed.emit(on)

    # ================================================================ zoom and pan
    def zoom(self) -> float:
        """Device pixels per scene pixel (1.0 = 100 %)."""
        return self._zoom

    def is_fit(self) -> bool:
        return self._fit_mode

    def fit_zoom(self) -> float:
        pane = self._panes()[0][0]
        margin = 12
        sw = max(1.0, pane.width() - margin) / self._scene_w
        sh = max(1.0, pane.height() - margin) / self._scene_h
        return max(MIN_ZOOM, min(sw, sh) * self._dpr())

    def fit(self) -> None:
        self._fit_mode = True
        self._center = QPointF(self._scene_w / 2, self._scene_h / 2)
        self._set_zoom_value(self.fit_zoom())

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to `zoom`, keeping the scene point under `anchor` (widget px) in place."""
        self._fit_mode = False
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        if anchor is not None:
            pane = self._pane_at(anchor)
            scene_pt = self._widget_to_scene(anchor, pane)
            s = zoom / self._dpr()
            c = pane.center()
            self._center = QPointF(
                scene_pt.x() - (anchor.x() - c.x()) / s, scene_pt.y() - (anchor.y() - c.y()) / s
            )
        self._set_zoom_value(zoom)

    def zoom_in(self) -> None:
        self.set_zoom(next((z for z in ZOOM_STEPS if z > self._zoom * 1.01), MAX_ZOOM))

    def zoom_out(self) -> None:
        self.set_zoom(next((z for z in reversed(ZOOM_STEPS) if z < self._zoom / 1.01), MIN_ZOOM))

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the picture by (dx, dy) logical pixels."""
        s = self._zoom / self._dpr()
        self._center = QPointF(self._center.x() - dx / s, self._center.y() - dy / s)
        self._clamp_center()
        self.update()
        self.view_changed.emit()

    def center(self) -> QPointF:
        return QPointF(self._center)

    def visible_scene_rect(self) -> QRectF:
        """Part of the scene visible (in the after pane), clipped to the scene."""
        pane = self._panes()[-1][0]
        tl = self._widget_to_scene(pane.topLeft(), pane)
        br = self._widget_to_scene(pane.bottomRight(), pane)
        return QRectF(tl, br).intersected(QRectF(0, 0, self._scene_w, self._scene_h))

    def _set_zoom_value(self, zoom: float) -> None:
        changed = abs(zoom - self._zoom) > 1e-12
        self._zoom = zoom
        self._clamp_center()
        self.update()
        if changed:
            self.zoom_changed.emit(zoom)
        self.view_changed.emit()

    def _clamp_center(self) -> None:
        """Keep the picture on screen: centred when it is smaller than the pane, its edges
        no further in than the pane's edges when it is larger."""
        pane = self._panes()[0][0]
        s = self._zoom / self._dpr()
        half_w, half_h = pane.width() / 2 / s, pane.height() / 2 / s

        def clamp(c: float, size: float, half: float) -> float:
            if 2 * half >= size:
                return size / 2
            return min(max(c, half), size - half)

        self._center = QPointF(
            clamp(self._center.x(), float(self._scene_w), half_w),
            clamp(self._center.y(), float(self._scene_h), half_h),
        )

    # ================================================================ geometry
    def _dpr(self) -> float:
        return float(self.devicePixelRatioF()) or 1.0

    def _panes(self) -> list[tuple[QRectF, str]]:
        """(rect, role) of each pane; role is "before", "after" or "both"."""
        r = QRectF(self.rect())
        if self._mode == "side" and self._after is not None:
            half = (r.width() - PANE_GAP) / 2
            return [
                (QRectF(r.left(), r.top(), half, r.height()), "before"),
                (QRectF(r.left() + half + PANE_GAP, r.top(), half, r.height()), "after"),
            ]
        return [(r, "both")]

    def _pane_at(self, pos: QPointF) -> QRectF:
        for pane, _ in self._panes():
            if pane.contains(pos):
                return pane
        return self._panes()[-1][0]

    def _widget_to_scene(self, pos: QPointF, pane: QRectF) -> QPointF:
        s = self._zoom / self._dpr()
        c = pane.center()
        return QPointF(
            self._center.x() + (pos.x() - c.x()) / s, self._center.y() + (pos.y() - c.y()) / s
        )

    def _scene_to_widget_rect(self, rect: QRectF, pane: QRectF) -> QRectF:
        s = self._zoom / self._dpr()
        c = pane.center()
        return QRectF(
            c.x() + (rect.x() - self._center.x()) * s,
            c.y() + (rect.y() - self._center.y()) * s,
            rect.width() * s,
            rect.height() * s,
        )

    def _divider_x(self) -> float:
        return self.width() * self._divider

    # ================================================================ painting
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        pal = self.palette()
        dark_theme = pal.window().color().lightness() < 128
        # a neutral grey surround, so it does not tint how the photo's tones look
        bg = QColor(34, 34, 36) if dark_theme else QColor(74, 74, 76)
        p.fillRect(event.rect(), bg)
        if self._before is None and self._after is None:
            self._paint_placeholder(p)
            return
        before_label, after_label = self.labels()
        after_visible = self._after is not None and not self._show_before
        first, second = (self._paint_after, self._paint_before)
        if not self._swapped:
            first, second = second, first
        first_label, second_label = (
            (after_label, before_label) if self._swapped else (before_label, after_label)
        )
        if self._mode == "split" and after_visible:
            x = self._divider_x()
            pane = QRectF(self.rect())
            left, right = (
                QRectF(0, 0, x, self.height()),
                QRectF(x, 0, self.width() - x, self.height()),
            )
            for paint, clip in ((first, left), (second, right)):
                p.save()
                p.setClipRect(clip)
                paint(p, pane)
                p.restore()
            self._paint_divider(p, x)
            self._paint_label(p, first_label, left, left=True)
            self._paint_label(p, second_label, right, left=False)
        elif self._mode == "side" and self._after is not None:
            (lp, _), (rp, _) = self._panes()
            if self._show_before:  # flicker in side by side: both panes show the before
                first = second = self._paint_before
                first_label = second_label = before_label
            for paint, pane in ((first, lp), (second, rp)):
                p.save()
                p.setClipRect(pane)
                paint(p, pane)
                p.restore()
            p.fillRect(QRectF(lp.right(), 0, PANE_GAP, self.height()), pal.window())
            self._paint_label(p, first_label, lp, left=True)
            self._paint_label(p, second_label, rp, left=True)
        else:
            pane = QRectF(self.rect())
            if after_visible:
                self._paint_after(p, pane)
                self._paint_label(p, after_label, pane, left=True)
            else:
                self._paint_before(p, pane)
                if self._after is not None or self._show_before:
                    self._paint_label(p, before_label, pane, left=True)
        if self._overlay is not None and after_visible:
            self._paint_legend(p, self._overlay)
        self._paint_navigator(p)
        p.end()

    def _source(self, img: DisplayImage, part: QRectF) -> tuple[QImage, QRectF, float]:
        """The pyramid level of `img` to paint the scene rectangle `part` at this zoom, the
        rectangle in that level's pixels, and its pixels per scene pixel."""
        per_scene = img.width / self._scene_w  # image px per scene px
        device_scale = self._zoom / per_scene  # device px per image px
        level = img.level_for(device_scale)
        f = per_scene / (2**level)  # level px per scene px
        qimg: QImage = img.qimage(level)
        src = QRectF(part.x() * f, part.y() * f, part.width() * f, part.height() * f)
        return qimg, src.intersected(QRectF(0, 0, qimg.width(), qimg.height())), f

    def _paint_image(
        self,
        p: QPainter,
        img: DisplayImage,
        pane: QRectF,
        opacity: float = 1.0,
        *,
        masked: bool = False,
    ) -> None:
        scene = QRectF(0, 0, self._scene_w, self._scene_h)
        area = pane
        mask = self._alpha if masked else None
        if mask is not None and p.hasClipping():  # painting through the alpha costs per
            area = pane.intersected(p.clipBoundingRect())  # pixel: only the split's side in view
        tl = self._widget_to_scene(area.topLeft(), pane)
        br = self._widget_to_scene(area.bottomRight(), pane)
        vis = QRectF(tl, br).intersected(scene)
        if vis.isEmpty():
            return
        qimg, src, f = self._source(img, vis)
        if src.isEmpty():
            return
        part = QRectF(src.x() / f, src.y() / f, src.width() / f, src.height() / f)
        target = self._scene_to_widget_rect(part, pane)
        p.save()
        smooth = self.smooth_at(self._zoom)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        if opacity < 1.0:
            p.setOpacity(opacity)
        if mask is not None:
            p.drawImage(target, self._through_alpha(qimg, src, mask, part, target, smooth))
        else:
            p.drawImage(target, qimg, src)
        p.restore()

    def _through_alpha(
        self,
        qimg: QImage,
        src: QRectF,
        mask: DisplayImage,
        part: QRectF,
        target: QRectF,
        smooth: bool,
    ) -> QImage:
        """`qimg`'s `src` painted through `mask` over a checkerboard, at the size of `target`
        (widget px) in device pixels. Where the picture itself is empty (tiles of a result
        still to come) the layer stays empty too."""
        dpr = self.devicePixelRatioF()
        w, h = max(1, math.ceil(target.width() * dpr)), max(1, math.ceil(target.height() * dpr))
        whole = QRectF(0, 0, w, h)
        mq, msrc, _ = self._source(mask, part)
        # a mask coarser than the scene (an upscale's) is filtered even when pixels are crisp
        mask_smooth = smooth or mask.width < self._scene_w
        mode = QPainter.CompositionMode
        shown = QImage(w, h, QImage.Format.Format_ARGB32_Premultiplied)
        shown.fill(Qt.GlobalColor.transparent)
        lp = QPainter(shown)
        lp.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        lp.drawImage(whole, qimg, src)
        lp.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, mask_smooth)
        lp.setCompositionMode(mode.CompositionMode_DestinationIn)
        lp.drawImage(whole, mq, msrc)  # the photo times its alpha
        lp.end()
        out = QImage(w, h, QImage.Format.Format_ARGB32_Premultiplied)
        lp = QPainter(out)
        brush = QBrush(self._checker_tile(dpr))
        # the squares stay put on the screen while the photo pans under them
        brush.setTransform(QTransform.fromTranslate(-target.x() * dpr, -target.y() * dpr))
        lp.fillRect(whole, brush)
        lp.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, mask_smooth)
        lp.setCompositionMode(mode.CompositionMode_DestinationOut)
        lp.drawImage(whole, mq, msrc)  # the checkerboard where the photo is transparent
        lp.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        lp.setCompositionMode(mode.CompositionMode_DestinationIn)
        lp.drawImage(whole, qimg, src)  # ...and only where the picture has pixels
        lp.setCompositionMode(mode.CompositionMode_SourceOver)
        lp.drawImage(0, 0, shown)
        lp.end()
        out.setDevicePixelRatio(dpr)
        return out

    @staticmethod
    @functools.cache
    def _checker_tile(dpr: float) -> QImage:
        """Two by two checkerboard squares at this device pixel ratio (made once per ratio)."""
        side = max(1, round(CHECKER_SQUARE * dpr))
        dark, light = (QColor(g, g, g) for g in CHECKER_GREYS)
        tile = QImage(2 * side, 2 * side, QImage.Format.Format_RGB32)
        tile.fill(light)
        tp = QPainter(tile)
        tp.fillRect(0, 0, side, side, dark)
        tp.fillRect(side, side, side, side, dark)
        tp.end()
        return tile

    @staticmethod
    def smooth_at(zoom: float) -> bool:
        """Whether pictures are filtered smoothly at `zoom` (below 200 %), not drawn as
        crisp pixels."""
        return zoom < CRISP_ZOOM - 1e-9

    def _paint_before(self, p: QPainter, pane: QRectF) -> None:
        if self._before is not None:
            self._paint_image(p, self._before, pane, masked=self._alpha_on[0])

    def _paint_after(self, p: QPainter, pane: QRectF) -> None:
        if self._after_partial and self._before is not None:
            self._paint_image(p, self._before, pane, opacity=0.35, masked=self._alpha_on[0])
        if self._after is not None:
            self._paint_image(p, self._after, pane, masked=self._alpha_on[1])
        if self._overlay is not None:
            self._paint_image(p, self._overlay.image, pane, opacity=self._overlay_opacity)

    def _paint_divider(self, p: QPainter, x: float) -> None:
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(QColor(0, 0, 0, 90), 3))
        p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        p.setPen(QPen(QColor(255, 255, 255, 230), 1.5))
        p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        cy = self.height() / 2
        p.setBrush(QColor(255, 255, 255, 235))
        p.setPen(QPen(QColor(0, 0, 0, 80), 1))
        p.drawEllipse(QPointF(x, cy), 13, 13)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(60, 60, 60))
        for sign in (-1, 1):
            tri = QPainterPath()
            tri.moveTo(x + sign * 3, cy - 5)
            tri.lineTo(x + sign * 8, cy)
            tri.lineTo(x + sign * 3, cy + 5)
            tri.closeSubpath()
            p.drawPath(tri)
        p.restore()

    def _paint_label(self, p: QPainter, text: str, area: QRectF, *, left: bool) -> None:
        if not text or area.width() < 60:
            return
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        font = QFont(self.font())
        font.setPointSizeF(max(8.0, font.pointSizeF() * 0.92))
        font.setWeight(QFont.Weight.DemiBold)
        p.setFont(font)
        fm = p.fontMetrics()
        w = fm.horizontalAdvance(text) + 16
        h = fm.height() + 6
        x = area.left() + 10 if left else area.right() - 10 - w
        rect = QRectF(x, area.top() + 10, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(rect, h / 2, h / 2)
        p.setPen(QColor(255, 255, 255))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        p.restore()

    def _paint_legend(self, p: QPainter, overlay: Overlay) -> None:
        """Bottom right: the overlay's title, its colour bar, and what each end means
        (left: alike, the better end; right: the worse end)."""
        bar = colour_bar(overlay.kind, 160)
        img = QImage(
            bar.data, bar.shape[1], 1, bar.strides[0], QImage.Format.Format_ARGB32_Premultiplied
        )
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        fm = p.fontMetrics()
        w = max(200, fm.horizontalAdvance(overlay.title) + 20)
        h = fm.height() * 2 + 22
        rect = QRectF(self.width() - w - NAV_MARGIN, self.height() - h - NAV_MARGIN, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 170))
        p.drawRoundedRect(rect, 6, 6)
        p.setPen(QColor(255, 255, 255))
        p.drawText(
            rect.adjusted(10, 4, -10, 0),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
            overlay.title,
        )
        bar_rect = QRectF(rect.left() + 10, rect.top() + fm.height() + 8, w - 20, 8)
        p.drawImage(bar_rect, img)
        lab = QRectF(rect.left() + 10, bar_rect.bottom() + 2, w - 20, fm.height())
        p.drawText(lab, Qt.AlignmentFlag.AlignLeft, overlay.low_label)
        p.drawText(lab, Qt.AlignmentFlag.AlignRight, overlay.high_label)
        p.restore()

    # ================================================================ navigator
    def navigator_rect(self) -> QRectF | None:
        """Where the navigator thumbnail is (widget px, bottom left), or None when the whole
        picture is in view."""
        pic = self._after or self._before
        if pic is None or self.width() < 3 * NAV_SIZE:
            return None
        vis = self.visible_scene_rect()
        if vis.width() >= self._scene_w - 1 and vis.height() >= self._scene_h - 1:
            return None
        s = NAV_SIZE / max(self._scene_w, self._scene_h)
        w, h = self._scene_w * s, self._scene_h * s
        return QRectF(NAV_MARGIN, self.height() - h - NAV_MARGIN, w, h)

    def _nav_to_scene(self, pos: QPointF, nav: QRectF) -> QPointF:
        return QPointF(
            (pos.x() - nav.left()) / nav.width() * self._scene_w,
            (pos.y() - nav.top()) / nav.height() * self._scene_h,
        )

    def center_on(self, scene_pt: QPointF) -> None:
        """Move the view so `scene_pt` (scene px) is in the middle (as far as it can go)."""
        self._fit_mode = False
        self._center = QPointF(scene_pt)
        self._clamp_center()
        self.update()
        self.view_changed.emit()

    def _navigator_picture(self) -> DisplayImage | None:
        """The after, or the before while the after is partial (a preview, a run under
        way): a partial after is mostly empty at the navigator's size."""
        if self._after is not None and not (self._after_partial and self._before is not None):
            return self._after
        return self._before

    def _paint_navigator(self, p: QPainter) -> None:
        nav = self.navigator_rect()
        pic = self._navigator_picture()
        if nav is None or pic is None:
            return
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 170))
        p.drawRoundedRect(nav.adjusted(-4, -4, 4, 4), 5, 5)
        level = len(pic.levels) - 1
        p.drawImage(nav, pic.qimage(level))
        vis = self.visible_scene_rect()
        sx, sy = nav.width() / self._scene_w, nav.height() / self._scene_h
        box = QRectF(
            nav.left() + vis.x() * sx, nav.top() + vis.y() * sy, vis.width() * sx, vis.height() * sy
        )
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(QColor(0, 0, 0, 200), 3))
        p.drawRect(box)
        p.setPen(QPen(QColor(255, 255, 255), 1.5))
        p.drawRect(box)
        p.restore()

    def _paint_placeholder(self, p: QPainter) -> None:
        if not self._placeholder:
            return
        p.setPen(QColor(220, 220, 222))
        p.drawText(
            self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder
        )

    # ================================================================ input
    def _near_divider(self, pos: QPointF) -> bool:
        return (
            self._mode == "split"
            and self._after is not None
            and not self._show_before
            and abs(pos.x() - self._divider_x()) <= DIVIDER_GRAB
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        nav = self.navigator_rect()
        if event.button() == Qt.MouseButton.LeftButton and nav is not None and nav.contains(pos):
            self._drag = "navigator"
            self.center_on(self._nav_to_scene(pos, nav))
        elif event.button() == Qt.MouseButton.LeftButton and self._near_divider(pos):
            self._drag = "divider"
        elif event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self._drag = "pan"
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        else:
            super().mousePressEvent(event)
            return
        self._last_pos = pos
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._drag == "navigator":
            nav = self.navigator_rect()
            if nav is not None:
                self.center_on(self._nav_to_scene(pos, nav))
        elif self._drag == "divider":
            self.set_divider_position(pos.x() / max(1, self.width()))
        elif self._drag == "pan":
            d = pos - self._last_pos
            self._fit_mode = False
            self.pan_by(d.x(), d.y())
        elif self._near_divider(pos):
            self.setCursor(Qt.CursorShape.SplitHCursor)
        else:
            self.setCursor(
                Qt.CursorShape.OpenHandCursor if self._before else Qt.CursorShape.ArrowCursor
            )
        self._last_pos = pos

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None:
            self._drag = None
            self.setCursor(
                Qt.CursorShape.OpenHandCursor if self._before else Qt.CursorShape.ArrowCursor
            )
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and not self._near_divider(event.position()):
            if self._fit_mode or abs(self._zoom - 1.0) > 1e-6:
                self.set_zoom(1.0, event.position())
            else:
                self.fit()
            event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not delta:
            return
        self.set_zoom(self._zoom * (1.0015**delta), event.position())
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()
        else:
            self.view_changed.emit()

    def sizeHint(self) -> QSize:
        return QSize(900, 640)

    def minimumSizeHint(self) -> QSize:
        return QSize(200, 150)
