"""Resumable batches: the output folder's manifest, plan_batch and run_batch (issue 15)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from batch_helpers import Invert, png
from PIL import Image

from deconv_gui.core.batch import (
    DONE_BEFORE,
    JobInfo,
    OutputSettings,
    local_executor,
    photo_work,
    plan_batch,
    run_batch,
)
from deconv_gui.core.io import _create_temp, load_image
from deconv_gui.core.manifest import (
    FileRecord,
    Manifest,
    ManifestLockedError,
    file_stamp,
    model_version,
    remove_stale_temporaries,
)
from deconv_gui.core.naming import plan_outputs
from deconv_gui.core.pipeline import FileProgress, RunSummary
from deconv_gui.core.recipe import Recipe
from deconv_gui.core.spec import LoadOptions
from deconv_gui.core.tiling import run_to_end
from deconv_gui.core.validate import OptionError
from deconv_gui.errors import ImageWriteError

CPU = LoadOptions(device="cpu")


def _run(
    photos: list[Path],
    out: Path,
    spec: Invert,
    output: OutputSettings | None = None,
    **plan_kw: bool,
) -> tuple[RunSummary, list[FileProgress]]:
    job = JobInfo.of(Recipe.single(spec.id), lambda _id: spec, output)
    out_settings = job.output
    work = photo_work(job.recipe, lambda _id: spec, CPU, bit_depth=out_settings.bit_depth)
    events: list[FileProgress] = []
    with Manifest.open(out) as manifest:
        tasks = plan_outputs(
            photos, suffix="_inv", out_dir=out, ext=out_settings.format, owners=manifest.owners()
        )
        plan = plan_batch(tasks, manifest, job, **plan_kw)
        execute = local_executor(work, quality=out_settings.quality)
        summary = run_to_end(run_batch(plan, execute, manifest=manifest, job=job), events.append)
    return summary, events


def _lines(out: Path) -> list[dict]:
    text = (out / ".deconv-gui" / "manifest.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


# ----------------------------------------------------------------------------- the manifest
def test_manifest_keeps_the_latest_record_and_survives_a_torn_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rec = FileRecord(str(tmp_path / "a.png"), "started", "job1", str(out / "a_x.png"), 10, 5)
    with Manifest.open(out) as m:
        m.add_job("job1", {"recipe": "r"})
        m.add_job("job1", {"recipe": "r"})  # once per key
        m.add(rec)
        m.add(FileRecord(rec.input, "done", "job1", rec.output, 10, 5, output_size=7))
        with pytest.raises(ValueError, match="status"):
            m.add(FileRecord(rec.input, "maybe", "job1", rec.output))
    path = out / ".deconv-gui" / "manifest.jsonl"
    with open(path, "a") as f:  # a crash in the middle of a line
        f.write('{"kind":"file","input":"/x","sta')
    with Manifest.open(out) as m:
        assert m.torn == m.damaged == 1 and m.warning() is None  # expected after a crash
        assert len(m) == 1 and m.job("job1") is not None
        latest = m.latest(tmp_path / "a.png")
        assert latest is not None and latest.status == "done" and latest.output_size == 7
        m.add(FileRecord(str(tmp_path / "b.png"), "failed", "job1", "o", error="bad"))
    with Manifest.open(out) as m:  # the new line started on a line of its own
        assert m.damaged == 1 and len(m) == 2
        assert [r.status for r in m.records()] == ["done", "failed"]
    kinds = [json.loads(x)["kind"] for x in path.read_text().splitlines()[:3]]
    assert kinds == ["job", "file", "file"]


def test_a_damaged_line_is_reported_with_its_number(tmp_path: Path) -> None:
    """A whole line that cannot be read (edited by hand, corrupted) loses what it said about
    a photo: unlike a torn last line, it is worth a warning."""
    out = tmp_path / "out"
    with Manifest.open(out) as m:
        m.add(FileRecord(str(tmp_path / "a.png"), "done", "j", str(out / "a_x.png"), 1, 2))
        m.add(FileRecord(str(tmp_path / "b.png"), "done", "j", str(out / "b_x.png"), 1, 2))
    path = out / ".deconv-gui" / "manifest.jsonl"
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace('"size":1,', '"size":"big",')
    path.write_text("\n".join(lines) + "\n")
    with Manifest.open(out) as m:
        assert m.damaged_lines == [1] and m.torn == 0 and len(m) == 1
        warning = m.warning()
        assert warning is not None and "1 damaged line (1)" in warning and str(path) in warning


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_while_recording_is_one_clear_error_and_closing_stays_quiet(
    tmp_path: Path,
) -> None:
    """A full disk: the record that could not be written is refused with the reason, and
    nothing is left in a buffer to fail again (with an unexpected error) on close."""
    m = Manifest.open(tmp_path / "out")
    assert m._fp is not None
    m._fp.close()
    m._fp = open("/dev/full", "r+b", buffering=0)  # noqa: SIM115 - every write: ENOSPC
    rec = FileRecord(str(tmp_path / "a.png"), "started", "j", str(tmp_path / "out" / "a.png"))
    with pytest.raises(ImageWriteError, match="Cannot write the manifest .*: No space left"):
        m.add(rec)
    m.close()  # no OSError
    with Manifest.open(tmp_path / "out") as again:
        assert len(again) == 0 and again.damaged == 0
        # a write cut short (part of a line on disk): the next line starts on its own
        assert again._fp is not None
        again._fp.write(b'{"kind":"file","inp')  # what a full disk let through
        again._cut = True
        again.add(rec)
    with Manifest.open(tmp_path / "out") as last:
        assert last.torn == 1 and not last.damaged_lines and last.latest(rec.input) == rec


def test_one_run_at_a_time_per_output_folder(tmp_path: Path) -> None:
    with (
        Manifest.open(tmp_path / "out"),
        pytest.raises(ManifestLockedError, match="another run is writing"),
    ):
        Manifest.open(tmp_path / "out")
    Manifest.open(tmp_path / "out").close()  # released


def test_stale_temporaries_of_the_run_are_removed_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "a_x.png"
    fd, tmp = _create_temp(out)  # what an interrupted save leaves
    os.close(fd)
    other = tmp_path / ".b_x.png.0123abcd.tmp"  # another output's: not this run's
    other.write_bytes(b"x")
    mine = tmp_path / "notes.tmp"
    mine.write_bytes(b"x")
    assert remove_stale_temporaries([out]) == [tmp]
    assert not tmp.exists() and other.exists() and mine.exists()


def test_model_version_prefers_the_weights_hash() -> None:
    @dataclass
    class Spec:
        card: dict

    assert model_version(Spec({"sha256": "ab12", "version": "3"})) == "sha256:ab12"
    assert model_version(Spec({"version": "3"})) == "version:3"
    a, b = model_version(Spec({"params": 1})), model_version(Spec({"params": 2}))
    assert a.startswith("card:") and a != b and a == model_version(Spec({"params": 1}))


def test_output_settings_are_checked() -> None:
    assert OutputSettings(format="JPG").format == ".jpg"
    for bad in ({"format": "gif"}, {"quality": 0}, {"bit_depth": 12}, {"suffix": "a/b"}):
        with pytest.raises(OptionError):
            OutputSettings(**bad)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="unknown"):
        OutputSettings.from_json({"colour": "red"})


# ----------------------------------------------------------------------------- resume
def test_a_rerun_skips_what_is_done_and_redoes_what_changed_or_failed(tmp_path: Path) -> None:
    photos = [png(tmp_path / "in" / f"{i}.png", v) for i, v in enumerate((30, 60, 220))]
    out = tmp_path / "out"
    spec = Invert(fail_above=0.6)  # the bright photo fails
    summary, events = _run(photos, out, spec)
    assert [p.name for p, _ in summary.done] == ["0.png", "1.png"]
    assert [p.name for p, _ in summary.failed] == ["2.png"]
    statuses = [(x["input"][-5:], x["status"]) for x in _lines(out) if x["kind"] == "file"]
    assert statuses == [
        ("0.png", "started"),
        ("0.png", "done"),
        ("1.png", "started"),
        ("1.png", "done"),
        ("2.png", "started"),
        ("2.png", "failed"),
    ]
    job_line = _lines(out)[0]
    assert job_line["kind"] == "job" and job_line["models"] == {"invert": "version:1"}
    done_at = {p: (out / f"{p.stem}_inv.png").stat().st_mtime_ns for p in photos[:2]}

    # the same run again: the two done are skipped, the failed one is tried again
    spec.calls = 0
    summary, events = _run(photos, out, spec)
    assert not summary.done and [p.name for p, _ in summary.failed] == ["2.png"]
    assert summary.skipped == [(photos[0], DONE_BEFORE), (photos[1], DONE_BEFORE)]
    assert spec.calls == 1 and [(e.index, e.total) for e in events if e.finished] == [(0, 1)]
    assert {p: (out / f"{p.stem}_inv.png").stat().st_mtime_ns for p in photos[:2]} == done_at

    # an input that changed, and an output that was deleted, are redone
    spec.fail_above = None
    png(photos[0], 31)
    (out / "1_inv.png").unlink()
    summary, _ = _run(photos, out, spec)
    assert sorted(p.name for p, _ in summary.done) == ["0.png", "1.png", "2.png"]
    got = load_image(out / "0_inv.png").rgb
    np.testing.assert_allclose(got, 1.0 - load_image(photos[0]).rgb, atol=1 / 255)

    # other output settings are another job: everything is redone; --force redoes all
    summary, _ = _run(photos, out, spec, OutputSettings(quality=80))
    assert len(summary.done) == 3
    summary, _ = _run(photos, out, spec, OutputSettings(quality=80))
    assert not summary.done and len(summary.skipped) == 3
    summary, _ = _run(photos, out, spec, OutputSettings(quality=80), force=True)
    assert len(summary.done) == 3


def test_outputs_not_written_by_a_run_are_refused_kept_or_replaced(tmp_path: Path) -> None:
    photo = png(tmp_path / "in" / "a.png", 40)
    out = tmp_path / "out"
    out.mkdir()
    foreign = out / "a_inv.png"
    foreign.write_bytes(b"someone else's file")
    summary, events = _run([photo], out, Invert())
    ((failed, why),) = summary.failed
    assert failed == photo
    assert why.startswith("a_inv.png exists, but this folder's record of its runs does not name")
    assert foreign.read_bytes() == b"someone else's file" and events[0].finished
    summary, _ = _run([photo], out, Invert(), skip_existing=True)
    assert len(summary.skipped) == 1 and not summary.failed
    summary, _ = _run([photo], out, Invert(), overwrite=True)
    assert summary.done and load_image(foreign).width == 24


def test_a_run_stopped_mid_photo_is_finished_by_the_next(tmp_path: Path) -> None:
    photos = [png(tmp_path / "in" / f"{i}.png", 40 + i, size=(200, 40)) for i in range(3)]
    out = tmp_path / "out"
    spec = Invert()
    job = JobInfo.of(Recipe.single("invert"), lambda _id: spec)
    tasks = plan_outputs(photos, suffix="_inv", out_dir=out)
    work = photo_work(job.recipe, lambda _id: spec, CPU, tile_size=64)
    tiles: list[int] = []

    def cancel() -> bool:  # stop after a tile of the second photo
        return len(tiles) > 0 and tiles[-1] == 1

    with Manifest.open(out) as manifest:
        plan = plan_batch(tasks, manifest, job)
        run = run_batch(plan, local_executor(work, cancel=cancel), manifest=manifest, job=job)
        summary = run_to_end(run, lambda e: e.tile is not None and tiles.append(e.index))
    assert summary.cancelled and [p.name for p, _ in summary.done] == ["0.png"]
    assert sorted(p.name for p in out.iterdir()) == [".deconv-gui", "0_inv.png"]  # no partial
    assert [x["status"] for x in _lines(out) if "1.png" in x.get("input", "")] == ["started"]

    # the same output written by the interrupted photo (killed after its rename) is ours
    (out / "1_inv.png").write_bytes(b"complete but unrecorded")
    summary, _ = _run(photos, out, spec)
    assert [p.name for p, _ in summary.done] == ["1.png", "2.png"]
    assert load_image(out / "1_inv.png").width == 200


def test_two_jobs_into_one_folder_each_resume_and_neither_takes_the_others_results(
    tmp_path: Path,
) -> None:
    """Two jobs (another format here) into the same output folder: each one's results are
    its own, so rerunning the first after the second skips its photos (and ``force``
    redoes them) rather than refusing its own outputs as foreign."""
    photos = [png(tmp_path / "in" / f"{i}.png", 30 + 20 * i) for i in range(2)]
    out = tmp_path / "out"
    assert len(_run(photos, out, Invert())[0].done) == 2
    jpeg = OutputSettings(format="jpg")
    assert len(_run(photos, out, Invert(), jpeg)[0].done) == 2
    summary, _ = _run(photos, out, Invert())
    assert not summary.failed and summary.skipped == [(p, DONE_BEFORE) for p in photos]
    summary, _ = _run(photos, out, Invert(), force=True)
    assert not summary.failed and len(summary.done) == 2
    summary, _ = _run(photos, out, Invert(), jpeg)
    assert not summary.failed and len(summary.skipped) == 2


def test_a_new_photo_is_named_around_an_earlier_photos_result(tmp_path: Path) -> None:
    """x.png done as x_inv.png; x.bmp arrives (sorted before it): it gets x_inv-2.png, and
    x.png keeps its result (done before), on every later run too."""
    first = png(tmp_path / "in" / "x.png", 40)
    out = tmp_path / "out"
    settings = OutputSettings(format="png")
    (done,) = _run([first], out, Invert(), settings)[0].done
    assert done[1].name == "x_inv.png"
    before = (out / "x_inv.png").stat().st_mtime_ns
    second = tmp_path / "in" / "x.bmp"
    Image.open(first).save(second)
    summary, _ = _run([second, first], out, Invert(), settings)
    assert not summary.failed and summary.skipped == [(first, DONE_BEFORE)]
    assert [(src.name, dst.name) for src, dst in summary.done] == [("x.bmp", "x_inv-2.png")]
    summary, _ = _run([second, first], out, Invert(), settings)  # and so it stays
    assert not summary.failed and not summary.done and len(summary.skipped) == 2
    assert sorted(p.name for p in out.iterdir()) == [".deconv-gui", "x_inv-2.png", "x_inv.png"]
    assert (out / "x_inv.png").stat().st_mtime_ns == before


def test_bit_depth_and_format_from_the_output_settings(tmp_path: Path) -> None:
    photo = png(tmp_path / "in" / "a.png", 40)
    out = tmp_path / "out"
    summary, _ = _run([photo], out, Invert(), OutputSettings(bit_depth=16))
    assert load_image(summary.done[0][1]).meta.bit_depth == 16
    summary, _ = _run([photo], tmp_path / "out2", Invert(), OutputSettings(format="jpg"))
    assert summary.done[0][1].name == "a_inv.jpg"
    with Image.open(summary.done[0][1]) as im:
        assert im.format == "JPEG"
    stamp = file_stamp(summary.done[0][1])
    assert stamp is not None and stamp.size > 0


def test_a_moved_output_folder_still_resumes(tmp_path: Path) -> None:
    photos = [png(tmp_path / "in" / f"{i}.png", 30 + 20 * i) for i in range(2)]
    summary, _ = _run(photos, tmp_path / "out", Invert())
    assert len(summary.done) == 2
    assert _lines(tmp_path / "out")[-1]["output"] == "1_inv.png"  # stored relative
    (tmp_path / "out").rename(tmp_path / "moved")
    summary, _ = _run(photos, tmp_path / "moved", Invert())
    assert not summary.done and len(summary.skipped) == 2


def test_the_job_key_follows_the_steps_not_the_name() -> None:
    spec = Invert()
    a = JobInfo.of(Recipe.single("invert"), lambda _id: spec)
    named = JobInfo.of(Recipe(a.recipe.steps, "my preset"), lambda _id: spec)
    stronger = JobInfo.of(Recipe.single("invert", strength=3), lambda _id: spec)
    assert a.key == named.key != stronger.key
    assert a.key != JobInfo.of(a.recipe, lambda _id: spec, allow_fp16=False).key
    extra = JobInfo.of(a.recipe, lambda _id: spec, ensemble=True)
    assert extra.key != a.key and extra.describe()["options"]["ensemble"] is True
    # off, it is not written at all: the jobs of earlier versions keep their keys
    assert a.describe()["options"] == {"allow_fp16": True}
    assert named.describe()["recipe"]["name"] == "my preset"


def test_an_output_folder_that_takes_no_files_is_named_not_the_runs_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only output folder was said as "Cannot create the folder out/.deconv-gui: no
    permission to write there": a folder the user never asked for."""
    out = tmp_path / "out"
    out.mkdir()
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *a, **k) -> None:  # noqa: ANN002, ANN003 - as Path.mkdir
        if self.parent == out:
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(ImageWriteError) as e:
        Manifest.open(out)
    assert str(e.value) == f"Cannot write in the output folder {out}: no permission to write there"
