"""`binding_defect()`: whether the installed PySide6 mishandles Python's reference counts.

PySide6-Essentials 6.12.0 released a reference to `True` (and `None`) it had never taken at
every signal it emitted; on Python 3.11, where they are not immortal, the window aborted with
"Fatal Python error: none_dealloc" after about a hundred runs (`benchmarks/qt_refcounts.py`).
`pyproject.toml` excludes that release; this check catches one like it however the app was
installed: the window says so at start and `deconv-gui self-test --gui` (the bundles' smoke
test) fails.
"""

from __future__ import annotations

import gc
import sys

import PySide6
from PySide6.QtCore import QObject, Signal

SIGNALS_CHECKED = 10


class _Emitter(QObject):
    number = Signal(int)
    nothing = Signal()


def _counts() -> tuple[int, int]:
    return sys.getrefcount(True), sys.getrefcount(False)


def binding_defect() -> str:
    """Empty when signals leave Python's reference counts as they were; else one line
    saying what is wrong and what to install."""
    e = _Emitter()

    def slot(value: int) -> None:
        return None

    def signals() -> tuple[int, int]:
        for _ in range(SIGNALS_CHECKED):
            e.number.emit(1)
            e.nothing.emit()
            e.number.connect(slot)
            e.number.disconnect(slot)
        return _counts()

    # no garbage collection meanwhile: what it frees would move the counts too (None's
    # moves with any object freed, so True's and False's tell); it takes about 0.1 ms
    collecting = gc.isenabled()
    gc.disable()
    try:
        signals()  # the first calls may cache what later ones use
        before = _counts()
        after = signals()
    finally:
        if collecting:
            gc.enable()
    # 6.12.0 lost one per emit and disconnect: 3 * SIGNALS_CHECKED here
    if all(b - a < 2 * SIGNALS_CHECKED for a, b in zip(after, before, strict=True)):
        return ""
    return (
        f"PySide6 {PySide6.__version__} mishandles Python's reference counts at every signal: "
        "the app may abort after about a hundred runs; install PySide6-Essentials 6.11.3 "
        "(pip install 'PySide6-Essentials==6.11.3')"
    )
