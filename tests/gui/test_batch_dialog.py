"""The batch dialog (issue 15): folder trees with patterns, resume, presets, the watch
toggle, progress in photos with time left, failures listed once, "Open output folder"."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from gui_helpers import write_photo
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from deconv_gui.core.batch import BatchPlan
from deconv_gui.core.io import load_image
from deconv_gui.core.naming import PlannedFile
from deconv_gui.core.pipeline import FileProgress
from deconv_gui.core.presets import list_presets
from deconv_gui.gui.batch_controller import BatchController
from deconv_gui.gui.restore_panel import RunSettings
from deconv_gui.models.registry import LoadOptions, plain_name

CPU = LoadOptions(device="cpu")


@pytest.fixture
def batch(qtbot, prefs, registry):
    parent = QWidget()
    qtbot.addWidget(parent)
    settings = RunSettings(registry.get("tiny-conv"), CPU)
    controller = BatchController(prefs, parent, settings=lambda: settings, registry=registry)
    yield controller
    controller.shutdown()


def _results(out: Path) -> list[str]:
    return sorted(
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and ".deconv-gui" not in p.parts
    )


def _run(qtbot, batch: BatchController):
    with qtbot.waitSignal(batch.finished, timeout=30000) as blocker:
        qtbot.mouseClick(batch.dialog.start_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def test_a_folder_tree_with_patterns_then_resumed(qtbot, batch, registry, tmp_path):
    src = tmp_path / "shoot"
    for rel in ("a.jpg", "day1/b.jpg", "day1/c.png", "skip/d.jpg"):
        write_photo(src / rel, seed=len(rel))
    (src / "day1" / "broken.jpg").write_bytes(b"not a photo")
    out = tmp_path / "out"
    dlg = batch.open_dialog([])
    assert dlg is not None and dlg.folder_radio.isChecked()  # no filmstrip photos
    # the model as the model panel names it, not the card's technical name
    panel_name = plain_name(registry.get("tiny-conv"))
    assert dlg.preset_combo.itemText(0) == f"Model panel: {panel_name}"
    dlg.folder_edit.setText(str(src))
    dlg.recursive_check.setChecked(True)
    dlg.include_edit.setText("*.jpg")
    dlg.exclude_edit.setText("skip/*")
    dlg.output_edit.setText(str(out))
    assert not dlg.open_button.isEnabled()  # no folder yet
    summary = _run(qtbot, batch)
    assert _results(out) == ["a_denoised.jpg", "day1/b_denoised.jpg"]
    assert [p.name for p, _ in summary.failed] == ["broken.jpg"]
    assert dlg.failures.count() == 1 and "broken.jpg" in dlg.failures.item(0).text()
    text = dlg.summary_label.text()
    assert "2 saved" in text and "1 failed" in text and "broken" not in text  # listed once
    assert dlg.overall.value() == dlg.overall.maximum() == 3

    # Start again: what is done is skipped, the broken photo is tried again
    stamp = (out / "a_denoised.jpg").stat().st_mtime_ns
    summary = _run(qtbot, batch)
    assert not summary.done and len(summary.failed) == 1
    assert "2 done before" in dlg.summary_label.text()
    assert (out / "a_denoised.jpg").stat().st_mtime_ns == stamp
    assert dlg.failures.count() == 1

    opened = []
    from PySide6.QtGui import QDesktopServices

    monkey = pytest.MonkeyPatch()
    monkey.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    try:
        assert dlg.open_button.isEnabled()
        qtbot.mouseClick(dlg.open_button, Qt.MouseButton.LeftButton)
    finally:
        monkey.undo()
    assert [Path(u.toLocalFile()) for u in opened] == [out]


def test_a_sub_folder_that_cannot_be_listed_stops_the_start_with_its_name(
    qtbot, batch, tmp_path, monkeypatch
):
    src = tmp_path / "shoot"
    write_photo(src / "a.jpg", seed=1)
    write_photo(src / "private" / "b.jpg", seed=2)
    real = os.scandir

    def scandir(path):  # root passes chmod: deny the listing itself
        if Path(str(path)).name == "private":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr("deconv_gui.core.inputs.os.scandir", scandir)
    dlg = batch.open_dialog([])
    dlg.folder_edit.setText(str(src))
    dlg.recursive_check.setChecked(True)
    dlg.output_edit.setText(str(tmp_path / "out"))
    assert not batch.start()
    assert dlg.summary_label.text() == (
        f"{src / 'private'}: cannot list the folder: permission denied "
        "(its photos would be left out)"
    )
    assert not (tmp_path / "out").exists()


def test_a_damaged_manifest_line_is_shown_with_the_failures(qtbot, batch, tmp_path):
    src = tmp_path / "shoot"
    write_photo(src / "a.jpg", seed=1)
    out = tmp_path / "out"
    dlg = batch.open_dialog([])
    dlg.folder_edit.setText(str(src))
    dlg.output_edit.setText(str(out))
    _run(qtbot, batch)
    manifest = out / ".deconv-gui" / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    lines[-1] = re.sub(r'"size":\d+', '"size":"big"', lines[-1], count=1)
    manifest.write_text("\n".join(lines) + "\n")
    summary = _run(qtbot, batch)
    assert len(summary.done) == 1  # its record is gone: done again, its own output replaced
    assert dlg.failures.count() == 1
    text = dlg.failures.item(0).text()
    assert "damaged line (3)" in text and str(manifest) in text


def test_a_photos_warnings_are_listed_with_the_failures(qtbot, batch, tmp_path):
    """What the CLI prints on stderr for a photo (only an animation's first frame is read)
    was in the log file only; now it is listed, once, and the photo still counts as saved."""
    from PIL import Image

    src = tmp_path / "shoot"
    write_photo(src / "a.jpg", seed=1)
    frames = [Image.new("RGB", (40, 30), (60 * i, 80, 120)) for i in range(3)]
    frames[0].save(src / "anim.webp", save_all=True, append_images=frames[1:])
    dlg = batch.open_dialog([])
    dlg.folder_edit.setText(str(src))
    dlg.output_edit.setText(str(tmp_path / "out"))
    summary = _run(qtbot, batch)
    assert len(summary.done) == 2 and not summary.failed
    listed = [dlg.failures.item(i).text() for i in range(dlg.failures.count())]
    assert len(listed) == 1 and listed[0].startswith("⚠  Anim.webp has 3 frames")
    assert [(p.name, w[:19]) for p, w in summary.warned] == [("anim.webp", "anim.webp has 3 fra")]
    assert "2 saved, 1 with warnings (listed above)" in dlg.summary_label.text()


def test_next_to_the_originals_a_second_start_keeps_results_out_of_the_photos(
    qtbot, batch, tmp_path
):
    src = tmp_path / "shoot"
    write_photo(src / "a.jpg", seed=1)
    dlg = batch.open_dialog([])
    assert dlg is not None
    dlg.folder_edit.setText(str(src))
    dlg.output_edit.setText("")  # next to each original
    assert len(_run(qtbot, batch).done) == 1
    assert _results(src) == ["a.jpg", "a_denoised.jpg"]
    summary = _run(qtbot, batch)  # a_denoised.jpg is a result, not a new photo
    assert not summary.done and not summary.failed
    assert _results(src) == ["a.jpg", "a_denoised.jpg"]


def test_presets_are_saved_chosen_and_run(qtbot, batch, tmp_path):
    photos = [write_photo(tmp_path / "in" / f"p{i}.jpg", seed=i) for i in range(2)]
    dlg = batch.open_dialog(photos)
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData(".png"))
    dlg.suffix_edit.setText("_clean")
    assert batch.save_preset("clean png")
    (preset,) = list_presets()[0]
    assert preset.recipe.steps[0].model == "tiny-conv"
    assert preset.output.format == ".png" and preset.output.suffix == "_clean"
    assert dlg.preset_name() == "clean png"

    dlg.preset_combo.setCurrentIndex(0)  # back to the model panel: its suffix and format
    assert dlg.suffix() == "_denoised" and dlg.format_combo.currentData() is None
    dlg.preset_combo.setCurrentIndex(dlg.preset_combo.findData("clean png"))
    assert dlg.suffix() == "_clean" and dlg.format_combo.currentData() == ".png"
    dlg.output_edit.setText(str(tmp_path / "out"))
    summary = _run(qtbot, batch)
    assert [o.name for _, o in summary.done] == ["p0_clean.png", "p1_clean.png"]
    assert load_image(tmp_path / "out" / "p0_clean.png").meta.format == "PNG"
    assert not batch.save_preset("../bad")
    assert "bad preset name" in dlg.summary_label.text()


def test_watch_toggle_processes_arrivals_until_stopped(qtbot, batch, tmp_path):
    inbox = tmp_path / "inbox"
    write_photo(inbox / "first.jpg")
    (inbox / "gone.jpg").symlink_to(inbox / "nowhere.jpg")  # listed with the failures, once
    out = tmp_path / "out"
    dlg = batch.open_dialog([])
    dlg.watch_settle, dlg.watch_interval = 0.2, 0.05
    dlg.folder_edit.setText(str(inbox))
    dlg.watch_check.setChecked(True)
    done: list[FileProgress] = []
    batch.progressed.connect(lambda bp: bp.finished and done.append(bp))
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    assert not batch.is_busy and "needs an output folder" in dlg.summary_label.text()
    dlg.output_edit.setText(str(out))
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    assert batch.is_busy
    qtbot.waitUntil(lambda: len(done) == 1, timeout=20000)
    write_photo(inbox / "second.jpg", seed=3)
    qtbot.waitUntil(lambda: len(done) == 2, timeout=20000)
    qtbot.waitUntil(lambda: dlg.photo_label.text() == "Watching: 2 saved", timeout=5000)
    with qtbot.waitSignal(batch.cancelled, timeout=20000):
        qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
    assert _results(out) == ["first_denoised.jpg", "second_denoised.jpg"]
    assert "Stopped" in dlg.summary_label.text() and dlg.start_button.isEnabled()
    listed = [dlg.failures.item(i).text() for i in range(dlg.failures.count())]
    assert listed == [f"⚠  Skipped {inbox / 'gone.jpg'}: a broken link"]


def test_progress_shows_photos_and_time_left(qtbot, batch, tmp_path):
    dlg = batch.open_dialog([tmp_path / "x.jpg"])
    dlg.set_running(True)
    tasks = [PlannedFile(tmp_path / f"{i}.jpg", tmp_path / f"{i}_o.jpg") for i in range(4)]
    dlg.show_plan(BatchPlan(todo=tasks))
    assert dlg.photo_label.text() == "4 photos to do" and dlg.time_left() is None
    dlg.show_progress(FileProgress(0, 4, tasks[0].source, finished=True, output=tasks[0].output))
    dlg.show_progress(FileProgress(1, 4, tasks[1].source))
    left = dlg.time_left()
    assert left is not None and left >= 0
    assert dlg.photo_label.text().startswith("1 / 4 photos  ·  about ")
    assert "left" in dlg.photo_label.text() and dlg.photo_label.text().endswith("1.jpg")
    dlg.set_running(False)


def test_the_model_panels_whole_recipe_is_run_and_saved(qtbot, prefs, registry, tmp_path):
    """A recipe of several steps in the model panel (with Amount and Detail) is what the
    batch runs, names and saves as a preset, not only its last step."""
    import numpy as np

    from deconv_gui.core.recipe import Recipe, RecipeStep, recipe_job
    from deconv_gui.core.tiling import run_to_end

    recipe = Recipe((RecipeStep("tiny-conv", amount=0.5, detail=0.25), RecipeStep("tiny-x2")))
    settings = RunSettings(registry.get("tiny-x2"), CPU, recipe=recipe)
    parent = QWidget()
    qtbot.addWidget(parent)
    batch = BatchController(prefs, parent, settings=lambda: settings, registry=registry)
    try:
        photo = write_photo(tmp_path / "in" / "p.png", fmt="PNG")
        dlg = batch.open_dialog([photo])
        conv, x2 = (plain_name(registry.get(m)) for m in ("tiny-conv", "tiny-x2"))
        panel = f"Model panel: {conv} (Amount 50%, Detail 25%), then {x2}"
        assert dlg.preset_combo.itemText(0) == panel
        assert dlg.preset_combo.toolTip() == panel  # whole, where the list cuts it
        assert dlg.suffix() == "_restored_x2"
        dlg.output_edit.setText(str(tmp_path / "out"))
        summary = _run(qtbot, batch)
        ((_, out),) = summary.done
        assert out.name == "p_restored_x2.png"
        original = load_image(photo)
        expected = run_to_end(recipe_job(recipe, registry.get, CPU)(original)).rgb
        got = load_image(out).rgb
        assert got.shape == expected.shape == (144, 192, 3)
        assert np.abs(got - expected).max() <= 1 / 255 + 1e-6  # 8-bit rounding only
        assert batch.save_preset("two steps")
        (preset,) = list_presets()[0]
        assert preset.recipe.steps == recipe.steps
    finally:
        batch.shutdown()


def test_a_raw_card_batch_writes_dngs_and_skips_the_jpegs(qtbot, prefs, registry, tmp_path):
    """The batch dialog offered no DNG (the CLI's --format dng); with the RAW denoiser the
    camera's JPEGs beside its RAW files are skipped, and DNG with a photo model is refused."""
    from deconv_gui.core.dng import write_dng
    from deconv_gui.core.raw import open_raw
    from deconv_gui.models.registry import ModelRegistry
    from tests.core.test_dng import synthetic
    from tests.core.test_rawpipe import _noisy_mosaic, busy_raw_model

    spec = busy_raw_model(tmp_path / "models")
    reg = ModelRegistry([*registry, spec])
    chosen = [RunSettings(spec, CPU)]
    parent = QWidget()
    qtbot.addWidget(parent)
    batch = BatchController(prefs, parent, settings=lambda: chosen[0], registry=reg)
    try:
        card = tmp_path / "DCIM"
        card.mkdir()
        raw = synthetic("RGGB", (64, 96))
        write_dng(card / "IMG_1.dng", raw, _noisy_mosaic(raw))
        write_photo(card / "IMG_1.jpg")
        dlg = batch.open_dialog([])
        dlg.folder_edit.setText(str(card))
        dlg.output_edit.setText(str(tmp_path / "out"))
        dlg.format_combo.setCurrentIndex(dlg.format_combo.findData(".dng"))
        summary = _run(qtbot, batch)
        ((_, out),) = summary.done
        assert out.name == "IMG_1_denoised.dng" and open_raw(out).mosaic.shape == (64, 96)
        assert [(p.name, why) for p, why in summary.skipped] == [
            (
                "IMG_1.jpg",
                "not a camera RAW file (the RAW denoiser works on a camera's sensor data)",
            )
        ]
        assert not summary.failed
        assert "1 saved, 1 skipped (not camera RAW files)." in dlg.summary_label.text()
        chosen[0] = RunSettings(registry.get("tiny-conv"), CPU)  # a photo model: no DNG
        batch.open_dialog([])
        assert not batch.start()
        assert "a DNG holds the sensor's data" in dlg.summary_label.text()
    finally:
        batch.shutdown()


def test_quality_and_bit_depth_are_offered_where_they_apply(qtbot, batch):
    dlg = batch.open_dialog([])
    enabled = {}
    for ext in (None, ".jpg", ".png", ".webp", ".dng"):
        dlg.format_combo.setCurrentIndex(dlg.format_combo.findData(ext))
        enabled[ext] = (dlg.quality_spin.isEnabled(), dlg.depth_combo.isEnabled())
    assert enabled == {
        None: (True, True),  # the original's format may be JPEG
        ".jpg": (True, True),
        ".png": (False, True),
        ".webp": (True, True),
        ".dng": (False, False),  # the sensor's own depth
    }
    dlg.set_running(True)
    dlg.set_running(False)
    assert not dlg.quality_spin.isEnabled() and not dlg.depth_combo.isEnabled()  # still DNG
