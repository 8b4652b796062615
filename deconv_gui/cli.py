"""`deconv-gui` entry point.

No arguments, or image paths: open the window. Sub-commands run headless on the same core:
restore, models, metrics, degrade, eval, bench, self-test.

Errors the user can cause print one line (``error: ...``) and exit non-zero; set
``DECONV_GUI_DEBUG=1`` to see tracebacks. While a command runs, the log goes to the log file
in the user folder (`deconv_gui.logs.cli_logging`); warnings about the photos at hand also to
stderr.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from deconv_gui import __version__
from deconv_gui.errors import DeconvError, ImageWriteError, read_reason

if TYPE_CHECKING:
    from deconv_gui.core.batch import OutputSettings
    from deconv_gui.core.inputs import InputFile
    from deconv_gui.core.naming import PlannedFile
    from deconv_gui.core.recipe import Recipe
    from deconv_gui.core.spec import RestoreSpec

_log = logging.getLogger(__name__)

SUBCOMMANDS = (
    "restore",
    "watch",
    "presets",
    "analyze",
    "models",
    "metrics",
    "degrade",
    "eval",
    "finetune",
    "bench",
    "self-test",
)


# ----------------------------------------------------------------------------- helpers
def _print_json(obj: Any) -> None:
    """Strict JSON: a non-finite number (which json.dumps would print as the invalid
    ``Infinity``/``NaN``) is printed as null."""
    print(json.dumps(_finite(obj), indent=2, default=_json_default, allow_nan=False))


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:
        return _finite(obj.item())
    return obj


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _registry():
    from deconv_gui.models.catalog import default_registry

    return default_registry()


def _outputs(
    files: list[Path | InputFile],
    suffix: str,
    output: str | None,
    many: bool,
    ext: str | None = None,
) -> tuple[list[PlannedFile], Path | None]:
    """Where each result goes (named with ``suffix``, extension ``ext`` or the input's):
    next to its original, into the folder ``output`` (several inputs, an existing folder or
    a trailing slash) or, for one input, to the file ``output``. Also returns the output
    folder (where the manifest goes), None when there is none."""
    from deconv_gui.core.inputs import InputFile
    from deconv_gui.core.naming import PlannedFile, output_ext_for, plan_outputs

    if output is None:
        return plan_outputs(files, suffix=suffix, ext=ext), None
    out = Path(output)
    if many or out.is_dir() or output.endswith(("/", os.sep)):
        if out.exists() and not out.is_dir():
            why = "several inputs need a folder" if many else f"{output} asks for a folder"
            raise ImageWriteError(f"output {out} is a file, but {why}")
        _refuse_file_name_as_folder(output, "several inputs need a folder")
        return plan_outputs(files, suffix=suffix, out_dir=out, ext=ext), out
    (only,) = files
    source = only.path if isinstance(only, InputFile) else only
    if ext and out.suffix and out.suffix.lower() != ext.lower():
        jpeg = {".jpg", ".jpeg"}
        if not {out.suffix.lower(), ext.lower()} <= jpeg:
            raise ImageWriteError(
                f"the output format {ext.lstrip('.')} (--format, or the preset's) and the "
                f"output name {out.name} disagree: give one of them"
            )
    above = next((p for p in out.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise ImageWriteError(f"output {out}: {above} is a file, not a folder")
    if not out.suffix:  # neither a file type nor an existing folder: say both ways
        example = out.name + (ext or output_ext_for(source))
        raise ImageWriteError(
            f"output {out} has no file extension: name the file ({example}) or end a "
            f"folder's name with {os.sep} ({out.name}{os.sep})"
        )
    return [PlannedFile(source, out)], None


def _refuse_file_name_as_folder(output: str, why: str) -> None:
    """An output folder that does not exist yet and is named like an image file (``-o
    best.jpg``) is most likely a mistake: refuse it rather than make a folder ``best.jpg``
    (a trailing separator asks for that folder)."""
    from deconv_gui.core.naming import OUTPUT_EXTENSIONS

    out = Path(output)
    trailing = output.endswith(("/", os.sep))
    if not out.exists() and not trailing and out.suffix.lower() in OUTPUT_EXTENSIONS:
        raise ImageWriteError(
            f"output {out} names a file, but {why} "
            f"(write {output}{os.sep} to make a folder of that name)"
        )


def _load_options(args: argparse.Namespace):
    from deconv_gui.models.registry import LoadOptions

    params: dict[str, Any] = {}
    if getattr(args, "kernel", None):
        params["kernel"] = args.kernel
    return LoadOptions(
        device=args.device,
        strength=args.strength,
        allow_fp16=not getattr(args, "fp32", False),
        params=params,
        ensemble=bool(getattr(args, "extra_quality", False)),
    )


def _apply_threads(args: argparse.Namespace) -> None:
    if getattr(args, "threads", None):
        from deconv_gui.core.devices import set_cpu_threads

        set_cpu_threads(args.threads)


def _check_args(args: argparse.Namespace) -> None:
    """The shared option checks (`deconv_gui.core.validate`) on what the command has."""
    from deconv_gui.core import validate as v

    checks = {
        "tile": v.check_tile_size,
        "threads": v.check_threads,
        "seed": v.check_seed,
        "limit": v.check_at_least_one,
        "max_pixels": v.check_at_least_one,
        "steps": v.check_at_least_one,
        "workers": v.check_at_least_one,
        "strength": v.check_finite,
    }
    for attr, check in checks.items():
        value = getattr(args, attr, None)
        if value is not None:
            setattr(args, attr, check(value, "--" + attr.replace("_", "-")))
    device = getattr(args, "device", "auto")
    if device != "auto" and not getattr(args, "cluster", None):
        # before any work, not once per photo (with --cluster it names the workers' device)
        from deconv_gui.core.devices import resolve_device

        try:
            resolve_device(device)
        except DeconvError as e:
            raise DeconvError(f"--device {device}: {e}") from None


def _check_model_options(args: argparse.Namespace, spec: RestoreSpec) -> None:
    """``--strength`` within the model's range (from its card)."""
    from deconv_gui.core.validate import check_strength

    check_strength(spec, args.strength, "--strength")


# ----------------------------------------------------------------------------- commands
def _percent(value: float | None, what: str, default: float) -> float:
    """A 0-100 percentage option as a 0-1 fraction."""
    if value is None:
        return default
    from deconv_gui.core.validate import check_finite

    v = check_finite(value, what)
    if not 0.0 <= v <= 100.0:
        raise DeconvError(f"{what} must be between 0 and 100 (percent), got {value:g}")
    if 0.0 < v < 1.0:  # a recipe file's fraction given here: 0.8 would be 0.8 %
        _log.warning("%s %g is %g %% (percent, 0-100: %g for %g %%)", what, v, v, v * 100, v * 100)
    return v / 100.0


def _recipe_from_args(args: argparse.Namespace, registry) -> Recipe:
    """The recipe a ``restore`` runs: ``--recipe FILE``, ``--preset NAME``, or ``--model
    a[,b...]`` with ``--strength/--kernel`` (for every step). ``--amount`` and ``--detail``
    finish the last step, as the app's sliders do (the result blended with the photo as it
    was before that step), and replace the last step's values of a recipe or preset: given
    to every step, 50 % over two steps would leave about a third of the photo unrestored and
    the second step's Auto would read a half-restored photo. Each step's model must exist
    and its strength fit the model's range."""
    from dataclasses import replace

    from deconv_gui.core.recipe import Recipe, load_recipe, unknown_params
    from deconv_gui.core.validate import check_strength

    amount = _percent(args.amount, "--amount", 1.0)
    detail = _percent(args.detail, "--detail", 0.0)
    preset = getattr(args, "preset", None)
    if args.recipe or preset:
        if args.strength is not None or args.kernel:
            what = "recipe" if args.recipe else "preset"
            raise DeconvError(f"--strength and --kernel go into the {what}'s steps")
        recipe = load_recipe(args.recipe) if args.recipe else _load_preset(preset).recipe
    else:
        if "," in args.model and args.strength is not None:
            raise DeconvError(
                "--strength with several models is ambiguous: give each step its strength "
                "in a recipe file (--recipe)"
            )
        recipe = Recipe.from_models(args.model, strength=args.strength)
        if args.kernel:  # to the steps that take one (a preset saved so must load again)
            recipe = Recipe(
                tuple(
                    replace(st, params={"kernel": args.kernel})
                    if "kernel" in _get_model(registry, st.model).params
                    else st
                    for st in recipe.steps
                ),
            )
    if args.amount is not None or args.detail is not None:
        *head, last = recipe.steps
        last = replace(
            last,
            amount=amount if args.amount is not None else last.amount,
            detail=detail if args.detail is not None else last.detail,
        )
        recipe = Recipe((*head, last), recipe.name)
    takes_kernel = []
    # a recipe's or preset's steps are named as such; from the command line, its options
    source = "the recipe's " if args.recipe else f"preset '{preset}' " if preset else ""
    for i, st in enumerate(recipe.steps, 1):
        spec = _get_model(registry, st.model)
        check_strength(spec, st.strength, f"{source}step {i} strength" if source else "--strength")
        if "kernel" in spec.params:
            takes_kernel.append(st.model)
        kernel = st.params.get("kernel")
        if kernel is not None:
            from deconv_gui.core.degrade import parse_kernel

            parse_kernel(str(kernel))  # a bad one fails here, not on every photo
        if source and "kernel" in st.params and "kernel" not in spec.params:
            raise DeconvError(f"{source}step {i} ({st.model}) takes no blur kernel")
        wrong = unknown_params(st, spec.params) if source else None
        if wrong:
            raise DeconvError(f"{source}step {i} ({st.model}): {wrong}")
    if getattr(args, "kernel", None) and not takes_kernel:
        raise DeconvError(
            f"{', '.join(st.model for st in recipe.steps)} takes no blur kernel (--kernel is "
            "for the deblurring models that are told the blur)"
        )
    return recipe


def _get_model(registry, model_id: str):
    """``registry.get``, where an imported model that can no longer be read is said to be
    broken (with why and how to remove it), not unknown."""
    from deconv_gui.errors import ModelError

    try:
        return registry.get(model_id)
    except ModelError:
        from deconv_gui.models.imported import scan_library

        for name, reason in scan_library()[1]:
            if name == model_id:
                raise ModelError(
                    f"model '{model_id}' is broken: {reason} (deconv-gui models remove {name})"
                ) from None
        raise


def _load_preset(name: str):
    from deconv_gui.core.presets import load_preset

    return load_preset(name)


def _output_from_args(args: argparse.Namespace) -> OutputSettings:
    """How results are written: the preset's settings (``--preset``) or the defaults, each
    replaced by ``--format``, ``--quality``, ``--bit-depth`` and ``--suffix`` when given."""
    from dataclasses import replace

    from deconv_gui.core.batch import OutputSettings
    from deconv_gui.core.validate import OptionError

    preset = getattr(args, "preset", None)
    out = _load_preset(preset).output if preset else OutputSettings()
    given = {
        "format": args.format,
        "quality": args.quality,
        "bit_depth": args.bit_depth,
        "suffix": args.suffix,
    }
    given = {k: v for k, v in given.items() if v is not None}
    named = Path(str(getattr(args, "output", "") or "")).suffix  # -o photo.dng: its type
    lossless = str(given.get("format") or out.format or named or "").lower().lstrip(".")
    # a setting that does nothing is said, not ignored without a word
    if "quality" in given and lossless in ("png", "tif", "tiff", "bmp", "dng"):
        _log.warning(
            "--quality is for JPEG and WebP: %s output is lossless and ignores it",
            lossless.upper(),
        )
    if "bit_depth" in given and lossless == "dng":
        _log.warning(
            "--bit-depth is for developed photos: a DNG holds the sensor's own data at the "
            "camera's bit depth and ignores it"
        )
    try:
        return replace(out, **given)
    except OptionError as e:
        sixteen = out.bit_depth == 16 or given.get("bit_depth") == 16
        fmt = given.get("format") or out.format
        if not sixteen or fmt is None or "bits per channel" not in str(e):
            raise
        # 16 bits asked of an 8-bit format: say which option or preset asked what, and how out
        kind = str(e).split(" holds ")[0]
        if "bit_depth" in given and "format" in given:
            why = f"--bit-depth 16 with --format {args.format}"
            way = "choose --format png or tif, or leave out --bit-depth"
        elif "format" in given:
            why = f"--format {args.format} with preset '{preset}' (16-bit results)"
            way = "add --bit-depth 8, or choose --format png or tif"
        else:
            where = f"preset '{preset}' writes {kind}" if preset else f"{kind} output"
            why = f"--bit-depth 16: {where}"
            way = "add --format png or tif"
        raise OptionError(f"{why}: {kind} holds 8 bits per channel; {way}") from None


def _recipe_suffix(recipe: Recipe, registry) -> str:
    """The output name suffix of a run (one model: its own, e.g. ``_denoised``; several:
    ``_restored``, or ``_restored_xN`` when they enlarge)."""
    from deconv_gui.models.registry import recipe_suffix

    return recipe_suffix(registry.get(st.model) for st in recipe.steps)


class _StopOnSignal:
    """Ctrl+C (or SIGTERM) once: stop at the next tile, cleanly (no partial output; the
    manifest has the photo in progress as started, so the next run redoes it); twice: stop
    at once."""

    def __init__(self) -> None:
        self.stopped = False
        self._old: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.stopped

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.stopped:
            raise KeyboardInterrupt
        self.stopped = True
        print(
            "stopping: a photo in progress, if any, is left for the next run (again: stop at once)",
            file=sys.stderr,
        )

    def __enter__(self) -> _StopOnSignal:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)


