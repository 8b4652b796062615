"""The real main window, offscreen, with a tiny model registry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import SLOW_CALLS, open_and_wait, write_photo
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent


def drop_urls(window, paths):
    """Drag files over the window and drop them (QApplication.sendEvent would need a real
    drag in progress, so the window's handlers get the events directly)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(200, 200)
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    # (Qt's QDragEnterEvent takes a QPoint, its QDropEvent a QPointF)
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, buttons, mods)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, buttons, mods)
    window.dropEvent(drop)
    return drop.isAccepted()


def run_and_wait(qtbot, window, model_id: str = "tiny-conv", timeout: int = 30000):
    assert window.restore_panel.select_model(model_id)
    with qtbot.waitSignal(window.result_finished, timeout=timeout) as blocker:
        qtbot.mouseClick(window.restore_panel.run_button, Qt.MouseButton.LeftButton)
    doc = blocker.args[0]
    qtbot.waitUntil(lambda: doc.result.final is not None, timeout=timeout)
    return doc


def test_open_by_drop_files_and_folders(qtbot, window, tmp_path):
    folder = tmp_path / "shoot"
    write_photo(folder / "a.jpg", seed=1)
    write_photo(folder / "b.png", seed=2, fmt="PNG")
    (folder / "notes.txt").write_text("not a photo")
    single = write_photo(tmp_path / "single.jpg", seed=3)
    shown = []  # the first photo loads in full at once, the others get a preview
    window.document_loaded.connect(shown.append)
    window.document_previewed.connect(shown.append)
    assert drop_urls(window, [folder, single])
    qtbot.waitUntil(lambda: len({d.key for d in shown}) == 3, timeout=20000)
    names = sorted(d.name for d in window.documents.values())
    assert names == ["a.jpg", "b.png", "single.jpg"]
    assert window.filmstrip.count() == 3
    assert window.stack.currentWidget() is window.view
    assert window.current is not None and window.view.before() is not None
    # recent files remember what was opened
    assert str(single.resolve()) in window.prefs.recent_files


def test_run_shows_result_and_ssim_readout(qtbot, window, photo):
    doc = open_and_wait(qtbot, window, photo)
    assert window.quality_panel.after_ssim_text() == "—"
    assert window.restore_panel.run_button.isEnabled()
    doc = run_and_wait(qtbot, window)
    assert doc.result is not None and doc.result.rgb.shape == doc.photo.rgb.shape
    assert window.view.after() is doc.result.view
    readout = window.quality_panel.readout()
    assert readout.after_ssim is not None and 0.3 < readout.after_ssim < 1.0
    assert not readout.partial and readout.label == "similarity to input"
    assert window.quality_panel.after_ssim_text() != "—"
    # the visible-region SSIM follows the view
    qtbot.waitUntil(lambda: window.quality_panel.readout().visible_after is not None, timeout=20000)
    assert window.action("save").isEnabled()
    assert not window.is_busy and window.restore_panel.run_button.isEnabled()


def test_ssim_readout_changes_with_the_result(qtbot, window, photo):
    open_and_wait(qtbot, window, photo)
    first = run_and_wait(qtbot, window, "tiny-conv")
    s1 = window.quality_panel.readout().after_ssim
    with qtbot.waitSignal(window.quality_panel.updated, timeout=20000):
        run_and_wait(qtbot, window, "tiny-x2")
    s2 = window.quality_panel.readout().after_ssim
    assert first.result.spec.id == "tiny-x2"  # same document, new result
    assert s1 != pytest.approx(s2)
    # an upscale: the scene is the result size, the input is enlarged (Lanczos) over it
    assert window.view.scene_size() == (first.photo.width * 2, first.photo.height * 2)
    qtbot.waitUntil(lambda: window.view.before().size == window.view.scene_size(), timeout=20000)


