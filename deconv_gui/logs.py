"""The log file, ``<user folder>/logs/deconv-gui.log`` (rotated), for the app and the CLI.

The app logs there for as long as it runs (`setup_logging`, called by `gui.crash`). A CLI
command logs there while it runs (`cli_logging`) and also shows warnings on stderr as
``warning: ...`` lines, except records marked `LOG_ONLY` (``log.warning(..., extra=LOG_ONLY)``):
things about the user's setup that have nothing to do with the command at hand (a damaged
entry in the user model library is listed by ``deconv-gui models`` instead), which would
otherwise print before every command's output.

The app has no stderr a user reads: `WarningCollector` gathers the warnings (those the CLI
prints) logged in one thread while a photo is read, saved or run in a batch, so the app can
show them beside the photo or in the batch list.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from logging.handlers import RotatingFileHandler
from pathlib import Path

__all__ = [
    "LOG_ONLY",
    "WarningCollector",
    "cli_logging",
    "log_dir",
    "log_file",
    "setup_logging",
]

LOG_ONLY = {"log_only": True}
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_ROOT = "deconv_gui"


def log_dir() -> Path:
    from deconv_gui.paths import user_home

    d = user_home() / "logs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def log_file() -> Path:
    return log_dir() / "deconv-gui.log"


def _file_handler() -> logging.Handler:
    handler = RotatingFileHandler(log_file(), maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    return handler


def setup_logging() -> Path:
    """Log INFO and above to `log_file` for the rest of the process (the app)."""
    path = log_file()
    root = logging.getLogger(_ROOT)
    if not any(getattr(h, "_deconv_log", False) for h in root.handlers):
        handler = _file_handler()
        handler._deconv_log = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    return path


class _Console(logging.StreamHandler):
    """Warnings on whatever ``sys.stderr`` is when they happen, as ``warning: ...``."""

    def __init__(self) -> None:
        super().__init__()
        self.setLevel(logging.WARNING)
        self.setFormatter(logging.Formatter("warning: %(message)s"))
        self.addFilter(lambda record: not getattr(record, "log_only", False))

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401 - the current stderr (tests and redirections swap it)
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


@contextlib.contextmanager
def cli_logging() -> Iterator[None]:
    """For one CLI command: INFO and above to the log file (when the user folder is
    writable), warnings not marked `LOG_ONLY` to stderr. Removed again afterwards."""
    root = logging.getLogger(_ROOT)
    handlers: list[logging.Handler] = [_Console()]
    with contextlib.suppress(OSError):  # a read-only user folder: no log file, the command runs
        handlers.append(_file_handler())
    saved_level = root.level
    root.setLevel(logging.INFO)
    for h in handlers:
        root.addHandler(h)
    try:
        yield
    finally:
        for h in handlers:
            root.removeHandler(h)
            h.close()
        root.setLevel(saved_level)


def as_sentences(said: list[str] | tuple[str, ...]) -> str:
    """Collected warnings as one text for a message bar: each a sentence, its first word
    capitalised unless it is a name ("IMG_0001.jpg: ...", "pyexiv2 is ...": kept as written)."""

    def sentence(w: str) -> str:
        first = w.split(" ", 1)[0]
        if first.isalpha():
            w = w[:1].upper() + w[1:]
        return w if w.endswith(".") else w + "."

    return " ".join(sentence(w) for w in said)


class WarningCollector(logging.Handler):
    """``with WarningCollector() as said:`` the package's warnings logged by this thread
    inside the block (not `LOG_ONLY` ones), each message once, in order, in ``said`` (a
    list; pass one to add to it). They are logged as before. A class, not a generator-based
    context manager: the block may end in ``StopIteration`` (a step of a generator), which
    passes through unchanged."""

    def __init__(self, into: list[str] | None = None) -> None:
        super().__init__(logging.WARNING)
        self.said: list[str] = into if into is not None else []
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self._thread or getattr(record, "log_only", False):
            return
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not break the caller
            return
        if text not in self.said:
            self.said.append(text)

    def __enter__(self) -> list[str]:
        self._thread = threading.get_ident()
        logging.getLogger(_ROOT).addHandler(self)
        return self.said

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(_ROOT).removeHandler(self)
