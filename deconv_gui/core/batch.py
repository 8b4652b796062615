"""Archive-scale batches: resumable runs into an output folder (issue 15).

A batch is the photo pipeline (`core.pipeline.restore_files`) plus the output folder's
`Manifest`, so that a rerun skips what is done and redoes what failed or changed:

1. `JobInfo` says what shapes the results: the recipe, each model's version, the output
   settings (`OutputSettings`: format, quality, bit depth, suffix) and the precision; its
   ``key`` is what the manifest compares.
2. `plan_batch(tasks, manifest, job)` sorts the planned files (`core.naming.plan_outputs`)
   into what to do, what was done before and outputs that exist but are not ours.
3. `run_batch(plan, execute, manifest=, job=)` runs the files through an executor and
   records a ``started`` line before each photo and ``done`` / ``failed`` after it. The
   executor is `local_executor` (this process, `restore_files`) or a Ray cluster
   (`deconv_gui.cluster.RayExecutor`); both run `restore_file` with the same `photo_work`.

Every output is written atomically, so a run killed at any moment leaves each output either
complete or absent; the next run removes temporaries it left (`remove_stale_temporaries`)
and redoes the photos that were ``started`` but not finished. Outputs to do are written with
``overwrite`` on: `plan_batch` has already refused an existing output that is not ours.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from deconv_gui.core.image import Photo
from deconv_gui.core.inputs import InputFile
from deconv_gui.core.io import DEFAULT_MAX_PIXELS, load_image, same_file
from deconv_gui.core.manifest import (
    FileRecord,
    Manifest,
    file_stamp,
    model_version,
    path_key,
    recorded_outputs,
    remove_stale_temporaries,
)
from deconv_gui.core.naming import (
    OUTPUT_EXTENSIONS,
    SIXTEEN_BIT_EXTENSIONS,
    check_suffix,
    first_choice_output,
)
from deconv_gui.core.pipeline import FileProgress, RunSummary, restore_files
from deconv_gui.core.raw import is_raw_path
from deconv_gui.core.rawpipe import works_on_mosaic
from deconv_gui.core.recipe import Recipe, recipe_job
from deconv_gui.core.validate import OptionError

if TYPE_CHECKING:
    from deconv_gui.core.naming import PlannedFile
    from deconv_gui.core.pipeline import PhotoJob
    from deconv_gui.core.spec import LoadOptions, RestoreSpec
    from deconv_gui.core.tiling import TileProgress

__all__ = [
    "DONE_BEFORE",
    "BatchPlan",
    "Execute",
    "JobInfo",
    "OutputSettings",
    "local_executor",
    "photo_work",
    "plan_batch",
    "run_batch",
    "without_outputs",
]

#: Runs planned files and reports them as `restore_files` does: a `FileProgress` when a
#: photo starts (``tile`` None, not ``finished``), after tiles, and when it ends.
Execute = Callable[[Sequence["PlannedFile"]], Generator[FileProgress, None, RunSummary]]

_F = TypeVar("_F", bound=InputFile | Path)

DONE_BEFORE = "done before (see the output folder's manifest)"


@dataclass(frozen=True)
class OutputSettings:
    """How results are written: ``format`` (an extension such as ``.jpg``; None: the
    input's own where we can write it), ``quality`` (JPEG and WebP, 1-100), ``bit_depth``
    (8, or 16 where the format holds it: PNG, TIFF; asking 16 of a chosen format that
    does not is refused; None: the input's) and the name
    ``suffix`` (None: the recipe's, e.g. ``_denoised``)."""

    format: str | None = None
    quality: int = 95
    bit_depth: int | None = None
    suffix: str | None = None

    def __post_init__(self) -> None:
        if self.format is not None:
            ext = self.format.lower()
            ext = ext if ext.startswith(".") else "." + ext
            if ext not in OUTPUT_EXTENSIONS:
                known = ", ".join(sorted(e.lstrip(".") for e in OUTPUT_EXTENSIONS))
                raise OptionError(f"cannot write {self.format!r} files (choose one of {known})")
            object.__setattr__(self, "format", ext)
        if isinstance(self.quality, bool) or not 1 <= int(self.quality) <= 100:
            raise OptionError(f"quality must be between 1 and 100, got {self.quality}")
        object.__setattr__(self, "quality", int(self.quality))
        if self.bit_depth not in (None, 8, 16):
            raise OptionError(f"bit depth must be 8 or 16, got {self.bit_depth}")
        if self.bit_depth == 16 and self.format and self.format not in SIXTEEN_BIT_EXTENSIONS:
            kind = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WebP"}.get(self.format, "BMP")
            raise OptionError(
                f"{kind} holds 8 bits per channel: 16-bit results need PNG or TIFF "
                "(or leave the bit depth to the original's)"
            )
        if self.suffix is not None:
            check_suffix(self.suffix)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> OutputSettings:
        if not isinstance(data, dict):
            raise OptionError("output settings must be an object")
        unknown = set(data) - {"format", "quality", "bit_depth", "suffix"}
        if unknown:
            raise OptionError(f"unknown output setting(s): {', '.join(sorted(unknown))}")
        try:
            return cls(
                format=data.get("format"),
                quality=int(data.get("quality", 95)),
                bit_depth=None if data.get("bit_depth") is None else int(data["bit_depth"]),
                suffix=data.get("suffix"),
            )
        except (TypeError, ValueError) as exc:
            raise OptionError(f"bad output settings: {exc}") from None


#: why a recipe that starts with the RAW denoiser skips a photo
NOT_RAW = "not a camera RAW file (the RAW denoiser works on a camera's sensor data)"


@dataclass(frozen=True)
class JobInfo:
    """What shapes the results of a run (the manifest's job): the recipe, each model's
    version (`core.manifest.model_version`), the output settings, whether reduced
    precision is allowed and whether "Extra quality" is on. Device, tile size and threads
    are left out: they change a result by less than one level in 255, and a run resumed on
    other machines must match."""

    recipe: Recipe
    models: dict[str, str]
    output: OutputSettings = field(default_factory=OutputSettings)
    allow_fp16: bool = True
    ensemble: bool = False
    #: the recipe starts with the RAW denoiser: only camera RAW files are its photos
    raw_only: bool = False

    @classmethod
    def of(
        cls,
        recipe: Recipe,
        resolve: Callable[[str], RestoreSpec],
        output: OutputSettings | None = None,
        *,
        allow_fp16: bool = True,
        ensemble: bool = False,
    ) -> JobInfo:
        models = {s.model: model_version(resolve(s.model)) for s in recipe.steps}
        raw_only = bool(recipe.steps) and works_on_mosaic(resolve(recipe.steps[0].model))
        return cls(recipe, models, output or OutputSettings(), allow_fp16, ensemble, raw_only)

    def describe(self) -> dict[str, Any]:
        steps = self.recipe.to_json()["steps"]
        return {
            "recipe": {"name": self.recipe.name, "steps": steps},
            "models": dict(sorted(self.models.items())),
            "output": self.output.to_json(),
            # "ensemble" only when on: the jobs of earlier versions keep their keys
            "options": {"allow_fp16": self.allow_fp16}
            | ({"ensemble": True} if self.ensemble else {}),
        }

    @property
    def key(self) -> str:
        """A digest of `describe` without the recipe's name (a renamed preset with the same
        steps is the same job)."""
        what = self.describe()
        what["recipe"] = what["recipe"]["steps"]
        text = json.dumps(what, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def photo_work(
    recipe: Recipe,
    resolve: Callable[[str], RestoreSpec],
    options: LoadOptions,
    *,
    tile_size: int | None = None,
    bit_depth: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> PhotoJob:
    """The work on one photo of a batch: the recipe (`recipe_job`, results over
    ``max_pixels`` refused), then the result's bit depth set when ``bit_depth`` is given.
    Local runs and Ray workers both use it."""
    work = recipe_job(recipe, resolve, options, tile_size=tile_size, max_pixels=max_pixels)
    if bit_depth is None:
        return work

    def with_depth(photo: Photo) -> Generator[TileProgress, Any, Photo]:
        out = yield from work(photo)
        return Photo(out.rgb, out.meta.copy(bit_depth=bit_depth))

    return with_depth


@dataclass
class BatchPlan:
    """What a run will do: ``todo`` (to process), ``done`` (done before, with the record
    that says so), ``refused`` (the output exists and is not ours: a failure) and ``kept``
    (the same, kept as a skip when the caller asked to skip existing outputs), ``not_raw``
    (photos that are not camera RAW files, skipped by a recipe that starts with the RAW
    denoiser: the JPEGs beside a camera's RAW files); ``warning``: what to tell before the
    run (damaged manifest lines, `Manifest.warning`), or None."""

    todo: list[PlannedFile] = field(default_factory=list)
    done: list[tuple[PlannedFile, FileRecord]] = field(default_factory=list)
    refused: list[tuple[PlannedFile, str]] = field(default_factory=list)
    kept: list[tuple[PlannedFile, str]] = field(default_factory=list)
    not_raw: list[tuple[PlannedFile, str]] = field(default_factory=list)
    warning: str | None = None

    @property
    def total(self) -> int:
        blocked = len(self.refused) + len(self.kept) + len(self.not_raw)
        return len(self.todo) + len(self.done) + blocked

    def text(self) -> str:
        parts = [f"{len(self.todo)} to do"]
        if self.done:
            parts.append(f"{len(self.done)} done before")
        if self.refused or self.kept:
            parts.append(f"{len(self.refused) + len(self.kept)} with an existing output")
        if self.not_raw:
            n = len(self.not_raw)
            parts.append(f"{n} not camera RAW file{'s' if n != 1 else ''} (skipped)")
        return ", ".join(parts)


def _is_ours(record: FileRecord | None, task: PlannedFile) -> bool:
    """Whether ``record`` (the latest naming ``task``'s output) is about ``task``'s input."""
    return record is not None and path_key(record.input) == path_key(task.source)


def _other_models_result(
    task: PlannedFile, record: FileRecord, job: JobInfo, manifest: Manifest
) -> bool:
    """``task``'s output is there as a job of other models finished it (two denoisers both
    write ``photo_denoised.png``): a result that took minutes to make, which this job would
    replace under the same name. The same models with other settings are a redo: replaced."""
    if record.status != "done" or record.job == job.key:
        return False
    earlier = manifest.job(record.job)
    if earlier is None or set(earlier.get("models") or {}) == set(job.models):
        return False
    out = file_stamp(task.output)
    return out is not None and out.size == record.output_size


def _changed_since_written(task: PlannedFile, record: FileRecord | None) -> bool:
    """``task``'s output is a result a run finished here that is no longer as written: a
    photographer retouched and saved it (a rerun after the original or the settings changed
    had replaced it without a word). Its size says so (a time would be changed by backup
    and sync tools too)."""
    if record is None or record.status != "done" or record.output_size < 0:
        return False
    out = file_stamp(task.output)
    return out is not None and out.size != record.output_size


def _is_done(task: PlannedFile, record: FileRecord, job: JobInfo) -> bool:
    if record.status != "done" or record.job != job.key or not _is_ours(record, task):
        return False
    if file_stamp(task.source) != record.stamp:
        return False
    out = file_stamp(task.output)
    return out is not None and out.size == record.output_size


def without_outputs(
    files: Sequence[_F],
    out_dir: Path | None,
    *,
    suffix: str | None = None,
    ext: str | None = None,
) -> list[_F]:
    """``files`` less the photos a folder listing found that are results of earlier runs:
    those the manifest of ``out_dir`` records as written there (whatever their names: an
    empty suffix too), those in a sub-folder of the listed folder that is an earlier run's
    output folder (it has a manifest), those inside ``out_dir`` when the output folder is
    inside the listed folder, and (with the run's ``suffix`` and ``ext``) those that are the
    very file this run would write for another photo of the listing: ``a_x2.png`` beside
    ``a.png`` when results go next to the originals, or into the listed folder itself (not
    with an empty suffix, where ``a.png`` could be the result of ``a.jpg`` or an original).
    Photos given one by one are kept."""

    def listed(f: _F) -> InputFile | None:  # found by a folder listing, else None
        return f if isinstance(f, InputFile) and f.root is not None else None

    outputs: dict[Path, frozenset[str] | None] = {}  # folder -> what its manifest records

    def recorded(folder: Path) -> frozenset[str] | None:
        if folder not in outputs:
            outputs[folder] = recorded_outputs(folder)
        return outputs[folder]

    out_dir_key = path_key(out_dir) if out_dir is not None else None

    def earlier_result(item: InputFile) -> bool:
        root = path_key(item.root or item.path.parent)
        folder = item.path.parent
        # written by earlier runs into this run's output folder (only there: a folder of
        # results listed as the input of a next run, e.g. to enlarge the denoised photos
        # into another folder, is that run's photos)
        if path_key(folder) == out_dir_key and path_key(item.path) in (recorded(folder) or ()):
            return True
        while path_key(folder) != root and folder != folder.parent:  # strictly below root
            if recorded(folder) is not None:
                return True
            folder = folder.parent
        return False

    keep = [f for f in files if (item := listed(f)) is None or not earlier_result(item)]
    if out_dir is not None:
        out_key = path_key(out_dir)
        inside = os.path.join(out_key, "")

        def nested(item: InputFile) -> bool:  # below an output folder that is below its root
            root = os.path.join(path_key(item.root or item.path.parent), "")
            return out_key.startswith(root) and path_key(item.path).startswith(inside)

        keep = [f for f in keep if (item := listed(f)) is None or not nested(item)]
    if not suffix:  # without a suffix a result's name is an original's: tell none apart
        return keep
    results: dict[str, str] = {}  # a listed photo's first-choice result -> that photo
    for f in keep:
        if (item := listed(f)) is not None:
            dst = first_choice_output(item, suffix=suffix, out_dir=out_dir, ext=ext)
            results.setdefault(path_key(dst), path_key(item.path))

    def result_of_another(item: InputFile) -> bool:
        key = path_key(item.path)
        return results.get(key, key) != key

    return [f for f in keep if (item := listed(f)) is None or not result_of_another(item)]


def plan_batch(
    tasks: Sequence[PlannedFile],
    manifest: Manifest | None,
    job: JobInfo,
    *,
    force: bool = False,
    overwrite: bool = False,
    skip_existing: bool = False,
    raw_only: bool | None = None,
) -> BatchPlan:
    """Sort ``tasks`` against the manifest (None: no manifest, every file is to do).

    ``raw_only`` (default: the job's): photos that are not camera RAW files (by their
    names, `core.raw.is_raw_path`) are skipped (``not_raw``).

    Done before: the latest record naming the output is ``done`` for this input, the same
    job and input (size and mtime), and that output is there with the recorded size;
    ``force`` redoes those too. An output that exists is replaced when the manifest names it
    as this input's output (ours: a rerun, or the same models with other settings) and no
    job of other models finished it as it is, or with ``overwrite``; otherwise the file is
    ``kept`` (``skip_existing``) or ``refused`` (two denoisers both write
    ``photo_denoised.png``: the second run does not replace the first's results). Name the tasks with the
    manifest's `owners` (`core.naming.plan_outputs`) so that no task is given another
    photo's result. An output that is its own input (``-o photo.jpg`` for photo.jpg) is always
    refused: ``overwrite`` is for earlier results, never for originals.
    """
    plan = BatchPlan(warning=manifest.warning() if manifest is not None else None)
    raw_only = job.raw_only if raw_only is None else raw_only
    for task in tasks:
        if raw_only and not is_raw_path(task.source):
            plan.not_raw.append((task, NOT_RAW))
            continue
        record = manifest.about(task.output) if manifest is not None else None
        if not force and record is not None and _is_done(task, record, job):
            plan.done.append((task, record))
            continue
        if same_file(task.output, task.source):  # whatever --overwrite says
            what = "the output" if task.output.name == task.source.name else task.output.name
            why = f"{what} is the original photo itself: originals are never replaced"
            plan.refused.append((task, why + " (choose another output name)"))
            continue
        ours = _is_ours(record, task)
        other_job = (
            ours
            and record is not None
            and manifest is not None
            and _other_models_result(task, record, job, manifest)
        )
        edited = ours and not overwrite and _changed_since_written(task, record)
        if not edited and (
            overwrite or (ours and not other_job) or file_stamp(task.output) is None
        ):
            plan.todo.append(task)
            continue
        if edited:
            why = (
                f"{task.output.name} was changed since this app wrote it (retouched?), so it is "
                "kept: --overwrite replaces it ('Replace files that already exist' in the app)"
            )
        elif other_job:
            why = (
                f"{task.output.name} is this photo's result from another run (another model or "
                "settings): --overwrite replaces it, --suffix names this run's results apart "
                "('Replace files that already exist' and 'Name suffix' in the app)"
            )
        elif manifest is None:  # results next to their originals: no record of earlier runs
            why = (
                f"{task.output.name} already exists (--overwrite, or 'Replace files that "
                "already exist' in the app, replaces it; --skip-existing keeps it)"
            )
        elif record is not None:
            why = f"{task.output.name} is the result of {Path(record.input).name} (earlier runs)"
        else:
            why = (
                f"{task.output.name} exists, but this folder's record of its runs does not "
                "name it (copied without its hidden .deconv-gui folder, or made otherwise): "
                "--skip-existing keeps it, --overwrite replaces it"
            )
        (plan.kept if skip_existing else plan.refused).append((task, why))
    return plan


def local_executor(
    work: PhotoJob,
    *,
    load: Callable[[Path], Photo] = load_image,
    quality: int = 95,
    cancel: Callable[[], bool] | None = None,
) -> Execute:
    """Run the files here, one after another (`restore_files`; outputs replaced: the plan
    has checked them)."""

    def execute(tasks: Sequence[PlannedFile]) -> Generator[FileProgress, None, RunSummary]:
        return restore_files(tasks, work, overwrite=True, load=load, cancel=cancel, quality=quality)

    return execute


def run_batch(
    plan: BatchPlan,
    execute: Execute,
    *,
    manifest: Manifest | None,
    job: JobInfo,
) -> Generator[FileProgress, None, RunSummary]:
    """Run ``plan``: yield `FileProgress` (files with an existing output first, each one
    finished event; then the files to do, indexed after them), record each photo in the
    manifest and return the `RunSummary` (done-before files are in ``skipped``)."""
    start = time.monotonic()
    if manifest is not None:
        manifest.add_job(job.key, job.describe())
        remove_stale_temporaries(t.output for t in [*plan.todo, *(t for t, _ in plan.done)])
    blocked = [*plan.refused, *plan.kept, *plan.not_raw]
    base = len(blocked)
    total = base + len(plan.todo)
    summary = RunSummary()
    for i, (task, why) in enumerate(blocked):
        skipped = i >= len(plan.refused)
        (summary.skipped if skipped else summary.failed).append((task.source, why))
        yield FileProgress(i, total, task.source, finished=True, error=why, skipped=skipped)

    began: dict[int, tuple[float, int, int]] = {}
    run = execute(plan.todo)
    try:
        while True:
            try:
                ev = next(run)
            except StopIteration as stop:
                part: RunSummary = stop.value
                break
            if manifest is not None:
                _note(manifest, job, plan.todo[ev.index], ev, began)
            yield replace(ev, index=ev.index + base, total=total)
    finally:
        run.close()
    if manifest is not None and not part.cancelled:  # e.g. a Ray worker killed mid-write
        remove_stale_temporaries(t.output for t in plan.todo)
    summary.done = part.done
    summary.failed += part.failed
    summary.warned += part.warned
    summary.skipped += part.skipped + [(t.source, DONE_BEFORE) for t, _ in plan.done]
    summary.cancelled = part.cancelled
    summary.stopped = part.stopped
    summary.elapsed = time.monotonic() - start
    return summary


def _note(
    manifest: Manifest,
    job: JobInfo,
    task: PlannedFile,
    ev: FileProgress,
    began: dict[int, tuple[float, int, int]],
) -> None:
    """Record a photo's start (before any work on it) or its end in the manifest."""
    if not ev.finished and ev.tile is None:
        stamp = file_stamp(task.source)
        size, mtime = (stamp.size, stamp.mtime_ns) if stamp else (-1, -1)
        began[ev.index] = (time.monotonic(), size, mtime)
        manifest.add(_record(task, job, "started", size, mtime))
    elif ev.finished and ev.index in began:
        t0, size, mtime = began.pop(ev.index)
        seconds = round(time.monotonic() - t0, 3)
        if ev.output is not None:
            out = file_stamp(ev.output)
            rec = _record(task, job, "done", size, mtime, seconds=seconds)
            manifest.add(replace(rec, output_size=out.size if out else -1))
        else:
            manifest.add(_record(task, job, "failed", size, mtime, ev.error, seconds))


def _record(
    task: PlannedFile,
    job: JobInfo,
    status: str,
    size: int,
    mtime_ns: int,
    error: str = "",
    seconds: float = 0.0,
) -> FileRecord:
    return FileRecord(
        input=str(Path(task.source).absolute()),
        status=status,
        job=job.key,
        output=str(Path(task.output).absolute()),
        size=size,
        mtime_ns=mtime_ns,
        error=error,
        seconds=seconds,
    )
