"""Small parts of the main window: the message bar, the welcome page, the status bar's
labels and holding Space to see the before picture."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QObject, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QIcon, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QStatusBar,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.core import devices
from deconv_gui.errors import DeconvError
from deconv_gui.gui.theme import MESSAGE_COLOURS, MESSAGE_ICONS, mute, theme_name
from deconv_gui.paths import resource_path, sample_photo

MEMORY_INTERVAL_MS = 2000


def reveal(folder: Path) -> None:
    """Open `folder` in the file manager."""
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def local_paths(mime: QMimeData) -> list[str]:
    """The local files and folders dragged in `mime`."""
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []


def column(
    parent: QWidget,
    widgets: list[QWidget],
    *,
    lines: bool = False,
    stretch: QWidget | None = None,
) -> QVBoxLayout:
    """Lay `widgets` out one under the other in `parent`, edge to edge (with a line between
    two when `lines`); `stretch` takes the spare height."""
    lay = QVBoxLayout(parent)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(0)
    for i, w in enumerate(widgets):
        if i and lines:
            line = QFrame(parent)
            line.setFrameShape(QFrame.Shape.HLine)
            line.setFrameShadow(QFrame.Shadow.Sunken)
            lay.addWidget(line)
        lay.addWidget(w, 1 if w is stretch else 0)
    return lay


class SideColumn(QScrollArea):
    """The panels on the right, one under the other with a line between them, scrolling
    vertically when the window is short."""

    def __init__(self, panels: list[QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        side = QWidget(self)
        column(side, panels, lines=True).addStretch(1)
        side.setMinimumWidth(290)
        self.setWidget(side)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(300)


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
        colours = MESSAGE_COLOURS[theme_name(self.palette())]
        bg, fg, border = colours.get(kind, colours["info"])
        icon = MESSAGE_ICONS.get(kind, MESSAGE_ICONS["info"])
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
        mute(sub)
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


class StatusLabels(QObject):
    """The permanent labels of the status bar: the photo, the zoom, the device and the memory
    in use (refreshed every `MEMORY_INTERVAL_MS`)."""

    def __init__(self, bar: QStatusBar) -> None:
        super().__init__(bar)
        bar.setSizeGripEnabled(True)
        self.photo, self.zoom, self.device, self.memory = QLabel(), QLabel(), QLabel(), QLabel()
        for w in (self.photo, self.zoom, self.device, self.memory):
            w.setContentsMargins(8, 0, 8, 0)
            bar.addPermanentWidget(w)
        self._timer = QTimer(self)
        self._timer.setInterval(MEMORY_INTERVAL_MS)
        self._timer.timeout.connect(self.update_memory)
        self._timer.start()
        self.update_memory()

    def show_zoom(self, zoom: float | None) -> None:
        if zoom is None:
            self.zoom.setText("")
        else:
            self.zoom.setText(f"{zoom * 100:.0f} %" if zoom >= 0.1 else f"{zoom * 100:.1f} %")

    def show_device(self, name: str) -> None:
        """The device a run uses ("auto" or a device name), described."""
        try:
            desc = devices.describe_device(devices.resolve_device(name))
        except DeconvError as exc:
            desc = f"{name}: unavailable"
            self.device.setToolTip(str(exc))
        self.device.setText(("Auto · " if name == "auto" else "") + desc)

    def update_memory(self) -> None:
        total = devices.memory_in_use()
        self.memory.setText(f"Memory {total / 2**30:.2f} GiB")
        self.memory.setToolTip(f"In use by Deconv GUI: {devices.memory_report()}")

    def stop(self) -> None:
        self._timer.stop()


def is_text_input(w: QWidget | None) -> bool:
    """A widget that takes typed text (Space is a character there)."""
    if w is None:
        return False
    if isinstance(w, (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox)):
        return True
    return isinstance(w, QComboBox) and w.isEditable()


class SpacePeek(QObject):
    """Holding Space anywhere in `window` (but in a text field) shows the before picture;
    ``changed(bool)`` says when it starts and stops. An application-wide event filter, so a
    focused button does not take the Space press; installed until `uninstall`."""

    changed = Signal(bool)

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self.down = False
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def uninstall(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)

    def release(self) -> None:
        if self.down:
            self._set(False)

    def _set(self, down: bool) -> None:
        self.down = down
        self.changed.emit(down)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        t = event.type()
        if t in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            ke: QKeyEvent = event  # type: ignore[assignment]
            if (
                ke.key() == Qt.Key.Key_Space
                and isinstance(obj, QWidget)
                and obj.window() is self._window
                and not is_text_input(QApplication.focusWidget())
            ):
                if not ke.isAutoRepeat():
                    self._set(t == QEvent.Type.KeyPress)
                return True
        elif t == QEvent.Type.ApplicationDeactivate and self.down:
            self._set(False)
        return False
