"""Bring your own models: add a weights file to the user library, or remove one.

`import_model(path)` reads the file safely (see `deconv_gui.models.imported`), detects the
architecture, scale, channels and fp16 support with spandrel, refuses anything that is not a
plain image-to-image network, runs it once on a small test image, and only then copies the file
into ``paths.user_models_dir()/<id>/`` next to a ``card.json``, through
`deconv_gui.models.library.add_model` (assembled under a hidden temporary name, flushed and
renamed into place, so the library never holds half an import).

The CLI (``deconv-gui models import FILE`` / ``models remove ID``) and, later, the GUI's import
dialog call these functions; errors are `ModelError`s with one readable line.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from deconv_gui import __version__
from deconv_gui.errors import DeconvError, ModelError
from deconv_gui.models.imported import (
    CARD_FORMAT,
    CARD_NAME,
    USER_KINDS,
    WEIGHT_EXTENSIONS,
    ModelInfo,
    check_image_to_image,
    check_model_file,
    describe,
    detect,
    file_sha256,
    library_folders,
    read_card,
    read_state_dict,
    spec_from_card,
    trial_run,
)
from deconv_gui.models.library import (
    add_model,
    builtin_ids,
    check_name,
    library_root,
    os_reason,
    remember_removed,
)
from deconv_gui.models.registry import TASKS, ModelSpec

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
#: the tasks an imported model can be given: "raw-denoise" works on a sensor's mosaic (an
#: ordinary network given it ran on camera RAW data) and "jpeg" is told the file's quality,
#: which imported networks do not take
IMPORT_TASKS = ("upscale", "denoise", "deblur", "restore")


def inspect_model(path: str | Path) -> ModelInfo:
    """Detect what a weights file is without importing it (for a preview before importing).

    Raises `ModelError` for files that `import_model` would refuse."""
    info, _ = _inspect(Path(path))
    return info


def _inspect(p: Path) -> tuple[ModelInfo, Any]:
    state_dict = read_state_dict(p)
    desc = detect(state_dict, source=p.name)
    check_image_to_image(desc, source=p.name)
    info = describe(desc)
    trial_run(desc, info, source=p.name)
    return info, desc


def import_model(
    path: str | Path, *, name: str | None = None, task: str | None = None
) -> ModelSpec:
    """Import a weights file (.safetensors, .pth, .pt, .ckpt) into the user model library.

    ``name`` defaults to the file name without extension; ``task`` to "upscale" for models with
    scale > 1 (the only task they can have) and "restore" otherwise. Returns the new spec
    (kind "imported"). Raises `ModelError`; on error the library is left unchanged.
    """
    p = Path(path).expanduser()
    check_model_file(p, str(p))
    if task is not None and task not in IMPORT_TASKS:
        why = "unknown task" if task not in TASKS else "not a task for an imported model"
        raise ModelError(f"{why} '{task}' (choose one of {', '.join(IMPORT_TASKS)})")
    try:
        display = check_name(name if name is not None else p.stem)
    except ModelError as e:
        if name is not None:
            raise
        raise ModelError(f"{e} (from the file name: choose one with --name)") from None

    if p.suffix.lower() not in WEIGHT_EXTENSIONS:
        raise ModelError(
            f"{p.name}: unsupported file type (expected {', '.join(WEIGHT_EXTENSIONS)})"
        )
    sha_before = _sha256(p)
    existing = _find_by_sha(sha_before)
    if existing is not None:
        raise ModelError(f"{p.name} is already in the library as '{existing}'")
    info, _ = _inspect(p)

    if info.scale > 1:
        if task not in (None, "upscale"):
            raise ModelError(
                f"{p.name} is a x{info.scale} upscaler; its task can only be 'upscale'"
            )
        task = "upscale"
    else:
        if task == "upscale":
            raise ModelError(
                f"{p.name} does not change the image size (scale 1); it cannot be an upscaler"
            )
        task = task or "restore"
    final_task: str = task

    weights_name = "weights" + p.suffix.lower()

    def write_files(folder: Path) -> dict[str, Any]:
        sha, size = _copy_with_hash(p, folder / weights_name)
        if sha != sha_before:
            raise ModelError(f"{p.name} changed while it was being imported; try again")
        return _make_card(display, final_task, info, p.name, weights_name, sha, size)

    def not_yet_imported() -> None:  # under the library's lock: no twin import slips by
        existing = _find_by_sha(sha_before)
        if existing is not None:
            raise ModelError(f"{p.name} is already in the library as '{existing}'")

    folder = add_model(display, write_files, check=not_yet_imported)
    model_id = folder.name
    log.info(
        "imported %s as %r (%s x%d, %s)", p.name, model_id, info.architecture, info.scale, task
    )
    return spec_from_card(folder)


def remove_model(model_id: str) -> None:
    """Delete an imported (or fine-tuned) model from the user library.

    Any entry ``deconv-gui models`` lists can be removed, a broken one included (its id is
    its folder's name). Raises `ModelError` if there is no such model in the library, saying
    why for the bundled and classical models."""
    root = library_root()
    folder = root / model_id
    if not _is_entry_name(model_id) or not folder.is_dir():
        if model_id in builtin_ids():
            raise ModelError(
                f"'{model_id}' is a built-in model, not an imported one; it cannot be removed"
            )
        raise ModelError(f"unknown model '{model_id}': it is not in the user model library")
    try:
        kind = read_card(folder).get("kind")
    except ModelError:
        kind = None  # a corrupt entry can always be removed
    if kind is not None and kind not in USER_KINDS:
        raise ModelError(f"'{model_id}' is not an imported model")
    trash = root / f".removing-{model_id}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(folder, trash)  # disappears from the library at once
    except OSError as e:
        raise ModelError(f"cannot remove '{model_id}': {os_reason(e)}") from None
    shutil.rmtree(trash, ignore_errors=True)
    remember_removed(model_id)
    log.info("removed user model %r", model_id)


# --------------------------------------------------------------------------- helpers


def _is_entry_name(model_id: str) -> bool:
    """A plain, visible folder name (library entries made by hand may have any such name;
    what `is_valid_id` accepts is only what imports create)."""
    return (
        bool(model_id)
        and Path(model_id).name == model_id
        and not model_id.startswith(".")
        and "/" not in model_id
        and "\\" not in model_id
    )


def _find_by_sha(sha: str) -> str | None:
    try:
        folders = library_folders()
    except (OSError, DeconvError):  # an unreadable library: writing to it says why
        return None
    for folder in folders:
        try:
            card = json.loads((folder / CARD_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(card, dict) and card.get("sha256") == sha:
            return folder.name
    return None


def _sha256(p: Path) -> str:
    try:
        return file_sha256(p)
    except OSError as e:
        raise ModelError(f"{p.name}: cannot read the file ({e.strerror or e})") from None


def _copy_with_hash(src: Path, dst: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with src.open("rb") as fi, dst.open("xb") as fo:
        while chunk := fi.read(_CHUNK):
            h.update(chunk)
            fo.write(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _make_card(
    name: str,
    task: str,
    info: ModelInfo,
    source_file: str,
    weights_name: str,
    sha: str,
    size: int,
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "name": name,
        "task": task,
        "scale": info.scale,
        "kind": "imported",
        "loader": "spandrel",
    }
    card.update(info.card_fields())
    card.update(
        {
            "file": weights_name,
            "source_file": source_file,
            "sha256": sha,
            "size_bytes": size,
            "imported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "app_version": __version__,
            "license": "as published by the model's author (imported by the user)",
        }
    )
    return card


__all__ = ["import_model", "inspect_model", "remove_model", "WEIGHT_EXTENSIONS"]
