"""Small widgets of the main window: the message bar and the welcome page."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.paths import resource_path, sample_photo


class MessageBar(QWidget):
    """A dismissable message above the viewer: errors stay, notes fade after a while."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 6, 8, 2)
        self.frame = QFrame(self)
        self.frame.setObjectName("MessageBar")
        outer.addWidget(self.frame)
        lay = QHBoxLayout(self.frame)
        lay.setContentsMargins(12, 6, 6, 6)
        self.icon = QLabel()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton(self.frame)
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self.hide)
        lay.addWidget(self.icon)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.close_button)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.kind = ""
        self._text = ""
        self.hide()

    def show_message(self, text: str, kind: str = "error", timeout_ms: int = 0) -> None:
        self.kind = kind
        if self.palette().window().color().lightness() < 128:  # dark theme
            colours = {
                "error": ("#4a1f23", "#ffd7da", "#7a343b", "⚠"),
                "warning": ("#4a3d14", "#ffecb3", "#7a6526", "⚠"),
                "info": ("#1b324d", "#d7e8fb", "#2f5680", "ℹ"),
            }
        else:
            colours = {
                "error": ("#f8d7da", "#5c1a1f", "#e5a4aa", "⚠"),
                "warning": ("#fff3cd", "#5c4400", "#e6cf85", "⚠"),
                "info": ("#d7e8fb", "#123a66", "#9fc3ec", "ℹ"),
            }
        bg, fg, border, icon = colours.get(kind, colours["info"])
        self.frame.setStyleSheet(
            f"#MessageBar {{ background: {bg}; border: 1px solid {border}; border-radius: 6px; }}"
            f"#MessageBar QLabel, #MessageBar QToolButton {{ color: {fg}; background: transparent; }}"
        )
        self.icon.setText(icon)
        self.label.setText(text)
        self._text = text
        self.show()
        if timeout_ms:
            self._timer.start(timeout_ms)
        else:
            self._timer.stop()

    def hideEvent(self, event) -> None:
        self._text = ""
        self.kind = ""
        super().hideEvent(event)

    def text(self) -> str:
        """The message shown now ("" when dismissed)."""
        return self._text


class WelcomePage(QWidget):
    open_requested = Signal()
    sample_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.addStretch(3)
        icon = QLabel()
        svg = resource_path("icons", "deconv-gui.svg")
        if svg.is_file():
            icon.setPixmap(QIcon(str(svg)).pixmap(QSize(96, 96)))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(icon)
        title = QLabel("Drop photos here")
        f = title.font()
        f.setPointSizeF(f.pointSizeF() * 1.8)
        f.setWeight(f.Weight.DemiBold)
        title.setFont(f)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(title)
        sub = QLabel(
            "Denoise, upscale and deblur, then compare before and after with a live SSIM readout.\n"
            "Files and whole folders can be dropped; JPEG, PNG, TIFF (16-bit too) and WebP."
        )
        sub.setAlignment(Qt.AlignmentFlag.AlignCenter)
        sub.setEnabled(False)
        lay.addWidget(sub)
        lay.addSpacing(14)
        row = QHBoxLayout()
        row.addStretch(1)
        self.open_button = QPushButton("Open Photos…")
        self.open_button.setMinimumHeight(32)
        self.open_button.clicked.connect(self.open_requested)
        row.addWidget(self.open_button)
        self.sample_button = QPushButton("Try the Sample Photo")
        self.sample_button.setMinimumHeight(32)
        self.sample_button.clicked.connect(self.sample_requested)
        self.sample_button.setVisible(sample_photo().is_file())
        row.addWidget(self.sample_button)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addStretch(4)
