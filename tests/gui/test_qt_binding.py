"""The Qt binding itself: what the app relies on from PySide6 beyond its API."""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    number = Signal(int)
    nothing = Signal()


def test_signals_keep_pythons_reference_counts() -> None:
    """PySide6 6.12.0 returned True from ``emit`` (and ``disconnect``) without a reference
    of its own: each call took one of True's, and on Python 3.11, where True is not
    immortal, the app aborted with "bool_dealloc" after a few thousand signals (a long batch,
    a restore of many tiles). A few calls here, not thousands: enough to see the count move."""
    e = _Emitter()

    def slot(value: int) -> None:
        return None

    def signals() -> tuple[int, int, int]:
        for _ in range(10):
            e.number.emit(1)
            e.nothing.emit()
            e.number.connect(slot)
            e.number.disconnect(slot)
        gc.collect()
        return sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)

    before = signals()  # (the first calls may cache what later ones use)
    after = signals()
    assert after == before, (
        f"PySide6 changed True/False/None reference counts by {after} - {before}"
    )
