"""The photo pipeline: listing inputs, naming outputs, and a run over many files."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deconv_gui.core.image import ImageMeta, Photo
from deconv_gui.core.inputs import InputFile, expand_inputs
from deconv_gui.core.io import load_image, save_image
from deconv_gui.core.naming import (
    MAX_NAME_BYTES,
    PlannedFile,
    check_suffix,
    output_path_for,
    plan_outputs,
)
from deconv_gui.core.pipeline import (
    AutoSetting,
    FileProgress,
    photo_job,
    restore_file,
    restore_files,
)
from deconv_gui.core.spec import LoadOptions
from deconv_gui.core.tiling import run_to_end
from deconv_gui.core.validate import OptionError
from deconv_gui.errors import ImageReadError, ImageWriteError

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")


def _png(path: Path, value: int = 100, size: tuple[int, int] = (24, 20)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size[1], size[0], 3), value, np.uint8)
    arr[::3, ::2] = 255 - value  # not flat
    Image.fromarray(arr).save(path)
    return path


def _names(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


# ------------------------------------------------------------------------- expand_inputs
def test_folders_are_listed_sorted_with_hidden_and_other_files_left_out(tmp_path: Path) -> None:
    for name in ("b.jpg", "a.PNG", "c.tif", ".hidden.png", "notes.txt", "d.png.tmp"):
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(b"x")
    (tmp_path / "in" / "sub").mkdir()
    (tmp_path / "in" / "sub" / "e.jpg").write_bytes(b"x")
    single = _png(tmp_path / "single.webp")

    found = expand_inputs([tmp_path / "in", single])
    assert _names(found.paths, tmp_path) == ["in/a.PNG", "in/b.jpg", "in/c.tif", "single.webp"]
    first = found.files[0]
    assert first.root == tmp_path / "in" and first.relative == Path("a.PNG")
    assert found.files[-1] == InputFile(single, None, Path("single.webp"))
    assert not found.skipped and not found.missing and not found.empty_folders


def test_recursive_listing_keeps_the_relative_folders(tmp_path: Path) -> None:
    for rel in ("x.jpg", "sub/x.jpg", "sub/deeper/y.png", ".cache/z.png", "sub/.git/w.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = expand_inputs([tmp_path], recursive=True)
    assert [f.relative.as_posix() for f in found.files] == [
        "sub/deeper/y.png",
        "sub/x.jpg",
        "x.jpg",
    ]
    assert all(f.root == tmp_path for f in found.files)


def test_include_exclude_missing_empty_and_duplicates(tmp_path: Path) -> None:
    for name in ("a.jpg", "a_denoised.jpg", "b.png"):
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    found = expand_inputs(
        [tmp_path / "in", tmp_path / "in" / "b.png", tmp_path / "empty", tmp_path / "nope.jpg"],
        exclude=["*_denoised*"],
    )
    assert _names(found.paths, tmp_path) == ["in/a.jpg", "in/b.png"]  # b.png once
    assert found.empty_folders == [tmp_path / "empty"]
    assert found.missing == [tmp_path / "nope.jpg"]
    only_png = expand_inputs([tmp_path / "in"], include=["*.png"])
    assert _names(only_png.paths, tmp_path) == ["in/b.png"]


def test_include_and_exclude_ignore_case(tmp_path: Path) -> None:
    """Cameras name files IMG_0001.JPG: '--include *.jpg' must take them (fnmatch minds
    case on Linux and macOS), and '--exclude RAW/*' leaves out 'raw/'."""
    for name in ("IMG_0001.JPG", "img_0002.jpg", "b.PNG", "raw/c.jpg"):
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(b"x")
    found = expand_inputs([tmp_path / "in"], recursive=True, include=["*.jpg"], exclude=["RAW/*"])
    assert _names(found.paths, tmp_path) == ["in/IMG_0001.JPG", "in/img_0002.jpg"]


@needs_fifo
def test_a_fifo_among_the_inputs_is_skipped_without_hanging(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    good = _png(folder / "a.png")
    fifo = folder / "pipe.jpg"
    os.mkfifo(fifo)
    outcome: dict[str, object] = {}

    def work() -> None:
        outcome["listed"] = expand_inputs([folder, fifo])
        try:
            load_image(fifo)
        except ImageReadError as exc:
            outcome["load"] = str(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # unblock the reader before failing
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail("listing or loading a named pipe blocked")
    found = outcome["listed"]
    assert found.paths == [good]
    assert [(s.path, s.reason) for s in found.skipped] == [
        (fifo, "a named pipe (FIFO), not a file"),
        (fifo, "a named pipe (FIFO), not a file"),
    ]
    assert outcome["load"] == "Cannot read pipe.jpg: it is a named pipe (FIFO), not an image file"


def test_links_to_folders_are_not_followed_and_broken_links_are_skipped(tmp_path: Path) -> None:
    _png(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "loop").symlink_to(tmp_path / "in", target_is_directory=True)
    (tmp_path / "in" / "gone.jpg").symlink_to(tmp_path / "missing.jpg")
    found = expand_inputs([tmp_path / "in"], recursive=True)
    assert _names(found.paths, tmp_path) == ["in/a.png"]
    reasons = {s.path.name: s.reason for s in found.skipped}
    assert reasons == {"loop": "a link to a folder (not followed)", "gone.jpg": "a broken link"}


# ------------------------------------------------------------------------------- naming
def test_output_path_for() -> None:
    assert output_path_for("/p/IMG_1.JPG") == Path("/p/IMG_1_restored.JPG")
    assert output_path_for("/p/a.tif", suffix="_x2", ext="png") == Path("/p/a_x2.png")
    assert output_path_for("/p/a.png", ext=".tiff", out_dir="/out") == Path("/out/a_restored.tiff")
    assert output_path_for("/p/a.jfif") == Path("/p/a_restored.jpg")
    with pytest.raises(OptionError, match="cannot write '.gif' files"):
        output_path_for("/p/a.png", ext=".gif")
    with pytest.raises(OptionError, match="must not contain"):
        output_path_for("/p/a.png", suffix="/../evil")


@pytest.mark.parametrize("ext", [".heic", ".HEIF"])
def test_heic_results_are_named_and_saved_as_jpeg(tmp_path: Path, ext: str) -> None:
    """A HEIC photo's result is a JPEG (we cannot write HEIC): the name planned for it is one
    that `save_image` accepts, also through a whole run."""
    src = tmp_path / f"phone{ext}"
    dst = output_path_for(src, "_denoised")
    assert dst == tmp_path / "phone_denoised.jpg"
    rgb = np.full((8, 8, 3), 0.5, np.float32)
    save_image(dst, rgb, ImageMeta(path=src, format="HEIF"))
    assert load_image(dst).meta.format == "JPEG"

    def load_heic(path: Path) -> Photo:  # stands in for a HEIC decoder
        return Photo(rgb, ImageMeta(path=path, format="HEIF"))

    (task,) = plan_outputs([src], suffix="_x2", out_dir=tmp_path / "out")
    summary = run_to_end(restore_files([task], photo_job(Invert(), OPTIONS), load=load_heic))
    assert summary.done == [(src, tmp_path / "out" / "phone_x2.jpg")]
    assert not summary.failed


def test_same_names_from_different_folders_get_distinct_outputs(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg"
    out = tmp_path / "out"
    plan = plan_outputs([a, b, tmp_path / "c" / "X.JPG"], suffix="_denoised", out_dir=out)
    assert [p.output.name for p in plan] == [
        "x_denoised.jpg",
        "x_denoised-2.jpg",
        "X_denoised-3.JPG",
    ]
    # next to the originals there is no clash, so no number
    beside = plan_outputs([a, b], suffix="_denoised")
    assert [p.output for p in beside] == [
        a.with_name("x_denoised.jpg"),
        b.with_name("x_denoised.jpg"),
    ]


def test_a_folder_tree_is_mirrored_below_the_output_folder(tmp_path: Path) -> None:
    for rel in ("x.jpg", "2023/x.jpg", "2024/trip/x.jpg"):
        (tmp_path / "in" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / rel).write_bytes(b"x")
    found = expand_inputs([tmp_path / "in"], recursive=True)
    plan = plan_outputs(found.files, suffix="_x2", out_dir=tmp_path / "out")
    assert _names([p.output for p in plan], tmp_path / "out") == [
        "2023/x_x2.jpg",
        "2024/trip/x_x2.jpg",
        "x_x2.jpg",
    ]


def test_an_output_never_lands_on_an_input_of_the_run(tmp_path: Path) -> None:
    a, done = tmp_path / "a.png", tmp_path / "a_denoised.png"
    plan = plan_outputs([a, done], suffix="_denoised")
    assert [p.output.name for p in plan] == ["a_denoised-2.png", "a_denoised_denoised.png"]
    same_folder_no_suffix = plan_outputs([a], suffix="", out_dir=tmp_path)
    assert same_folder_no_suffix[0].output == tmp_path / "a-2.png"


def test_over_long_names_are_shortened_keeping_suffix_extension_and_uniqueness(
    tmp_path: Path,
) -> None:
    stem = "é" * 200  # 400 bytes in UTF-8
    inputs = [tmp_path / "a" / f"{stem}1.tiff", tmp_path / "b" / f"{stem}2.tiff"]
    plan = plan_outputs(inputs, suffix="_denoised", out_dir=tmp_path / "out")
    names = [p.output.name for p in plan]
    assert names[0] != names[1]
    for name in names:
        assert len(name.encode()) <= MAX_NAME_BYTES
        assert name.startswith("éé") and name.endswith(".tiff")
        assert "_denoised" in name
    assert names[1].endswith("_denoised-2.tiff")  # the shortened stems were the same
    single = output_path_for(inputs[0], "_x4")
    assert len(single.name.encode()) <= MAX_NAME_BYTES and single.name.endswith("_x4.tiff")
    # and such a name can really be written
    plan[0].output.parent.mkdir(parents=True)
    save_image(plan[0].output, np.zeros((4, 4, 3), np.float32), ImageMeta())
    assert plan[0].output.is_file()


def test_suffix_checks() -> None:
    assert check_suffix("_denoised v2") == "_denoised v2"
    for bad in ("a/b", "a\\b", "tab\there", "x" * 65):
        with pytest.raises(OptionError):
            check_suffix(bad)


# ------------------------------------------------------------------------- restore_files
class _InvertProcessor:
    scale = 1
    overlap = 2
    device = "cpu"

    def __init__(self, fail_on: float | None) -> None:
        self.fail_on = fail_on

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        if self.fail_on is not None and np.isclose(tile.mean(), self.fail_on, atol=0.02):
            raise RuntimeError("the model broke on this photo")
        return 1.0 - tile


@dataclass
class Invert:
    """A `RestoreSpec` whose processor inverts the photo (and fails on one grey level)."""

    id: str = "invert"
    task: str = "denoise"
    scale: int = 1
    tiles_well: bool = True
    strength: None = None
    fail_on: float | None = None
    built: list[LoadOptions] = field(default_factory=list)

    def build(self, options: LoadOptions, /) -> _InvertProcessor:
        self.built.append(options)
        return _InvertProcessor(self.fail_on)


OPTIONS = LoadOptions(device="cpu")


def test_restore_files_goes_on_after_failures_and_sums_up(tmp_path: Path) -> None:
    photos = [
        _png(tmp_path / "in" / "a.png", 40),
        tmp_path / "in" / "b.png",  # not an image
        _png(tmp_path / "in" / "c.png", 150),  # the model fails on it
        _png(tmp_path / "in" / "d.png", 90),
    ]
    photos[1].write_text("not a PNG")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "d_denoised.png").mkdir()  # a folder where d's result should go
    plan = plan_outputs(photos, suffix="_denoised", out_dir=tmp_path / "out")
    spec = Invert(fail_on=float(np.asarray(Image.open(photos[2]), np.float32).mean() / 255))
    items: list[FileProgress] = []
    summary = run_to_end(restore_files(plan, photo_job(spec, OPTIONS)), items.append)
    assert [p.name for p, _ in summary.done] == ["a.png"]
    failed = dict((p.name, why) for p, why in summary.failed)
    assert list(failed) == ["b.png", "c.png", "d.png"]
    assert failed["b.png"].startswith("Cannot read b.png: ")
    assert failed["c.png"] == "Unexpected error: RuntimeError: the model broke on this photo"
    assert "a folder with that name exists" in failed["d.png"]
    assert not summary.cancelled and summary.elapsed > 0
    assert summary.text() == "1 saved, 3 failed"
    finished = [i for i in items if i.finished]
    assert [(i.index, i.total, i.output is not None) for i in finished] == [
        (0, 4, True),
        (1, 4, False),
        (2, 4, False),
        (3, 4, False),
    ]
    assert any(i.tile is not None and i.tiles_total >= 1 for i in items if i.index == 0)
    out = load_image(tmp_path / "out" / "a_denoised.png").rgb
    np.testing.assert_allclose(out, 1.0 - load_image(photos[0]).rgb, atol=1 / 255)


def test_existing_results_fail_before_any_work_or_are_skipped(tmp_path: Path) -> None:
    src = _png(tmp_path / "a.png")
    (task,) = plan_outputs([src], suffix="_denoised")
    task.output.write_bytes(b"keep me")
    spec = Invert()
    with pytest.raises(ImageWriteError, match="already exists"):
        run_to_end(restore_file(task, photo_job(spec, OPTIONS)))
    assert spec.built == []  # refused before the model was built
    summary = run_to_end(restore_files([task], photo_job(spec, OPTIONS), skip_existing=True))
    assert summary.skipped == [(src, "a_denoised.png exists (skipped)")] and not summary.done
    assert task.output.read_bytes() == b"keep me"
    summary = run_to_end(restore_files([task], photo_job(spec, OPTIONS), overwrite=True))
    assert summary.done == [(src, task.output)] and load_image(task.output).width == 24


def test_outputs_that_cannot_be_written_fail_before_any_work(tmp_path: Path) -> None:
    """A file type we do not write, or a DNG of a photo that is not a camera RAW, fails
    before the model is built (not after it ran)."""
    from deconv_gui.core.naming import PlannedFile

    src = _png(tmp_path / "a.png")
    spec = Invert()
    for name, match in (("a.xyz", "unsupported file type '.xyz'"), ("a.dng", "needs a camera RAW")):
        with pytest.raises(ImageWriteError, match=match):
            run_to_end(restore_file(PlannedFile(src, tmp_path / name), photo_job(spec, OPTIONS)))
    assert spec.built == [] and sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_cancel_stops_the_run_and_says_so(tmp_path: Path) -> None:
    photos = [_png(tmp_path / f"{i}.png", 30 * i) for i in range(3)]
    plan = plan_outputs(photos, suffix="_x", out_dir=tmp_path / "out")
    finished: list[int] = []

    def progress(p: FileProgress) -> None:
        if p.finished:
            finished.append(p.index)

    summary = run_to_end(
        restore_files(plan, photo_job(Invert(), OPTIONS), cancel=lambda: len(finished) >= 1),
        progress,
    )
    assert summary.cancelled and [p.name for p, _ in summary.done] == ["0.png"]
    assert sorted(q.name for q in (tmp_path / "out").iterdir()) == ["0_x.png"]
    assert summary.text() == "1 saved, cancelled"


def test_a_missing_output_folder_is_created_and_a_blocked_one_fails_per_file(
    tmp_path: Path,
) -> None:
    src = _png(tmp_path / "a.png")
    deep = PlannedFile(src, tmp_path / "new" / "deeper" / "a.png")
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    blocked = PlannedFile(src, blocker / "a.png")
    summary = run_to_end(restore_files([blocked, deep], photo_job(Invert(), OPTIONS)))
    assert summary.done == [(src, deep.output)]
    ((_, why),) = summary.failed
    assert why.startswith(f"Cannot create the folder {blocker}")


def test_the_options_are_checked_before_the_model_is_built() -> None:
    from deconv_gui.core.jobs import restore_job

    spec = Invert()
    rgb = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(OptionError, match="tile size must be at least 1"):
        run_to_end(restore_job(spec, rgb, OPTIONS, tile_size=0))
    with pytest.raises(OptionError, match="strength must be a finite number"):
        run_to_end(restore_job(spec, rgb, LoadOptions(device="cpu", strength=float("nan"))))
    assert spec.built == []


def test_auto_setting_says_what_auto_read_in_plain_words() -> None:
    """Auto's reading as said to the user: a lower-case label unless it is an acronym, one
    decimal below 10; the JPEG remover's quality 100 (no compression found) is said as
    such, keyed on the model's task, not on the wording of its label."""
    assert AutoSetting("d", "Noise level", 17.4, "denoise").text() == "noise level 17"
    assert AutoSetting("d", "Noise level", 2.44, "denoise").text() == "noise level 2.4"
    assert AutoSetting("d", "Noise level", 3.0, "denoise").text() == "noise level 3"
    assert AutoSetting("j", "JPEG quality", 60, "jpeg").text() == "JPEG quality 60"
    assert AutoSetting("j", "Quality", 100, "jpeg").text() == "no JPEG artifacts found"
    assert AutoSetting("x", "Quality", 100, "denoise").text() == "quality 100"
    fine = AutoSetting("j", "JPEG quality", 96.9, "jpeg").text()
    assert fine == "JPEG quality 97: fine enough to leave as it is"


