"""User-facing errors.

Every error the user can cause (bad file, unknown model, unwritable folder...) is a
`DeconvError` whose message is one readable line. The CLI prints it and exits non-zero; the
GUI shows it in a dialog. Anything else is a bug and gets a traceback in the log.
"""

from __future__ import annotations


class DeconvError(Exception):
    """An error with a message meant for the user (one line, no traceback)."""


class ImageReadError(DeconvError):
    """A photo could not be read (missing, truncated, not an image, too large...)."""


class ImageWriteError(DeconvError):
    """A photo could not be written (folder not writable, disk full, would overwrite...)."""


class DiskFullError(ImageWriteError):
    """A result could not be written: the disk (or the user's quota) is full. A batch stops
    there: every photo after it would be processed only to fail the same way."""


class ModelError(DeconvError):
    """A model could not be found, loaded or run."""


class CancelledError(DeconvError):
    """The user cancelled a job."""


def read_reason(message: str, name: str) -> str:
    """A reader's message without its lead, which names the file (``Cannot read a.png: the
    file is empty`` -> ``the file is empty``), for a line that names the file itself;
    other messages as they are."""
    return message.removeprefix(f"Cannot read {name}: ")