def test_cancel_mid_run_leaves_the_app_idle(qtbot, window, tmp_path):
    path = write_photo(tmp_path / "big.jpg", size=(384, 320))
    doc = open_and_wait(qtbot, window, path)
    window.restore_panel.select_model("tiny-slow")
    window.restore_panel.set_tile_size(64)
    SLOW_CALLS.clear()
    with qtbot.waitSignal(window.session.tile_done, timeout=20000):
        qtbot.mouseClick(window.restore_panel.run_button, Qt.MouseButton.LeftButton)
    assert window.is_busy and window.restore_panel.cancel_button.isEnabled()
    with qtbot.waitSignal(window.session.cancelled, timeout=20000):
        qtbot.mouseClick(window.restore_panel.cancel_button, Qt.MouseButton.LeftButton)
    calls_at_cancel = SLOW_CALLS[0].calls
    assert calls_at_cancel < 30  # 6 x 5 tiles in all; it stopped early
    assert not window.is_busy
    assert doc.result is None
    assert window.restore_panel.run_button.isEnabled()
    assert "Cancelled" in window.restore_panel.progress_label.text()
    # usable again: a normal run works after the cancel
    window.restore_panel.set_tile_size(None)
    run_and_wait(qtbot, window, "tiny-conv")
    assert SLOW_CALLS[0].calls == calls_at_cancel  # no tile ran after the cancel


def test_escape_cancels(qtbot, window, tmp_path):
    path = write_photo(tmp_path / "big.jpg", size=(384, 320))
    open_and_wait(qtbot, window, path)
    window.restore_panel.select_model("tiny-slow")
    window.restore_panel.set_tile_size(64)
    with qtbot.waitSignal(window.session.tile_done, timeout=20000):
        window.action("run").trigger()
    with qtbot.waitSignal(window.session.cancelled, timeout=20000):
        qtbot.keyClick(window.view, Qt.Key.Key_Escape)
    assert not window.is_busy


