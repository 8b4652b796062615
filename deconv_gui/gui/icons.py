"""Toolbar icons: Lucide SVGs (ISC licence, `resources/icons/lucide/LICENSE`) drawn in the
palette's text colour, so they follow the light and dark themes.

The SVGs draw with ``stroke="currentColor"``; `themed_icon` puts the palette's colour in its
place and renders the normal and the disabled look at a few sizes.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from deconv_gui.paths import resource_path

ICON_DIR = ("icons", "lucide")
SIZES = (16, 18, 24, 32, 48)


@cache
def svg_text(name: str) -> str:
    """The SVG source of the Lucide icon `name` ("" when it is not shipped)."""
    path = resource_path(*ICON_DIR, f"{name}.svg")
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def render_svg(name: str, colour: QColor, size: int, dpr: float = 1.0) -> QPixmap:
    """The icon `name` drawn in `colour` on a transparent `size` x `size` pixmap."""
    px = max(1, round(size * dpr))
    pm = QPixmap(px, px)
    pm.fill(Qt.GlobalColor.transparent)
    text = svg_text(name).replace("currentColor", colour.name())
    renderer = QSvgRenderer(QByteArray(text.encode("utf-8")))
    if renderer.isValid():
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        renderer.render(p, QRectF(0, 0, px, px))
        p.end()
    pm.setDevicePixelRatio(dpr)
    return pm


def themed_icon(name: str, palette: QPalette, dpr: float = 1.0) -> QIcon:
    """A `QIcon` of the Lucide icon `name` in `palette`'s button text colour (normal) and
    its disabled text colour (disabled); a null icon when the file is missing."""
    if not svg_text(name):
        return QIcon()
    icon = QIcon()
    normal = palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.ButtonText)
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText)
    for size in SIZES:
        icon.addPixmap(render_svg(name, normal, size, dpr), QIcon.Mode.Normal)
        icon.addPixmap(render_svg(name, disabled, size, dpr), QIcon.Mode.Disabled)
    return icon
