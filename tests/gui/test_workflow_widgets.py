"""The plain-words widgets on their own: the model picker, blur by kind, Simulate with
sliders, the recipe panel (steps, Amount/Detail, recipe files), the export dialog, the model
card."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from deconv_gui.core.degrade import parse_kernel, parse_spec
from deconv_gui.core.export import ExportOptions
from deconv_gui.core.image import Photo
from deconv_gui.core.recipe import Recipe, RecipeStep, load_recipe
from deconv_gui.gui.blur_controls import BlurControls, kernel_spec, parse_kernel_choice
from deconv_gui.gui.export_dialog import ExportDialog, load_export_options, store_export_options
from deconv_gui.gui.model_card import card_html
from deconv_gui.gui.model_picker import ModelPicker
from deconv_gui.gui.panel_widgets import measured_lines, step_summary
from deconv_gui.gui.restore_panel import MIN_SLIDER_STEPS, RestorePanel, slider_steps
from deconv_gui.gui.simulate_dialog import SimulateDialog, spec_from_controls
from deconv_gui.models.registry import ModelSpec


def _kernel_model(registry):
    registry.register(
        ModelSpec("k-deblur", "Kernel deblur (classical)", "deblur", 1, "classical", "",
                  build=lambda o: None, params=("kernel",))
    )  # fmt: skip
    return registry


@pytest.fixture
def panel(qtbot, registry):
    p = RestorePanel(_kernel_model(registry), ["cpu"])
    qtbot.addWidget(p)
    p.set_can_run(True)
    return p


# ------------------------------------------------------------------ picker
@pytest.mark.parametrize(
    ("low", "high", "step"),
    [(0, 75, 1), (1, 100, 1), (10, 400, 5), (0, 240, 2), (0, 1, 0.02), (0.3, 0.7, 0.005)],
)
def test_strength_sliders_move_in_round_steps(low: float, high: float, step: float) -> None:
    """The RAW denoiser's 10-400 % went in 100 steps of 3.9 %: 99.7 % beside 103.6 %,
    never 100."""
    steps, got = slider_steps(low, high)
    assert got == pytest.approx(step) and steps >= MIN_SLIDER_STEPS
    assert low + steps * got == pytest.approx(high)
    values = [low + i * got for i in range(steps + 1)]
    assert all(v / step == pytest.approx(round(v / step)) for v in values)


def test_picker_groups_models_by_what_they_do_and_lists_missing_tasks(qtbot, registry):
    picker = ModelPicker(registry)
    qtbot.addWidget(picker)
    entries = picker.entries()
    titles = [t for t, mid, ok in entries if not mid and "(" not in t]
    assert titles == ["Denoise", "Upscale", "JPEG artifacts", "Camera RAW", "Classic methods",
                      "Your models"]  # fmt: skip
    # a bundled network is listed by what it does ("Upscale x2"), not by its name
    assert ("Upscale x2", "tiny-x2", True) in entries
    assert ("Tiny slow", "tiny-slow", True) in entries  # classical: its own name
    greyed = [t for t, mid, ok in entries if not mid and not ok and "JPEG" in t]
    assert greyed == ["JPEG artifacts", "Remove JPEG artifacts (not installed yet)"]
    assert picker.select_model("tiny-x2") and picker.current_spec().id == "tiny-x2"
    assert not picker.select_model("nope") and picker.current_id() == "tiny-x2"


def test_picker_leaves_out_retired_models_until_one_is_asked_for(qtbot, registry):
    registry.register(
        ModelSpec("old-den", "Old denoiser", "denoise", 1, "bundled", "", build=lambda o: None,
                  card={"display_name": "Denoise - old", "retired": "a newer one is better"})
    )  # fmt: skip
    picker = ModelPicker(registry)
    qtbot.addWidget(picker)
    assert "old-den" not in [mid for _t, mid, _ok in picker.entries()]
    assert picker.current_id() != "old-den"
    # a recipe, preset or the last session names it: listed (marked) and chosen
    assert picker.select_model("old-den") and picker.current_id() == "old-den"
    assert ("Denoise - old (retired)", "old-den", True) in picker.entries()
    assert "a newer one is better" in picker.itemData(picker.currentIndex(), Qt.ToolTipRole)


def test_model_card_reads_as_prose_and_a_table_without_commands(registry):
    from deconv_gui.models.catalog import default_registry

    spec = next(s for s in default_registry() if s.id == "redunet-denoise-fast")
    html = card_html(spec)
    # the plain name leads; the architecture is in the card
    assert "Denoise - even noise" in html and "redunet" in html.lower()
    assert "python -m" not in html and "<code>" not in html
    assert "word-break" not in html
    # the same degradation on Auto and set by hand are told apart by a Strength column
    assert "<th align='left' style='padding-right:10px'>Strength</th>" in html
    assert ">Auto</td>" in html and ">25</td>" in html
    # the tooltip's rows in words, Auto told apart from a set strength
    tip = card_html(
        next(s for s in default_registry() if s.id == "redunet-denoise-camera"), short=True
    )
    assert "CBSD68, noise 25 (Auto)" in tip and "CBSD68, noise 25<" in tip and "noise=" not in tip
    assert "30.88 dB, SSIM 0.8760" in tip  # fixed decimals, as in the card
    x2 = card_html(next(s for s in default_registry() if s.id == "fsrcnn-x2"))
    assert ">Strength</th>" not in x2  # no strength control: no empty column


def test_model_card_shows_a_bundled_cards_crops_of_real_photos_and_nothing_from_elsewhere():
    from dataclasses import replace

    from deconv_gui.gui.model_card import comparison_images
    from deconv_gui.models.catalog import default_registry

    spec = next(s for s in default_registry() if s.id == "redunet-denoise-camera")
    (crops,) = comparison_images(spec)  # every file the card names is in the app's resources
    assert [p.stem for p in crops] == [f"rni15_{n}" for n in
                                       ("Audrey_Hepburn", "Dog", "Flowers", "Movie", "Singer")]  # fmt: skip
    html = card_html(spec)
    assert "Compared by eye" in html and html.count("<img src=") == 5
    assert crops[0].as_uri() in html and "<i>Audrey Hepburn</i>" in html
    assert "python " not in html.split("Compared by eye")[1].split("<h4>")[0]  # no command
    # decibels and SSIM line up in the quality table; no "Strength Strength"
    assert ">15.00</td>" in html and ">0.8760</td>" in html and "Strength 0" not in html
    x4 = next(s for s in default_registry() if s.id == "fsrcnn-x4-real")
    assert "<i>Dog</i>" in card_html(x4) and len(comparison_images(x4)[0]) == 4
    jpeg = next(s for s in default_registry() if s.id == "redunet-jpeg")
    assert "<i>parrots</i>" in card_html(jpeg) and len(comparison_images(jpeg)[0]) == 4
    # an imported card's paths are not followed, nor a bundled one's outside resources/
    card = dict(spec.card or {})
    assert comparison_images(replace(spec, kind="imported")) == []
    outside = [{"what": "x", "files": ["resources/../pyproject.toml", "/etc/hostname",
                                       "resources/crops/missing.png"]}]  # fmt: skip
    odd = replace(spec, card={**card, "comparisons": outside})
    assert comparison_images(odd) == [[]] and "Compared by eye" not in card_html(odd)


def test_model_card_dialog_is_wide_enough_for_its_crops_at_their_own_size(qtbot):
    from deconv_gui.gui.model_card import ModelCardDialog
    from deconv_gui.models.catalog import default_registry

    specs = {s.id: s for s in default_registry()}
    wide = ModelCardDialog(specs["fsrcnn-x4-real"])  # crops 1036 px wide
    qtbot.addWidget(wide)
    screen = wide.screen().availableGeometry().width()
    assert wide.width() >= min(1036 + 80, screen - 40)
    plain = ModelCardDialog(specs["fsrcnn-x2"])  # no crops
    qtbot.addWidget(plain)
    assert plain.width() == 640


# ------------------------------------------------------------------ blur controls
def test_blur_kinds_sizes_angles_and_drawing(qtbot):
    b = BlurControls(kind="soft")
    qtbot.addWidget(b)
    assert b.spec() == "gaussian:1.5" and not b.angle_slider.isEnabled()
    with qtbot.waitSignal(b.changed):
        b.kind_buttons["motion"].click()
    assert b.kind() == "motion" and b.angle_slider.isEnabled()
    b.size_slider.setValue(150)  # 15 px
    b.angle_slider.setValue(30)
    assert b.spec() == "motion:15:30" and b.size_value.text() == "15 px long"
    assert parse_kernel(b.spec()).shape[1] >= 13  # a valid kernel the models take
    assert not b.drawing.pixmap().isNull()
    assert b.set_spec("disk:3") and b.kind() == "focus" and b.spec() == "disk:3"
    assert not b.set_spec("gaussian:x") and b.spec() == "disk:3"
    # the typed spec is only behind Advanced
    assert not b.spec_edit.isVisibleTo(b)
    b.advanced_button.click()
    assert b.spec_edit.isVisibleTo(b) and b.spec_edit.text() == "disk:3"


def test_kernel_spec_round_trip():
    for kind, size, angle in (("focus", 2.5, 0), ("motion", 9, 45), ("soft", 0.8, 0)):
        assert parse_kernel_choice(kernel_spec(kind, size, angle)) == (kind, size, angle)
    assert parse_kernel_choice("nonsense") is None


# ------------------------------------------------------------------ simulate
def test_simulate_with_sliders_builds_a_valid_spec(qtbot):
    dlg = SimulateDialog("noise=25")
    qtbot.addWidget(dlg)
    assert dlg.spec() == "noise=25" and dlg.noise_value.text() == "σ 25"
    dlg.blur_check.setChecked(True)
    dlg.blur.set_spec("disk:3")
    dlg.downscale_combo.setCurrentIndex(dlg.downscale_combo.findData(2))
    dlg.jpeg_slider.setValue(40)
    assert dlg.spec() == "blur=disk:3,downscale=2,noise=25,jpeg=40"
    assert parse_spec(dlg.spec()).scale == 2
    dlg.noise_slider.setValue(0)
    dlg.blur_check.setChecked(False)
    dlg.downscale_combo.setCurrentIndex(0)
    dlg.jpeg_slider.setValue(0)
    ok = dlg.buttons.buttons()[0]
    assert dlg.spec() == "" and not ok.isEnabled() and "at least one" in dlg.error_label.text()
    # a spec the sliders cannot show stays typed, behind Advanced
    dlg2 = SimulateDialog("pgnoise=0.01:0.0001")
    qtbot.addWidget(dlg2)
    assert dlg2.advanced_button.isChecked() and dlg2.spec() == "pgnoise=0.01:0.0001"
    assert spec_from_controls(noise=5, jpeg=90) == "noise=5,jpeg=90"


# ------------------------------------------------------------------ the recipe panel
def test_panel_edits_a_recipe_step_by_step(qtbot, panel, tmp_path):
    panel.select_model("tiny-conv")
    assert panel.recipe() == Recipe((RecipeStep("tiny-conv"),))  # Auto, 100 %, 0 %
    with qtbot.waitSignal(panel.recipe_changed):
        panel.amount.slider.setValue(80)
    panel.detail.slider.setValue(30)
    panel.set_strength(20)
    panel.add_step()
    panel.select_model("tiny-x2")
    panel.add_step()
    panel.select_model("k-deblur")
    panel.blur.set_spec("motion:9:45")
    steps = panel.recipe().steps
    assert [s.model for s in steps] == ["tiny-conv", "tiny-x2", "k-deblur"]
    assert (steps[0].strength, steps[0].amount, steps[0].detail) == (20, 0.8, 0.3)
    assert steps[2].params == {"kernel": "motion:9:45"}
    assert panel.step_list.count() == 3
    assert panel.step_list.item(0).text() == "1.  Denoise · 20 · Amount 80 % · Detail 30 %"
    # the controls follow the selected step
    panel.select_step(0)
    assert panel.current_spec().id == "tiny-conv" and panel.amount.value() == 0.8
    assert (
        panel.strength_value.text() == "20" and panel.options.currentWidget() is panel.about_label
    )
    panel.select_step(2)
    assert panel.options.currentWidget() is panel.blur and panel.blur.kind() == "motion"
    # reorder and remove
    panel.move_step(-1)
    assert [s.model for s in panel.recipe().steps] == ["tiny-conv", "k-deblur", "tiny-x2"]
    assert panel.selected_step() == 1
    panel.remove_step()
    assert [s.model for s in panel.recipe().steps] == ["tiny-conv", "tiny-x2"]
    # several steps: the run settings carry the recipe; one step: its own options
    run = panel.run_settings()
    assert run.recipe == panel.recipe() and run.spec.id == "tiny-x2"
    # save and load a recipe file
    path = tmp_path / "r.json"
    assert panel.save_recipe_to(str(path))
    assert load_recipe(path) == panel.recipe()
    panel.set_recipe(None)
    assert len(panel.recipe().steps) == 1
    assert panel.load_recipe_from(str(path)) and panel.recipe() == load_recipe(path)


def test_panel_leaves_out_models_that_are_not_installed(qtbot, panel, tmp_path):
    notices = []
    panel.notice.connect(lambda text, kind, ms: notices.append(text))
    panel.set_recipe(Recipe((RecipeStep("gone-model"), RecipeStep("tiny-x2"))))
    assert [s.model for s in panel.recipe().steps] == ["tiny-x2"]
    assert notices and "gone-model" in notices[0]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert not panel.load_recipe_from(str(bad)) and "not valid JSON" in notices[-1]
    # a setting the model does not take (misspelt) is refused, not ignored without a word
    typo = tmp_path / "typo.json"
    typo.write_text(
        '{"steps": [{"model": "tiny-x2"}, {"model": "tiny-conv", "params": {"kernal": 1}}]}'
    )
    before = panel.recipe()
    assert not panel.load_recipe_from(str(typo)) and panel.recipe() == before
    assert notices[-1] == (
        "Step 2 (tiny-conv) of the recipe: unknown setting 'kernal' in its params (it takes none)"
    )


def test_strength_row_never_jumps_and_one_step_options(qtbot, panel):
    panel.show()
    panel.select_model("tiny-conv")
    h = panel.options.height()
    y_run = panel.run_button.mapTo(panel, panel.run_button.rect().topLeft()).y()
    panel.select_model("k-deblur")  # the blur controls replace the description
    qtbot.wait(10)
    assert panel.options.height() == h
    assert panel.run_button.mapTo(panel, panel.run_button.rect().topLeft()).y() == y_run
    panel.select_model("tiny-conv")
    panel.set_strength(12)
    o = panel.run_settings().options
    assert o.strength == 12 and o.device in ("auto", "cpu")


def test_step_summary_and_measured_lines(registry):
    spec = registry.get("tiny-conv")
    assert step_summary(spec, RecipeStep("tiny-conv", None, 0.5, 0.2)) == (
        "Denoise · Auto · Amount 50 % · Detail 20 %"
    )
    assert step_summary(None, RecipeStep("x")) == "x (missing)"
    card = {"evaluation": [{"set": "CBSD68", "degrade": "noise=25", "input_psnr": 20.54,
                            "psnr": 30.89}]}  # fmt: skip
    s2 = ModelSpec("m", "M", "denoise", 1, "bundled", "", build=lambda o: None, card=card)
    assert measured_lines(s2) == ["CBSD68, noise 25: 20.5 → 30.9 dB"]
    from deconv_gui.gui.panel_widgets import plain_degradation

    assert plain_degradation("camera=3200") == "ISO 3200"
    assert plain_degradation("downscale=4,noise=10,jpeg=50") == (
        "shrunk ÷4, noise 10, JPEG quality 50"
    )
    assert plain_degradation("blur=motion:11:30,noise=2") == "motion blur 11 px, noise 2"
    assert plain_degradation("blur=gaussian:2") == "soft blur 2"
    assert plain_degradation("blur=disk:3") == "out of focus 3 px"
    assert plain_degradation("raw ISO 800") == "raw ISO 800"
    assert plain_degradation("grain=6") == "grain 6"


def test_model_notes_cut_a_long_head_never_the_figures(qtbot):
    from deconv_gui.gui.panel_widgets import ModelNotes

    notes = ModelNotes()
    qtbot.addWidget(notes)
    notes.show()  # resize events reach a shown widget at once
    notes.resize(220, 200)
    long = "LIVE1, shrunk ÷4, noise 10, JPEG quality 50: 24.5 → 24.9 dB"
    notes.set_lines(["Set5, shrunk ÷4: 28.4 → 30.1 dB", long])
    shown = notes.shown_lines()
    assert shown[1] == "Set5, shrunk ÷4: 28.4 → 30.1 dB"  # fits: as it is
    assert shown[2].endswith(": 24.5 → 24.9 dB") and "…" in shown[2]
    assert notes.fontMetrics().horizontalAdvance(shown[2]) <= notes.contentsRect().width()
    assert long in notes.toolTip()  # the whole line on hover
    notes.resize(900, 200)
    assert notes.shown_lines()[2] == long and notes.toolTip() == ""


# ------------------------------------------------------------------ export dialog
def test_export_dialog_options_and_memory(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert load_export_options(settings) == ExportOptions()
    dlg = ExportDialog(ExportOptions(), tmp_path / "a_x2.jpg", size=(400, 300), source_bits=16)
    qtbot.addWidget(dlg)
    assert not dlg.bits16.isEnabled() and dlg.bits8.isChecked()  # JPEG is 8-bit
    assert dlg.bits16.text() == "16-bit (as the photo)"
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData("tiff"))
    assert dlg.bits16.isEnabled() and dlg.path().name == "a_x2.tif"
    assert dlg.bits16.isChecked()  # a 16-bit photo's TIFF is 16-bit unless 8 is chosen
    assert not dlg.quality_slider.isEnabled()
    dlg.bits8.click()
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData("jpeg"))
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData("png"))
    assert dlg.bits8.isChecked() and dlg.options().bits == 8  # the choice outlives JPEG
    dlg.bits16.click()
    assert dlg.options().bits == 0  # the photo's own depth: "as the photo", not a number
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData("tiff"))
    dlg.colour_combo.setCurrentIndex(dlg.colour_combo.findData("display-p3"))
    dlg.resize_check.setChecked(True)
    dlg.edge_spin.setValue(200)
    assert dlg.size_label.text() == "→ 200 × 150"
    dlg.edge_spin.setValue(800)
    assert dlg.size_label.text().startswith("→ 800 × 600  (enlarged by resampling")
    dlg.edge_spin.setValue(200)
    o = dlg.options()
    assert (o.format, o.bits, o.colour, o.long_edge) == ("tiff", 0, "display-p3", 200)
    assert o.output_bits(16) == 16
    # an 8-bit choice remembered from another photo is shown, and kept, on this one
    again = ExportDialog(replace(o, bits=8), tmp_path / "b.tif", size=(40, 30), source_bits=16)
    qtbot.addWidget(again)
    assert again.bits8.isChecked() and again.options().bits == 8
    eight = ExportDialog(o, tmp_path / "c.png", size=(40, 30), source_bits=8)
    qtbot.addWidget(eight)
    assert eight.bits8.isChecked() and eight.bits8.text() == "8-bit (as the photo)"
    store_export_options(settings, o)
    assert load_export_options(settings) == o
    settings.setValue("export/quality", "lots")  # a hand-broken value: its default
    assert load_export_options(settings) == replace(o, quality=ExportOptions().quality)
    settings.setValue("export/colour", "cmyk")  # options that do not go together: defaults
    assert load_export_options(settings) == ExportOptions()
    assert "sRGB" in dlg.colour_combo.itemText(0)  # "Keep" says what the photo has


def test_percent_slider_label_follows(qtbot, panel):
    panel.detail.slider.setValue(42)
    assert panel.detail.label.text() == "42 %" and panel.detail.value() == pytest.approx(0.42)
    panel.detail.set_value(0.1)
    assert panel.detail.slider.value() == 10 and np.isclose(panel.detail.value(), 0.1)


def test_compare_models_starts_without_retired_models(registry):
    from types import SimpleNamespace

    from deconv_gui.gui.compare_models import CompareModelsDialog

    registry.register(
        ModelSpec("old-x2", "Old x2", "upscale", 2, "bundled", "", build=lambda o: None,
                  card={"retired": "a newer one is better"})
    )  # fmt: skip
    first = registry.get("tiny-x2")
    dialog = SimpleNamespace(_registry=registry, _photo=Photo(np.zeros((8, 8, 3), np.float32)))
    chosen = CompareModelsDialog._initial_models(dialog, first)
    ids = [s.id for s in chosen if s is not None]
    assert ids[0] == "tiny-x2" and "old-x2" not in ids
    # asked for by name (the model in use), a retired one is still compared
    old = registry.get("old-x2")
    assert CompareModelsDialog._initial_models(dialog, old)[0] is old