def test_compare_modes_keys_and_flicker(qtbot, window, photo):
    open_and_wait(qtbot, window, photo)
    run_and_wait(qtbot, window)
    window.view.setFocus()
    for key, mode in ((Qt.Key.Key_2, "side"), (Qt.Key.Key_3, "flicker"), (Qt.Key.Key_1, "split")):
        qtbot.keyClick(window.view, key)
        assert window.view.mode() == mode
        assert window.action(f"mode_{mode}").isChecked()
        assert not window.grab().isNull()
    # Space held shows the before picture, release shows the result again
    qtbot.keyPress(window.view, Qt.Key.Key_Space)
    assert window.view.is_showing_before()
    qtbot.keyRelease(window.view, Qt.Key.Key_Space)
    assert not window.view.is_showing_before()
    # Space on the focused Run button must not start a run
    window.restore_panel.run_button.setFocus()
    qtbot.keyPress(window.restore_panel.run_button, Qt.Key.Key_Space)
    qtbot.keyRelease(window.restore_panel.run_button, Qt.Key.Key_Space)
    assert not window.is_busy
    # zoom shortcuts
    qtbot.keyClick(window.view, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.view.zoom() == 1.0
    qtbot.keyClick(window.view, Qt.Key.Key_Plus)
    assert window.view.zoom() > 1.0
    qtbot.keyClick(window.view, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert window.view.is_fit()
    # divider drag in split mode
    x = int(window.view.width() * window.view.divider_position())
    y = window.view.height() // 2
    qtbot.mousePress(window.view, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    qtbot.mouseMove(window.view, QPoint(x - 100, y))
    qtbot.mouseRelease(window.view, Qt.MouseButton.LeftButton, pos=QPoint(x - 100, y))
    assert window.view.divider_position() < 0.5
    # overlays
    with qtbot.waitSignal(window.overlay_ready, timeout=20000):
        window.action("overlay_ssim").trigger()
    assert window.view.overlay_kind() == "ssim"
    with qtbot.waitSignal(window.overlay_ready, timeout=20000):
        window.action("overlay_diff").trigger()
    assert window.view.overlay_kind() == "diff"
    window.action("overlay_ssim").trigger()  # built once, shown at once the second time
    assert window.view.overlay_kind() == "ssim"
    window.action("overlay_ssim").trigger()
    assert window.view.overlay_kind() == ""


def test_save_keeps_exif_and_asks_before_overwriting(qtbot, window, photo):
    open_and_wait(qtbot, window, photo)
    run_and_wait(qtbot, window)
    with qtbot.waitSignal(window.saved, timeout=20000) as blocker:
        window.action("save").trigger()
    out = blocker.args[0]
    assert out == photo.with_name("street_denoised.jpg")
    with Image.open(out) as im:
        exif = im.getexif()
        assert exif.get(0x010F) == "TestCam"
        assert im.info.get("icc_profile")
    # Save As onto the existing file: our question is asked (here answered No) -> nothing written
    asked = []
    window.ask = lambda title, text: asked.append(text) or False
    window.current.result = replace(window.current.result, saved_path=None)
    mtime = out.stat().st_mtime_ns
    window.save()
    assert asked and "already exists" in asked[0]
    assert out.stat().st_mtime_ns == mtime


def test_a_photos_warning_from_opening_it_goes_when_another_photo_is_shown(
    qtbot, window, tmp_path, photo
):
    """A warning about one photo ("only the first page is read") stayed over the next photo
    shown, where it read as if it were about that one."""
    pages = tmp_path / "pages.tif"
    first = Image.new("RGB", (64, 48), (200, 40, 40))
    first.save(pages, save_all=True, append_images=[Image.new("RGB", (64, 48))])
    warned = open_and_wait(qtbot, window, pages)
    qtbot.waitUntil(lambda: "pages.tif" in window.message_bar.text(), timeout=5000)
    assert window.message_bar.kind == "warning" and warned.load_warnings
    open_and_wait(qtbot, window, photo)
    assert window.message_bar.text() == ""


def test_bad_file_shows_an_error_and_the_app_goes_on(qtbot, window, tmp_path, photo):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with qtbot.waitSignal(window.document_failed, timeout=20000):
        window.open_paths([bad])
    assert "broken.jpg" in window.message_bar.text()
    assert window.filmstrip.state(window.current.key) == "error"
    assert not window.restore_panel.run_button.isEnabled()
    broken = window.current
    doc = open_and_wait(qtbot, window, photo)
    assert window.current is doc
    # moving on hides the broken photo's error; its badge and page keep saying why
    assert window.message_bar.text() == ""
    window.filmstrip.select(broken.key)
    assert window.filmstrip.state(broken.key) == "error"
    window.filmstrip.select(doc.key)
    run_and_wait(qtbot, window)


def test_a_model_that_fails_shows_a_message(qtbot, window, photo):
    doc = open_and_wait(qtbot, window, photo)
    for model_id, text in (
        ("tiny-broken", "weights of 'broken' are missing"),
        ("tiny-crash", "broke on purpose"),
    ):
        window.restore_panel.select_model(model_id)
        with qtbot.waitSignal(window.session.failed, timeout=20000):
            window.run()
        assert text in window.message_bar.text()
        assert not window.is_busy and doc.result is None
    run_and_wait(qtbot, window, "tiny-conv")


def test_settings_persist_across_windows(qtbot, make_window, photo):
    w1 = make_window()
    open_and_wait(qtbot, w1, photo)
    w1.restore_panel.select_model("tiny-x2")
    w1.restore_panel.set_tile_size(512)
    w1.set_compare_mode("side")
    w1.resize(1300, 820)
    w1.close()
    w2 = make_window()
    assert w2.restore_panel.current_spec().id == "tiny-x2"
    assert w2.restore_panel.tile_size() == 512
    assert w2.view.mode() == "side"
    assert w2.prefs.recent_files[0] == str(photo.resolve())
    assert w2.prefs.geometry is not None and w2.prefs.splitter_state is not None
    recent = [a.text() for a in w2.recent_menu.actions()]
    assert "street.jpg" in recent


def test_close_during_a_run_cancels_and_waits(qtbot, make_window, tmp_path):
    w = make_window()
    path = write_photo(tmp_path / "big.jpg", size=(384, 320))
    open_and_wait(qtbot, w, path)
    w.restore_panel.select_model("tiny-slow")
    w.restore_panel.set_tile_size(64)
    with qtbot.waitSignal(w.session.tile_done, timeout=20000):
        w.run()
    assert w.close()
    assert not w.is_busy
    from deconv_gui.gui.runner import running_worker_threads

    assert running_worker_threads() == 0


def test_batch_over_the_filmstrip_reports_failures(qtbot, window, tmp_path):
    good = [write_photo(tmp_path / "in" / f"p{i}.jpg", seed=i) for i in range(2)]
    bad = tmp_path / "in" / "bad.jpg"
    bad.write_bytes(b"garbage")
    seen, failed = set(), []
    window.document_loaded.connect(lambda d: seen.add(d.key))
    window.document_previewed.connect(lambda d: seen.add(d.key))
    window.document_failed.connect(failed.append)
    window.open_paths([*good, bad])
    qtbot.waitUntil(lambda: len(seen) == 2 and len(failed) == 1, timeout=20000)
    window.restore_panel.select_model("tiny-conv")
    dlg = window.batch_dialog()
    out = tmp_path / "out"
    dlg.output_edit.setText(str(out))
    with qtbot.waitSignal(window.batch.finished, timeout=20000):
        qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    summary = window.batch.last_summary
    assert [p.name for p, _ in summary.done] == ["p0.jpg", "p1.jpg"]
    assert [p.name for p, _ in summary.failed] == ["bad.jpg"]
    assert (out / "p0_denoised.jpg").is_file()
    assert "1 failed" in dlg.summary_label.text()
    assert dlg.failures.count() == 1  # each failure listed once
    dlg.close()


def test_strength_slider_and_auto(window):
    panel = window.restore_panel
    panel.select_model("tiny-conv")
    assert panel.strength_row.isVisibleTo(window)
    assert panel.strength_auto.isChecked() and panel.strength() is None
    panel.set_strength(25)
    assert panel.strength() == pytest.approx(25)
    assert panel.strength_value.text() == "25"
    panel.select_model("tiny-x2")
    # no strength: the row stays (nothing jumps) but is disabled and says so
    assert panel.strength_row.isVisibleTo(window) and not panel.strength_row.isEnabled()
    assert panel.strength_value.text() == "—"
    assert panel.load_options().strength is None


def test_simulate_shows_gain_against_the_photo_itself(qtbot, window, photo):
    pytest.importorskip("deconv_gui.core.degrade")
    doc = open_and_wait(qtbot, window, photo)
    window.simulate("noise=25")
    qtbot.waitUntil(lambda: doc.comparison.lq is not None and doc.target is not None, timeout=20000)
    assert window.quality_panel.readout().has_reference
    qtbot.waitUntil(lambda: window.quality_panel.readout().before_ssim is not None, timeout=20000)
    run_and_wait(qtbot, window, "tiny-conv")
    r = window.quality_panel.readout()
    assert r.before_ssim is not None and r.after_ssim is not None
    assert r.after_ssim > r.before_ssim  # a blur helps against strong noise
    assert r.label == "vs your photo"
    # the status line says what was restored: the degraded copy, not the photo itself
    assert (
        window.statusBar()
        .currentMessage()
        .endswith(f"finished on the simulated noise=25 copy of {photo.name}")
    )


def test_screenshot_of_the_window(qtbot, window, photo, tmp_path):
    open_and_wait(qtbot, window, photo)
    run_and_wait(qtbot, window)
    img = window.grab().toImage()
    assert img.width() >= 1200 and img.height() >= 750
    arr = np.asarray(img.constBits()).size
    assert arr > 0
    assert Path(tmp_path).exists()


def test_only_a_few_full_photos_stay_in_memory(qtbot, window, tmp_path):
    from deconv_gui.gui.photo_list import FULL_PHOTOS_KEPT

    paths = [write_photo(tmp_path / f"p{i}.jpg", seed=i) for i in range(6)]
    docs = window.open_paths(paths)
    for doc in docs:
        with qtbot.waitSignal(window.document_loaded, timeout=20000):
            window.filmstrip.select(doc.key)
        assert window.current is doc and doc.is_ready
    loaded = [d for d in docs if d.photo is not None]
    assert len(loaded) <= FULL_PHOTOS_KEPT + 1
    assert docs[-1] in loaded and docs[0] not in loaded
    # going back loads it again
    with qtbot.waitSignal(window.document_loaded, timeout=20000):
        window.filmstrip.select(docs[0].key)
    assert docs[0].is_ready


def test_a_transparent_photos_thumbnail_shows_the_checkerboard(qtbot, window, tmp_path):
    """The filmstrip had shown the hidden colour of transparent pixels (here: blue)."""
    from deconv_gui.gui.display import CHECKER_GREYS

    rgba = np.zeros((300, 400, 4), np.uint8)
    rgba[..., 2] = 255  # blue where transparent
    rgba[:, 200:, 0], rgba[:, 200:, 2], rgba[:, 200:, 3] = 255, 0, 255  # opaque red right half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "logo.png")
    doc = open_and_wait(qtbot, window, tmp_path / "logo.png")
    thumb = window.filmstrip._thumbs[doc.key]
    y, w = thumb.height() // 2, thumb.width()
    left = {(thumb.pixelColor(x, y).red(), thumb.pixelColor(x, y).blue()) for x in range(w // 3)}
    assert left == {(g, g) for g in CHECKER_GREYS}
    right = thumb.pixelColor(w - 5, y)
    assert (right.red(), right.blue()) == (255, 0)


def test_compare_models_shows_transparency_too(qtbot, window, tmp_path):
    """Its panes had shown the hidden colour of transparent pixels (blue here)."""
    from deconv_gui.gui.display import CHECKER_GREYS

    rgba = np.zeros((72, 96, 4), np.uint8)
    rgba[..., 2] = 255  # blue where transparent
    rgba[:, 48:, 0], rgba[:, 48:, 2], rgba[:, 48:, 3] = 255, 0, 255  # opaque red right half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "logo.png")
    open_and_wait(qtbot, window, tmp_path / "logo.png")
    window.restore_panel.select_model("tiny-x2")
    dlg = window.workflow.compare_models_dialog()
    with qtbot.waitSignal(dlg.compared, timeout=30000):
        pass
    pane = next(p for p in dlg.panes if p._pixmap is not None)
    img = pane._pixmap.toImage()
    assert (img.width(), img.height()) == (192, 144)  # x2
    left = {(img.pixelColor(x, 72).red(), img.pixelColor(x, 72).blue()) for x in range(80)}
    assert left == {(g, g) for g in CHECKER_GREYS}
    right = img.pixelColor(180, 72)
    assert right.red() > 200 and right.blue() < 40  # the photo's red
    dlg.reject()


def test_a_photo_with_transparency_is_shown_through_it_before_and_after(qtbot, window, tmp_path):
    from deconv_gui.gui.compare_view import CHECKER_GREYS

    rgba = np.full((72, 96, 4), 255, np.uint8)
    rgba[..., 1:3] = 0  # red
    rgba[:, :48, 3] = 0  # the left half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cut-out.png")
    doc = open_and_wait(qtbot, window, tmp_path / "cut-out.png")
    assert doc.alpha_view is not None
    assert window.view.transparency() == (doc.alpha_view, (True, True))
    run_and_wait(qtbot, window, "tiny-x2")
    window.view.set_mode("flicker")
    window.view.set_zoom(1.0)
    assert window.view.transparency() == (doc.alpha_view, (True, True))
    img = window.view.grab().toImage()
    cx, cy = img.width() // 2, img.height() // 2
    left = {img.pixelColor(cx - 60 + i, cy).red() for i in range(40)}
    right = img.pixelColor(cx + 40, cy)
    assert left == set(CHECKER_GREYS)
    assert right.red() > 200 and right.green() < 40 and right.blue() < 40  # the photo's red
    # an opaque photo: no mask
    write_photo(tmp_path / "opaque.png", fmt="PNG")
    other = open_and_wait(qtbot, window, tmp_path / "opaque.png")
    assert other.alpha_view is None and window.view.transparency() == (None, (False, False))


def test_the_selected_thumbnail_keeps_the_photos_colours(qtbot, window, tmp_path):
    """Qt tinted the selected photo's thumbnail with the highlight colour (blue): a colour
    cast in the strip that the photo does not have."""
    from PySide6.QtGui import QIcon

    grey = tmp_path / "grey.png"
    Image.new("RGB", (96, 64), (128, 128, 128)).save(grey)
    doc = open_and_wait(qtbot, window, grey)
    strip = window.filmstrip
    item = strip.item(0)
    qtbot.waitUntil(lambda: not item.icon().isNull(), timeout=5000)
    assert item.isSelected() and window.current is doc
    size = strip.iconSize()

    def centre(mode: QIcon.Mode) -> tuple[int, int, int]:
        img = item.icon().pixmap(size, mode).toImage()
        c = img.pixelColor(img.width() // 2, img.height() // 2)
        return c.red(), c.green(), c.blue()

    assert centre(QIcon.Mode.Selected) == centre(QIcon.Mode.Normal)
    r, g, b = centre(QIcon.Mode.Normal)
    assert max(r, g, b) - min(r, g, b) <= 2  # grey stays grey
