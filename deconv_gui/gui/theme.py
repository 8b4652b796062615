"""Look: Fusion style with a palette that follows the system's light or dark scheme."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QPushButton

ACCENT = QColor(56, 132, 224)


def make_accent_button(button: QPushButton) -> QPushButton:
    """The look of a window's main action (Run, Start training): accent colour, semi-bold,
    32 px high; disabled it falls back to the palette."""
    f = QFont(button.font())
    f.setWeight(QFont.Weight.DemiBold)
    button.setFont(f)
    button.setMinimumHeight(32)
    button.setObjectName("RunButton")
    button.setStyleSheet(
        f"#RunButton {{ background: {ACCENT.name()}; color: white; "
        f"border: 1px solid {ACCENT.darker(125).name()}; border-radius: 4px; "
        "padding: 4px 14px; }"
        f"#RunButton:hover {{ background: {ACCENT.lighter(110).name()}; }}"
        f"#RunButton:pressed {{ background: {ACCENT.darker(115).name()}; }}"
        "#RunButton:disabled { background: palette(button); color: palette(mid);"
        " border: 1px solid palette(mid); }"
    )
    return button


def is_dark(app: QGuiApplication | None = None) -> bool:
    """The system's scheme; ``DECONV_GUI_THEME=dark|light`` overrides it."""
    forced = os.environ.get("DECONV_GUI_THEME", "").strip().lower()
    if forced in ("dark", "light"):
        return forced == "dark"
    app = app or QGuiApplication.instance()
    if app is None:
        return False
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(30, 31, 34), QColor(43, 45, 48), QColor(223, 225, 229)
    disabled = QColor(128, 131, 137)
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, QColor(37, 38, 41))
    p.setColor(QPalette.ColorRole.ToolTipBase, QColor(50, 52, 56))
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.PlaceholderText, disabled)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, QColor(53, 55, 59))
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.BrightText, QColor(255, 90, 90))
    p.setColor(QPalette.ColorRole.Light, QColor(70, 72, 77))
    p.setColor(QPalette.ColorRole.Midlight, QColor(60, 62, 66))
    p.setColor(QPalette.ColorRole.Mid, QColor(38, 39, 42))
    p.setColor(QPalette.ColorRole.Dark, QColor(25, 26, 28))
    p.setColor(QPalette.ColorRole.Shadow, QColor(0, 0, 0))
    p.setColor(QPalette.ColorRole.Highlight, ACCENT)
    p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.ColorRole.Link, ACCENT.lighter(125))
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Highlight, QColor(70, 72, 77))
    return p


def light_palette(app: QApplication) -> QPalette:
    p = app.style().standardPalette()
    p.setColor(QPalette.ColorRole.Highlight, ACCENT)
    p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.ColorRole.Link, ACCENT.darker(110))
    return p


def apply_theme(app: QApplication) -> None:
    """Fusion plus a light or dark palette, re-applied when the system scheme changes."""
    app.setStyle("Fusion")
    _apply_palette(app)
    if not getattr(app, "_deconv_theme_hooked", False):
        app.styleHints().colorSchemeChanged.connect(lambda *_: _apply_palette(app))
        app._deconv_theme_hooked = True  # type: ignore[attr-defined]


def _apply_palette(app: QApplication) -> None:
    app.setPalette(dark_palette() if is_dark(app) else light_palette(app))


def section_label(text: str) -> QLabel:
    """A small bold capitalised heading in the muted text colour (MODEL, QUALITY)."""
    lab = QLabel(text.upper())
    f = QFont(lab.font())
    f.setPointSizeF(f.pointSizeF() * 0.85)
    f.setWeight(QFont.Weight.Bold)
    f.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 108)
    lab.setFont(f)
    lab.setForegroundRole(lab.foregroundRole())
    lab.setEnabled(False)  # the palette's muted text colour
    return lab
