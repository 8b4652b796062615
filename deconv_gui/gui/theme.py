"""Look: Fusion style with a light or a dark palette that follows the system's scheme.

Every text colour here meets WCAG AA contrast against the background it is drawn on (4.5:1;
3:1 for disabled controls): the palettes set every role and colour group themselves rather
than taking Fusion's defaults (whose disabled grey on light grey is 1.6:1), and the colours
that style sheets and painters use (`MESSAGE_COLOURS`, `verdict_colour`, the accent button)
are listed here so `tests/gui/test_theme.py` can measure them all.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QWidget

ACCENT = QColor(29, 104, 196)  # white text on it: 5.5:1
G = QPalette.ColorGroup
R = QPalette.ColorRole

# (background, text, border) of the message bar per kind, dark and light
MESSAGE_COLOURS: dict[str, dict[str, tuple[str, str, str]]] = {
    "dark": {
        "error": ("#4a1f23", "#ffd7da", "#7a343b"),
        "warning": ("#4a3d14", "#ffecb3", "#7a6526"),
        "info": ("#1b324d", "#d7e8fb", "#2f5680"),
    },
    "light": {
        "error": ("#f8d7da", "#5c1a1f", "#e5a4aa"),
        "warning": ("#fff3cd", "#5c4400", "#e6cf85"),
        "info": ("#d7e8fb", "#123a66", "#9fc3ec"),
    },
}
MESSAGE_ICONS = {"error": "⚠", "warning": "⚠", "info": "ℹ"}

# text colours that say good / bad / neutral (a gain in the quality readout), on the window
VERDICT_COLOURS: dict[str, dict[str, QColor]] = {
    "dark": {"good": QColor(126, 226, 168), "bad": QColor(255, 150, 150)},
    "light": {"good": QColor(21, 115, 50), "bad": QColor(180, 35, 35)},
}


def is_dark(app: QGuiApplication | None = None) -> bool:
    """The system's scheme; ``DECONV_GUI_THEME=dark|light`` overrides it."""
    forced = os.environ.get("DECONV_GUI_THEME", "").strip().lower()
    if forced in ("dark", "light"):
        return forced == "dark"
    app = app or QGuiApplication.instance()
    if app is None:
        return False
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def is_dark_palette(palette: QPalette) -> bool:
    """Whether `palette` is a dark one (light text on a dark window)."""
    return palette.color(R.Window).lightness() < 128


def theme_name(palette: QPalette) -> str:
    return "dark" if is_dark_palette(palette) else "light"


def verdict_colour(palette: QPalette, kind: str) -> QColor | None:
    """The text colour for a "good" or "bad" number on `palette`'s window; None otherwise."""
    return VERDICT_COLOURS[theme_name(palette)].get(kind)


def _palette(
    *,
    window: QColor,
    base: QColor,
    alternate: QColor,
    button: QColor,
    text: QColor,
    muted: QColor,
    disabled: QColor,
    light: QColor,
    midlight: QColor,
    mid: QColor,
    dark: QColor,
    tooltip: QColor,
    link: QColor,
    disabled_highlight: QColor,
) -> QPalette:
    """A palette with every role set in every colour group."""
    p = QPalette()
    roles = {
        R.Window: window,
        R.WindowText: text,
        R.Base: base,
        R.AlternateBase: alternate,
        R.ToolTipBase: tooltip,
        R.ToolTipText: text,
        R.PlaceholderText: muted,
        R.Text: text,
        R.Button: button,
        R.ButtonText: text,
        R.BrightText: QColor(255, 255, 255),
        R.Light: light,
        R.Midlight: midlight,
        R.Mid: mid,
        R.Dark: dark,
        R.Shadow: QColor(0, 0, 0),
        R.Highlight: ACCENT,
        R.HighlightedText: QColor(255, 255, 255),
        R.Link: link,
        R.LinkVisited: link,
        R.Accent: ACCENT,
    }
    for group in (G.Active, G.Inactive, G.Disabled):
        for role, colour in roles.items():
            p.setColor(group, role, colour)
    for role in (R.WindowText, R.Text, R.ButtonText, R.ToolTipText):
        p.setColor(G.Disabled, role, disabled)
    p.setColor(G.Disabled, R.Highlight, disabled_highlight)
    p.setColor(G.Disabled, R.HighlightedText, QColor(255, 255, 255))
    p.setColor(G.Disabled, R.Accent, disabled_highlight)
    return p


