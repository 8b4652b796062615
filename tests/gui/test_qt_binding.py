"""The Qt binding itself: what the app relies on from PySide6 beyond its API."""

from __future__ import annotations

import pytest

from deconv_gui.gui import binding


def test_signals_keep_pythons_reference_counts() -> None:
    """PySide6 6.12.0 returned True from ``emit`` (and ``disconnect``) without a reference
    of its own: each call took one of True's, and on Python 3.11, where True is not
    immortal, the app aborted after about a hundred runs. `binding_defect` signals a few
    times, enough to see a count fall."""
    assert binding.binding_defect() == ""


def test_a_defective_binding_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts that fall across the signals (as 6.12.0's did) name the binding and say what
    to install."""
    counts = iter([(100, 50), (100, 50), (70, 50)])
    monkeypatch.setattr(binding, "_counts", lambda: next(counts))
    text = binding.binding_defect()
    counts = iter([(100, 50), (100, 50), (98, 51)])  # one freed meanwhile: fine
    assert binding.binding_defect() == ""
    assert text.startswith("PySide6 ") and "PySide6-Essentials==6.11.3" in text
