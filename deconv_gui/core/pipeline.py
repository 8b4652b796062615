"""The photo pipeline: one photo (`restore_photo`), one file (`restore_file`), a run of files
(`restore_files`).

`restore_photo` wraps the tiled job (`jobs.restore_job`) and carries the metadata across:
EXIF, ICC and bit depth travel unchanged, an alpha plane is resized when the model upscales.

A run is a list of `PlannedFile` (from `deconv_gui.core.naming.plan_outputs`) and the work
to do on each photo: a `PhotoJob`, a function from a `Photo` to a generator of
`TileProgress` that returns the result `Photo`. `photo_job(spec, options)` makes the usual
one, a single model; a chain of models or another loader (RAW) slot in as another
`PhotoJob` or another ``load``. `restore_files` drives load -> work -> save for every file,
yields a `FileProgress` when a file starts, after each tile and when it ends, and returns a
`RunSummary`. A file that fails (unreadable, the model fails, out of memory, the output
cannot be written) is recorded with one line and the run goes on. The CLI's ``restore``, the
GUI's batch and the self-test use it; ``eval`` uses `restore_job` on each image.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from deconv_gui.core.auto_setting import AUTO, AutoSetting, auto_settings
from deconv_gui.core.errors import describe_error, is_bug
from deconv_gui.core.image import ImageMeta, Photo
from deconv_gui.core.io import check_target, load_image, make_folder, refuse_misnamed_raw
from deconv_gui.core.jobs import restore_job
from deconv_gui.core.naming import OUTPUT_EXTENSIONS
from deconv_gui.core.raw import is_raw_path
from deconv_gui.core.rawpipe import (
    NOTE,
    RAW_CROP,
    RAW_MOSAIC,
    dng_refusal,
    restore_raw_photo,
    save_photo,
    works_on_mosaic,
)
from deconv_gui.errors import DiskFullError, ImageReadError, ImageWriteError
from deconv_gui.logs import WarningCollector

if TYPE_CHECKING:
    from deconv_gui.core.naming import PlannedFile
    from deconv_gui.core.spec import LoadOptions, RestoreSpec
    from deconv_gui.core.tiling import TileProgress

__all__ = [
    "AUTO",
    "AutoSetting",
    "FileProgress",
    "PhotoJob",
    "RunSummary",
    "auto_settings",
    "output_meta",
    "photo_job",
    "restore_file",
    "restore_files",
    "restore_photo",
]

log = logging.getLogger(__name__)

#: The work on one photo: yields `TileProgress`, returns the result.
PhotoJob = Callable[[Photo], Generator["TileProgress", Any, Photo]]


def output_meta(meta: ImageMeta, scale: int) -> ImageMeta:
    """Metadata for a result `scale` times the size of the source (alpha resized to match).
    A RAW result's mosaic, note and part of the render do not describe a later step's
    pixels: they are left out (the RAW record itself stays: it describes the source)."""
    alpha = meta.alpha
    if alpha is not None and scale != 1:
        h, w = alpha.shape
        alpha = cv2.resize(alpha, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
        alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    extra = {k: v for k, v in meta.extra.items() if k not in (RAW_MOSAIC, NOTE, RAW_CROP)}
    return meta.copy(alpha=alpha, path=None, extra=extra)


def restore_photo(
    spec: RestoreSpec, photo: Photo, options: LoadOptions, tile_size: int | None = None
) -> Generator[TileProgress, Any, Photo]:
    """Generator: yields `TileProgress` per tile, returns the restored `Photo`. A model of a
    camera's raw data runs on the photo's mosaic (`core.rawpipe.restore_raw_photo`)."""
    if works_on_mosaic(spec):
        return (yield from restore_raw_photo(spec, photo, options, tile_size=tile_size))
    chosen: list[Any] = []
    out = yield from restore_job(
        spec, photo.rgb, options, tile_size=tile_size, meta=photo.meta, measured=chosen.append
    )
    meta = output_meta(photo.meta, spec.scale)
    if chosen and isinstance(chosen[0], float) and spec.strength is not None:
        # say what Auto chose (`auto_settings`)
        meta.extra[AUTO] = (
            *auto_settings(photo.meta),
            AutoSetting(spec.id, spec.strength.label, chosen[0], spec.task),
        )
    return Photo(out, meta)


def photo_job(spec: RestoreSpec, options: LoadOptions, tile_size: int | None = None) -> PhotoJob:
    """The `PhotoJob` of a one-model run: `restore_photo` with these options."""

    def work(photo: Photo) -> Generator[TileProgress, Any, Photo]:
        return restore_photo(spec, photo, options, tile_size=tile_size)

    return work


@dataclass(frozen=True)
class FileProgress:
    """Where a run is: photo ``index`` (0-based) of ``total``, its tiles, and when it ended
    (``finished``) where the result went (``output``) or why not (``error``; ``skipped``
    when an existing result was kept). ``tile`` is the engine's record after a tile."""

    index: int
    total: int
    path: Path
    tiles_done: int = 0
    tiles_total: int = 0
    finished: bool = False
    output: Path | None = None
    error: str = ""
    skipped: bool = False
    tile: TileProgress | None = None
    warnings: tuple[str, ...] = ()  # when finished: what was logged as a warning for it
    auto: tuple[str, ...] = ()  # when done: what Auto chose in its steps ("noise level 17")


