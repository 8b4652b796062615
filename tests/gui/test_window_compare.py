"""The real window (offscreen): honest comparisons and the state on screen (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import open_and_wait, write_photo
from test_main_window import run_and_wait

from deconv_gui.core.finish import match_size
from deconv_gui.gui.display import to_bgra8

VIEW_ACTIONS = ("mode_split", "mode_side", "mode_flicker", "auto_flicker", "swap", "fit",
                "actual_size", "zoom_in", "zoom_out")  # fmt: skip


def test_an_upscale_is_compared_with_its_lanczos_enlargement(qtbot, window, photo):
    doc = open_and_wait(qtbot, window, photo)
    run_and_wait(qtbot, window, "tiny-x2")
    view = window.view
    qtbot.waitUntil(lambda: "Lanczos" in view.labels()[0], timeout=20000)
    assert view.labels() == ("Before (enlarged with Lanczos)", "After · Upscale x2")
    expected = to_bgra8(match_size(doc.photo.rgb, doc.result.rgb))
    assert np.array_equal(view.before().levels[0], expected)  # pixel for pixel
    assert view.before().size == view.after().size == (doc.photo.width * 2, doc.photo.height * 2)


def test_simulate_readout_after_a_run(qtbot, window, photo):
    doc = open_and_wait(qtbot, window, photo)
    window.simulate("noise=25")
    qtbot.waitUntil(lambda: doc.target is not None and doc.target.before_ssim is not None,
                    timeout=20000)  # fmt: skip
    panel = window.quality_panel
    assert panel.verdict_label.text() == (
        "Run a model to see how much closer to your photo it gets."
    )
    run_and_wait(qtbot, window, "tiny-conv")
    r = panel.readout()
    gain = r.after_psnr - r.before_psnr
    assert panel.gain_text("psnr") == f"{gain:+.1f} dB" and gain > 0
    assert panel.gain_text("ssim") == f"{r.after_ssim - r.before_ssim:+.3f}"
    assert panel._cells["ssim_before"].text() == f"{r.before_ssim:.3f}"
    word = "Clearly better" if gain >= 2 else "Better"
    assert panel.verdict_label.text() == (f"{word}: closer to your photo than the input was.")
    assert panel.caption.text() == "vs your photo"
    assert window.view.labels() == ("Degraded (noise=25)", "After · Denoise")
    assert panel.pair_row.isVisibleTo(panel)


def test_overlay_chosen_in_the_panel_is_named_on_the_result(qtbot, window, photo):
    open_and_wait(qtbot, window, photo)
    assert not window.action("overlay_ssim").isEnabled()  # no result yet
    run_and_wait(qtbot, window)
    assert window.action("overlay_ssim").isEnabled()
    combo = window.quality_panel.overlay_combo
    with qtbot.waitSignal(window.overlay_ready, timeout=20000):
        combo.activated.emit(combo.findData("diff"))
    assert (
        window.action("overlay_diff").isChecked() and not window.action("overlay_ssim").isChecked()
    )
    assert window.view.labels()[1] == "Difference over After · Denoise"
    assert window.view.overlay().title.startswith("Difference from input")
    window.quality_panel.opacity_slider.setValue(35)
    assert window.view.overlay_opacity() == pytest.approx(0.35)
    window.action("overlay_diff").trigger()  # off again, from the menu
    assert combo.currentData() == "" and window.view.overlay_kind() == ""


def test_done_and_sizes_follow_the_photo_on_screen(qtbot, window, tmp_path):
    a = write_photo(tmp_path / "a.jpg", size=(96, 72), seed=1)
    b = write_photo(tmp_path / "b.jpg", size=(80, 60), seed=2)
    doc_a = open_and_wait(qtbot, window, a)
    run_and_wait(qtbot, window, "tiny-x2")
    label = window.restore_panel.progress_label
    assert label.text().startswith("Done in") and label.text().endswith("192 × 144")
    doc_b = open_and_wait(qtbot, window, b)
    assert label.text() == ""  # b has no result
    assert window.status_labels.photo.text().startswith("80 × 60")
    window.photos.select(doc_a)
    assert label.text().startswith("Done in") and label.text().endswith("192 × 144")
    assert window.status_labels.photo.text().endswith("→  192 × 144")
    for doc in (doc_b, doc_a):
        window.photos.close(doc)
    assert label.text() == "" and window.status_labels.photo.text() == ""
    assert window.quality_panel.after_ssim_text() == "—"


def test_the_line_under_run_and_the_slider_say_what_auto_chose(qtbot, window, tmp_path):
    from deconv_gui.core.noise import estimate_noise_sigma

    a = write_photo(tmp_path / "a.png", seed=1, fmt="PNG")  # noise sigma about 13
    b = write_photo(tmp_path / "b.png", seed=2, fmt="PNG")
    doc = open_and_wait(qtbot, window, a)
    panel = window.restore_panel
    assert panel.select_model("tiny-conv") and panel.strength() is None  # on Auto
    assert panel.strength_value.text() == ""  # nothing measured yet
    run_and_wait(qtbot, window)
    sigma = estimate_noise_sigma(doc.photo.rgb)
    assert 8 < sigma < 18
    said = f"{sigma:.0f}"
    line = panel.progress_label.text().replace("\u00a0", " ")  # kept together when wrapped
    assert line.endswith(f"96 × 72  ·  Auto: noise level {said}")
    assert panel.strength_value.text() == said
    assert panel.strength_value.toolTip() == f"Auto in this photo's last run: noise level {said}"
    panel.strength_auto.setChecked(False)  # unticked: the slider starts where Auto was
    assert panel.strength() == round(sigma) and panel.strength_slider.isEnabled()
    panel.strength_auto.setChecked(True)
    open_and_wait(qtbot, window, b)  # no result: nothing measured to show
    assert panel.progress_label.text() == "" and panel.strength_value.text() == ""


def test_view_commands_wait_for_a_photo(qtbot, window, photo):
    for name in (*VIEW_ACTIONS, "overlay_ssim", "overlay_diff"):
        assert not window.action(name).isEnabled(), name
    for name in VIEW_ACTIONS:
        assert not window.toolbar.widgetForAction(window.action(name)) or not (
            window.toolbar.widgetForAction(window.action(name)).isEnabled()
        )
    open_and_wait(qtbot, window, photo)
    for name in VIEW_ACTIONS:
        assert window.action(name).isEnabled(), name
        assert not window.action(name).icon().isNull(), name
    assert not window.action("overlay_ssim").isEnabled()
    # the flicker button flicks by itself, and the view says so back
    window.action("auto_flicker").trigger()
    assert window.view.is_auto_flicker() and window.action("mode_flicker").isChecked()
    window.action("mode_split").trigger()
    assert not window.view.is_auto_flicker() and not window.action("auto_flicker").isChecked()
    window.action("swap").trigger()
    assert window.view.is_swapped()


def test_a_broken_file_gets_one_plain_message_and_a_mark(qtbot, window, photo, tmp_path):
    data = photo.read_bytes()
    broken = tmp_path / "cut.jpg"
    broken.write_bytes(data[: len(data) // 2])  # an interrupted copy
    notices = []
    window.photos.notice.connect(lambda text, kind, ms: notices.append(text))
    with qtbot.waitSignal(window.document_failed, timeout=20000):
        window.open_paths([broken])
    qtbot.wait(200)  # a second message would come now
    assert len(notices) == 1
    text = window.message_bar.text()
    assert text == notices[0] and text.count("cut.jpg") == 1
    assert "damaged or incomplete" in text
    for library_words in ("truncated", "bytes not processed", "decoder", "OSError", "("):
        assert library_words not in text.split(":", 1)[1].split("(perhaps")[0]
    doc = window.current
    assert window.filmstrip.state(doc.key) == "error"
    assert "damaged or incomplete" in window.filmstrip.item_for(doc.key).toolTip()
    for name in VIEW_ACTIONS:  # nothing to look at
        assert not window.action(name).isEnabled(), name
    assert window.action("close_photo").isEnabled()


def test_icons_follow_a_theme_switch(qtbot, window, qapp):
    from PySide6.QtGui import QPalette

    from deconv_gui.gui.theme import dark_palette, light_palette

    def icon_colour() -> tuple[int, int, int]:
        img = window.action("fit").icon().pixmap(24, 24).toImage()
        px = [img.pixelColor(x, y) for x in range(24) for y in range(24)]
        solid = [c for c in px if c.alpha() == 255]
        return solid[0].getRgb()[:3]

    old = qapp.palette()
    try:
        for pal in (dark_palette(), light_palette(qapp)):
            qapp.setPalette(pal)
            want = pal.color(QPalette.ColorRole.ButtonText).getRgb()[:3]
            qtbot.waitUntil(lambda want=want: icon_colour() == want, timeout=3000)
    finally:
        qapp.setPalette(old)


def test_leaving_simulate_brings_back_the_result_and_its_state(qtbot, window, photo):
    doc = open_and_wait(qtbot, window, photo)
    run_and_wait(qtbot, window, "tiny-x2")
    own = doc.result.rgb
    label = window.restore_panel.progress_label
    # (the photo is noisy: once analysed, Simulate says so; wait, so that it always does)
    qtbot.waitUntil(lambda: window.advisor.analysis(doc) is not None, timeout=20000)
    window.simulate("noise=25")
    qtbot.waitUntil(lambda: doc.comparison.lq is not None, timeout=20000)
    assert doc.result is None and label.text() == ""
    # no question, no warning (nothing was lost): only the note that the photo is noisy
    bar = window.message_bar
    assert bar.kind == "info" and "already noisy" in bar.label.text(), bar.label.text()
    run_and_wait(qtbot, window, "tiny-conv")
    assert (
        "96 × 72  ·  Auto: noise\u00a0level\u00a0" in label.text()
    )  # measured on the simulated photo
    window.quality_panel.compare_combo.activated.emit(0)  # "Input (no reference)"
    assert doc.comparison.key == "input" and doc.result.rgb is own
    assert label.text().endswith("192 × 144")
    qtbot.waitUntil(lambda: doc.result.final is not None, timeout=20000)
    assert window.quality_panel.caption.text() == "change from the input"


def test_the_raw_denoisers_auto_is_said_as_an_iso_and_the_slider_stands_at_100(
    qtbot, make_window, registry, tmp_path
):
    """The RAW denoiser's Auto removes 100 % of the noise it reads: the line under Run says
    how much that was (as a full-frame ISO), and the slider (in % of that noise) stands at
    100, not at the ISO."""
    from deconv_gui.core.dng import write_dng
    from deconv_gui.models.bundled import spec_from_card
    from deconv_gui.models.registry import ModelRegistry
    from tests.core.test_dng import synthetic
    from tests.core.test_rawpipe import _noisy_mosaic
    from tests.tiny_models import write_tiny_model

    raw_spec = spec_from_card(write_tiny_model(tmp_path / "models", "raw-denoise", "tiny-raw"))
    window = make_window(ModelRegistry([*registry, raw_spec]))
    raw = synthetic("RGGB", (64, 96))
    open_and_wait(qtbot, window, write_dng(tmp_path / "noisy.dng", raw, _noisy_mosaic(raw)))
    panel = window.restore_panel
    run_and_wait(qtbot, window, raw_spec.id)
    assert panel.strength() is None  # on Auto
    line = panel.progress_label.text().replace("\u00a0", " ")
    assert "Auto: noise like ISO " in line and line.endswith(" on a full-frame camera"), line
    assert panel.strength_value.text() == "100 %"  # of the noise it read
    assert panel.strength_value.toolTip().startswith("Auto in this photo's last run: noise like")
    panel.strength_auto.setChecked(False)  # unticked: the slider starts where Auto ran
    assert panel.strength() == 100  # in round steps: it stood at 99.7, between 95.8 and 103.6
    panel.strength_slider.setValue(panel.strength_slider.value() + 1)
    assert panel.strength() == 105 and panel.strength_value.text() == "105 %"
    panel.strength_slider.setValue(panel.strength_slider.maximum())
    assert panel.strength() == raw_spec.strength.maximum


def test_a_photo_refused_after_its_quick_preview_shows_no_picture_and_run_says_why(
    qtbot, window, tmp_path
):
    """A JPEG whose picture data is damaged: its quick preview decodes (scrambled), then
    the full read refuses it. The viewer showed the scrambled preview under the banner, and
    Run said "Open a photo and choose a model first." of the photo on screen."""
    from tests.core.test_hostile_io import DAMAGED_JPEGS

    damaged = tmp_path / "holiday.jpg"
    damaged.write_bytes(DAMAGED_JPEGS["baseline, 4 KiB zeroed a third in"])
    with qtbot.waitSignal(window.document_failed, timeout=20000):
        window.open_paths([damaged])
    doc = window.current
    assert "its JPEG data is damaged" in doc.error
    view = window.view
    assert view._before is None and view._after is None  # no picture, the placeholder
    assert view._placeholder.startswith("holiday.jpg could not be opened.")
    assert window.restore_panel.select_model("tiny-conv")
    assert not window.run()
    assert window.message_bar.text() == doc.error
