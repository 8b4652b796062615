"""The output folder's record of what a batch did: `Manifest` (DESIGN.md section 7).

A run into an output folder keeps ``OUT/.deconv-gui/manifest.jsonl``: JSON lines, appended
and fsynced one at a time, never rewritten. Two kinds of line:

- a *job* line, once per distinct job: its key, the recipe, each model's version, the
  options and the output settings (what shaped the results);
- a *file* line per event of one photo: its input path, size and mtime, the job key, the
  output path (relative to the output folder, which can be moved), and ``status``: ``started`` (written before any work), ``done`` (with the
  output's size) or ``failed`` (with the one-line reason).

The latest file line naming an output is that output's state (one input can have several
outputs: jobs with other models or formats into the same folder). A rerun skips an input
when the latest line naming its output is ``done`` for this input, the same job, the same
input size and mtime, and that output is still there with the recorded size; anything else
is redone. An output that the manifest names as this input's is ours to replace (outputs are
written atomically, so one ``started`` but not finished is either complete or absent); one
it names as another input's is that photo's result, and a new photo's result is named
around it (`owners`, given to `core.naming.plan_outputs`).

Why JSON lines and not SQLite: the output folder of a cluster run sits on a shared (network)
file system, where SQLite's WAL mode does not work and its locking is unreliable; an
append-only text file needs nothing but ``write`` + ``fsync``, survives ``kill -9`` at any
moment (a torn last line is ignored when read) and can be read with ``grep`` or ``jq``. One
process writes a manifest at a time (the driver, never the Ray workers): `Manifest.open`
takes a lock file beside it (`filelock`, released by the OS when a process dies).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from deconv_gui.core.io import make_folder, same_file, temporary_of, temporary_stem
from deconv_gui.errors import DeconvError, ImageWriteError

__all__ = [
    "MANIFEST_DIR",
    "MANIFEST_NAME",
    "recorded_outputs",
    "FileRecord",
    "Manifest",
    "ManifestLockedError",
    "Stamp",
    "file_stamp",
    "model_version",
    "path_key",
    "remove_stale_temporaries",
]

#: Hidden folder in the output folder (hidden names are never listed as photos).
MANIFEST_DIR = ".deconv-gui"
MANIFEST_NAME = "manifest.jsonl"
_LOCK_NAME = "manifest.lock"
MANIFEST_VERSION = 1
STATUSES = ("started", "done", "failed")


class ManifestLockedError(DeconvError):
    """Another run is writing into the same output folder."""


@dataclass(frozen=True)
class Stamp:
    """What says a file changed: its size and modification time (nanoseconds)."""

    size: int
    mtime_ns: int


def file_stamp(path: str | os.PathLike[str]) -> Stamp | None:
    """The file's `Stamp`, or None when it cannot be looked at."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return Stamp(int(st.st_size), int(st.st_mtime_ns))


def path_key(path: str | os.PathLike[str]) -> str:
    """How the manifest names a file: absolute, case-folded where the OS ignores case."""
    return os.path.normcase(os.path.abspath(path))


def _moved_or_same(old: str, new: Path) -> bool:
    """``old`` (a recorded input) is no longer there, or is the file ``new`` is."""
    return not os.path.exists(old) or same_file(Path(old), new)