def _batch_setup(args: argparse.Namespace):
    """What ``restore`` and ``watch`` share: the registry, the recipe, the output settings,
    the job (what the manifest records), the name suffix and a label for messages."""
    from deconv_gui.core.batch import JobInfo

    if getattr(args, "workers", None) is not None and not args.cluster:
        raise DeconvError("--workers goes with --cluster")
    if args.overwrite and args.skip_existing:
        raise DeconvError(
            "--overwrite replaces existing files, --skip-existing keeps them: give one"
        )
    registry = _registry()
    recipe = _recipe_from_args(args, registry)
    output = _output_from_args(args)
    suffix = output.suffix if output.suffix is not None else _recipe_suffix(recipe, registry)
    job = JobInfo.of(
        recipe, registry.get, output, allow_fp16=not args.fp32, ensemble=args.extra_quality
    )
    label = args.preset or recipe.name or ",".join(st.model for st in recipe.steps)
    return registry, recipe, output, job, suffix, label


def _executor(args, stack, registry, recipe, job, stop):
    """The local executor, or with ``--cluster`` a Ray one (closed with ``stack``)."""
    from deconv_gui.core.batch import local_executor, photo_work

    base = _load_options(args)
    if args.cluster:
        from deconv_gui.cluster import RayExecutor

        return stack.enter_context(
            RayExecutor(
                args.cluster,
                job,
                base,
                tile_size=args.tile,
                max_pixels=args.max_pixels,
                workers=args.workers,
                threads=args.threads,
                cancel=stop,
            )
        )
    from functools import partial

    from deconv_gui.core.io import load_image

    _apply_threads(args)
    work = photo_work(
        recipe,
        registry.get,
        base,
        tile_size=args.tile,
        bit_depth=job.output.bit_depth,
        max_pixels=args.max_pixels,
    )
    load = partial(load_image, max_pixels=args.max_pixels)
    return local_executor(work, load=load, quality=job.output.quality, cancel=stop)


