"""The user model library on disk: one folder per model (weights + ``card.json``).

`add_model(name, write_files)` is the one way a model enters the library (an import,
`deconv_gui.models.importer.import_model`, and a fine-tune,
`deconv_gui.training.finetune.save_finetuned`): the files are written into a hidden
temporary folder, flushed to disk, and the folder is renamed into place under a unique id
made from the name, so the library never holds half a model and a failure leaves nothing
behind. A library that cannot be written (read-only folder, full disk...) gives a
`ModelError` with one readable line, never an `OSError` traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from deconv_gui import paths
from deconv_gui.errors import DeconvError, ModelError
from deconv_gui.models.imported import CARD_NAME, has_control_characters

log = logging.getLogger(__name__)
MAX_NAME = 120
STALE_TEMP_S = 3600.0
_TEMP_PREFIX = ".adding-"
# leftovers of older versions (imports and fine-tunes had their own prefixes)
_STALE_PREFIXES = (_TEMP_PREFIX, ".importing-", ".finetuning-")


def check_name(name: str) -> str:
    """The display name, stripped; `ModelError` when it is empty, too long or holds
    control characters (a line break would split the model list's rows)."""
    display = str(name).strip()
    if not display:
        raise ModelError("the model name is empty")
    if has_control_characters(display):
        raise ModelError("the model name must be one line, without control characters")
    if len(display) > MAX_NAME:
        raise ModelError(f"the model name is too long (at most {MAX_NAME} characters)")
    return display


def os_reason(exc: OSError) -> str:
    """A plain reason for a failed write: read-only, full disk, or the system's words."""
    words = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"the folder is read-only ({words})"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"the disk is full ({words})"
    return words


def library_root() -> Path:
    """The user model folder, created when missing (`ModelError` when it cannot be)."""
    try:
        return paths.user_models_dir()
    except OSError as exc:
        raise ModelError(f"cannot create the model library folder: {os_reason(exc)}") from None


def add_model(
    name: str,
    write_files: Callable[[Path], dict[str, Any]],
    *,
    check: Callable[[], None] | None = None,
) -> Path:
    """Add a model to the user library atomically; returns its folder (named by its id).

    ``write_files(folder)`` writes the weights into the (hidden, temporary) ``folder`` and
    returns the card, every field but ``id``: the card gets a unique id made from ``name``
    (one no bundled, classical or library model has), is written beside the weights, every
    file and the folder are flushed to disk, and the folder is renamed into place. On any
    error the temporary folder is removed. `DeconvError`s from ``write_files`` pass through;
    an `OSError` becomes a `ModelError` saying why the library cannot be written.

    The id is chosen and the folder renamed under the library's lock file (`filelock`,
    released by the OS when a process dies), after ``check()``, which raises to refuse the
    model (an import of weights already in the library): two imports at the same time, in
    two windows or a window and the CLI, cannot both add the same file.
    """
    root = library_root()
    clean_stale_temp(root)
    tmp = root / f"{_TEMP_PREFIX}{uuid.uuid4().hex}"
    try:
        tmp.mkdir()
        card = dict(write_files(tmp))
        with _locked(root):
            if check is not None:
                check()
            model_id = _rename_into_place(root, tmp, name, card)
    except DeconvError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(f"cannot write to the model library {root}: {os_reason(exc)}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root / model_id


LOCK_NAME = ".library.lock"
LOCK_TIMEOUT_S = 60.0


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold the library's lock file (waits up to `LOCK_TIMEOUT_S` for another process)."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(root / LOCK_NAME), timeout=LOCK_TIMEOUT_S, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise ModelError(
            f"the model library {root} is busy (another import or fine-tune is saving); try again"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _rename_into_place(root: Path, tmp: Path, name: str, card: dict[str, Any]) -> str:
    """Give the card a free id, write it, flush, and rename ``tmp`` to that id."""
    taken = taken_ids()
    for attempt in range(1000):
        model_id = unique_id(slug(name), taken)
        card["id"] = model_id
        _write_json(tmp / CARD_NAME, card)
        _fsync_tree(tmp)
        try:
            os.rename(tmp, root / model_id)  # atomic; fails if the folder appeared meanwhile
        except OSError:
            if not (root / model_id).exists() or attempt > 100:
                raise
            taken.add(model_id)
            continue
        break
    _fsync_dir(root)
    return model_id


# ------------------------------------------------------------------------------ ids


def slug(text: str) -> str:
    """``"My Street, v2"`` -> ``"my-street-v2"`` (ASCII, at most 48 characters)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    s = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    s = s[:48].strip("-")
    return s or "model"


def unique_id(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def builtin_ids() -> set[str]:
    """Ids of bundled and classical models (a library model must not shadow them)."""
    ids: set[str] = set()
    try:
        from deconv_gui.models import bundled, classical

        ids.update(s.id for s in bundled.bundled_specs())
        ids.update(s.id for s in classical.classical_specs())
    except Exception as e:  # noqa: BLE001 - the library must stay usable if a built-in list fails
        log.debug("built-in model ids unavailable: %s", e)
    return ids


#: ids of models removed from the library, one per line: never given to another model, so
#: that a preset or recipe naming a removed model fails instead of running whatever was
#: imported later under the freed id (an x2 upscaler in place of an x4 one)
REMOVED_IDS = ".removed-ids"


def removed_ids() -> set[str]:
    try:
        text = (library_root() / REMOVED_IDS).read_text(encoding="utf-8")
    except (OSError, ModelError):  # none recorded, or no library folder to hold them
        return set()
    return {line.strip() for line in text.splitlines() if line.strip()}


def remember_removed(model_id: str) -> None:
    """Add ``model_id`` to `REMOVED_IDS` (a failure to write only logs: the removal stands)."""
    try:
        with (library_root() / REMOVED_IDS).open("a", encoding="utf-8") as f:
            f.write(model_id + "\n")
    except OSError as e:
        log.warning("could not record the removed model id %s: %s", model_id, e)


def taken_ids() -> set[str]:
    return {p.name for p in library_root().iterdir()} | builtin_ids() | removed_ids()


# --------------------------------------------------------------------------- files


def clean_stale_temp(root: Path) -> None:
    """Remove leftovers of interrupted removals, and of additions older than an hour."""
    now = time.time()
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for p in entries:
        try:
            if p.name.startswith(".removing-") or (
                p.name.startswith(_STALE_PREFIXES) and now - p.stat().st_mtime > STALE_TEMP_S
            ):
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with path.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")


def _fsync_tree(folder: Path) -> None:
    for p in folder.iterdir():
        if p.is_file():
            with p.open("rb+") as f:
                os.fsync(f.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (POSIX; Windows cannot open a folder)."""
    if os.name == "nt":  # pragma: no cover
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "add_model",
    "builtin_ids",
    "check_name",
    "clean_stale_temp",
    "library_root",
    "os_reason",
    "slug",
    "taken_ids",
    "unique_id",
]
