"""The workflow: recipes with a per-photo step cache, live Amount/Detail without rerunning,
undo/redo of results, previews of a region, the suggestion, export and compare models."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from gui_helpers import ScaleProcessor, open_and_wait, ready_document, write_photo
from PIL import Image, ImageCms

from deconv_gui.core.export import ExportOptions
from deconv_gui.core.finish import finish
from deconv_gui.core.recipe import Recipe, RecipeStep
from deconv_gui.gui.document import Comparison
from deconv_gui.gui.recipe_run import preview_box
from deconv_gui.gui.restore_session import RestoreSession
from deconv_gui.models.registry import LoadOptions, ModelRegistry, ModelSpec, StrengthSpec

CPU = LoadOptions(device="cpu")


class Counting(ScaleProcessor):
    """The tiny model, counting the tiles it processed (per model id)."""

    def __init__(self, calls: dict, key: str, scale: int = 1) -> None:
        super().__init__(scale=scale)
        self.counter, self.key = calls, key

    def __call__(self, tile):
        self.counter[self.key] = self.counter.get(self.key, 0) + 1
        return super().__call__(tile)


@pytest.fixture
def counted():
    calls: dict[str, int] = {}
    st = StrengthSpec("Noise level", 0.0, 50.0, 15.0, auto=True)
    reg = ModelRegistry(
        [
            ModelSpec("den", "Den", "denoise", 1, "bundled", "", strength=st,
                      build=lambda o: Counting(calls, "den"), receptive_field=4),
            ModelSpec("up", "Up", "upscale", 2, "bundled", "",
                      build=lambda o: Counting(calls, "up", 2), receptive_field=4),
        ]
    )  # fmt: skip
    return reg, calls


@pytest.fixture
def session(qtbot, prefs, counted):
    reg, _ = counted
    s = RestoreSession(prefs, resolve=reg.get)
    yield s
    s.shutdown()


def _run(qtbot, s, doc, recipe):
    with qtbot.waitSignal(s.finished, timeout=20000):
        assert s.run_recipe(doc, recipe, CPU, tile_size=64)
    return doc.result


def test_recipe_runs_and_reruns_from_the_changed_step(qtbot, session, counted, tmp_path):
    _, calls = counted
    doc = ready_document(write_photo(tmp_path / "p.jpg", size=(96, 72)))
    recipe = Recipe((RecipeStep("den", 10.0), RecipeStep("up")))
    r = _run(qtbot, session, doc, recipe)
    assert r.rgb.shape == (144, 192, 3) and r.recipe == recipe and not r.partial
    first = dict(calls)
    assert first["den"] > 0 and first["up"] > 0
    # only the last step changed (its Amount is not a model change either): the cached
    # model outputs are used, nothing is recomputed
    r2 = _run(qtbot, session, doc, recipe)
    assert calls == first and np.array_equal(r2.rgb, r.rgb)
    changed = Recipe((RecipeStep("den", 10.0), RecipeStep("up", amount=0.5)))
    r3 = _run(qtbot, session, doc, changed)
    assert calls == first
    assert np.allclose(r3.rgb, finish(r.base, r.raw, amount=0.5), atol=1e-6)
    # the first step changed: both run again
    _run(qtbot, session, doc, Recipe((RecipeStep("den", 20.0), RecipeStep("up"))))
    assert calls["den"] == 2 * first["den"] and calls["up"] == 2 * first["up"]
    # the default name of a two-step result
    assert session.output_path(doc).name == "p_restored_x2.jpg"
    # another input (Simulate degraded the photo): nothing cached for the old one is used
    before = dict(calls)
    lq = np.ascontiguousarray(doc.photo.rgb[::-1])
    doc.comparison = Comparison("sim:noise=5", lq=lq)
    r4 = _run(qtbot, session, doc, Recipe((RecipeStep("den", 20.0), RecipeStep("up"))))
    assert calls["den"] > before["den"] and calls["up"] > before["up"]
    assert not np.allclose(r4.rgb, r3.rgb)


def test_amount_and_detail_are_reapplied_without_the_model(qtbot, session, counted, tmp_path):
    _, calls = counted
    doc = ready_document(write_photo(tmp_path / "p.jpg", size=(96, 72)))
    r = _run(qtbot, session, doc, Recipe((RecipeStep("den", 10.0),)))
    before = dict(calls)
    shown = []
    session.view_changed.connect(lambda d, v: shown.append(v))
    with qtbot.waitSignal(session.refinished, timeout=20000):
        assert session.refinish(doc, 0.25, 0.5, region=(0, 32, 0, 32))
    assert calls == before  # the model did not run again
    new = doc.result
    expect = finish(r.base, r.raw, amount=0.25, detail=0.5)
    assert np.allclose(new.rgb, expect, atol=1e-6)
    assert new.recipe.steps[-1].amount == 0.25 and new.recipe.steps[-1].detail == 0.5
    assert new.raw is r.raw and new.view is not r.view and new.final is None
    assert len(shown) == 1  # the visible part came first
    # the same model output refinished is one entry of the history, not two
    assert doc.history.done == [new]
    # Amount 0 gives the input back
    with qtbot.waitSignal(session.refinished, timeout=20000):
        session.refinish(doc, 0.0, 0.0)
    assert np.allclose(doc.result.rgb, doc.photo.rgb, atol=1e-6)


def test_undo_redo_and_a_new_run_keeps_the_old_result(qtbot, session, tmp_path):
    doc = ready_document(write_photo(tmp_path / "p.jpg", size=(64, 48)))
    notices = []
    session.notice.connect(lambda text, kind, ms: notices.append(text))
    assert not session.can_undo(doc) and not session.can_redo(doc)
    a = _run(qtbot, session, doc, Recipe((RecipeStep("den", 5.0),)))
    b = _run(qtbot, session, doc, Recipe((RecipeStep("den", 30.0),)))
    assert notices and "Undo" in notices[-1]  # the unsaved result a was not dropped
    assert doc.history.done == [a, b] and session.can_undo(doc)
    with qtbot.waitSignal(session.history_changed):
        assert session.undo(doc)
    assert doc.result is a and session.can_redo(doc)
    assert session.redo(doc) and doc.result is b and not session.can_redo(doc)
    assert session.undo(doc) and session.undo(doc) and doc.result is None
    assert not session.undo(doc)
    assert session.redo(doc) and doc.result is a
    c = _run(qtbot, session, doc, Recipe((RecipeStep("up"),)))
    assert doc.history.done == [a, c] and not session.can_redo(doc)  # a new run clears redo


def test_preview_shows_only_the_region_and_undo_drops_it(qtbot, session, tmp_path):
    doc = ready_document(write_photo(tmp_path / "p.jpg", size=(96, 72)))
    full = _run(qtbot, session, doc, Recipe((RecipeStep("den", 10.0),)))
    assert doc.unsaved
    box = (8, 40, 16, 64)
    with qtbot.waitSignal(session.previewed, timeout=20000):
        assert session.preview(doc, Recipe((RecipeStep("up"),)), CPU, box)
    r = doc.result
    assert r.is_preview and r.partial and r.preview_box == box
    assert r.view.size == (192, 144)  # the whole result's size, at x2
    alpha = r.view.levels[0][..., 3]
    assert (alpha[16:80, 32:128] == 255).all() and alpha.sum() == 255 * 64 * 96
    assert r.rgb is None and r.raw.shape == (64, 96, 3)
    assert doc.unsaved  # the full result the preview hides is not saved
    # Amount on a preview is redone on its region
    with qtbot.waitSignal(session.previewed, timeout=20000):
        assert session.refinish(doc, 0.0, 0.0)
    assert doc.result.is_preview and doc.result.recipe.steps[-1].amount == 0.0
    assert session.undo(doc) and doc.result is full


@pytest.mark.parametrize("model", ["redunet-jpeg", "redunet-denoise-camera"])
def test_a_preview_is_the_full_run_over_its_region(model):
    """A preview of a part of a photo on Auto measures Auto on the whole photo and starts on
    the JPEG and network grids, so it is the full run's result there, pixel for pixel. It
    had measured on the part: a part not starting on a JPEG block of a once-compressed PNG
    read as no JPEG at all (the preview 38 dB from the full run's result), the denoiser's
    noise level read differently (44 dB)."""
    from deconv_gui.core.image import ImageMeta, Photo
    from deconv_gui.core.pipeline import auto_settings
    from deconv_gui.core.tiling import run_to_end
    from deconv_gui.gui.recipe_run import preview_job, run_job
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.paths import sample_photo

    registry = default_registry()
    im = Image.open(sample_photo()).convert("RGB")
    im = im.resize((320, im.height * 320 // im.width))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=20)  # decoded: no quantisation tables to read any more
    photo = Photo(np.asarray(Image.open(buf).convert("RGB"), np.float32) / 255.0, ImageMeta())
    recipe = Recipe((RecipeStep(model),))
    full = run_to_end(run_job(recipe, registry.get, CPU, photo, tile_size=None, cache=None,
                              colour=None)).photo  # fmt: skip
    (chosen,) = auto_settings(full.meta)
    assert chosen.model == model
    if model == "redunet-jpeg":  # read from the pixels' 8x8 blocks
        assert 15 <= chosen.value <= 25
    y0, y1, x0, x1 = box = (37, 37 + 96, 51, 51 + 128)
    preview = run_to_end(preview_job(recipe, registry.get, CPU, photo, box, cache=None,
                                     colour=None))  # fmt: skip
    assert preview.rgb.shape == (96, 128, 3)
    assert np.abs(preview.rgb - full.rgb[y0:y1, x0:x1]).max() < 1e-4
    assert np.abs(photo.rgb[y0:y1, x0:x1] - full.rgb[y0:y1, x0:x1]).max() > 0.02


def test_a_preview_builds_a_model_without_auto_once():
    """Measuring Auto on the whole photo needs the model's processor: a model without Auto
    (an imported network told a noise level, which may be large) is not built for it."""
    from deconv_gui.core.image import ImageMeta, Photo
    from deconv_gui.core.tiling import run_to_end
    from deconv_gui.gui.recipe_run import preview_job

    built: list[str] = []
    st = StrengthSpec("Noise level", 0.0, 75.0, 15.0)  # no Auto

    def build(options):
        built.append(str(options.strength))
        return ScaleProcessor()

    spec = ModelSpec("told", "Told", "denoise", 1, "imported", "", strength=st, build=build)
    photo = Photo(np.full((64, 80, 3), 0.5, np.float32), ImageMeta())
    job = preview_job(Recipe((RecipeStep("told"),)), lambda _m: spec, CPU, photo,
                      (8, 40, 8, 40), cache=None, colour=None)  # fmt: skip
    assert run_to_end(job).rgb.shape == (32, 32, 3)
    assert built == ["None"]


def test_preview_box_is_the_visible_part_cut_to_size():
    assert preview_box((10.2, 5.7, 100, 50), (400, 300), 512) == (5, 56, 10, 111)
    y0, y1, x0, x1 = preview_box((0, 0, 4000, 3000), (4000, 3000), 512)
    assert (y1 - y0, x1 - x0) == (512, 512) and x0 == 1744 and y0 == 1244
    assert preview_box((-50, -50, 20, 20), (300, 200), 512) == (0, 200, 0, 300)  # off-photo


# ------------------------------------------------------------------ the window
def test_live_amount_slider_refinishes_the_result(qtbot, window, photo):
    doc = open_and_wait(qtbot, window, photo)
    assert window.restore_panel.select_model("tiny-conv")
    with qtbot.waitSignal(window.result_finished, timeout=20000):
        assert window.run()
    r = doc.result
    with qtbot.waitSignal(window.session.refinished, timeout=20000):
        window.restore_panel.amount.slider.setValue(40)
    assert np.allclose(doc.result.rgb, finish(r.base, r.raw, amount=0.4), atol=1e-6)
    qtbot.waitUntil(lambda: doc.result.final is not None, timeout=20000)  # scored again
    assert window.action("undo").isEnabled()
    # a strength change is a different model output: previewed live, not refinished
    with qtbot.waitSignal(window.session.previewed, timeout=20000):
        window.restore_panel.set_strength(30)
    assert doc.result.is_preview and "Preview" in window.restore_panel.progress_label.text()
    window.workflow.undo()
    assert doc.result.rgb is not None and doc.result.recipe.steps[-1].amount == 0.4
    assert window.restore_panel.amount.value() == pytest.approx(0.4)  # settings follow


def test_an_earlier_steps_amount_with_live_preview_off_says_the_result_is_out_of_date(
    qtbot, window, photo
):
    """Amount on a step before the last needs the models to run again. With Live preview
    off the change did nothing: the result, its "Done" line and Save stayed at 100 % while
    the step list said 60 %."""
    from deconv_gui.gui.workflow import SETTINGS_CHANGED

    doc = open_and_wait(qtbot, window, photo)
    panel = window.restore_panel
    panel.live_check.setChecked(False)
    panel.set_recipe(Recipe((RecipeStep("tiny-conv"), RecipeStep("tiny-x2"))))
    with qtbot.waitSignal(window.result_finished, timeout=20000):
        assert window.run()
    done = panel.progress_label.text()
    assert done.startswith("Done in ")
    shown = doc.result.rgb
    panel.select_step(0)
    panel.amount.slider.setValue(60)
    qtbot.waitUntil(lambda: panel.progress_label.text() == SETTINGS_CHANGED, timeout=5000)
    assert doc.result.rgb is shown  # nothing ran
    panel.amount.slider.setValue(100)  # back to the result's own settings
    qtbot.waitUntil(lambda: panel.progress_label.text() == done, timeout=5000)
    # the last step's Amount is applied to the result as before, with Live preview off too
    panel.select_step(1)
    with qtbot.waitSignal(window.session.refinished, timeout=20000):
        panel.amount.slider.setValue(50)


def test_a_saved_result_changed_by_the_sliders_is_unsaved_again(qtbot, window, photo):
    """Amount moved after saving had kept the result 'saved': closing did not ask, and the
    file held the old Amount."""
    doc = open_and_wait(qtbot, window, photo)
    assert window.restore_panel.select_model("tiny-conv")
    with qtbot.waitSignal(window.result_finished, timeout=20000):
        assert window.run()
    with qtbot.waitSignal(window.session.saved, timeout=20000):
        window.save()
    assert not doc.unsaved
    with qtbot.waitSignal(window.session.refinished, timeout=20000):
        window.restore_panel.amount.slider.setValue(40)
    assert doc.unsaved and doc.result.saved_path is None


def test_suggestion_banner_and_apply(qtbot, window, tmp_path):
    noisy = tmp_path / "noisy.png"
    rng = np.random.default_rng(1)
    img = np.clip(0.5 + rng.normal(0, 25 / 255, (120, 160, 3)), 0, 1)
    Image.fromarray((img * 255).astype(np.uint8)).save(noisy)
    doc = open_and_wait(qtbot, window, noisy)
    qtbot.waitUntil(lambda: window.advisor.analysis(doc) is not None, timeout=20000)
    banner = window.restore_panel.banner
    text = banner.label.text()
    assert text.startswith("Noisy (about 2") and "Denoise" in text
    assert "Upscale x4: no model installed" in text  # the tiny registry has only x2
    assert banner.apply_button.isEnabled()
    banner.apply_button.click()
    steps = window.restore_panel.recipe().steps
    assert [s.model for s in steps] == ["tiny-conv"]
    a = window.advisor.analysis(doc)
    assert steps[0].strength == pytest.approx(round(a.noise_sigma))


def test_simulate_on_a_photo_that_is_not_clean_says_the_scores_count_that(qtbot, window, tmp_path):
    """Simulate compares results with the photo as it is: a noisy photo gets a notice that
    removing its own noise counts against a model; a clean one gets none."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:120, 0:160]
    checks = ((x // 7 + y // 7) % 2) * 0.4 + 0.3  # sharp edges: not blurred, not blocky
    sharp = np.stack([checks, 0.25 + x / 320, 0.5 + 0.2 * np.sin(x / 9.0)], axis=-1)
    clean, noisy = tmp_path / "clean.png", tmp_path / "noisy.png"
    Image.fromarray(np.round(sharp * 255).astype(np.uint8)).save(clean)
    grainy = np.clip(sharp + rng.normal(0, 20 / 255, sharp.shape), 0, 1)
    Image.fromarray(np.round(grainy * 255).astype(np.uint8)).save(noisy)

    doc = open_and_wait(qtbot, window, noisy)
    qtbot.waitUntil(lambda: window.advisor.analysis(doc) is not None, timeout=20000)
    window.simulate("noise=25")
    qtbot.waitUntil(lambda: doc.comparison.lq is not None, timeout=20000)
    text = window.message_bar.text()
    assert text.startswith("Your photo is already noisy (about ") and "scores lower" in text
    assert doc.comparison.label == "vs your photo"

    window.message_bar.close_button.click()
    assert window.message_bar.text() == ""
    doc2 = open_and_wait(qtbot, window, clean)
    qtbot.waitUntil(lambda: window.advisor.analysis(doc2) is not None, timeout=20000)
    assert window.advisor.analysis(doc2).findings() == ["small (160x120)"]
    window.simulate("noise=25")
    qtbot.waitUntil(lambda: doc2.comparison.lq is not None, timeout=20000)
    assert "Your photo is already" not in window.message_bar.text()


def test_simulate_caveat_on_raw_files_follows_the_sensor_data(qtbot, photo):
    """A RAW file is judged by its sensor data's signal to noise (its development is not
    measured for noise), and a photo not yet analysed gets no caveat."""
    from deconv_gui.core.analyze import RAW_NOISY_SNR, Analysis
    from deconv_gui.gui.advisor import Advisor

    advisor = Advisor(ModelRegistry())
    doc = ready_document(photo)
    assert advisor.simulate_caveat(doc) == ""
    base = Analysis(6000, 4000, noise_sigma=0.5, jpeg_quality=None, jpeg_source=None, blur=0.2)
    advisor._done[doc.key] = replace(base, raw_snr=RAW_NOISY_SNR / 3)
    text = advisor.simulate_caveat(doc)
    assert text.startswith("Your photo is already noisy (its sensor data: signal to noise")
    advisor._done[doc.key] = replace(base, raw_snr=RAW_NOISY_SNR * 3)
    assert advisor.simulate_caveat(doc) == ""
    advisor._done[doc.key] = replace(base, jpeg_quality=40.0, jpeg_source="file")
    assert advisor.simulate_caveat(doc).startswith(
        "Your photo is already saved as JPEG quality 40."
    )
    advisor.shutdown()


def test_export_writes_the_choices_and_shows_where(qtbot, window, photo, tmp_path):
    doc = open_and_wait(qtbot, window, photo)
    window.restore_panel.select_model("tiny-x2")
    with qtbot.waitSignal(window.result_finished, timeout=20000):
        window.run()
    dlg = window.workflow.export_dialog()
    dlg.set_options(ExportOptions(format="png", bits=16, colour="adobe-rgb", long_edge=100))
    dlg.path_edit.setText(str(tmp_path / "out" / "street_x2"))
    (tmp_path / "out").mkdir()
    with qtbot.waitSignal(window.saved, timeout=20000) as blocker:
        dlg.accept()
    out = blocker.args[0]
    assert out.name == "street_x2.png" and doc.result.saved_path == out
    with Image.open(out) as im:
        assert im.size == (100, 75)
        desc = ImageCms.getProfileDescription(
            ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
        )
    assert desc.startswith("Adobe RGB")
    label = window.restore_panel.saved_label
    assert label.isVisibleTo(window) and "street_x2.png" in label.text()
    assert "Show in folder" in label.text()
    # remembered for the next export
    again = window.workflow.export_dialog()
    assert again.options().colour == "adobe-rgb" and again.options().format == "png"
    again.reject()


def test_save_after_export_writes_the_file_the_same_way_again(qtbot, window, photo, tmp_path):
    """Ctrl+S after Export saves to the exported file with the Export settings, not as the
    photo was (which would turn a 16-bit, resized export into a full-size 8-bit file)."""
    doc = open_and_wait(qtbot, window, photo)
    window.restore_panel.select_model("tiny-x2")
    with qtbot.waitSignal(window.result_finished, timeout=20000):
        window.run()
    dlg = window.workflow.export_dialog()
    dlg.set_options(ExportOptions(format="png", bits=16, long_edge=100))
    dlg.path_edit.setText(str(tmp_path / "web"))
    with qtbot.waitSignal(window.saved, timeout=20000) as blocker:
        dlg.accept()
    out = blocker.args[0]
    assert out.read_bytes()[24] == 16  # PNG IHDR bit depth
    with qtbot.waitSignal(window.saved, timeout=20000) as again:
        window.save()
    assert again.args[0] == out and doc.result.saved_path == out
    assert out.read_bytes()[24] == 16
    with Image.open(out) as im:
        assert im.size == (100, 75)


def test_compare_models_side_by_side_with_numbers(qtbot, window, photo):
    doc = open_and_wait(qtbot, window, photo)
    window.simulate("noise=25")
    qtbot.waitUntil(lambda: doc.comparison.lq is not None, timeout=20000)
    window.restore_panel.select_model("tiny-conv")
    dlg = window.workflow.compare_models_dialog()
    chosen = [spec.id for _, spec in dlg.chosen()]
    assert chosen[0] == "tiny-conv" and "tiny-slow" in chosen and len(chosen) <= 4
    # the slots left unticked show other models to tick, each once (all had shown the
    # list's first model)
    spare = [
        p.current_id() for c, p in zip(dlg.checks, dlg.pickers, strict=True) if not c.isChecked()
    ]
    assert len(set(spare)) == len(spare) and not set(spare) & set(chosen)
    with qtbot.waitSignal(dlg.compared, timeout=30000):
        pass
    for i, _ in dlg.chosen():
        mid, out, scores = dlg.results[i]
        assert scores is not None and 0 < scores.ssim <= 1 and scores.psnr > 0
        caption = dlg.panes[i].caption.text()
        assert f"PSNR {scores.psnr:.1f} dB" in caption
    dlg.reject()
    dlg.shutdown()


def test_a_recipes_progress_counts_every_step(registry, photo):
    """The app runs all steps but the last as one job: their tiles say "step i/n" of the
    whole recipe (the first of two steps had said nothing)."""
    from deconv_gui.core.io import load_image
    from deconv_gui.core.tiling import run_to_end
    from deconv_gui.gui.recipe_run import recipe_work

    seen = []
    for models in ("tiny-conv,tiny-x2", "tiny-conv,tiny-conv,tiny-x2"):
        seen.clear()
        recipe = Recipe.from_models(models)
        run_to_end(recipe_work(recipe, registry.get, LoadOptions(), load_image(photo)), seen.append)
        n = len(recipe.steps)
        steps = [f"step {i}/{n}: {st.model}" for i, st in enumerate(recipe.steps, 1)]
        assert sorted({tp.message for tp in seen}) == steps


def test_the_raw_denoiser_previews_a_raw_photo_and_says_what_it_cannot_run_on(
    qtbot, make_window, registry, tmp_path
):
    """A preview of the RAW denoiser works on the part of the mosaic in view (it had failed:
    'must come before steps that change the size'); on Simulate's degraded copy it had
    denoised the photo's own mosaic and scored that against the photo (+19 dB), and on an
    ordinary photo it failed after starting and left 'Running...' in the status bar."""
    from deconv_gui.core.dng import write_dng
    from deconv_gui.core.rawpipe import RAW_CROP
    from deconv_gui.core.tiling import run_to_end
    from tests.core.test_dng import synthetic
    from tests.core.test_rawpipe import _noisy_mosaic, busy_raw_model

    raw_spec = busy_raw_model(tmp_path / "models")
    window = make_window(ModelRegistry([*registry, raw_spec]))
    raw = synthetic("RGGB", (400, 600))
    dng = write_dng(tmp_path / "noisy.dng", raw, _noisy_mosaic(raw))
    doc = open_and_wait(qtbot, window, dng)
    assert window.restore_panel.select_model(raw_spec.id)
    window.view.set_zoom(4.0)
    with qtbot.waitSignal(window.session.previewed, timeout=30000):
        assert window.workflow.preview()
    r = doc.result
    y0, y1, x0, x1 = r.preview_box
    assert r.is_preview and y0 > 32 and x0 > 32 and (y1 - y0) * (x1 - x0) < 400 * 600 / 4
    assert r.meta.extra[RAW_CROP] and window.message_bar.text() == ""
    with qtbot.waitSignal(window.session.previewed, timeout=30000):  # Amount on the preview
        assert window.session.refinish(doc, 0.5, 0.0)
    assert doc.result.is_preview and doc.result.recipe.steps[-1].amount == 0.5
    assert doc.result.preview_box == r.preview_box and window.message_bar.text() == ""
    full = run_to_end(recipe_job_for(raw_spec, doc.photo, amount=0.5))  # what a run gives
    shown = doc.result.view.levels[0][y0:y1, x0:x1, 2::-1].astype(int)  # BGRA -> RGB
    expected = np.rint(full.rgb[y0:y1, x0:x1] * 255).astype(int)
    assert (np.abs(shown - expected).max(axis=2) > 2).mean() < 0.02
    # Compare models: on a RAW photo the photo denoisers are its family too
    dlg = window.workflow.compare_models_dialog()
    assert [s.id for _, s in dlg.chosen()] == [raw_spec.id, "tiny-conv", "tiny-slow"]
    with qtbot.waitSignal(dlg.compared, timeout=30000):
        pass
    assert len(dlg.results) == 3
    dlg.reject()

    with qtbot.waitSignal(window.quality.comparison_changed, timeout=20000):
        window.simulate("noise=25")
    assert not window.run()
    said = window.message_bar.text()
    assert "sensor data" in said and "simulated noise=25 copy" in said
    dlg = window.workflow.compare_models_dialog()  # the degraded copy: no RAW denoiser
    assert [s.id for _, s in dlg.chosen()] == ["tiny-conv", "tiny-slow"]
    dlg.reject()
    # the suggestion (the RAW denoiser, for the photo) sets up a photo denoiser for the copy
    qtbot.waitUntil(lambda: window.advisor.analysis(doc) is not None, timeout=30000)
    assert window.advisor.suggested_recipe(window.advisor.analysis(doc)).steps[0].model == (
        raw_spec.id
    )
    assert window.workflow.apply_suggestion()
    steps = [s.model for s in window.restore_panel.recipe().steps]
    assert steps[0] == "tiny-conv" and raw_spec.id not in steps  # then x2: a small photo

    photo = write_photo(tmp_path / "p.jpg")
    open_and_wait(qtbot, window, photo)
    assert window.restore_panel.select_model(raw_spec.id)
    assert not window.run() and not window.session.is_busy
    assert "p.jpg is not a camera RAW file" in window.message_bar.text()
    assert not window.statusBar().currentMessage().startswith("Running")


def test_a_noisy_raw_file_with_photo_steps_set_up_is_told_they_skip_the_sensor_data(
    qtbot, make_window, registry, tmp_path
):
    """The steps stay as they were when a RAW file opens (here the photo denoiser), so Run
    would denoise the developed picture while the suggestion names the RAW denoiser: the
    suggestion says so until the steps work on the sensor data. Ordinary photos: no note."""
    from deconv_gui.core.dng import write_dng
    from tests.core.test_dng import synthetic
    from tests.core.test_rawpipe import _noisy_mosaic, busy_raw_model

    raw_spec = busy_raw_model(tmp_path / "models")
    window = make_window(ModelRegistry([*registry, raw_spec]))
    raw = synthetic("RGGB", (400, 600))
    dng = write_dng(tmp_path / "noisy.dng", raw, _noisy_mosaic(raw))
    doc = open_and_wait(qtbot, window, dng)
    qtbot.waitUntil(lambda: window.advisor.analysis(doc) is not None, timeout=30000)
    panel, note = window.restore_panel, "The steps below work on the developed picture"
    assert panel.select_model("tiny-conv")
    said = panel.banner.label.text()
    assert said.startswith("Camera RAW, noisy") and note in said, said
    assert panel.select_model(raw_spec.id)  # the steps now denoise the sensor data
    assert note not in panel.banner.label.text()
    assert panel.select_model("tiny-conv")
    assert note in panel.banner.label.text()
    assert window.workflow.apply_suggestion()
    assert panel.recipe().steps[0].model == raw_spec.id
    assert note not in panel.banner.label.text()

    photo = write_photo(tmp_path / "p.png")
    other = open_and_wait(qtbot, window, photo)
    qtbot.waitUntil(lambda: window.advisor.analysis(other) is not None, timeout=30000)
    assert panel.select_model("tiny-conv")
    assert note not in panel.banner.label.text()


def test_amount_on_a_raw_result_is_applied_to_the_sensor_data_the_dng_holds(
    qtbot, make_window, registry, tmp_path
):
    """The app blended a RAW result's Amount in RGB and exported the DNG at full strength
    (Amount 50 % on screen, 100 % in the file); now Amount and Detail work on the sensor
    data as in the CLI, in the run and when the sliders move."""
    from deconv_gui.core.dng import write_dng
    from deconv_gui.core.export import ExportOptions
    from deconv_gui.core.raw import open_raw
    from deconv_gui.core.rawpipe import RAW_MOSAIC
    from deconv_gui.core.tiling import run_to_end
    from tests.core.test_dng import synthetic
    from tests.core.test_rawpipe import _noisy_mosaic, busy_raw_model

    spec = busy_raw_model(tmp_path / "models")
    window = make_window(ModelRegistry([*registry, spec]))
    raw = synthetic("GRBG", (64, 90))
    doc = open_and_wait(qtbot, window, write_dng(tmp_path / "n.dng", raw, _noisy_mosaic(raw)))
    noisy = doc.photo.meta.extra["raw"].mosaic.astype(np.float64)
    full = run_to_end(recipe_job_for(spec, doc.photo))
    model = full.meta.extra[RAW_MOSAIC].astype(np.float64)
    assert np.abs(model - noisy).mean() > 20  # the model changes the sensor data

    window.restore_panel.set_recipe(Recipe((RecipeStep(spec.id, amount=0.5),)))
    with qtbot.waitSignal(window.session.finished, timeout=30000):
        assert window.run()
    mine = doc.result.meta.extra[RAW_MOSAIC].astype(np.float64)
    assert np.abs(mine - (noisy + 0.5 * (model - noisy))).max() <= 1
    cli = run_to_end(recipe_job_for(spec, doc.photo, amount=0.5))
    # what the CLI makes, but where rounding the model's output to sensor values turned
    # the demosaicking's choice of direction (the CLI blends before rounding)
    off = np.abs(doc.result.rgb - cli.rgb).max(axis=2) > 2e-3
    assert off.mean() < 0.02

    with qtbot.waitSignal(window.session.refinished, timeout=30000):
        window.session.notice.connect(lambda t, *_: print("NOTICE", t))
        assert window.session.refinish(doc, 0.25, 0.0)
    mine = doc.result.meta.extra[RAW_MOSAIC].astype(np.float64)
    assert np.abs(mine - (noisy + 0.25 * (model - noisy))).max() <= 1
    dng = tmp_path / "out.dng"
    with qtbot.waitSignal(window.session.saved, timeout=30000):
        window.session.export(doc, dng, ExportOptions(format="dng"))
    assert np.array_equal(open_raw(dng).mosaic, doc.result.meta.extra[RAW_MOSAIC])


def recipe_job_for(spec, photo, amount: float = 1.0):
    from deconv_gui.core.recipe import recipe_job

    recipe = Recipe((RecipeStep(spec.id, amount=amount),))
    return recipe_job(recipe, lambda _m: spec, CPU)(photo)
