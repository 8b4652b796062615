"""Where results go: `output_path_for` for one photo and `plan_outputs` for a whole run.

A result is named ``<stem><suffix><ext>``: the suffix says what was done (``_denoised``,
``_x4``...), the extension is the input's own when we can write it, else a close one (HEIC
and HEIF -> ``.jpg``, anything else -> ``.png``). Names longer than a file system allows
(255 bytes) are shortened by cutting the stem, never the suffix or the extension.

`plan_outputs` names every output of a run up front so that no two collide (compared
without regard to case, as macOS and Windows do) and none lands on an input of the run:
- outputs go next to each original, or into one output folder;
- photos found in sub-folders of a folder argument (a recursive listing) keep their
  sub-folder below the output folder;
- any name still taken gets a number: ``x_denoised.jpg``, ``x_denoised-2.jpg``...;
- with an output folder's manifest (``owners``: the names earlier runs gave), a name that
  holds another photo's result is taken too, and a photo whose result already has a name
  keeps it (``x.bmp`` added after ``x.jpg`` was done gets ``x_x2-2.png``, not ``x.jpg``'s).
The file system is not consulted: whether an existing file may be replaced is the run's
decision (`deconv_gui.core.pipeline.restore_files`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from deconv_gui.core.inputs import InputFile
from deconv_gui.core.io import WRITE_EXTENSIONS
from deconv_gui.core.raw import RAW_EXTENSIONS
from deconv_gui.core.validate import OptionError

__all__ = [
    "MAX_NAME_BYTES",
    "OUTPUT_EXTENSIONS",
    "OUTPUT_EXT_FOR",
    "SIXTEEN_BIT_EXTENSIONS",
    "PlannedFile",
    "check_suffix",
    "first_choice_output",
    "output_ext_for",
    "output_path_for",
    "plan_outputs",
]

#: Longest file name (bytes, UTF-8) we write: ext4, APFS, NTFS and exFAT all take 255.
MAX_NAME_BYTES = 255
#: Output extension for inputs we cannot write back in their own format (others: ``.png``).
OUTPUT_EXT_FOR = {
    ".heic": ".jpg",
    ".heif": ".jpg",
    ".jpe": ".jpg",
    ".jfif": ".jpg",
    ".dib": ".bmp",
    **dict.fromkeys(RAW_EXTENSIONS, ".tif"),  # a RAW's render keeps its 16 bits
}
_MAX_SUFFIX_BYTES = 64
#: what an output may be asked to be: the image formats, and DNG for a RAW denoiser's result
#: (`core.rawpipe.save_photo`); never chosen by default
OUTPUT_EXTENSIONS = WRITE_EXTENSIONS | {".dng"}
#: outputs that hold 16 bits per channel (a DNG keeps the sensor's own depth); the others
#: (JPEG, WebP, BMP) are written with 8
SIXTEEN_BIT_EXTENSIONS = frozenset({".png", ".tif", ".tiff", ".dng"})


@dataclass(frozen=True)
class PlannedFile:
    """One photo of a run: where it comes from and where its result goes."""

    source: Path
    output: Path


def output_ext_for(input_path: str | os.PathLike[str]) -> str:
    """The input's extension when we can write it (case kept), else `OUTPUT_EXT_FOR`'s."""
    ext = Path(input_path).suffix
    low = ext.lower()
    return ext if low in WRITE_EXTENSIONS else OUTPUT_EXT_FOR.get(low, ".png")


def check_suffix(suffix: str) -> str:
    """A name suffix must stay in the file name: no folder separators, no control
    characters, at most 64 bytes."""
    bad = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    if any(c in bad or ord(c) < 32 for c in suffix):
        raise OptionError(f"the name suffix {suffix!r} must not contain '/', '\\' or controls")
    if len(os.fsencode(suffix)) > _MAX_SUFFIX_BYTES:
        raise OptionError(f"the name suffix must be at most {_MAX_SUFFIX_BYTES} bytes")
    return suffix


def _normalised_ext(ext: str) -> str:
    ext = ext if ext.startswith(".") else "." + ext
    if ext.lower() not in OUTPUT_EXTENSIONS:
        raise OptionError(
            f"cannot write {ext!r} files (choose one of {', '.join(sorted(OUTPUT_EXTENSIONS))})"
        )
    return ext


def _fit(stem: str, tail: str) -> str:
    """``stem + tail``, the stem cut (at a character boundary) to fit `MAX_NAME_BYTES`."""
    budget = MAX_NAME_BYTES - len(os.fsencode(tail))  # tail: 64-byte suffix at most
    raw = os.fsencode(stem)
    if len(raw) > budget:  # a cut inside a character (or an undecodable byte) is dropped
        stem = raw[:budget].decode("utf-8", "ignore").rstrip() or "_"
    return stem + tail


def output_path_for(
    input_path: str | os.PathLike[str],
    suffix: str = "_restored",
    ext: str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Where the result of one photo goes: ``<out_dir>/<stem><suffix><ext>``.

    ``ext`` defaults to `output_ext_for` the input; ``out_dir`` to the input's folder. A
    name too long for the file system has its stem shortened.
    """
    src = Path(input_path)
    ext = output_ext_for(src) if ext is None else _normalised_ext(ext)
    folder = Path(out_dir) if out_dir is not None else src.parent
    return folder / _fit(src.stem, check_suffix(suffix) + ext)