def dark_palette() -> QPalette:
    return _palette(
        window=QColor(43, 45, 48),
        base=QColor(30, 31, 34),
        alternate=QColor(37, 38, 41),
        button=QColor(53, 55, 59),
        text=QColor(223, 225, 229),
        muted=QColor(160, 163, 168),  # >= 4.7:1 on every dark background
        disabled=QColor(140, 143, 149),  # >= 3.7:1
        light=QColor(70, 72, 77),
        midlight=QColor(60, 62, 66),
        mid=QColor(38, 39, 42),
        dark=QColor(25, 26, 28),
        tooltip=QColor(50, 52, 56),
        link=QColor(120, 175, 245),
        disabled_highlight=QColor(88, 91, 97),
    )


def light_palette(app: QApplication | None = None) -> QPalette:
    """Fusion's light look, with readable disabled and muted text."""
    return _palette(
        window=QColor(239, 239, 239),
        base=QColor(255, 255, 255),
        alternate=QColor(247, 247, 247),
        button=QColor(239, 239, 239),
        text=QColor(0, 0, 0),
        muted=QColor(94, 94, 98),  # >= 5.3:1 on every light background
        disabled=QColor(120, 120, 120),  # >= 3.6:1
        light=QColor(255, 255, 255),
        midlight=QColor(202, 202, 202),
        mid=QColor(184, 184, 184),
        dark=QColor(159, 159, 159),
        tooltip=QColor(255, 255, 220),
        link=ACCENT.darker(110),
        disabled_highlight=QColor(145, 145, 145),
    )


def apply_theme(app: QApplication) -> None:
    """Fusion plus a light or dark palette, re-applied when the system scheme changes."""
    app.setStyle("Fusion")
    _apply_palette(app)
    if not getattr(app, "_deconv_theme_hooked", False):
        app.styleHints().colorSchemeChanged.connect(lambda *_: _apply_palette(app))
        app._deconv_theme_hooked = True  # type: ignore[attr-defined]


def _apply_palette(app: QApplication) -> None:
    app.setPalette(dark_palette() if is_dark(app) else light_palette(app))


# ------------------------------------------------------------------ widgets
def mute(widget: QWidget) -> QWidget:
    """Secondary text (captions, hints): the palette's muted colour, still 4.5:1 readable.
    (Disabling a label to grey it would make it a disabled control, held to 3:1 only.)"""
    widget.setForegroundRole(R.PlaceholderText)
    return widget


def section_label(text: str) -> QLabel:
    """A small bold capitalised heading in the muted text colour (MODEL, QUALITY)."""
    lab = QLabel(text.upper())
    f = QFont(lab.font())
    f.setPointSizeF(f.pointSizeF() * 0.85)
    f.setWeight(QFont.Weight.Bold)
    f.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 108)
    lab.setFont(f)
    mute(lab)
    return lab


class PaletteWatcher(QObject):
    """Calls `apply` after the application's palette changed (the theme switched), once the
    widgets have taken the new palette."""

    def __init__(self, widget: QWidget, apply: Callable[[], object]) -> None:
        super().__init__(widget)
        self._apply = apply
        widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.ApplicationPaletteChange:
            QTimer.singleShot(0, self, self._apply)
        return False


def accent_button_style(palette: QPalette) -> str:
    """The style sheet of a main-action button: white on the accent colour; disabled, the
    palette's disabled text on the button colour (both readable, see the module note)."""
    disabled_text = palette.color(G.Disabled, R.ButtonText).name()
    return (
        f"#RunButton {{ background: {ACCENT.name()}; color: white; "
        f"border: 1px solid {ACCENT.darker(125).name()}; border-radius: 4px; "
        "padding: 4px 14px; }"
        f"#RunButton:hover {{ background: {ACCENT.lighter(112).name()}; }}"
        f"#RunButton:pressed {{ background: {ACCENT.darker(115).name()}; }}"
        f"#RunButton:disabled {{ background: {palette.color(R.Button).name()}; "
        f"color: {disabled_text}; border: 1px solid {palette.color(R.Mid).name()}; }}"
    )


def make_accent_button(button: QPushButton) -> QPushButton:
    """The look of a window's main action (Run, Start training): accent colour, semi-bold,
    32 px high; disabled it falls back to the palette."""
    f = QFont(button.font())
    f.setWeight(QFont.Weight.DemiBold)
    button.setFont(f)
    button.setMinimumHeight(32)
    button.setObjectName("RunButton")

    def apply() -> None:
        button.setStyleSheet(accent_button_style(QApplication.palette()))

    apply()
    PaletteWatcher(button, apply)
    return button
