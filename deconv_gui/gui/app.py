"""Desktop entry point: `run_app(paths)` opens the window (the CLI calls it for `deconv-gui`)."""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from deconv_gui import __version__
from deconv_gui.errors import DeconvError
from deconv_gui.gui.binding import binding_defect
from deconv_gui.gui.main_window import MainWindow
from deconv_gui.paths import resource_path

__all__ = ["MainWindow", "create_application", "run_app"]

log = logging.getLogger(__name__)


def _headless() -> bool:
    """Linux without a display server and no Qt platform chosen."""
    return (
        sys.platform.startswith("linux")
        and not os.environ.get("QT_QPA_PLATFORM")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    )


def use_offscreen_if_headless() -> None:
    """On Linux without a display, use Qt's offscreen platform (CI, the GUI self-test)."""
    if _headless():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


def create_application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication (created once), with the app's name, icon and theme."""
    from deconv_gui.gui.theme import apply_theme

    # Hand the GIL to the GUI thread sooner when workers run Python code (default 5 ms).
    sys.setswitchinterval(0.002)
    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
        QCoreApplication.setOrganizationName("deconv-gui")
        QCoreApplication.setApplicationName("Deconv GUI")
        QCoreApplication.setApplicationVersion(__version__)
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
        QGuiApplication.setDesktopFileName("deconv-gui")
        icon = resource_path("icons", "deconv-gui.svg")
        if icon.is_file():
            app.setWindowIcon(QIcon(str(icon)))
    apply_theme(app)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]


def settle_heap() -> None:
    """After start-up: collect once and freeze what survived (imports, Qt, the registry), so
    later full garbage collections, which hold the GIL, do not pause the window for 100+ ms."""
    gc.collect()
    gc.freeze()


def startup_warning(last_crash: str, where: Path) -> str:
    """What the window says as it opens: a Qt binding known to abort the app, else that the
    last run stopped with `last_crash` (`crash.enable_fatal_log`, details in `where`)."""
    defect = binding_defect()
    if defect:
        return defect
    if last_crash:
        return (
            f"Deconv GUI stopped unexpectedly last time ({last_crash}). What it was doing is "
            f"in {where}: please include that file when you report it."
        )
    return ""


def run_app(paths: list[str]) -> int:
    """Open the main window with `paths` (files or folders) and run until it closes."""
    from deconv_gui.gui.crash import enable_fatal_log, fatal_log, install_excepthook
    from deconv_gui.models.catalog import default_registry

    if _headless() and QApplication.instance() is None:
        raise DeconvError(
            "no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set); "
            "`deconv-gui self-test --gui` checks the window headless"
        )
    app = create_application()
    install_excepthook()
    last_crash = enable_fatal_log()
    window = MainWindow(default_registry())
    window.show()
    warning = startup_warning(last_crash, fatal_log())
    if warning:
        log.warning("%s", warning)
        window.show_error(warning, kind="warning")
    settle_heap()
    if paths:
        window.open_paths(paths)
    code = app.exec()
    window.shutdown()
    return int(code)