def plan_outputs(
    inputs: Iterable[InputFile | str | os.PathLike[str]],
    *,
    suffix: str,
    out_dir: str | os.PathLike[str] | None = None,
    ext: str | None = None,
    owners: Mapping[str, str] | None = None,
) -> list[PlannedFile]:
    """Name the result of every input of a run, none colliding with another or with an input.

    ``inputs``: `InputFile` records (from `expand_inputs`) or plain paths. Without
    ``out_dir`` each result goes next to its original; with it, photos found in sub-folders
    of a folder argument keep their sub-folder below ``out_dir``. A name already taken in
    the run gets ``-2``, ``-3``... after the suffix. ``owners`` (output -> input, absolute
    paths: `core.manifest.Manifest.owners`) are names earlier runs gave: one another input
    holds is taken, and an input that holds one of its candidates keeps it.
    """
    check_suffix(suffix)
    forced_ext = None if ext is None else _normalised_ext(ext)
    items = [i if isinstance(i, InputFile) else _given(Path(i)) for i in inputs]
    # names are compared case-folded (a case-insensitive disk holds one of IMG_x.jpg and
    # img_x.jpg), photos as the file system tells them apart (IMG.jpg and img.JPG are two
    # photos on a case-sensitive one, each the owner of its own result)
    held = {_fold(out): src for out, src in (owners or {}).items()}
    taken = {_key(i.path) for i in items}

    def candidates(item: InputFile) -> Iterator[Path]:
        n = 1
        while True:
            yield _result_path(item, suffix, out_dir, forced_ext, n)
            n += 1

    chosen: dict[int, Path] = {}
    holders = set(held.values())
    for i, item in enumerate(items):  # first the names earlier runs gave these inputs
        if (me := _photo_key(item.path)) not in holders:
            continue
        # names are given lowest number first, so the one it was given follows names that
        # were held too: look no further than the first that nobody holds
        for dst in candidates(item):
            holder = held.get(_key(dst))
            if holder is None:
                break
            if holder == me and _key(dst) not in taken:
                chosen[i] = dst
                taken.add(_key(dst))
                break
    plan: list[PlannedFile] = []
    for i, item in enumerate(items):
        if i not in chosen:
            me = _photo_key(item.path)
            chosen[i] = next(
                dst
                for dst in candidates(item)
                if _key(dst) not in taken and held.get(_key(dst), me) == me
            )
            taken.add(_key(chosen[i]))
        plan.append(PlannedFile(item.path, chosen[i]))
    return plan


def _result_path(
    item: InputFile,
    suffix: str,
    out_dir: str | os.PathLike[str] | None,
    forced_ext: str | None,
    n: int = 1,
) -> Path:
    """``item``'s result with counter ``n`` (1: none, 2: ``-2``...)."""
    src = item.path
    folder = src.parent if out_dir is None else Path(out_dir) / item.relative.parent
    counter = f"-{n}" if n > 1 else ""
    return folder / _fit(src.stem, f"{suffix}{counter}{forced_ext or output_ext_for(src)}")


def first_choice_output(
    item: InputFile,
    *,
    suffix: str,
    out_dir: str | os.PathLike[str] | None = None,
    ext: str | None = None,
) -> Path:
    """Where `plan_outputs` puts ``item``'s result when no other name of the run is in the
    way (no ``-2`` counter)."""
    return _result_path(item, suffix, out_dir, None if ext is None else _normalised_ext(ext))


def _given(path: Path) -> InputFile:
    return InputFile(path, None, Path(path.name))


def _key(path: Path) -> str:
    return _fold(os.path.normcase(os.path.abspath(path)))


def _photo_key(path: Path) -> str:
    """A photo as `core.manifest.path_key` names it (the owners' values)."""
    return os.path.normcase(os.path.abspath(path))


def _fold(key: str) -> str:
    return key.casefold()