def model_version(spec: object) -> str:
    """A model's version for the manifest: the weights' hash its card records (imported
    models), else the card's ``version``, else a digest of the whole card (bundled networks:
    retrained weights come with a new card; classical models: their settings)."""
    card = getattr(spec, "card", None) or {}
    if isinstance(card, dict):
        for key in ("sha256", "version"):
            if card.get(key):
                return f"{key}:{card[key]}"
    text = json.dumps(card, sort_keys=True, default=str)
    return "card:" + hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FileRecord:
    """One line about one photo (see the module doc)."""

    input: str
    status: str
    job: str
    output: str
    size: int = -1
    mtime_ns: int = -1
    output_size: int = -1
    error: str = ""
    seconds: float = 0.0
    time: float = field(default_factory=time.time)
    host: str = field(default_factory=socket.gethostname)

    @property
    def stamp(self) -> Stamp:
        return Stamp(self.size, self.mtime_ns)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "file", "v": MANIFEST_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileRecord:
        return cls(
            input=str(data["input"]),
            status=str(data["status"]),
            job=str(data["job"]),
            output=str(data["output"]),
            size=int(data.get("size", -1)),
            mtime_ns=int(data.get("mtime_ns", -1)),
            output_size=int(data.get("output_size", -1)),
            error=str(data.get("error", "")),
            seconds=float(data.get("seconds", 0.0)),
            time=float(data.get("time", 0.0)),
            host=str(data.get("host", "")),
        )


