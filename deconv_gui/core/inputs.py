"""Which photos a list of paths means: `expand_inputs`, the one folder lister.

Files are taken as given; folders are replaced by the photos they hold (their extension in
`deconv_gui.core.io.READ_EXTENSIONS`, the one extension set), sorted, optionally with their
sub-folders. Each photo keeps the folder it was found under and its path below it, so
outputs can mirror a folder tree (`deconv_gui.core.naming.plan_outputs`). Hidden files and
folders (a leading dot) are left out. Nothing is ever opened: special files (named pipes,
devices, sockets) would block or never end, so they are listed as skipped with the reason,
and links to folders are not followed.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deconv_gui.core.io import is_image_path

__all__ = ["InputFile", "Inputs", "SkippedInput", "expand_inputs"]


@dataclass(frozen=True)
class InputFile:
    """A photo to process: ``path``, the folder argument it was found under (``root``, None
    when the file itself was given) and its path below that folder (``relative``; just the
    name for a file given directly)."""

    path: Path
    root: Path | None
    relative: Path


@dataclass(frozen=True)
class SkippedInput:
    path: Path
    reason: str


@dataclass
class Inputs:
    """What `expand_inputs` found.

    ``files``: the photos, in order. ``missing``: paths given that do not exist (callers
    report them per file). ``skipped``: entries that are not regular files, each with its
    reason. ``unlistable``: folders (given, or sub-folders of a recursive listing) that
    could not be listed, with the reason: photos in them may have been left out, so callers
    treat them as failures, not notes. ``empty_folders``: folder arguments that were listed
    and hold no photo.
    """

    files: list[InputFile] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)
    skipped: list[SkippedInput] = field(default_factory=list)
    unlistable: list[SkippedInput] = field(default_factory=list)
    empty_folders: list[Path] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        return [f.path for f in self.files]


def expand_inputs(
    paths: Iterable[str | os.PathLike[str]],
    *,
    recursive: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Inputs:
    """The photos that ``paths`` (files and folders) mean.

    ``recursive``: also list sub-folders. ``include`` / ``exclude``: glob patterns
    (``*.jpg``, ``raw/*``) matched against each photo's name and its path below the folder
    argument, without regard to case (``*.jpg`` takes a camera's ``IMG_0001.JPG``); with
    ``include``, only matching photos are kept. A file given directly is kept
    whatever its extension (the loader then says whether it can read it).
    """
    found = Inputs()
    seen: set[str] = set()

    def keep(item: InputFile) -> None:
        key = os.path.normcase(os.path.abspath(item.path))
        if key not in seen and _wanted(item, include, exclude):
            seen.add(key)
            found.files.append(item)

    for raw in paths:
        p = Path(raw).expanduser()
        try:
            st = os.stat(p)
        except FileNotFoundError:
            if p.is_symlink():
                found.skipped.append(SkippedInput(p, "a broken link"))
            else:
                found.missing.append(p)
            continue
        except OSError:  # no permission to look: the loader says why, per file
            keep(InputFile(p, None, Path(p.name)))
            continue
        if stat.S_ISDIR(st.st_mode):
            before, unlisted = len(found.files), len(found.unlistable)
            for item in _list_folder(p, recursive, found.skipped, found.unlistable):
                keep(item)
            if len(found.files) == before and not (
                found.unlistable[unlisted:] and found.unlistable[unlisted].path == p
            ):
                found.empty_folders.append(p)
        elif stat.S_ISREG(st.st_mode):
            keep(InputFile(p, None, Path(p.name)))
        else:
            found.skipped.append(SkippedInput(p, _special_reason(st.st_mode)))
    return found


def _list_folder(
    root: Path, recursive: bool, skipped: list[SkippedInput], unlistable: list[SkippedInput]
) -> list[InputFile]:
    out: list[InputFile] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            unlistable.append(SkippedInput(folder, f"cannot list the folder: {_why(e)}"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows links
                is_file = not is_dir and entry.is_file()
                mode = 0 if is_dir or is_file else entry.stat().st_mode  # a special file?
            except OSError as e:
                if is_image_path(path):
                    reason = "a broken link" if entry.is_symlink() else _why(e)
                    skipped.append(SkippedInput(path, reason))
                continue
            if is_dir:
                if not recursive:
                    continue
                if entry.is_symlink():
                    skipped.append(SkippedInput(path, "a link to a folder (not followed)"))
                else:
                    pending.append(path)
            elif is_file:
                if is_image_path(path):
                    out.append(InputFile(path, root, path.relative_to(root)))
            elif is_image_path(path):
                skipped.append(SkippedInput(path, _special_reason(mode)))
    out.sort(key=lambda f: f.path)
    return out


def _wanted(item: InputFile, include: Sequence[str], exclude: Sequence[str]) -> bool:
    names = (item.path.name.casefold(), item.relative.as_posix().casefold())

    def matches(patterns: Sequence[str]) -> bool:  # fnmatch.fnmatch minds case on POSIX
        return any(fnmatch.fnmatchcase(n, pat.casefold()) for pat in patterns for n in names)

    return (not include or matches(include)) and not matches(exclude)


def _special_reason(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file"
    return "not a regular file"


def _why(e: OSError) -> str:
    return e.strerror.lower() if e.strerror else type(e).__name__