def _start_cluster(execute, reporter) -> None:
    from deconv_gui.cluster import RayExecutor

    if isinstance(execute, RayExecutor):
        info = execute.start()
        reporter.note("cluster", info.text(), workers=info.workers, nodes=info.nodes)


def cmd_restore(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from deconv_gui.core.batch import plan_batch, run_batch, without_outputs
    from deconv_gui.core.inputs import expand_inputs
    from deconv_gui.core.manifest import Manifest
    from deconv_gui.core.naming import OUTPUT_EXTENSIONS, PlannedFile, plan_outputs
    from deconv_gui.progress import BatchReporter

    registry, recipe, output, job, suffix, label = _batch_setup(args)
    _refuse_dng_unless_raw_denoised(output.format, recipe, registry)
    found = expand_inputs(
        args.inputs, recursive=args.recursive, include=args.include, exclude=args.exclude
    )
    for skipped in found.skipped:
        print(f"warning: skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
        if args.json:  # a script reading the events learns of it too
            line = {"event": "skipped", "input": str(skipped.path), "reason": skipped.reason}
            print(json.dumps(line), flush=True)
    # a folder that cannot be listed may hold photos: a failure of the run, not a note
    unlisted = [(u.path, u.reason) for u in found.unlistable]
    for folder in found.empty_folders:
        print(f"warning: no images in folder {folder}", file=sys.stderr)
    files: list[Path | InputFile] = [*found.files, *found.missing]  # the loader says "missing"
    if found.missing and not found.files and not unlisted:  # a mistyped name, said as such
        # (not as a problem of the output name, nor after an output folder was made for it)
        gone = ", ".join(str(m) for m in found.missing)
        what = "file" if all(Path(m).suffix for m in found.missing) else "file or folder"
        raise DeconvError(f"cannot read {gone}: the {what} does not exist")
    if not files:
        if unlisted:
            raise DeconvError(f"{unlisted[0][0]}: {unlisted[0][1]}")
        raise DeconvError("no input images")
    for folder, why in unlisted:
        print(f"error: {folder}: {why}", file=sys.stderr)
    many = len(files) > 1 or any(Path(i).is_dir() for i in args.inputs)
    if many:  # not the results of earlier runs (in an output folder inside, or beside)
        out = Path(args.output) if args.output else None
        files = without_outputs(files, out, suffix=suffix, ext=output.format)
    tasks, out_dir = _outputs(files, suffix, args.output, many, output.format)
    _note_eight_bit(tasks, output.bit_depth)
    if len(tasks) == 1:  # -o NAME.dng, -o NAME.xyz: refused before anything is read
        ext = tasks[0].output.suffix.lower()
        if args.output and ext not in OUTPUT_EXTENSIONS:
            known = ", ".join(sorted(e.lstrip(".") for e in OUTPUT_EXTENSIONS))
            raise DeconvError(
                f"-o {args.output}: cannot write {ext or 'files without an extension'!r} "
                f"(choose one of {known})"
            )
        _refuse_dng_unless_raw_denoised(tasks[0].output.suffix, recipe, registry)
    with ExitStack() as stack:
        manifest = stack.enter_context(Manifest.open(out_dir)) if out_dir is not None else None
        if manifest is not None:  # named again, around the results earlier runs gave
            owners = manifest.owners(getattr(f, "path", f) for f in files)
            tasks = plan_outputs(
                files, suffix=suffix, out_dir=out_dir, ext=output.format, owners=owners
            )
        if args.cluster:  # workers elsewhere see the same paths, not this directory
            tasks = [PlannedFile(t.source.absolute(), t.output.absolute()) for t in tasks]
        # one photo that is not a RAW file is an error of the run, not a skip
        raw_only = job.raw_only and many
        plan = plan_batch(
            tasks,
            manifest,
            job,
            force=args.force,
            overwrite=args.overwrite,
            skip_existing=args.skip_existing,
            raw_only=raw_only,
        )
        stop = stack.enter_context(_StopOnSignal())
        execute = _executor(args, stack, registry, recipe, job, stop)
        reporter = stack.enter_context(BatchReporter(label, json_lines=args.json))
        reporter.plan(plan, out_dir)
        if plan.todo:
            _start_cluster(execute, reporter)
        summary = reporter.drive(run_batch(plan, execute, manifest=manifest, job=job))
        summary.failed += unlisted
        reporter.summary(summary, out_dir=out_dir)
    if summary.cancelled:
        return 130
    if summary.failed:
        if not args.json:
            failed = len(summary.failed) - len(unlisted)
            text = f"{failed} of {len(tasks)} file(s) failed" if failed else ""
            if len(tasks) == 1 and not unlisted:
                text = ""  # one photo: its error line says it all
            if unlisted:
                folders = f"{len(unlisted)} folder(s) could not be listed"
                text = f"{text}; {folders}" if text else folders
            if text:
                print(text, file=sys.stderr)
        return 1
    return 0


def _refuse_dng_unless_raw_denoised(ext: str | None, recipe: Recipe, registry) -> None:
    """A DNG holds sensor data: only a recipe of RAW denoisers makes it (refused before
    any photo is processed, not after each; `core.rawpipe.check_dng_output`)."""
    from deconv_gui.core.rawpipe import check_dng_output

    check_dng_output(ext, [(st.model, registry.get(st.model)) for st in recipe.steps])


def _note_eight_bit(tasks: Sequence[Any], bit_depth: int | None) -> None:
    """16 bits asked of results whose format (the original's) holds 8: say so on stderr."""
    from deconv_gui.core.naming import OUTPUT_EXTENSIONS, SIXTEEN_BIT_EXTENSIONS

    if bit_depth != 16:
        return
    eight = [
        t.output
        for t in tasks
        if t.output.suffix.lower() in OUTPUT_EXTENSIONS - SIXTEEN_BIT_EXTENSIONS
    ]
    if not eight:
        return
    if len(eight) == 1:
        which = f"{eight[0].name} is written with 8 bits per channel: its format holds"
    else:
        which = f"{len(eight)} results ({eight[0].name}...) are written with 8 bits per "
        which += "channel: their format holds"
    print(f"note: {which} no more (--format png or tif keeps 16 bits)", file=sys.stderr)


def cmd_watch(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from deconv_gui.core.watch import watch_folders
    from deconv_gui.progress import BatchReporter

    registry, recipe, output, job, suffix, label = _batch_setup(args)
    _refuse_dng_unless_raw_denoised(output.format, recipe, registry)
    folders = [Path(f).absolute() if args.cluster else Path(f) for f in args.folders]
    out_dir = Path(args.output).absolute() if args.cluster else Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise ImageWriteError(f"output {out_dir} is a file, not a folder")
    _refuse_file_name_as_folder(args.output, "watching needs an output folder")
    for folder in folders:  # before "watching ..." is said
        if not folder.expanduser().is_dir():
            raise DeconvError(f"not a folder to watch: {folder}")
    with ExitStack() as stack:
        stop = stack.enter_context(_StopOnSignal())
        execute = _executor(args, stack, registry, recipe, job, stop)
        reporter = stack.enter_context(BatchReporter(label, json_lines=args.json))
        _start_cluster(execute, reporter)
        if not args.json:
            from deconv_gui.core.manifest import Manifest

            with Manifest.open(out_dir):  # another run writing there: said before "watching"
                pass
            where = ", ".join(str(f) for f in folders)
            reporter.note("watch", f"watching {where} -> {out_dir} (Ctrl+C stops)")
        run = watch_folders(
            folders,
            out_dir,
            job,
            execute,
            suffix=suffix,
            ext=output.format,
            recursive=args.recursive,
            include=args.include,
            exclude=args.exclude,
            settle=args.settle,
            interval=args.interval,
            force=args.force,
            overwrite=args.overwrite,
            skip_existing=args.skip_existing,
            stop=stop,
        )
        summary = reporter.drive(run)
        reporter.summary(summary, out_dir=out_dir)
    return 1 if summary.failed else 0


def cmd_presets(args: argparse.Namespace) -> int:
    from deconv_gui.core import presets as ps

    action = args.action
    if action == "save":
        registry = _registry()
        preset = ps.Preset(
            ps.check_preset_name(args.name),
            _recipe_from_args(args, registry),
            _output_from_args(args),
        )
        existed = (ps.presets_dir() / f"{preset.name}.json").exists()
        path = ps.save_preset(preset)
        print(f"{'replaced' if existed else 'saved'} preset {preset.name!r} ({path})")
        return 0
    if action == "remove":
        ps.remove_preset(args.name)
        print(f"removed preset {args.name!r}")
        return 0
    if action == "show":
        _print_json(ps.load_preset(args.name).to_json())
        return 0
    found, problems = ps.list_presets()
    for line in problems:
        print(f"warning: {line}", file=sys.stderr)
    if args.json:
        _print_json([p.to_json() for p in found])
        return 0
    if not found:
        print("no presets (save one: deconv-gui presets save NAME --model ID ...)")
    width = max((len(p.name) for p in found), default=0)
    for p in found:
        steps = ", ".join(st.model for st in p.recipe.steps)
        out = p.output
        extra = [x for x in (out.format, out.suffix and f"suffix {out.suffix}") if x]
        if out.bit_depth:
            extra.append(f"{out.bit_depth}-bit")
        print(f"{p.name:<{width}}  {steps}{'  (' + ', '.join(extra) + ')' if extra else ''}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from deconv_gui.core.analyze import analyze
    from deconv_gui.core.inputs import expand_inputs
    from deconv_gui.core.io import load_image
    from deconv_gui.models.registry import jpeg_probe, model_for_step, noise_probe
    from deconv_gui.progress import failure_line

    registry = _registry()
    denoiser, jpeg_remover = noise_probe(registry), jpeg_probe(registry)
    found = expand_inputs(args.inputs)
    reports: list[dict[str, Any]] = []
    failures = 0
    for path in [*found.paths, *found.missing]:
        try:
            photo = load_image(path)
        except DeconvError as exc:
            failures += 1
            print(failure_line(path, str(exc)), file=sys.stderr)
            reports.append({"path": str(path), "error": read_reason(str(exc), Path(path).name)})
            continue
        a = analyze(photo.rgb, photo.meta, denoiser=denoiser, jpeg_remover=jpeg_remover)
        report = {"path": str(path), **a.to_json()}
        for step, entry in zip(a.steps, report["steps"], strict=True):
            spec = model_for_step(registry, step.task, step.scale, camera=a.camera, iso=a.iso)
            entry["model"] = spec.id if spec is not None else None
        reports.append(report)
        if not args.json:
            print(f"{path.name}: {a.summary()}")
    if args.json:
        _print_json(reports)
    return 1 if failures else 0


def cmd_models(args: argparse.Namespace) -> int:
    action = args.action
    if action == "import":
        from deconv_gui.models.importer import import_model

        if not args.target:
            raise DeconvError("usage: deconv-gui models import FILE [--name NAME] [--task TASK]")
        spec = import_model(Path(args.target), name=args.name, task=args.task)
        if args.json:
            _print_json(spec.to_json())
        else:
            print(
                f"imported {spec.id}: {spec.name} ({spec.architecture}, {spec.task}, x{spec.scale})"
            )
        return 0
    if action == "remove":
        from deconv_gui.models.importer import remove_model

        if not args.target:
            raise DeconvError("usage: deconv-gui models remove ID")
        remove_model(args.target)
        print(f"removed {args.target}")
        from deconv_gui.core.presets import presets_using

        using = presets_using(args.target)
        if using:  # they fail from now on, naming the removed model
            names = ", ".join(repr(n) for n in using)
            print(
                f"warning: preset(s) {names} use {args.target}, which is gone: they will not "
                "run until they are saved again with another model",
                file=sys.stderr,
            )
        return 0
    if action == "show":
        spec = _registry().get(args.target or "")
        _print_json(spec.to_json())
        return 0
    if action not in (None, "list"):
        raise DeconvError(f"unknown action '{action}' (use list, show, import or remove)")
    from deconv_gui.models.imported import scan_library
    from deconv_gui.models.registry import retired_reason

    specs = list(_registry())
    broken = scan_library()[1]
    if args.json:  # the usable models only (broken entries have no task or scale) ...
        _print_json([s.to_json() for s in specs])
        for name, reason in broken:  # ... and the broken ones said where a person sees them
            print(
                f"note: {name} is broken: {reason} (deconv-gui models remove {name})",
                file=sys.stderr,
            )
        return 0
    width = max([len(s.id) for s in specs] + [len(name) for name, _ in broken], default=10)
    task_width = max([len(s.task) for s in specs], default=8)  # "raw-denoise" is the longest
    for s in specs:
        strength = f"  strength: {s.strength.label}" if s.strength else ""
        why = retired_reason(s)
        retired = f"  RETIRED: {why}" if why else ""
        print(
            f"{s.id:<{width}}  {s.task:<{task_width}}  x{s.scale}  {s.kind:<9}  "
            f"{s.name}{strength}{retired}"
        )
    for name, reason in broken:
        print(f"{name:<{width}}  BROKEN: {reason} (deconv-gui models remove {name})")
    return 0


def _range_for(meta_a, meta_b) -> float:
    return 65535.0 if max(meta_a.bit_depth, meta_b.bit_depth) > 8 else 255.0


def cmd_metrics(args: argparse.Namespace) -> int:
    from deconv_gui.core.io import load_image
    from deconv_gui.core.metrics import psnr, ssim

    a = load_image(Path(args.a))
    b = load_image(Path(args.b))
    if a.rgb.shape != b.rgb.shape:
        raise DeconvError(
            f"images differ in size: {args.a} is {a.width}x{a.height}, "
            f"{args.b} is {b.width}x{b.height}"
        )
    rng = _range_for(a.meta, b.meta)
    # Compare on the integer scale of the files (8-bit: 255, 16-bit: 65535).
    xa, xb = a.rgb * rng, b.rgb * rng
    s, p = ssim(xa, xb, data_range=rng), psnr(xa, xb, data_range=rng)
    identical = not math.isfinite(p)  # PSNR is infinite for identical pixels
    if args.json:  # JSON has no infinity: "psnr" is null then, and "identical" says why
        _print_json({"ssim": s, "psnr": None if identical else p, "identical": identical})
    elif identical:
        print(f"SSIM {s:.4f}  PSNR infinite (the pixels are identical)")
    else:
        print(f"SSIM {s:.4f}  PSNR {p:.2f} dB")
    return 0


def _degrade_spec_from_args(args: argparse.Namespace) -> str:
    parts = []
    if args.spec:
        parts.append(args.spec)
    if args.blur:
        parts.append(f"blur={args.blur}")
    if args.downscale is not None:  # 0 is refused by the spec's range check, not ignored
        parts.append(f"downscale={args.downscale}")
    if args.noise is not None:
        parts.append(f"noise={args.noise}")
    if args.jpeg is not None:
        parts.append(f"jpeg={args.jpeg}")
    if not parts:
        raise DeconvError(
            "say how to degrade: --noise S, --blur SPEC, --downscale N, --jpeg Q or --spec SPEC"
        )
    return ",".join(parts)


def cmd_degrade(args: argparse.Namespace) -> int:
    from deconv_gui.core.degrade import parse_spec
    from deconv_gui.core.io import load_image, save_image
    from deconv_gui.core.pipeline import output_meta

    deg = parse_spec(_degrade_spec_from_args(args))
    if Path(args.output).is_dir():
        raise ImageWriteError(
            f"output {args.output} is a folder: name the file (e.g. {Path(args.output) / 'x.png'})"
        )
    from deconv_gui.core.image import ImageMeta
    from deconv_gui.core.io import check_target

    check_target(Path(args.output), ImageMeta(path=Path(args.input)), args.overwrite)
    photo = load_image(Path(args.input))
    out = deg.apply(photo.rgb, seed=args.seed)
    meta = photo.meta
    if meta.alpha is not None and deg.scale != 1:
        meta = meta.copy(alpha=None)
    meta = output_meta(meta, 1).copy(bit_depth=8)
    written = save_image(Path(args.output), out, meta, overwrite=args.overwrite)
    print(f"{deg} -> {written}")
    return 0


def _eval_raw(args: argparse.Namespace, spec: RestoreSpec) -> int:
    """``eval --raw-iso``: the whole RAW path on synthetic-raw DNGs (`training.raw_testset`),
    scored on the mosaic (RAW models) and on the development."""
    import tempfile

    from deconv_gui.training import raw_eval
    from deconv_gui.training.data import list_images
    from deconv_gui.training.raw_testset import make_dng_set

    if not 25 <= args.raw_iso <= 409_600:
        raise DeconvError(f"--raw-iso must be 25-409600, got {args.raw_iso:g}")
    folder = Path(args.folder)
    if not folder.is_dir():
        raise DeconvError(f"no folder {folder}")
    paths = list_images(folder)[: args.limit]
    if not paths:
        raise DeconvError(f"no photos in {folder}")
    with tempfile.TemporaryDirectory(prefix="deconv-rawset-") as tmp:
        pairs = make_dng_set(paths, args.raw_iso, tmp, seed=args.seed)
        params = {"strength": args.strength} if args.strength is not None else {}
        method = raw_eval.spec_method(
            spec, device=args.device, ensemble=args.extra_quality, **params
        )
        res = raw_eval.evaluate_dng_set(method, pairs, name=spec.id)
        base = raw_eval.evaluate_dng_set(raw_eval.noisy_method, pairs, name="input")
    m, b = res.mean, base.mean
    report = {
        "model": spec.id,
        "raw_iso": args.raw_iso,
        "folder": str(folder),
        "images": len(res.images),
        "extra_quality": args.extra_quality,
        "input": b,
        "output": m,
    }
    if args.json:
        _print_json(report)
        return 0

    def cell(d: dict[str, Any], k: str) -> str:
        return "-" if d[k + "_psnr"] is None else f"{d[k + '_psnr']:.2f} dB / {d[k + '_ssim']:.4f}"

    print(
        f"mean ({len(res.images)} images, ISO {args.raw_iso:g}): mosaic in {cell(b, 'raw')} "
        f"out {cell(m, 'raw')}; developed in {cell(b, 'srgb')} out {cell(m, 'srgb')}   [{spec.id}]"
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from deconv_gui.core.degrade import parse_spec
    from deconv_gui.training.evaluate import evaluate

    spec = _registry().get(args.model)
    _check_model_options(args, spec)
    _apply_threads(args)
    if args.raw_iso is not None:
        return _eval_raw(args, spec)
    deg = parse_spec(args.degrade)
    if int(spec.scale) != deg.scale:  # the result and the clean photo would differ in size
        if spec.scale > 1:
            raise DeconvError(
                f"{spec.id} enlarges x{spec.scale}: measure it on photos made smaller by as "
                f"much (--degrade downscale={spec.scale}, optionally with more steps)"
            )
        raise DeconvError(
            f"{spec.id} does not enlarge, so it cannot undo downscale={deg.scale}: measure an "
            f"x{deg.scale} upscaler, or a --degrade without downscale"
        )
    strength, params = args.strength, {}
    if args.true_kernel or args.kernel:
        if "kernel" not in spec.params:
            raise DeconvError(f"model '{spec.id}' takes no blur kernel")
        kernel = deg.kernel if args.true_kernel else args.kernel
        if kernel is None:
            raise DeconvError("--true-kernel needs exactly one blur step in --degrade")
        params["kernel"] = kernel
        if strength is None and spec.strength is not None and spec.strength.auto:
            strength = max(deg.noise_sigma or 0.0, 0.5)  # told the true noise level too
    result = evaluate(
        spec,
        Path(args.folder),
        deg,
        strength=strength,
        params=params,
        max_images=args.limit,
        seed=args.seed,
        device=args.device,
        tile_size=args.tile,
        reduced_precision=args.reduced_precision,
        ensemble=args.extra_quality,
    )
    for failure in result.failed:  # the loader's message names the photo: not twice
        why = read_reason(failure.error, failure.name)
        print(f"warning: not measured: {failure.name}: {why}", file=sys.stderr)
    report = result.to_json()
    report["model"] = spec.id
    report["degradation"] = str(deg)
    report["extra_quality"] = args.extra_quality
    status = 1 if result.failed else 0  # the mean leaves some photos out: say so in the code
    if args.json:
        _print_json(report)
        return status
    for row in report["images"]:
        print(
            f"{row['name']:<28} in {row['input_psnr']:6.2f} dB / {row['input_ssim']:.4f}"
            f"   out {row['output_psnr']:6.2f} dB / {row['output_ssim']:.4f}"
        )
    m = report["mean"]
    label = f"mean ({len(report['images'])} images)"
    print(
        f"{label:<28} in {m['input_psnr']:6.2f} dB / {m['input_ssim']:.4f}"
        f"   out {m['output_psnr']:6.2f} dB / {m['output_ssim']:.4f}"
        f"   [{spec.id}, {deg}, {report['channel']}, {report['precision']}]"
    )
    return status


def cmd_self_test(args: argparse.Namespace) -> int:
    if args.screenshot and not args.gui:
        raise DeconvError("--screenshot is for the window's self-test: add --gui")
    if args.gui:
        from deconv_gui.gui.selftest import run_gui_self_test

        return run_gui_self_test(Path(args.screenshot) if args.screenshot else None)
    if args.raw:
        return raw_self_test(Path(args.output) if args.output else None)
    return headless_self_test(Path(args.output) if args.output else None)


def raw_self_test(out_dir: Path | None = None) -> int:
    """The RAW path: the sample photo made into a noisy camera RAW file (a synthetic 14-bit
    DNG at ISO 12800), opened, denoised by the RAW denoiser on its mosaic, written as a DNG,
    reopened by LibRaw and checked to be closer to the clean sensor data than the input."""
    import tempfile

    import numpy as np

    from deconv_gui.core.io import load_image
    from deconv_gui.core.pipeline import restore_photo
    from deconv_gui.core.raw import open_raw
    from deconv_gui.core.raw_noise import reference_profile
    from deconv_gui.core.rawpipe import RAW_MOSAIC, save_photo
    from deconv_gui.core.tiling import run_to_end
    from deconv_gui.models.registry import LoadOptions
    from deconv_gui.paths import sample_photo
    from deconv_gui.training.data import read_rgb_u8
    from deconv_gui.training.raw_eval import sample_from_rgb
    from deconv_gui.training.raw_testset import write_pair

    t0 = time.perf_counter()
    spec = _registry().default_for("raw-denoise")
    if spec is None:
        raise DeconvError("self-test: no RAW denoiser registered")
    sample = sample_from_rgb(read_rgb_u8(sample_photo()), "sample", reference_profile(12800), 0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = out_dir or Path(tmp)
        pair = write_pair(sample, folder / "clean.dng", folder / "noisy.dng", 12800)
        photo = load_image(pair.noisy)
        result = run_to_end(restore_photo(spec, photo, LoadOptions(device="cpu")))
        written = save_photo(folder / "denoised.dng", result, overwrite=True)
        back, clean, noisy = open_raw(written), open_raw(pair.clean), open_raw(pair.noisy)
        if not np.array_equal(back.mosaic, result.meta.extra[RAW_MOSAIC]):
            raise DeconvError("self-test: the DNG written does not read back the same")
        ref = clean.normalized()
        err_in = float(np.sqrt(np.mean((noisy.normalized() - ref) ** 2)))
        err_out = float(np.sqrt(np.mean((back.normalized() - ref) ** 2)))
        if not err_out < 0.9 * err_in:
            raise DeconvError(
                f"self-test: the RAW denoiser did not remove noise (RMS {err_in:.4f} -> "
                f"{err_out:.4f})"
            )
    print(
        f"raw self-test ok: {spec.id} on a {photo.width}x{photo.height} DNG (ISO 12800), "
        f"RMS error {err_in:.4f} -> {err_out:.4f}, DNG written and reread, "
        f"{time.perf_counter() - t0:.1f}s"
    )
    return 0


def headless_self_test(out_dir: Path | None = None) -> int:
    """load -> restore -> metrics -> save -> reload on the bundled sample photo."""
    import tempfile

    from deconv_gui.core.io import load_image, save_image
    from deconv_gui.core.metrics import psnr, ssim
    from deconv_gui.core.pipeline import restore_photo
    from deconv_gui.core.tiling import run_to_end
    from deconv_gui.models.registry import LoadOptions
    from deconv_gui.paths import sample_photo

    t0 = time.perf_counter()
    registry = _registry()
    spec = registry.default_for("denoise")
    if spec is None:
        raise DeconvError("self-test: no denoise model registered")
    photo = load_image(sample_photo())
    result = run_to_end(restore_photo(spec, photo, LoadOptions(device="cpu")))
    s, p = ssim(photo.rgb, result.rgb), psnr(photo.rgb, result.rgb)
    if not (0.0 < s <= 1.0) or result.rgb.shape != photo.rgb.shape:
        raise DeconvError(f"self-test: implausible result (SSIM {s})")
    with tempfile.TemporaryDirectory() as tmp:
        dst = (out_dir or Path(tmp)) / "self-test.jpg"
        save_image(dst, result.rgb, result.meta, overwrite=True)
        back = load_image(dst)
        if back.meta.exif is None or back.meta.icc_profile is None:
            raise DeconvError("self-test: EXIF or ICC profile lost on save")
        if back.rgb.shape != result.rgb.shape:
            raise DeconvError("self-test: saved image has the wrong size")
    print(
        f"self-test ok: {spec.id} on {photo.width}x{photo.height} sample, "
        f"SSIM to input {s:.4f}, PSNR {p:.2f} dB, {len(registry)} models, "
        f"{time.perf_counter() - t0:.1f}s"
    )
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from deconv_gui.training.finetune import run_finetune_cli

    _apply_threads(args)
    if args.frames and not args.noisy_raw:
        raise DeconvError("--frames goes with --noisy-raw (a camera's dark and flat frames)")
    if args.pairs:
        mode, paths = "pairs", list(args.pairs)
    elif args.clean:
        if not args.degrade:
            raise DeconvError(
                "--clean needs --degrade SPEC (e.g. noise=10-30 or blur=gaussian:1-2)"
            )
        mode, paths = "clean", [args.clean]
    elif args.noisy_raw:
        mode, paths = "noisy_raw", [args.noisy_raw] + ([args.frames] if args.frames else [])
    else:
        mode, paths = "noisy", [args.noisy]
    return run_finetune_cli(
        args.base, mode, paths, args.degrade, args.steps, args.name, args.device, args.json,
        lr=args.lr, minutes=args.minutes, skip_mismatched=args.skip_mismatched,
    )  # fmt: skip


def cmd_bench(args: argparse.Namespace) -> int:
    from deconv_gui import bench

    return bench.main(args.what, args.rest)


# ----------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse with one ``error:`` line (no usage dump) for a bad command line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="deconv-gui",
        description="Photo restoration: denoise, upscale, deblur. No sub-command opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"deconv-gui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def device_opts(p: argparse.ArgumentParser, *, precision: bool = True) -> None:
        p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
        p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
        p.add_argument("--tile", type=int, default=None, help="tile size in pixels (default: auto)")
        p.add_argument(
            "--extra-quality",
            action="store_true",
            help="networks average eight flipped passes over each tile: a little cleaner and "
            "sharper, about 8x slower",
        )
        if not precision:  # eval: float32 unless --reduced-precision
            return
        p.add_argument(
            "--fp32",
            action="store_true",
            help="always float32 (no float16 on GPUs / bfloat16 on CPUs for models that allow it)",
        )

    def recipe_opts(p: argparse.ArgumentParser, *, preset: bool = True) -> None:
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--model", metavar="ID[,ID...]", help="a model, or several run in order (a,b,c)"
        )
        which.add_argument("--recipe", metavar="FILE", help="a recipe (JSON) of steps to run")
        if preset:
            which.add_argument(
                "--preset", metavar="NAME", help="a saved preset (deconv-gui presets list)"
            )
        p.add_argument("--strength", type=float, default=None)
        p.add_argument(
            "--amount",
            type=float,
            default=None,
            metavar="PERCENT",
            help="0-100: blend the result with the photo as it was before the last model "
            "(default 100)",
        )
        p.add_argument(
            "--detail",
            type=float,
            default=None,
            metavar="PERCENT",
            help="0-100: give back fine detail the model removed with the noise (default 0)",
        )
        p.add_argument(
            "--kernel",
            help="blur kernel for classical deblur, e.g. gaussian:2, motion:15:30, disk:4",
        )
        out = p.add_argument_group("how results are written (a preset's, replaced when given)")
        out.add_argument(
            "--format",
            metavar="EXT",
            help="jpg, png, tif, webp, dng (RAW denoiser)... (default: the input's where we "
            "write it; tif for camera RAW, jpg for HEIC, else png)",
        )
        out.add_argument("--quality", type=int, metavar="Q", help="JPEG/WebP quality 1-100 (95)")
        out.add_argument(
            "--bit-depth",
            type=int,
            choices=(8, 16),
            help="8 or 16 bits (PNG, TIFF); default: the input's",
        )
        out.add_argument("--suffix", help="name suffix (default: by task, e.g. _denoised)")

    def batch_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--recursive",
            "-r",
            action="store_true",
            help="also the photos in sub-folders of a folder (kept below the output folder)",
        )
        p.add_argument(
            "--include",
            action="append",
            default=[],
            metavar="PATTERN",
            help="only photos whose name or path below the folder matches (e.g. '*.jpg', "
            "'2023/*'); repeatable",
        )
        p.add_argument(
            "--exclude",
            action="append",
            default=[],
            metavar="PATTERN",
            help="leave these out; repeatable",
        )
        p.add_argument(
            "--force",
            action="store_true",
            help="redo photos the output folder's manifest has as done",
        )
        p.add_argument(
            "--overwrite",
            action="store_true",
            help="allow replacing existing files not made by a run",
        )
        p.add_argument(
            "--skip-existing",
            action="store_true",
            help="keep existing files not made by this folder's runs and skip their photos "
            "(a copy of an output folder without its .deconv-gui record, results made by "
            "hand); as the app does",
        )
        p.add_argument("--max-pixels", type=int, default=250_000_000, help="refuse larger images")
        p.add_argument("--json", action="store_true", help="one JSON object per event on stdout")
        p.add_argument(
            "--cluster",
            metavar="ADDRESS",
            help="run on Ray workers: local, ray://HOST:PORT, HOST:PORT or auto "
            "(needs pip install 'deconv-gui[cluster]')",
        )
        p.add_argument(
            "--workers",
            type=int,
            help="with --cluster: how many (default: one per GPU, else per node)",
        )
        device_opts(p)

    p = sub.add_parser("restore", help="restore images or folders with a model")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--output", "-o", metavar="FILE_OR_DIR")
    recipe_opts(p)
    batch_opts(p)
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser(
        "watch", help="process photos as they arrive in folders, until stopped (Ctrl+C)"
    )
    p.add_argument("folders", nargs="+", metavar="IN_DIR")
    p.add_argument("--output", "-o", metavar="OUT_DIR", required=True)
    p.add_argument(
        "--settle",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="a photo is complete when its size and time have not changed for this long (2)",
    )
    p.add_argument(
        "--interval", type=float, default=1.0, metavar="SECONDS", help="how often to look (1)"
    )
    recipe_opts(p)
    batch_opts(p)
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("presets", help="list, show, save or remove named presets")
    psub = p.add_subparsers(dest="action", metavar="ACTION")
    q = psub.add_parser("list", help="the saved presets")
    q.add_argument("--json", action="store_true")
    q = psub.add_parser("show", help="a preset as JSON")
    q.add_argument("name")
    q = psub.add_parser("save", help="save (or replace) a preset")
    q.add_argument("name")
    recipe_opts(q, preset=False)
    q = psub.add_parser("remove", help="remove a preset")
    q.add_argument("name")
    p.set_defaults(func=cmd_presets, action="list", json=False)

    p = sub.add_parser("analyze", help="measure photos and suggest what to do with them")
    p.add_argument("inputs", nargs="+", metavar="PHOTO")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("models", help="list, show, import or remove models")
    p.add_argument("action", nargs="?", choices=("list", "show", "import", "remove"))
    p.add_argument("target", nargs="?", help="model file (import) or id (show/remove)")
    p.add_argument("--name")
    p.add_argument("--task")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("metrics", help="SSIM and PSNR of two same-size images")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("degrade", help="make a degraded copy (noise, blur, downscale, JPEG)")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--noise", type=float, help="Gaussian noise sigma on the 0-255 scale")
    p.add_argument("--blur", help="gaussian:SIGMA | motion:LENGTH:ANGLE | disk:RADIUS")
    p.add_argument("--downscale", type=int, help="bicubic downscale factor")
    p.add_argument("--jpeg", type=int, help="JPEG quality")
    p.add_argument("--spec", help="full degradation spec, e.g. blur=gaussian:2,noise=2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_degrade)

    p = sub.add_parser("eval", help="degrade clean photos, restore, report PSNR/SSIM")
    p.add_argument("folder")
    p.add_argument("--model", required=True, metavar="ID")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--degrade", metavar="SPEC", help="e.g. noise=25 or downscale=4")
    what.add_argument(
        "--raw-iso",
        type=float,
        metavar="ISO",
        help="synthetic raw: the clean photos unprocessed to a camera's mosaic with a full-frame "
        "sensor's noise at ISO, written as DNG files, read, restored and developed",
    )
    p.add_argument("--strength", type=float, default=None)
    p.add_argument(
        "--true-kernel",
        action="store_true",
        help="give non-blind deblur models the kernel used by --degrade",
    )
    p.add_argument("--kernel", help="blur kernel for non-blind deblur models, e.g. gaussian:2")
    p.add_argument("--limit", type=int, default=None, help="first N images only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--reduced-precision",
        action="store_true",
        help="measure in the precision the app uses by default here (bfloat16 on CPUs where "
        "it is fast, float16 on GPUs) instead of float32",
    )
    device_opts(p, precision=False)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("finetune", help="train a model further on your own photos")
    p.add_argument("--base", required=True, metavar="ID", help="a bundled or fine-tuned network")
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--pairs", nargs=2, metavar=("LQ_DIR", "GT_DIR"), help="before/after folders")
    p.add_argument(
        "--skip-mismatched",
        action="store_true",
        help="with --pairs: train on the pairs that match, leaving out photos without a "
        "partner or of another size (by default such folders are refused)",
    )
    data.add_argument("--clean", metavar="DIR", help="clean photos, degraded with --degrade")
    data.add_argument("--noisy", metavar="DIR", help="noisy photos only (self-supervised)")
    data.add_argument(
        "--noisy-raw", metavar="DIR",
        help="your camera's noisy RAW files only: learn your camera (base: redunet-raw-denoise)",
    )  # fmt: skip
    p.add_argument(
        "--frames", metavar="DIR",
        help="with --noisy-raw: the camera's dark frames (lens cap on) and flat frames (a white "
        "wall, out of focus), measured for its noise only",
    )  # fmt: skip
    p.add_argument("--degrade", metavar="SPEC", help="with --clean: e.g. noise=10-30,jpeg=40-80")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--minutes", type=float, default=None,
                   help="train for this long (at most --steps steps)")  # fmt: skip
    p.add_argument("--lr", type=float, default=None, help="learning rate (default 2e-4)")
    p.add_argument("--name", default=None,
                   help="the new model's name (default: the camera's name for --noisy-raw)")  # fmt: skip
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", action="store_true", help="last line: a JSON object")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("bench", help="benchmarks (ssim, restore)")
    p.add_argument("what", choices=("ssim", "restore"))
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("self-test", help="load, restore, measure and save the sample photo")
    p.add_argument("--gui", action="store_true", help="drive the real window (offscreen works)")
    p.add_argument("--screenshot", help="with --gui: save a screenshot of the window here")
    p.add_argument("--output", help="keep the restored sample in this folder")
    p.add_argument(
        "--raw",
        action="store_true",
        help="the RAW path: a synthetic noisy DNG denoised on its mosaic and written as DNG",
    )
    p.set_defaults(func=cmd_self_test)
    return parser


def _unknown_command(word: str) -> str | None:
    """Why ``word`` (the first argument, not a sub-command) cannot be a path to open; None
    when it can: it exists, has a folder separator or an image file's extension."""
    from deconv_gui.core.io import is_image_path

    if Path(word).expanduser().exists() or is_image_path(word) or "/" in word or os.sep in word:
        return None
    close = difflib.get_close_matches(word, SUBCOMMANDS, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"commands: {', '.join(SUBCOMMANDS)}"
    return f"unknown command '{word}' ({hint}); a photo to open must exist"


def _run_gui(paths: Iterable[str]) -> int:
    from deconv_gui.gui.app import run_app

    return run_app(list(paths))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = bool(os.environ.get("DECONV_GUI_DEBUG"))
    try:
        if not argv or (argv[0] not in SUBCOMMANDS and not argv[0].startswith("-")):
            unknown = _unknown_command(argv[0]) if argv else None
            if unknown:
                print(f"error: {unknown}", file=sys.stderr)
                return 2
            return _run_gui(argv)
        args = build_parser().parse_args(argv)
        if not getattr(args, "func", None):
            return _run_gui([])
        _check_args(args)
        from deconv_gui.logs import cli_logging

        with cli_logging():
            return int(args.func(args))
    except DeconvError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        if "--json" in argv:  # a script reading stdout gets the reason too, as JSON
            print(json.dumps({"event": "error", "error": str(exc)}), flush=True)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `deconv-gui models --json | head`: the reader has gone
        with suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # nothing more to flush at exit
        return 141
    except Exception as exc:  # a bug: one line, the traceback with DECONV_GUI_DEBUG=1
        if debug:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (set DECONV_GUI_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
