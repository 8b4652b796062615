"""How a failure reads to the user, in one place for the CLI, the GUI and batches.

The error classes themselves live in `deconv_gui.errors` (the bottom layer, imported by
everything). Here: `describe_error(exc)` turns any exception into one readable line, and
`is_bug(exc)` says whether it deserves a traceback in the log (an error the user can cause,
running out of memory or a file-system error does not).
"""

from __future__ import annotations

import errno

from deconv_gui.errors import DeconvError

__all__ = ["describe_error", "is_bug"]


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    try:
        from deconv_gui.core.devices import is_out_of_memory
    except ImportError:  # pragma: no cover - torch unavailable
        return False
    return is_out_of_memory(exc)


def describe_error(exc: BaseException) -> str:
    """One readable line for the user."""
    if isinstance(exc, DeconvError):
        return str(exc)
    if _is_out_of_memory(exc):
        return (
            "Out of memory while processing. Try a smaller tile size in the model panel, "
            "or the CPU device."
        )
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"The disk is full: {exc.strerror}. Free some space and try again."
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return f"Unexpected error: {type(exc).__name__}: {exc}"


def is_bug(exc: BaseException) -> bool:
    """True when `exc` is not an error the user can cause (it deserves a traceback)."""
    if isinstance(exc, (DeconvError, MemoryError, OSError)):
        return False
    return not _is_out_of_memory(exc)
