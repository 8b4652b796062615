"""Watch folders: process photos as they arrive, until stopped (issue 15, point 3).

`watch_folders` polls the folders with the standard library (`expand_inputs` every
``interval`` seconds): no extra dependency, and it works the same on network shares, where
file-system events (inotify, FSEvents) often do not arrive. A photo is taken once it is
complete: its size and modification time have not changed for ``settle`` seconds. Settled
photos go through the same resumable batch as ``restore`` (`plan_batch`, `run_batch`) with
the output folder's manifest, so a photo done before (by a watch or a ``restore``) is not
redone, one that changes later is redone, and a stopped watch resumes where it was.

The generator yields `FileProgress` for each photo (indices count on across batches) and a
`WatchStatus` after every poll, so a consumer can stop it between two polls (cancel = stop
pulling, or ``stop()`` returning True); it returns the `RunSummary` of the whole watch
(``cancelled`` when it was stopped in the middle of a photo).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from deconv_gui.core.batch import plan_batch, run_batch, without_outputs
from deconv_gui.core.inputs import expand_inputs
from deconv_gui.core.manifest import Manifest, Stamp, file_stamp, path_key
from deconv_gui.core.naming import plan_outputs
from deconv_gui.core.pipeline import FileProgress, RunSummary
from deconv_gui.errors import DeconvError

if TYPE_CHECKING:
    from deconv_gui.core.batch import Execute, JobInfo

__all__ = ["WatchStatus", "watch_folders"]


@dataclass(frozen=True)
class WatchStatus:
    """After a poll: photos seen but not settled yet (``waiting``), photos handled so far
    (``done``, ``failed``, ``skipped``: done before or with an output that is not ours), and
    ``warnings`` new at this poll: a damaged manifest (at the first poll), a folder that
    cannot be listed (its photos are not seen), an entry that is not a photo file (a broken
    link, a special file). Each is said once, and again only after it went away."""

    waiting: int
    done: int
    failed: int
    skipped: int
    warnings: tuple[str, ...] = ()


def watch_folders(
    folders: Sequence[str | Path],
    out_dir: str | Path,
    job: JobInfo,
    execute: Execute,
    *,
    suffix: str,
    ext: str | None = None,
    recursive: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    settle: float = 2.0,
    interval: float = 1.0,
    force: bool = False,
    overwrite: bool = False,
    skip_existing: bool = False,
    stop: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Generator[FileProgress | WatchStatus, None, RunSummary]:
    """Process the photos of ``folders`` into ``out_dir`` as they arrive (module doc).

    ``execute`` runs settled photos (`deconv_gui.core.batch.local_executor` or a Ray
    executor); naming is `plan_outputs` with ``suffix`` and ``ext``. Photos already there
    when the watch starts are taken too (after settling), except those done before.
    ``force`` redoes each photo once; ``overwrite`` replaces outputs that are not ours,
    ``skip_existing`` keeps them and skips their photos (`plan_batch`).
    """
    for folder in folders:
        if not Path(folder).expanduser().is_dir():
            raise DeconvError(f"not a folder to watch: {folder}")
    if not (math.isfinite(settle) and math.isfinite(interval)) or settle < 0 or interval <= 0:
        raise DeconvError("the settle time must be 0 or more and the poll interval above 0")
    total = RunSummary()
    start = clock()
    seen: dict[str, tuple[Stamp, float]] = {}  # not settled yet: stamp and since when
    handled: dict[str, Stamp] = {}  # taken with this stamp (a new stamp is a change)
    count = 0  # photos reported so far: the index of the next one
    warned: set[str] = set()  # the warnings still true at the last poll
    with Manifest.open(out_dir) as manifest:
        first = manifest.warning()
        while stop is None or not stop():
            now = clock()
            found = expand_inputs(folders, recursive=recursive, include=include, exclude=exclude)
            current = [f"{u.path}: {u.reason}; its photos are not seen" for u in found.unlistable]
            current += [f"skipped {u.path}: {u.reason}" for u in found.skipped]
            warnings = tuple(w for w in current if w not in warned)
            warned = set(current)
            if first:
                warnings, first = (first, *warnings), None
            ready = []
            present = set()
            for item in without_outputs(found.files, Path(out_dir), suffix=suffix, ext=ext):
                stamp = file_stamp(item.path)
                if stamp is None:
                    continue
                key = path_key(item.path)
                present.add(key)
                if handled.get(key) == stamp:
                    continue
                before = seen.get(key)
                if before is None or before[0] != stamp:
                    seen[key] = (stamp, now)
                elif now - before[1] >= settle:
                    ready.append(item)
                    handled[key] = stamp
                    del seen[key]
            for key in set(seen) - present:  # gone before it settled
                del seen[key]
            if ready:
                owners = manifest.owners(i.path for i in ready)  # the names results hold
                tasks = plan_outputs(ready, suffix=suffix, out_dir=out_dir, ext=ext, owners=owners)
                plan = plan_batch(
                    tasks,
                    manifest,
                    job,
                    force=force,
                    overwrite=overwrite,
                    skip_existing=skip_existing,
                )
                run = run_batch(plan, execute, manifest=manifest, job=job)
                try:
                    while True:
                        try:
                            ev = next(run)
                        except StopIteration as end:
                            part: RunSummary = end.value
                            break
                        yield replace(ev, index=count + ev.index, total=count + ev.total)
                finally:
                    run.close()
                count += len(plan.refused) + len(plan.todo)
                total.done += part.done
                # a photo that failed before (e.g. taken while still being copied) and is
                # done or fails again now counts once, as it ends
                again = {path_key(src) for src, *_ in (*part.done, *part.failed)}
                total.failed = [f for f in total.failed if path_key(f[0]) not in again]
                total.failed += part.failed
                total.skipped += part.skipped
                total.warned += part.warned
                if part.cancelled:
                    total.cancelled = True
                    break
                if part.stopped:  # the disk is full: what follows would fail the same way
                    total.stopped = part.stopped
                    break
            yield WatchStatus(
                len(seen), len(total.done), len(total.failed), len(total.skipped), warnings
            )
            sleep(max(0.0, interval - (clock() - now)))
    total.elapsed = clock() - start
    return total
