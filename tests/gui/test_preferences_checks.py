"""Preferences read back through the shared option checks: a hand-edited settings file with
absurd values gives the defaults, not a crash or a run with them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from deconv_gui.gui.preferences import Preferences


def _prefs(tmp_path: Path) -> Preferences:
    return Preferences(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


def test_bad_stored_values_fall_back_to_the_defaults(tmp_path: Path) -> None:
    prefs = _prefs(tmp_path)
    prefs.threads, prefs.tile_size, prefs.suffix = 4, 512, "_clean"
    assert (prefs.threads, prefs.tile_size, prefs.suffix) == (4, 512, "_clean")
    assert prefs.suffix_for("denoise", 1) == "_clean"
    prefs.threads, prefs.tile_size, prefs.suffix = -3, -64, "/../elsewhere"
    assert (prefs.threads, prefs.tile_size, prefs.suffix) == (0, 0, "")
    assert prefs.suffix_for("upscale", 4) == "_x4"
    prefs.threads, prefs.tile_size = 100_000, 10**9
    assert (prefs.threads, prefs.tile_size) == (0, 0)
