"""GUI test set-up: offscreen Qt, isolated settings, a tiny model registry, and a check that
no test leaves a worker thread running."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import threading
from pathlib import Path

import pytest
from gui_helpers import tiny_registry, write_photo  # noqa: E402

from deconv_gui.models.registry import ModelRegistry


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return write_photo(tmp_path / "photos" / "street.jpg")


# ----------------------------------------------------------------------------- window
@pytest.fixture
def registry() -> ModelRegistry:
    return tiny_registry()


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    return tmp_path / "settings" / "deconv-gui.ini"


@pytest.fixture
def prefs(settings_path):
    """Preferences backed by an INI file of the test (for controllers tested on their own)."""
    from PySide6.QtCore import QSettings

    from deconv_gui.gui.preferences import Preferences

    return Preferences(QSettings(str(settings_path), QSettings.Format.IniFormat))


@pytest.fixture
def make_window(qtbot, registry, settings_path):
    from PySide6.QtCore import QSettings

    from deconv_gui.gui.main_window import MainWindow

    made = []

    def make(reg: ModelRegistry | None = None):
        settings = QSettings(str(settings_path), QSettings.Format.IniFormat)
        w = MainWindow(reg or registry, settings)
        w.ask = lambda *_: True  # answer Yes to every question (no modal dialogs in tests)
        w.resize(1280, 800)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        w.ask = lambda *_: True  # a test may have made it answer No to "close anyway?"
        w.close()
        w.shutdown()  # no-op when closing already did it
        w.deleteLater()


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture(autouse=True)
def _no_worker_thread_left(request):
    """Fail a test that leaves a worker thread running."""
    before = {t.ident for t in threading.enumerate()}
    yield
    from deconv_gui.gui.runner import running_worker_threads

    running = running_worker_threads()
    assert running == 0, f"{running} worker thread(s) still running after the test"
    extra = [
        t for t in threading.enumerate() if t.ident not in before and t.is_alive() and not t.daemon
    ]
    assert not extra, f"threads left running: {extra}"
