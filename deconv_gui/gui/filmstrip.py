"""`Filmstrip`: the open photos as a horizontal strip of thumbnails with a state badge."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QStyle,
    QWidget,
)

from deconv_gui.gui.icons import render_svg
from deconv_gui.gui.widgets import reveal

if TYPE_CHECKING:
    from deconv_gui.gui.photo_list import PhotoList

THUMB = QSize(112, 76)
DOC_ROLE = Qt.ItemDataRole.UserRole + 2

BADGES = {
    "loading": ("…", QColor(90, 90, 90)),
    "error": ("!", QColor(200, 50, 50)),
    "done": ("✓", QColor(40, 150, 80)),
    "running": ("▶", QColor(40, 110, 200)),
    "saved": ("✓", QColor(40, 110, 200)),
}


def thumbnail_image(rgb8: np.ndarray) -> QImage:
    """A QImage (copied, owns its memory) from a small uint8 RGB array."""
    h, w = rgb8.shape[:2]
    arr = np.ascontiguousarray(rgb8)
    return QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888).copy()


class Filmstrip(QListWidget):
    """One item per open photo; the current item is the photo in the viewer."""

    document_selected = Signal(object)  # document key
    remove_requested = Signal(object)
    reveal_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setIconSize(THUMB)
        self.setSpacing(4)
        self.setUniformItemSizes(True)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        self.setFixedHeight(THUMB.height() + 40 + bar)
        self.setObjectName("Filmstrip")
        self.setFrameShape(QListWidget.Shape.NoFrame)
        self.setStyleSheet(
            "#Filmstrip { background: palette(window); border-top: 1px solid palette(mid); }"
            "#Filmstrip::item { border-radius: 6px; padding: 2px 2px 0 2px; margin: 0 1px; }"
            "#Filmstrip::item:selected { background: palette(highlight); color: palette(highlighted-text); }"
            "#Filmstrip::item:hover:!selected { background: palette(midlight); }"
        )
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._on_context_menu)
        self.currentItemChanged.connect(self._on_current_changed)
        self.setAcceptDrops(False)  # the window takes drops
        self._thumbs: dict[object, QImage | None] = {}
        self._states: dict[object, str] = {}

    def show_photos(self, photos: PhotoList) -> None:
        """Follow `photos`: one item per open photo, the current one selected; selecting or
        closing an item here selects or closes the photo there; "Show in Folder" opens the
        folder of its saved result, else of the photo."""
        photos.added.connect(lambda d: self.add_document(d.key, d.name, str(d.path)))
        photos.removed.connect(lambda d: self.remove(d.key))
        photos.thumbnail_ready.connect(lambda d, image: self.set_thumbnail(d.key, image))
        photos.current_changed.connect(lambda d: d is not None and self.select(d.key))

        def selected(key: object) -> None:
            doc = photos.get(key)
            if doc is not None and doc is not photos.current:
                photos.select(doc)

        def reveal_folder(key: object) -> None:  # of the saved result, else of the photo
            doc = photos.get(key)
            if doc is not None:
                saved = doc.result.saved_path if doc.result is not None else None
                reveal((saved or doc.path).parent)

        self.document_selected.connect(selected)
        self.remove_requested.connect(lambda key: photos.close(photos.get(key)))
        self.reveal_requested.connect(reveal_folder)

    def add_document(self, key: object, name: str, tooltip: str = "") -> QListWidgetItem:
        item = QListWidgetItem(name)
        item.setData(DOC_ROLE, key)
        item.setToolTip(tooltip or name)
        item.setSizeHint(QSize(THUMB.width() + 12, THUMB.height() + 30))
        item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self._thumbs[key] = None
        self._states[key] = "loading"
        self.addItem(item)
        self._refresh_icon(key)
        return item

    def document_keys(self) -> list[object]:
        return [self.item(i).data(DOC_ROLE) for i in range(self.count())]

    def item_for(self, key: object) -> QListWidgetItem | None:
        for i in range(self.count()):
            if self.item(i).data(DOC_ROLE) == key:
                return self.item(i)
        return None

    def select(self, key: object) -> None:
        item = self.item_for(key)
        if item is not None:
            self.setCurrentItem(item)
            self.scrollToItem(item)

    def remove(self, key: object) -> None:
        item = self.item_for(key)
        if item is not None:
            self.takeItem(self.row(item))
        self._thumbs.pop(key, None)
        self._states.pop(key, None)

    def set_thumbnail(self, key: object, image: QImage) -> None:
        self._thumbs[key] = image
        self._refresh_icon(key)

    def set_state(self, key: object, state: str, tooltip: str | None = None) -> None:
        self._states[key] = state
        item = self.item_for(key)
        if item is not None and tooltip is not None:
            item.setToolTip(tooltip)
        self._refresh_icon(key)

    def state(self, key: object) -> str:
        return self._states.get(key, "")

    def _refresh_icon(self, key: object) -> None:
        item = self.item_for(key)
        if item is None:
            return
        dpr = self.devicePixelRatioF() or 1.0
        pm = QPixmap(int(THUMB.width() * dpr), int(THUMB.height() * dpr))
        pm.setDevicePixelRatio(dpr)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        img = self._thumbs.get(key)
        area = QRectF(0, 0, THUMB.width(), THUMB.height())
        broken = self._states.get(key) == "error"
        if img is not None and not img.isNull():
            s = min(area.width() / img.width(), area.height() / img.height())
            w, h = img.width() * s, img.height() * s
            target = QRectF((area.width() - w) / 2, (area.height() - h) / 2, w, h)
            p.setOpacity(0.3 if broken else 1.0)
            p.drawImage(target, img)
            p.setOpacity(1.0)
        else:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(self.palette().mid())
            p.drawRoundedRect(area.adjusted(8, 4, -8, -4), 4, 4)
        if broken:  # a photo that could not be opened: a crossed-out picture
            icon = render_svg("image-off", self.palette().color(QPalette.ColorRole.Text), 32, dpr)
            p.drawPixmap(QPointF(area.center().x() - 16, area.center().y() - 16), icon)
        badge = BADGES.get(self._states.get(key, ""))
        if badge is not None:
            text, colour = badge
            r = 9.0
            c = QPointF(area.right() - r - 3, area.bottom() - r - 3)
            p.setPen(QColor(255, 255, 255))
            p.setBrush(colour)
            p.drawEllipse(c, r, r)
            f = p.font()
            f.setBold(True)
            p.setFont(f)
            p.drawText(
                QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r), Qt.AlignmentFlag.AlignCenter, text
            )
        p.end()
        # the same picture when selected: left to the style, a selected thumbnail is tinted
        # with the highlight colour, and a photo's colours look wrong in the strip
        icon = QIcon()
        for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected, QIcon.Mode.Active):
            icon.addPixmap(pm, mode)
        item.setIcon(icon)

    def wheelEvent(self, event) -> None:
        """A vertical wheel scrolls the strip sideways."""
        d = event.angleDelta()
        if abs(d.y()) > abs(d.x()):
            bar = self.horizontalScrollBar()
            bar.setValue(bar.value() - d.y())
            event.accept()
            return
        super().wheelEvent(event)

    def _on_current_changed(self, current: QListWidgetItem | None, _previous) -> None:
        if current is not None:
            self.document_selected.emit(current.data(DOC_ROLE))

    def _on_context_menu(self, pos) -> None:
        item = self.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self)
        reveal = menu.addAction("Show in Folder")
        menu.addSeparator()
        remove = menu.addAction("Close Photo")
        chosen = menu.exec(self.viewport().mapToGlobal(pos))
        if chosen is remove:
            self.remove_requested.emit(item.data(DOC_ROLE))
        elif chosen is reveal:
            self.reveal_requested.emit(item.data(DOC_ROLE))