#: `RunSummary.stopped` when a result could not be written for a full disk
DISK_FULL = "the disk is full"


@dataclass
class RunSummary:
    """What a run did: ``done`` (source, output), ``failed`` and ``skipped`` (source, one-line
    reason), whether it was ``cancelled`` and how long it took (``elapsed`` seconds)."""

    done: list[tuple[Path, Path]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    warned: list[tuple[Path, str]] = field(default_factory=list)  # (source, warning)
    cancelled: bool = False
    elapsed: float = 0.0
    #: why the run stopped before its end by itself ("the disk is full"), or ""
    stopped: str = ""

    def text(self) -> str:
        parts = [f"{len(self.done)} saved"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.warned:
            parts.append(f"{self.warned_photos} with warnings")
        if self.cancelled:
            parts.append("cancelled")
        if self.stopped:
            parts.append(f"stopped: {self.stopped}")
        return ", ".join(parts)

    @property
    def warned_photos(self) -> int:
        """How many photos had warnings."""
        return len({src for src, _ in self.warned})


def restore_file(
    task: PlannedFile,
    work: PhotoJob,
    *,
    overwrite: bool = False,
    load: Callable[[Path], Photo] = load_image,
    quality: int = 95,
    chose: list[AutoSetting] | None = None,
) -> Generator[TileProgress, Any, Path]:
    """Load ``task.source``, run ``work`` on it and save the result to ``task.output``
    (``quality``: JPEG and WebP, see `save_image`); what Auto chose in the steps goes to
    ``chose`` (`auto_settings`).

    The output's folder is created when missing. An output type we cannot write (or a DNG
    of a photo that is not a camera RAW) and, without ``overwrite``, an existing output are
    refused before anything is computed. Returns the path written; raises `DeconvError`
    (or whatever the work raises) on failure.
    """
    dst = task.output
    ext = dst.suffix.lower()
    if ext not in OUTPUT_EXTENSIONS:  # before the work, not after it
        raise ImageWriteError(
            f"Cannot save {dst.name}: unsupported file type {dst.suffix or '(none)'!r} "
            f"(use {', '.join(sorted(OUTPUT_EXTENSIONS))})"
        )
    if ext == ".dng" and not is_raw_path(task.source):
        refuse_misnamed_raw(task.source)  # a RAW file named .jpg: say that, not the below
        raise ImageWriteError(f"Cannot save {dst.name}: a DNG needs a camera RAW photo")
    make_folder(dst.parent)
    check_target(dst, ImageMeta(path=task.source), overwrite)
    photo = load(task.source)
    refused = dng_refusal(photo) if ext == ".dng" else None
    if refused is not None:  # before the models run (minutes on a big file), not after
        raise ImageWriteError(f"Cannot save {dst.name}: {refused}")
    result = yield from work(photo)
    del photo
    written = save_photo(dst, result, overwrite=overwrite, quality=quality)
    if chose is not None:
        chose.extend(auto_settings(result.meta))
    return written


def restore_files(
    tasks: Sequence[PlannedFile],
    work: PhotoJob,
    *,
    overwrite: bool = False,
    skip_existing: bool = False,
    load: Callable[[Path], Photo] = load_image,
    cancel: Callable[[], bool] | None = None,
    quality: int = 95,
) -> Generator[FileProgress, None, RunSummary]:
    """Run `restore_file` on every task; yield `FileProgress`, return a `RunSummary`.

    ``skip_existing``: an output that exists is kept and its photo skipped (without it, and
    without ``overwrite``, that photo fails). ``cancel`` is asked before each photo and
    tile; when it says yes the run stops there and the summary says ``cancelled`` (closing
    the generator stops it too, without a summary). A failing photo does not stop the run,
    except when its result could not be written for a full disk: every photo after it would
    be processed only to fail the same way, so the run stops there (``stopped``; the photos
    not begun are left for the next run).
    """
    start = time.monotonic()
    summary = RunSummary()
    total = len(tasks)
    # the photos there as the run begins: one of them gone when its turn comes was removed
    # meanwhile (a skip); one never there is a mistake of the run (a failure)
    present = {i for i, t in enumerate(tasks) if os.path.lexists(t.source)}
    for i, task in enumerate(tasks):
        src = task.source
        if cancel is not None and cancel():
            summary.cancelled = True
            break
        yield FileProgress(i, total, src)
        if skip_existing and not overwrite and os.path.lexists(task.output):
            why = f"{task.output.name} exists (skipped)"
            summary.skipped.append((src, why))
            yield FileProgress(i, total, src, finished=True, error=why, skipped=True)
            continue
        chose: list[AutoSetting] = []
        job = restore_file(task, work, overwrite=overwrite, load=load, quality=quality, chose=chose)
        said: list[str] = []  # its warnings (also logged: the CLI prints them as they come)
        try:
            while True:
                if cancel is not None and cancel():  # the job is closed below
                    summary.cancelled = True
                    break
                try:
                    with WarningCollector(said):
                        tp = next(job)
                except StopIteration as stop:
                    written = Path(stop.value)
                    break
                yield FileProgress(i, total, src, tp.done, tp.total, tile=tp)
        except Exception as exc:  # this photo failed (any reason): say why, go on
            if isinstance(exc, ImageReadError) and i in present and not os.path.lexists(src):
                # removed since the run was planned (from a watched folder, by the user): a
                # skip, not a failure of the run
                why = f"{src.name} was removed before it was processed"
                summary.skipped.append((src, why))
                yield FileProgress(i, total, src, finished=True, error=why, skipped=True)
                continue
            why = describe_error(exc)
            if is_bug(exc):
                log.error("%s failed: %s", src, why, exc_info=exc)
            summary.failed.append((src, why))
            summary.warned += [(src, w) for w in said]
            yield FileProgress(i, total, src, finished=True, error=why, warnings=tuple(said))
            if isinstance(exc, DiskFullError) or getattr(exc, "errno", None) == errno.ENOSPC:
                summary.stopped = DISK_FULL
                break
            continue
        finally:
            job.close()
        if summary.cancelled:
            break
        summary.done.append((src, written))
        summary.warned += [(src, w) for w in said]
        auto = tuple(a.text() for a in chose)
        yield FileProgress(
            i, total, src, finished=True, output=written, warnings=tuple(said), auto=auto
        )
    summary.elapsed = time.monotonic() - start
    return summary