class Manifest:
    """The manifest of one output folder, open for a run (a context manager).

    `open` creates the folder when needed, takes the lock (`ManifestLockedError` when another
    run holds it) and reads what earlier runs recorded; `add` appends a file line, `add_job`
    a job line (once per key). Lines that cannot be read are ignored: ``torn`` counts those
    cut short (a run killed while writing one: expected, nothing lost but that event),
    ``damaged_lines`` the numbers of the others (edited or corrupted: the photos they were
    about are no longer known, see `warning`).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(os.path.abspath(folder))
        self.path = self.folder / MANIFEST_DIR / MANIFEST_NAME
        self.torn = 0
        self.damaged_lines: list[int] = []
        self._latest: dict[str, FileRecord] = {}
        self._by_output: dict[str, FileRecord] = {}  # path_key(output) -> latest record
        self._jobs: dict[str, dict[str, Any]] = {}
        self._fp: IO[bytes] | None = None
        self._cut = False  # a write failed: the file may end inside a line
        self._lock: Any = None

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> Manifest:
        m = cls(folder)
        m._open()
        return m

    def _open(self) -> None:
        from filelock import FileLock, Timeout

        meta_dir = self.path.parent
        try:
            make_folder(meta_dir)
        except ImageWriteError as e:
            make_folder(self.folder)  # says what is wrong with the output folder itself
            if meta_dir.exists() or meta_dir.is_symlink():
                raise  # (a file where the run's record goes: said as it is)
            # the folder is there but takes nothing (no permission, a read-only or full disk):
            # said of the folder the user named, not of the run's record inside it
            why = str(e).removeprefix(f"Cannot create the folder {meta_dir}: ")
            raise ImageWriteError(
                f"Cannot write in the output folder {self.folder}: {why}"
            ) from None
        lock = FileLock(str(meta_dir / _LOCK_NAME), timeout=0, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            raise ManifestLockedError(
                f"another run is writing into {self.folder} (its manifest is locked): "
                "wait for it to end or stop it"
            ) from None
        except OSError as exc:
            raise ImageWriteError(
                f"Cannot lock the manifest in {self.folder}: {exc.strerror or exc}"
            ) from None
        self._lock = lock
        try:
            self._read()
            self._fp = self._open_for_append()
        except BaseException:
            self.close()
            raise

    def _read(self) -> None:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ImageWriteError(
                f"Cannot read the manifest {self.path}: {exc.strerror or exc}"
            ) from None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if data.get("kind") == "file":
                    record = FileRecord.from_json(data)
                    where = self.folder / record.output  # stored relative
                    self._remember(replace(record, output=str(where)))
                elif data.get("kind") == "job":
                    self._jobs[str(data["job"])] = data
            except (ValueError, KeyError, TypeError, AttributeError):
                if line.rstrip().endswith("}"):  # whole, yet unreadable
                    self.damaged_lines.append(number)
                else:  # cut short: a writer killed in the middle of the line
                    self.torn += 1

    @property
    def damaged(self) -> int:
        """Lines that could not be read, torn or damaged."""
        return self.torn + len(self.damaged_lines)

    def warning(self) -> str | None:
        """A one-line warning when lines other than torn ones could not be read (their
        photos are redone, and an output only they named is no longer known as ours)."""
        if not self.damaged_lines:
            return None
        shown = ", ".join(str(n) for n in self.damaged_lines[:5])
        more = ", ..." if len(self.damaged_lines) > 5 else ""
        lines = "line" if len(self.damaged_lines) == 1 else "lines"
        return (
            f"the manifest {self.path} has {len(self.damaged_lines)} damaged {lines} "
            f"({shown}{more}), ignored: photos they recorded are done again, and outputs "
            "only they named are treated as not written by this folder's runs"
        )

    def _open_for_append(self) -> IO[bytes]:
        # unbuffered: a line that could not be written (a full disk) is not kept in a buffer
        # to fail again (or land half) when the file is closed
        try:
            fp = open(self.path, "a+b", buffering=0)  # noqa: SIM115 - kept open for the run
            end = fp.seek(0, os.SEEK_END)
            if end > 0:
                fp.seek(end - 1)
                if fp.read(1) != b"\n":  # a line torn by a crash: start on a fresh line
                    _write_all(fp, b"\n")
        except OSError as exc:
            raise ImageWriteError(
                f"Cannot write the manifest {self.path}: {exc.strerror or exc}"
            ) from None
        _fsync_folder(self.path.parent)
        return fp

    def close(self) -> None:
        if self._fp is not None:
            with suppress(OSError):  # nothing is buffered: every line was written or refused
                self._fp.close()
            self._fp = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    def latest(self, source: str | os.PathLike[str]) -> FileRecord | None:
        """The latest record of this input (whatever its output), or None."""
        return self._latest.get(path_key(source))

    def about(self, output: str | os.PathLike[str]) -> FileRecord | None:
        """The latest record naming this output (whatever its input), or None."""
        return self._by_output.get(path_key(output))

    def owners(self, inputs: Iterable[str | os.PathLike[str]] = ()) -> dict[str, str]:
        """Every output the manifest names -> the input of its latest record (`path_key`
        both): the names earlier runs gave, for `core.naming.plan_outputs` to keep. The run's
        ``inputs`` that earlier runs knew under another path are adopted first (`adopt`)."""
        self.adopt(inputs)
        return {out: path_key(r.input) for out, r in self._by_output.items()}

    def adopt(self, inputs: Iterable[str | os.PathLike[str]]) -> int:
        """Take the records of photos that moved as the records of ``inputs``: the same
        archive reached by another path (a drive mounted elsewhere, a renamed or moved
        folder, a link) was redone in full, each result written again as a "-2" copy.

        An input the manifest does not know by its path takes the records of a known input
        with the same file name, size and modification time, when that one is no longer
        there or is the very same file; only when exactly one such input is known (two
        copies of one photo in two folders stay apart). The adopted records are written
        again under the new path, so that a photo changed later is still known as the owner
        of its result. Returns how many inputs were adopted."""
        unknown = [Path(p) for p in inputs if path_key(p) not in self._latest]
        if not unknown:
            return 0
        looks: dict[tuple[str, int, int], list[FileRecord]] = {}
        for r in self._latest.values():
            looks.setdefault((Path(r.input).name, r.size, r.mtime_ns), []).append(r)
        outputs: dict[str, list[str]] = {}  # input key -> the outputs its records name
        for out, r in self._by_output.items():
            outputs.setdefault(path_key(r.input), []).append(out)
        adopted = 0
        for src in unknown:
            st = file_stamp(src)
            if st is None:
                continue
            found = [
                r
                for r in looks.get((src.name, st.size, st.mtime_ns), ())
                if path_key(r.input) in self._latest and _moved_or_same(r.input, src)
            ]
            if len(found) != 1:
                continue
            old = path_key(found[0].input)
            new = str(src.absolute())
            latest = self._latest.pop(old)
            for out in outputs.pop(old, ()):
                record = self._by_output[out]
                if record is not latest:
                    self.add(replace(record, input=new))
            self.add(replace(latest, input=new))  # last: it stays the input's latest
            adopted += 1
        return adopted

    def job(self, key: str) -> dict[str, Any] | None:
        return self._jobs.get(key)

    def records(self) -> list[FileRecord]:
        """The latest record of every input, in the order they were last written."""
        return sorted(self._latest.values(), key=lambda r: r.time)

    def __len__(self) -> int:
        return len(self._latest)

    # ------------------------------------------------------------------ writing
    def add_job(self, key: str, description: dict[str, Any]) -> None:
        """Record what job ``key`` is (once per manifest)."""
        if key in self._jobs:
            return
        data = {"kind": "job", "v": MANIFEST_VERSION, "job": key, **description}
        self._append(data)
        self._jobs[key] = data

    def add(self, record: FileRecord) -> None:
        if record.status not in STATUSES:
            raise ValueError(f"unknown status {record.status!r}")
        data = record.to_json()
        data["output"] = self._relative(record.output)
        self._append(data)
        self._remember(record)

    def _relative(self, output: str) -> str:
        """An output below the manifest's folder is stored relative to it, so the folder can
        be moved (or mounted elsewhere) and still resume."""
        try:
            return Path(os.path.abspath(output)).relative_to(self.folder).as_posix()
        except ValueError:
            return str(output)

    def _remember(self, record: FileRecord) -> None:
        self._latest[path_key(record.input)] = record
        self._by_output[path_key(record.output)] = record

    def _append(self, data: dict[str, Any]) -> None:
        if self._fp is None:
            raise RuntimeError("the manifest is not open")
        line = json.dumps(data, separators=(",", ":")) + "\n"
        if self._cut:  # the last write may have left part of a line: end it first
            line = "\n" + line
        try:
            self._cut = True
            _write_all(self._fp, line.encode("utf-8"))
            self._cut = False
            os.fsync(self._fp.fileno())
        except OSError as exc:
            raise ImageWriteError(
                f"Cannot write the manifest {self.path}: {exc.strerror or exc}"
            ) from None


def recorded_outputs(folder: str | os.PathLike[str]) -> frozenset[str] | None:
    """The outputs (`path_key`) that runs into ``folder`` wrote, by its manifest; None when
    the folder has none (not an output folder). Read without the lock: a run may be
    appending; what it has written so far is enough to tell results from photos."""
    path = Path(folder) / MANIFEST_DIR / MANIFEST_NAME
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return None
    out: set[str] = set()
    for line in lines:
        try:
            data = json.loads(line)
            if data.get("kind") == "file" and data.get("status") == "done":
                out.add(path_key(Path(folder) / str(data["output"])))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return frozenset(out)


def remove_stale_temporaries(outputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Delete temporary files that an interrupted write of one of ``outputs`` left behind
    (only those: the names `deconv_gui.core.io` gives the temporaries of these outputs).
    Call it while holding the output folder's manifest lock. Returns what was removed."""
    wanted: dict[Path, set[str]] = {}
    for out in outputs:
        p = Path(out)
        # the name part `save_image` gives its temporaries (older versions: 64 characters)
        wanted.setdefault(p.parent, set()).update({temporary_stem(p.name), p.name[:64]})
    removed: list[Path] = []
    for folder, names in wanted.items():
        try:
            with os.scandir(folder) as it:
                entries = [e for e in it if e.name.endswith(".tmp")]
        except OSError:
            continue
        for entry in entries:
            if temporary_of(entry.name) not in names:
                continue
            try:
                os.unlink(entry.path)
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed


def _write_all(fp: IO[bytes], data: bytes) -> None:
    """Write all of ``data`` to an unbuffered file (a raw write may take only part)."""
    view = memoryview(data)
    while view:
        n = fp.write(view)
        if not n:
            raise OSError(errno.EIO, "nothing was written")
        view = view[n:]


def _fsync_folder(folder: Path) -> None:
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
