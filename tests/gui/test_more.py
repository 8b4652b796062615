"""References, simulations, preferences, save errors, the crash hook and the GUI self-test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from gui_helpers import open_and_wait, write_photo
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox
from test_main_window import run_and_wait

from deconv_gui.gui.quality_panel import verdict_text


def test_reference_photo_shows_before_and_after_scores(qtbot, window, photo, tmp_path):
    doc = open_and_wait(qtbot, window, photo)
    ref = write_photo(tmp_path / "clean.png", seed=9, fmt="PNG")
    window.load_reference(ref)
    qtbot.waitUntil(
        lambda: doc.comparison.key == "reference" and doc.target is not None, timeout=20000
    )
    r = window.quality_panel.readout()
    assert r.has_reference and r.label == "vs clean.png"
    assert r.before_ssim is not None and r.after_ssim is None
    run_and_wait(qtbot, window)
    r = window.quality_panel.readout()
    assert r.after_ssim is not None and r.before_ssim is not None
    assert window.quality_panel.compare_combo.currentText() == "Reference: clean.png"
    assert "resized" not in verdict_text(r)[0]
    # an enlarged result is compared at the reference's size, and the verdict says so
    run_and_wait(qtbot, window, "tiny-x2")
    qtbot.waitUntil(lambda: window.quality_panel.readout().after_ssim is not None, timeout=20000)
    h, w = doc.photo.rgb.shape[:2]
    assert verdict_text(window.quality_panel.readout())[0].endswith(
        f"(The result was resized to clean.png's {w} × {h} to compare them.)"
    )
    # back to "similarity to input"
    window.quality.set_comparison(doc, None)
    qtbot.waitUntil(lambda: doc.result.final is not None, timeout=20000)
    assert not window.quality_panel.readout().has_reference


def test_reference_with_another_shape_is_refused(qtbot, window, photo, tmp_path):
    doc = open_and_wait(qtbot, window, photo)
    ref = write_photo(tmp_path / "square.png", size=(80, 80), fmt="PNG")
    window.load_reference(ref)
    qtbot.waitUntil(lambda: "square.png" in window.message_bar.text(), timeout=20000)
    assert doc.comparison.reference is None and doc.comparison.key == "input"


def test_simulated_downscale_then_upscale_compares_at_full_size(qtbot, window, photo):
    doc = open_and_wait(qtbot, window, photo)
    window.simulate("downscale=2")
    qtbot.waitUntil(lambda: doc.comparison.lq is not None and doc.target is not None, timeout=20000)
    assert doc.comparison.lq.shape[0] == doc.photo.height // 2
    run_and_wait(qtbot, window, "tiny-x2")
    assert doc.result.rgb.shape == doc.photo.rgb.shape
    assert window.view.scene_size() == (doc.photo.width, doc.photo.height)
    r = window.quality_panel.readout()
    assert r.has_reference and r.before_ssim is not None and r.after_ssim is not None
    # a bad spec is reported, not raised
    window.simulate("noise=abc")
    assert "noise=abc" in window.message_bar.text()


def test_save_error_keeps_the_result(qtbot, window, photo, tmp_path):
    doc = open_and_wait(qtbot, window, photo)
    run_and_wait(qtbot, window)
    blocker_file = tmp_path / "not-a-folder"
    blocker_file.write_text("x")
    window.prefs.output_dir = str(blocker_file)  # saving "into" a file fails like a full disk
    window.save()
    qtbot.waitUntil(lambda: window.message_bar.text() != "", timeout=20000)
    said = window.message_bar.text()
    # said once, with the way out; the status bar's "Saving street_denoised.jpg…" went
    assert said.count("save street_denoised.jpg") == 1, said
    assert said.endswith("File > Save Result As… saves it elsewhere."), said
    assert window.statusBar().currentMessage() == "Not saved: street_denoised.jpg"
    assert doc.result is not None and doc.result.saved_path is None
    window.prefs.output_dir = str(tmp_path / "out")
    (tmp_path / "out").mkdir()
    with qtbot.waitSignal(window.saved, timeout=20000):
        window.save()
    assert doc.result.saved_path == tmp_path / "out" / "street_denoised.jpg"


def test_save_as_uses_the_chosen_name(qtbot, window, photo, tmp_path, monkeypatch):
    open_and_wait(qtbot, window, photo)
    run_and_wait(qtbot, window, "tiny-x2")
    target = tmp_path / "chosen.png"
    seen = {}

    def fake_dialog(parent, title, start, filters):
        seen["start"] = start
        return str(target), filters

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake_dialog))
    with qtbot.waitSignal(window.saved, timeout=20000):
        window.action("save_as").trigger()
    assert Path(seen["start"]).name == "street_x2.jpg"
    assert target.is_file()


@pytest.mark.parametrize("through", ["same path", "symlink"])
def test_save_as_onto_the_original_photo_is_refused(
    qtbot, window, photo, tmp_path, monkeypatch, through
):
    """It asked "Replace the original photo?" and on Yes replaced it; the CLI and Batch
    never replace an original."""
    original = photo.read_bytes()
    doc = open_and_wait(qtbot, window, photo)
    run_and_wait(qtbot, window)
    target = photo
    if through == "symlink":
        target = tmp_path / "link.jpg"
        target.symlink_to(photo)
    asked = []
    monkeypatch.setattr(window.session, "_ask", lambda *a: asked.append(a) or True)
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(target), a[-1]))
    )
    window.action("save_as").trigger()
    qtbot.waitUntil(lambda: window.message_bar.text() != "", timeout=5000)
    assert window.message_bar.text().startswith(
        f"Not saved: {target.name} is the original photo, which is never replaced."
    )
    assert photo.read_bytes() == original and not asked
    assert doc.result.saved_path is None and doc.unsaved


def test_preferences_dialog_applies_and_persists(qtbot, make_window, tmp_path):
    from PySide6.QtWidgets import QDialogButtonBox

    w = make_window()
    dlg = w.preferences_dialog()
    dlg.threads_spin.setValue(1)
    dlg.tile_combo.setCurrentIndex(dlg.tile_combo.findData(256))
    dlg.output_edit.setText(str(tmp_path / "results"))
    dlg.suffix_edit.setText("_clean")
    assert dlg.precision_check.isChecked() and w.restore_panel.load_options().allow_fp16
    dlg.precision_check.setChecked(False)
    assert not dlg.quality_check.isChecked() and not w.restore_panel.load_options().ensemble
    dlg.quality_check.setChecked(True)
    ok = dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert w.restore_panel.tile_size() == 256
    assert not w.restore_panel.load_options().allow_fp16  # float32 from now on
    assert w.restore_panel.load_options().ensemble  # eight passes from now on
    w.close()
    w2 = make_window()
    assert w2.prefs.threads == 1 and w2.prefs.tile_size == 256
    assert not w2.prefs.reduced_precision and not w2.restore_panel.load_options().allow_fp16
    assert w2.prefs.extra_quality
    assert w2.restore_panel.base_options().ensemble
    assert w2.prefs.output_dir == str(tmp_path / "results")
    assert w2.prefs.suffix_for("denoise", 1) == "_clean"
    assert w2.restore_panel.tile_size() == 256


def test_progress_tooltip_says_when_extra_quality_runs_eight_passes(make_window):
    import numpy as np

    from deconv_gui.core.tiling import TileProgress

    w = make_window()
    px = np.zeros((4, 4, 3), np.float32)
    for passes, said in ((1, False), (8, True)):
        tp = TileProgress(1, 4, (0, 0, 4, 4), px, 512, "cpu", precision="float32", passes=passes)
        w.restore_panel.show_tile_progress(tp)
        tip = w.restore_panel.progress_label.toolTip()
        assert tip.startswith("Tiles of 512 px on cpu in float32")
        assert ("8 passes each (Extra quality)" in tip) == said
    w.close()


def test_unexpected_exception_goes_to_the_log_and_a_dialog(qtbot, monkeypatch):
    from deconv_gui.gui import crash

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(crash, "_installed", False)
    crash.install_excepthook()
    try:
        raise ZeroDivisionError("a bug in a slot")
    except ZeroDivisionError:
        sys.excepthook(*sys.exc_info())
    text = crash.log_file().read_text(encoding="utf-8")
    assert "ZeroDivisionError: a bug in a slot" in text
    boxes = [
        w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()
    ]
    assert boxes and "a bug in a slot" in boxes[-1].text()
    for b in boxes:
        b.close()


def test_a_fatal_error_is_written_down_and_said_at_the_next_start(tmp_path):
    """A segmentation fault (or an abort, as PySide6 6.12.0's "bool_dealloc") ends the
    process past any exception hook: the traceback goes to fatal.log, and the next start
    names it once."""
    import subprocess

    env = {**os.environ, "DECONV_GUI_HOME": str(tmp_path / "home")}
    start = "from deconv_gui.gui import crash; print(repr(crash.enable_fatal_log()))"

    def run(code: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )

    first = run(start + "\ndef photo_work():\n    import faulthandler; faulthandler._sigsegv()"
                "\nphoto_work()")  # fmt: skip
    assert first.returncode != 0 and first.stdout.strip() == "''"
    log = tmp_path / "home" / "logs" / "fatal.log"
    text = log.read_text(encoding="utf-8")
    assert "Fatal Python error: Segmentation fault" in text and "photo_work" in text
    again = run(start)
    assert again.returncode == 0
    assert again.stdout.strip() == "'Fatal Python error: Segmentation fault'"
    assert run(start).stdout.strip() == "''"  # said once: that run ended normally
    # the window's words
    from deconv_gui.gui.app import startup_warning

    said = startup_warning("Fatal Python error: Segmentation fault", log)
    assert said.startswith("Deconv GUI stopped unexpectedly last time (Fatal Python error")
    assert str(log) in said and startup_warning("", log) == ""


def test_gui_self_test_passes_and_saves_a_screenshot(tmp_path, monkeypatch):
    from gui_helpers import tiny_registry

    from deconv_gui.gui.selftest import run_gui_self_test
    from deconv_gui.models import catalog

    monkeypatch.setattr(catalog, "default_registry", tiny_registry)  # no bundled weights

    shot = tmp_path / "shot.png"
    assert run_gui_self_test(shot, timeout_s=120) == 0
    from PIL import Image

    with Image.open(shot) as im:
        assert im.width >= 1200 and im.height >= 750


def test_space_does_not_trigger_buttons_and_flickers(qtbot, window, photo):
    open_and_wait(qtbot, window, photo)
    run_and_wait(qtbot, window)
    window.set_compare_mode("flicker")
    seen = []
    window.view.before_shown_changed.connect(seen.append)
    qtbot.keyPress(window.view, Qt.Key.Key_Space)
    qtbot.keyRelease(window.view, Qt.Key.Key_Space)
    assert seen == [True, False]


@pytest.mark.parametrize("mode", ["split", "side", "flicker"])
def test_each_mode_renders_the_result(qtbot, window, photo, mode):
    open_and_wait(qtbot, window, photo)
    run_and_wait(qtbot, window, "tiny-x2")
    window.set_compare_mode(mode)
    img = window.view.grab().toImage()
    assert not img.isNull()
    assert window.view.mode() == mode


def test_dropping_a_bad_model_file_reports_it(qtbot, window, tmp_path):
    from test_main_window import drop_urls

    bad = tmp_path / "4x_Fake.pth"
    bad.write_bytes(b"not a checkpoint")
    assert drop_urls(window, [bad])
    qtbot.waitUntil(
        lambda: "Could not import 4x_Fake.pth" in window.message_bar.text(), timeout=20000
    )
    text = window.message_bar.text()
    assert text.count("4x_Fake.pth") == 1, text  # named once
    assert text.startswith("Could not import 4x_Fake.pth: not a readable PyTorch weights file")
    assert not window.documents  # not treated as a photo


def test_run_app_opens_command_line_paths_and_exits_cleanly(qtbot, photo, monkeypatch):
    """`deconv-gui PHOTO`: the real entry point, closed as soon as the photo is in."""
    from gui_helpers import tiny_registry
    from PySide6.QtCore import QTimer

    from deconv_gui.gui import app as app_module
    from deconv_gui.gui.main_window import MainWindow
    from deconv_gui.models import catalog

    monkeypatch.setattr(catalog, "default_registry", tiny_registry)

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr("threading.excepthook", __import__("threading").excepthook)
    # pytest's own fatal-error handler stays (the fatal log is tested in a subprocess)
    monkeypatch.setattr("deconv_gui.gui.crash.enable_fatal_log", lambda: "")
    seen = {}

    def close_when_loaded():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        win = windows[-1] if windows else None
        if win is not None and win.current is not None and win.current.is_ready:
            seen["title"] = win.windowTitle()
            seen["docs"] = [d.name for d in win.documents.values()]
            win.close()
        else:
            QTimer.singleShot(20, close_when_loaded)

    QTimer.singleShot(0, close_when_loaded)
    assert app_module.run_app([str(photo)]) == 0
    assert seen["docs"] == ["street.jpg"]
    assert "street.jpg" in seen["title"]


def test_a_very_large_result_asks_first(qtbot, window, photo, monkeypatch):
    from deconv_gui.gui import restore_session as mw

    open_and_wait(qtbot, window, photo)
    monkeypatch.setattr(mw, "LARGE_RESULT_MP", 0.001)
    asked = []
    window.ask = lambda title, text: asked.append(text) or False
    window.restore_panel.select_model("tiny-x2")
    assert window.run() is False
    assert asked and "MP" in asked[0] and not window.is_busy


def test_fine_tune_window_and_a_saved_model_joins_the_list(qtbot, window):
    from deconv_gui.models.registry import ModelSpec

    panel = window.finetune_window()
    assert panel.isWindow() and panel.isVisible()
    assert window.finetune_window() is panel  # one at a time
    spec = ModelSpec("my-tuned", "My tuned conv", "denoise", 1, "finetuned", "Tuned on my photos.",
                     build=lambda o: None)  # fmt: skip
    window.registry.register(spec)
    panel.model_saved.emit("my-tuned")
    assert window.restore_panel.current_spec().id == "my-tuned"
    entries = window.restore_panel.picker.entries()
    titles = [text for text, mid, _ in entries if not mid]
    assert "Your models" in titles
    assert ("My tuned conv", "my-tuned", True) in entries
    with qtbot.waitSignal(panel.destroyed, timeout=20000):
        panel.close()
    assert window.library.finetune is None


def test_gui_self_test_reports_a_failure(tmp_path, monkeypatch, capsys):
    from gui_helpers import tiny_registry

    from deconv_gui import paths
    from deconv_gui.gui.selftest import run_gui_self_test
    from deconv_gui.models import catalog

    monkeypatch.setattr(catalog, "default_registry", tiny_registry)
    monkeypatch.setattr(paths, "sample_photo", lambda: tmp_path / "missing.jpg")
    assert run_gui_self_test(None, timeout_s=30) == 1
    assert "sample photo missing" in capsys.readouterr().err


def test_gui_self_test_fails_on_a_defective_qt_binding(monkeypatch, capsys):
    """A bundle built with a PySide6 that loses references at each signal (6.12.0) fails
    its smoke test (the self-test) before anything else."""
    from deconv_gui.gui import binding
    from deconv_gui.gui.selftest import run_gui_self_test

    monkeypatch.setattr(binding, "binding_defect", lambda: "PySide6 9.9 mishandles ...")
    assert run_gui_self_test(None, timeout_s=30) == 1
    assert "gui self-test FAILED: PySide6 9.9 mishandles" in capsys.readouterr().err


def test_deblurring_a_simulated_blur_uses_its_kernel(qtbot, window, photo):
    from gui_helpers import tiny_registry

    from deconv_gui.models.registry import ModelSpec

    seen = {}

    def build(options):
        seen["kernel"] = options.params.get("kernel")
        return tiny_registry().get("tiny-conv").build(options)

    window.registry.register(
        ModelSpec("tiny-deblur", "Tiny deblur", "deblur", 1, "classical", "Takes a kernel.",
                  build=build, params=("kernel",))
    )  # fmt: skip
    window.restore_panel.set_registry(window.registry)
    doc = open_and_wait(qtbot, window, photo)
    window.simulate("blur=gaussian:2")
    qtbot.waitUntil(lambda: doc.comparison.lq is not None, timeout=20000)
    run_and_wait(qtbot, window, "tiny-deblur")
    assert seen["kernel"] == "gaussian:2"
    assert window.restore_panel.kernel() == "gaussian:2"
    assert window.restore_panel.blur.kind() == "soft"  # shown as its kind, not typed


def test_a_recent_photo_that_is_gone_is_reported_and_forgotten(qtbot, window, tmp_path):
    gone = write_photo(tmp_path / "gone.jpg")
    window.prefs.add_recent(gone)
    gone.unlink()
    window.recent_menu.refresh()
    action = next(a for a in window.recent_menu.actions() if a.text() == "gone.jpg")
    action.trigger()
    assert "gone.jpg" in window.message_bar.text()
    assert not window.documents
    assert str(gone.resolve()) not in window.prefs.recent_files


def test_importing_a_model_that_keeps_the_size_asks_what_it_does(qtbot, window, tmp_path):
    """Every 1x model imported in the app became a "restore" model, never the one the app
    picks for a Denoise step; the app now asks (an upscaler is not asked)."""
    import torch
    from spandrel.architectures.DnCNN import DnCNN
    from spandrel.architectures.ESRGAN import ESRGAN
    from test_main_window import drop_urls

    torch.manual_seed(0)
    denoiser = tmp_path / "1x_MyDenoiser.pth"
    torch.save(DnCNN(in_nc=3, out_nc=3, nc=8, nb=8, act_mode="R").state_dict(), denoiser)
    upscaler = tmp_path / "2x_Sharp.pth"
    torch.save(ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=2).state_dict(),
               upscaler)  # fmt: skip
    asked = []

    def choose(title, text, choices):
        asked.append((title, choices))
        return None if len(asked) == 1 else choices[0]  # cancelled once, then "denoise"

    window.library._choose = choose
    with qtbot.waitSignal(window.library.status, timeout=20000):
        assert drop_urls(window, [denoiser])
    qtbot.waitUntil(lambda: len(asked) == 1, timeout=20000)
    qtbot.wait(200)
    assert not [s for s in window.registry if s.name == "1x_MyDenoiser"]  # cancelled: none
    with qtbot.waitSignal(window.library.imported, timeout=20000) as got:
        assert drop_urls(window, [denoiser])
    spec = got.args[0]
    assert spec.task == "denoise" and asked[-1][0] == "What does this model do?"
    assert "(denoiser)" in window.message_bar.text()
    with qtbot.waitSignal(window.library.imported, timeout=20000) as got:
        assert drop_urls(window, [upscaler])
    assert got.args[0].task == "upscale" and len(asked) == 2  # not asked
