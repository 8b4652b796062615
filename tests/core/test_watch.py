"""Watch folders: photos are taken once complete, once each, until stopped (issue 15)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from batch_helpers import Invert
from PIL import Image

from deconv_gui.core.batch import JobInfo, local_executor, photo_work
from deconv_gui.core.manifest import MANIFEST_DIR, MANIFEST_NAME
from deconv_gui.core.pipeline import FileProgress
from deconv_gui.core.recipe import Recipe
from deconv_gui.core.spec import LoadOptions
from deconv_gui.core.tiling import run_to_end
from deconv_gui.core.watch import WatchStatus, watch_folders
from deconv_gui.errors import DeconvError


def _png_bytes(value: int, size: tuple[int, int] = (30, 20)) -> bytes:
    import io

    arr = np.full((size[1], size[0], 3), value, np.uint8)
    arr[::2, ::3] = 255 - value
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _watch(
    inbox: Path,
    out: Path,
    script: dict[int, object],
    polls: int,
    settle: float = 2.0,
    recursive: bool = False,
):
    """Run a watch on a fake clock: one poll per second; ``script[n]()`` runs after poll n."""
    spec = Invert()
    job = JobInfo.of(Recipe.single("invert"), lambda _id: spec)
    work = photo_work(job.recipe, lambda _id: spec, LoadOptions(device="cpu"))
    now = [0.0]
    statuses: list[WatchStatus] = []
    done_at: list[tuple[str, int]] = []

    def sleep(seconds: float) -> None:
        action = script.get(len(statuses) - 1)
        if callable(action):
            action()
        now[0] += seconds

    def seen(ev: FileProgress | WatchStatus) -> None:
        if isinstance(ev, WatchStatus):
            statuses.append(ev)
        elif ev.finished and ev.output is not None:  # (failures are in the summary)
            done_at.append((ev.path.name, len(statuses)))  # the poll that took it

    run = watch_folders(
        [inbox],
        out,
        job,
        local_executor(work),
        suffix="_inv",
        recursive=recursive,
        settle=settle,
        interval=1.0,
        stop=lambda: len(statuses) >= polls,
        clock=lambda: now[0],
        sleep=sleep,
    )
    summary = run_to_end(run, seen)
    return summary, statuses, done_at


def test_photos_are_taken_once_they_stop_changing(tmp_path: Path) -> None:
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    (inbox / "a.png").write_bytes(_png_bytes(40))
    b = _png_bytes(90)

    def grow(n: int):  # b arrives in pieces: the first bytes, more, then the rest
        return lambda: (inbox / "b.png").write_bytes(b[:n])

    def change_a() -> None:
        (inbox / "a.png").write_bytes(_png_bytes(41, size=(31, 20)))

    script = {2: grow(40), 3: grow(len(b) // 2), 4: grow(len(b)), 9: change_a}
    summary, statuses, done_at = _watch(inbox, out, script, polls=14)
    # a: seen at poll 0, unchanged for 2 s at poll 2; b: complete after poll 4, taken at 7;
    # a changed after poll 9: seen changed at 10, taken again at 12
    assert done_at == [("a.png", 2), ("b.png", 7), ("a.png", 12)]
    assert [p.name for p, _ in summary.done] == ["a.png", "b.png", "a.png"]
    assert not summary.failed and not summary.cancelled
    assert statuses[3].waiting == 1 and statuses[-1] == WatchStatus(0, 3, 0, 0)
    with Image.open(out / "a_inv.png") as a, Image.open(out / "b_inv.png") as b_out:
        assert a.size == (31, 20) and b_out.size == (30, 20)

    # a new watch on the same folder: everything is done before
    summary, _, done_at = _watch(inbox, out, {}, polls=4)
    assert not summary.done and not done_at and len(summary.skipped) == 2


def test_a_photo_that_failed_and_then_came_right_counts_once_as_done(tmp_path: Path) -> None:
    """A copy that paused longer than the settle time fails once (cut short), then is
    taken again when complete: the watch's summary has it done, not failed too."""
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    full = _png_bytes(60)
    (inbox / "c.png").write_bytes(full[: len(full) // 2])
    script = {4: lambda: (inbox / "c.png").write_bytes(full)}
    summary, _, done_at = _watch(inbox, out, script, polls=9)
    assert done_at == [("c.png", 7)]
    assert [p.name for p, _ in summary.done] == ["c.png"] and not summary.failed


def test_an_output_folder_inside_the_watched_one_is_not_watched(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "a.png").write_bytes(_png_bytes(40))
    summary, _, done_at = _watch(inbox, inbox / "out", {}, polls=8, recursive=True)
    assert done_at == [("a.png", 2)] and (inbox / "out" / "a_inv.png").is_file()


def test_results_written_into_the_watched_folder_are_not_taken_as_photos(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "a.png").write_bytes(_png_bytes(40))
    script = {4: lambda: (inbox / "b.png").write_bytes(_png_bytes(90))}
    summary, _, done_at = _watch(inbox, inbox, script, polls=12)
    assert done_at == [("a.png", 2), ("b.png", 7)], done_at  # not a_inv.png, b_inv.png
    assert sorted(p.name for p in inbox.glob("*.png")) == [
        "a.png",
        "a_inv.png",
        "b.png",
        "b_inv.png",
    ]
    assert not summary.failed


def test_watch_needs_folders(tmp_path: Path) -> None:
    with pytest.raises(DeconvError, match="not a folder to watch"):
        _watch(tmp_path / "missing", tmp_path / "out", {}, polls=1)


def _read_events(proc: subprocess.Popen[str], until: str) -> list[dict]:
    events = []
    assert proc.stdout is not None
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == until:
            return events
    raise AssertionError(f"the watch ended before '{until}': {events}")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_watch_command_processes_arrivals_until_ctrl_c(tmp_path: Path) -> None:
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    (inbox / "gone.png").symlink_to(inbox / "nowhere.png")  # said once, on stderr
    cmd = [sys.executable, "-m", "deconv_gui", "watch", str(inbox), "-o", str(out)]
    cmd += ["--model", "lanczos-x2", "--settle", "0.3", "--interval", "0.1", "--json"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        killer = threading.Timer(120, proc.kill)  # never hang the suite
        killer.start()
        try:
            _read_events(proc, "watching")
            (inbox / ".incoming.png.part").write_bytes(_png_bytes(50)[:30])  # hidden: left alone
            (inbox / "new.png").write_bytes(_png_bytes(50))
            events = _read_events(proc, "done")
            proc.send_signal(signal.SIGINT)
            events += _read_events(proc, "summary")
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err
            assert err.count(f"warning: skipped {inbox / 'gone.png'}: a broken link") == 1, err
        finally:
            killer.cancel()
            proc.kill()
    done = [e for e in events if e["event"] == "done"]
    assert [Path(e["output"]).name for e in done] == ["new_x2.png"]
    assert events[-1]["done"] == 1 and events[-1]["failed"] == 0
    with Image.open(out / "new_x2.png") as im:
        assert im.size == (60, 40)


def test_a_watch_warns_once_of_a_damaged_manifest_and_an_unlistable_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a restore run says before it starts, a watch says at its first poll (a damaged
    manifest line) or when it happens (a sub-folder that cannot be listed: its photos are not
    seen; a broken link): once each, and again if it comes back after going away."""
    import os

    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "locked").mkdir(parents=True)
    (inbox / "a.png").write_bytes(_png_bytes(40))
    (out / MANIFEST_DIR).mkdir(parents=True)
    (out / MANIFEST_DIR / MANIFEST_NAME).write_text('{"kind": "file", "size": "big"}\n')
    locked = [False]
    real = os.scandir

    def scandir(path: object):  # root passes chmod: deny the listing itself
        if locked[0] and Path(str(path)).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr("deconv_gui.core.inputs.os.scandir", scandir)

    def lock(flag: bool):
        return lambda: locked.__setitem__(0, flag)

    def broken_link() -> None:
        (inbox / "gone.png").symlink_to(inbox / "nowhere.png")

    script = {1: lock(True), 3: lock(False), 4: lock(True), 5: broken_link}
    summary, statuses, _ = _watch(inbox, out, script, polls=8, recursive=True)
    said = [(i, w) for i, st in enumerate(statuses) for w in st.warnings]
    assert [i for i, _ in said] == [0, 2, 5, 6]
    assert "manifest" in said[0][1] and "damaged line" in said[0][1]
    locked_text = f"{inbox / 'locked'}: cannot list the folder: permission denied"
    assert said[1][1].startswith(locked_text) and said[2][1] == said[1][1]
    assert said[3][1] == f"skipped {inbox / 'gone.png'}: a broken link"
    assert [p.name for p, _ in summary.done] == ["a.png"]


def test_a_full_disk_stops_the_watch_and_a_new_watch_does_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the disk full every photo arriving failed to save, and those photos were never
    tried again after space was freed (a watch retries a photo only when it changes): the
    watch now stops at the first full-disk failure, and the next one does what is left."""
    import errno

    from deconv_gui.core import pipeline

    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    for i in range(4):
        (inbox / f"p{i}.png").write_bytes(_png_bytes(40 + i))
    real_save = pipeline.save_photo
    saves = []

    def save(path, photo, **kw):  # noqa: ANN001, ANN003 - as save_photo
        if len(saves) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        saves.append(path)
        return real_save(path, photo, **kw)

    monkeypatch.setattr(pipeline, "save_photo", save)
    summary, _, _ = _watch(inbox, out, {}, polls=8)
    assert summary.stopped == "the disk is full"
    assert len(summary.done) == 1 and len(summary.failed) == 1
    monkeypatch.setattr(pipeline, "save_photo", real_save)  # space freed
    summary, _, _ = _watch(inbox, out, {}, polls=5)
    assert len(summary.done) == 3 and not summary.failed


def test_a_photo_removed_while_waiting_its_turn_is_a_skip_not_a_failure(tmp_path: Path) -> None:
    """A photo deleted from the watched folder while queued failed ("the file does not
    exist") and made the watch exit 1."""
    from deconv_gui.core.naming import PlannedFile
    from deconv_gui.core.pipeline import restore_files

    spec = Invert()
    job = JobInfo.of(Recipe.single("invert"), lambda _id: spec)
    work = photo_work(job.recipe, lambda _id: spec, LoadOptions(device="cpu"))
    photos = []
    for i in range(3):
        p = tmp_path / f"p{i}.png"
        p.write_bytes(_png_bytes(50 + i))
        photos.append(p)
    tasks = [PlannedFile(p, tmp_path / "out" / p.name) for p in photos]

    def on_event(ev: FileProgress) -> None:
        if ev.finished and ev.path == photos[0]:
            photos[1].unlink()  # removed while p1 waits its turn

    summary = run_to_end(restore_files(tasks, work), on_event)
    assert [p.name for p, _ in summary.done] == ["p0.png", "p2.png"]
    assert not summary.failed
    assert summary.skipped == [(photos[1], "p1.png was removed before it was processed")]


def test_a_watch_into_a_folder_another_run_writes_says_so_before_watching(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It printed "watching in -> out (Ctrl+C stops)" and then the locked-manifest error."""
    from deconv_gui.cli import main
    from deconv_gui.core.manifest import Manifest

    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    with Manifest.open(out):  # another run holds it
        assert main(["watch", str(inbox), "-o", str(out), "--model", "nlm-denoise"]) == 1
    err = capsys.readouterr().err
    assert "watching" not in err
    assert err.strip().startswith(f"error: another run is writing into {out.absolute()}")