def test_jpeg_remover_on_auto_leaves_a_fine_jpeg_as_it_is(tmp_path) -> None:
    """A camera's fine JPEG (tables at quality 97) comes out of the bundled remover on Auto
    unchanged (the network would only soften it); quality 90 is still worked on, and 97
    set by hand still runs the network."""
    import cv2

    from deconv_gui.core.jpeg_quality import AUTO_LEAVE_QUALITY
    from deconv_gui.core.pipeline import restore_photo
    from deconv_gui.models.catalog import default_registry

    spec = default_registry().get("redunet-jpeg")
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.random((96, 128, 3)).astype(np.float32), (0, 0), 3.0)
    pixels = (np.clip(base * 2 - 0.5, 0, 1) * 255).astype(np.uint8)
    out = {}
    for q in (90, 97):
        path = tmp_path / f"q{q}.jpg"
        Image.fromarray(pixels).save(path, quality=q)
        photo = load_image(path)
        assert (photo.meta.extra["jpeg_quality"] >= AUTO_LEAVE_QUALITY) == (q == 97)
        auto = run_to_end(restore_photo(spec, photo, LoadOptions(device="cpu")))
        hand = run_to_end(restore_photo(spec, photo, LoadOptions(device="cpu", strength=q)))
        out[q] = (photo.rgb, auto.rgb, hand.rgb)
    rgb, auto, hand = out[97]
    assert np.array_equal(auto, rgb) and not np.array_equal(hand, rgb)
    rgb, auto, _ = out[90]
    assert not np.array_equal(auto, rgb)
