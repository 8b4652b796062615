"""Camera RAW photos through the pipeline (`core.rawpipe`): the RAW denoiser on the mosaic,
DNG and TIFF out, recipes, and the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from deconv_gui.core.dng import write_dng
from deconv_gui.core.image import ImageMeta, Photo
from deconv_gui.core.io import load_image
from deconv_gui.core.naming import output_path_for
from deconv_gui.core.pipeline import restore_photo
from deconv_gui.core.raw import open_raw
from deconv_gui.core.raw_noise import reference_profile
from deconv_gui.core.rawpipe import (
    DEVELOP_REACH,
    RAW_CROP,
    RAW_MOSAIC,
    encode_transfer,
    mosaic_region,
    save_photo,
)
from deconv_gui.core.recipe import Recipe, RecipeStep, recipe_job
from deconv_gui.core.spec import LoadOptions
from deconv_gui.core.tiling import run_to_end
from deconv_gui.errors import DeconvError, ImageWriteError
from deconv_gui.models.bundled import spec_from_card
from deconv_gui.models.classical import classical_specs
from tests.core.test_dng import synthetic
from tests.tiny_models import write_tiny_model


@pytest.fixture(scope="module")
def raw_spec(tmp_path_factory):
    return spec_from_card(write_tiny_model(tmp_path_factory.mktemp("m"), "raw-denoise"))


def busy_raw_model(folder: Path):
    """The tiny RAW denoiser with every weight drawn at random (the tiny one starts as the
    identity): its output depends on each pixel's context and on the noise Auto measures."""
    from safetensors.torch import load_file, save_file

    card = write_tiny_model(folder, "raw-denoise", "busy-raw-denoise")
    weights = card.with_suffix(".safetensors")
    gen = torch.Generator().manual_seed(1)
    state = load_file(str(weights))
    save_file({k: 0.05 * torch.randn(v.shape, generator=gen) for k, v in state.items()},
              str(weights))  # fmt: skip
    return spec_from_card(card)


@pytest.fixture(scope="module")
def busy_raw_spec(tmp_path_factory):
    return busy_raw_model(tmp_path_factory.mktemp("busy"))


@pytest.fixture
def noisy_dng(tmp_path) -> Path:
    """A 14-bit-like synthetic Bayer DNG with a smooth scene and noise."""
    raw = synthetic("RGGB", (64, 96), seed=3)
    yy, xx = np.mgrid[0:64, 0:96]
    scene = 0.2 + 0.5 * (xx / 96.0) * (0.6 + 0.4 * np.sin(yy / 9.0))
    prof = reference_profile(12800)
    rng = np.random.default_rng(0)
    noisy = scene + rng.standard_normal(scene.shape) * np.sqrt(prof.variance(scene))
    black, white = 128, raw.white_level
    mosaic = np.clip(np.rint(noisy * (white - black) + black), 0, white).astype(np.uint16)
    return write_dng(tmp_path / "noisy.dng", raw, mosaic)


CPU = LoadOptions(device="cpu")


def test_raw_denoiser_runs_on_the_mosaic_and_writes_dng_and_tiff(raw_spec, noisy_dng, tmp_path):
    photo = load_image(noisy_dng)
    assert photo.meta.extra["raw"].is_bayer
    seen = []
    out = run_to_end(restore_photo(raw_spec, photo, LoadOptions(device="cpu")), seen.append)
    assert seen and all(tp.pixels.size == 0 for tp in seen)  # sensor planes: nothing shown
    mosaic = out.meta.extra[RAW_MOSAIC]
    assert mosaic.dtype == np.uint16 and mosaic.shape == photo.meta.extra["raw"].mosaic.shape
    assert out.rgb.shape == photo.rgb.shape and out.meta.bit_depth == 16
    dng = save_photo(tmp_path / "out.dng", out)
    assert np.array_equal(open_raw(dng).mosaic, mosaic)  # LibRaw reads back our mosaic
    tif = save_photo(tmp_path / "out.tif", out)
    back = load_image(tif)
    assert back.meta.bit_depth == 16 and np.abs(back.rgb - out.rgb).max() <= 1 / 65535 + 1e-6
    assert output_path_for(noisy_dng, "_denoised").suffix == ".tif"  # default: 16-bit TIFF


def test_amount_zero_gives_back_the_original_mosaic(raw_spec, noisy_dng):
    photo = load_image(noisy_dng)
    recipe = Recipe((RecipeStep(raw_spec.id, amount=0.0),))
    out = run_to_end(recipe_job(recipe, lambda _id: raw_spec, LoadOptions(device="cpu"))(photo))
    raw = photo.meta.extra["raw"]
    diff = np.abs(out.meta.extra[RAW_MOSAIC].astype(int) - raw.mosaic.astype(int))
    assert diff.max() <= 1  # rounding only
    assert np.abs(out.rgb - photo.rgb).max() < 2 / 255


def test_steps_after_the_raw_denoiser_and_the_dng_refusals(raw_spec, noisy_dng, tmp_path):
    x2 = next(s for s in classical_specs() if s.id == "lanczos-x2")
    table = {raw_spec.id: raw_spec, x2.id: x2}
    photo = load_image(noisy_dng)
    recipe = Recipe((RecipeStep(raw_spec.id), RecipeStep("lanczos-x2")))
    out = run_to_end(recipe_job(recipe, table.__getitem__, LoadOptions(device="cpu"))(photo))
    assert out.rgb.shape == (2 * photo.height, 2 * photo.width, 3)
    assert RAW_MOSAIC not in out.meta.extra  # the mosaic no longer describes these pixels
    with pytest.raises(ImageWriteError, match="only the RAW denoiser"):
        save_photo(tmp_path / "x2.dng", out)
    with pytest.raises(ImageWriteError, match="needs a camera RAW"):
        save_photo(tmp_path / "plain.dng", Photo(np.zeros((4, 4, 3), np.float32), ImageMeta()))
    # the RAW denoiser after an RGB step: it would throw that step's work away
    wrong = Recipe((RecipeStep("lanczos-x2"), RecipeStep(raw_spec.id)))
    with pytest.raises(DeconvError, match="must be the first step"):
        recipe_job(wrong, table.__getitem__, LoadOptions(device="cpu"))
    twice = Recipe((RecipeStep(raw_spec.id), RecipeStep(raw_spec.id, strength=50.0)))
    out = run_to_end(recipe_job(twice, table.__getitem__, LoadOptions(device="cpu"))(photo))
    assert out.meta.extra[RAW_MOSAIC].shape == photo.meta.extra["raw"].mosaic.shape
    # a photo that is not the whole render, and says nothing of where it lies
    with pytest.raises(DeconvError, match="must come before"):
        run_to_end(restore_photo(raw_spec, Photo(photo.rgb[:10], photo.meta), CPU))


def _noisy_mosaic(raw, seed=0):
    """A smooth scene with ISO 12800 noise, as `raw`'s uint16 mosaic."""
    h, w = raw.mosaic.shape
    yy, xx = np.mgrid[0:h, 0:w]
    scene = 0.1 + 0.25 * (xx / w) * (0.6 + 0.4 * np.sin(yy / 9.0))
    prof = reference_profile(12800)
    noisy = scene + np.random.default_rng(seed).standard_normal(scene.shape) * np.sqrt(
        prof.variance(scene)
    )
    black, white = 128, raw.white_level
    return np.clip(np.rint(noisy * (white - black) + black), 0, white).astype(np.uint16)


E = (90, 124)  # an even-sized sensor


@pytest.mark.parametrize(
    ("cfa", "orientation", "aspect", "shape", "where"),
    [("RGGB", 1, 1.0, E, "in"), ("GRBG", 2, 1.0, E, "in"), ("BGGR", 3, 1.0, E, "in"),
     ("GBRG", 4, 1.0, E, "in"), ("RGGB", 5, 1.0, E, "in"), ("GRBG", 6, 1.0, E, "in"),
     ("BGGR", 7, 1.0, E, "in"), ("GBRG", 8, 1.0, E, "in"), ("RGGB", 1, 1.5, E, "in"),
     ("GRBG", 6, 1.5, E, "in"), ("GBRG", 3, 1.0, (91, 125), "corner")],
)  # fmt: skip
def test_a_part_of_a_raw_photo_comes_out_as_in_a_full_run(
    busy_raw_spec, tmp_path, cfa, orientation, aspect, shape, where
):
    """A preview's part: the mosaic behind it found through every flip and a non-square
    pixel stretch (and on an odd-sized sensor, in the far corner), the noise measured on
    the whole photo."""
    raw = synthetic(cfa, shape, orientation=orientation, aspect=aspect)
    photo = load_image(write_dng(tmp_path / "p.dng", raw, _noisy_mosaic(raw)))
    full = run_to_end(restore_photo(busy_raw_spec, photo, CPU))
    h, w = photo.rgb.shape[:2]
    crop = (h // 5, h // 5 + h // 3, w // 2, w // 2 + w // 4)
    if where == "corner":
        crop = (h - 23, h, w - 31, w)
    y0, y1, x0, x1 = crop
    part = Photo(
        photo.rgb[y0:y1, x0:x1], photo.meta.copy(extra={**photo.meta.extra, RAW_CROP: crop})
    )
    out = run_to_end(restore_photo(busy_raw_spec, part, CPU))
    assert out.meta.extra[RAW_CROP] == crop and out.rgb.shape == part.rgb.shape
    # the sensor values the part is developed from are the full run's, up to float rounding
    # (a network on another size differs in the last bit: one sensor value)
    raw = photo.meta.extra["raw"]
    my0, my1, mx0, mx1 = mosaic_region(raw.sizes, crop)
    d = DEVELOP_REACH
    behind = np.s_[max(0, my0 - d) : my1 + d, max(0, mx0 - d) : mx1 + d]
    mine, theirs = out.meta.extra[RAW_MOSAIC], full.meta.extra[RAW_MOSAIC]
    assert np.abs(mine[behind].astype(int) - theirs[behind].astype(int)).max() <= 1
    # so the pictures match but where a last-bit change turned AHD's choice of direction
    off = np.abs(out.rgb - full.rgb[y0:y1, x0:x1]).max(axis=2) > 2e-3
    assert off.mean() < 0.02
    assert np.abs(out.rgb - part.rgb).mean() > 1e-2  # it did denoise that part
    # the rest of the mosaic is as it was
    changed = mine != raw.mosaic
    assert 0 < changed.mean() < 0.8


def test_mosaic_region_undoes_flip_and_stretch():
    sizes = synthetic("RGGB", (40, 60), orientation=6).sizes  # 90 degrees clockwise: 60 x 40
    assert (sizes.output_height, sizes.output_width) == (60, 40)
    # the render's top-left corner is the mosaic's bottom-left
    assert mosaic_region(sizes, (0, 10, 0, 5)) == (35, 40, 0, 10)
    wide = synthetic("RGGB", (40, 60), aspect=2.0).sizes  # each photosite two pixels wide
    assert mosaic_region(wide, (4, 8, 10, 30)) == (4, 8, 5, 15)


def test_raw_denoiser_refuses_ordinary_photos(raw_spec):
    photo = Photo(np.full((16, 16, 3), 0.5, np.float32), ImageMeta(path=Path("x.jpg")))
    with pytest.raises(DeconvError, match="works on camera RAW files, and x.jpg is not one"):
        run_to_end(restore_photo(raw_spec, photo, LoadOptions(device="cpu")))


def test_non_bayer_sensors_take_the_linear_rgb_path(raw_spec, busy_raw_spec, tmp_path):
    raw = synthetic(("GGRGGB", "GGBGGR", "BRGRBG", "GGBGGR", "GGRGGB", "RBGBRG"), (516, 522))
    photo = load_image(write_dng(tmp_path / "xtrans.dng", raw))
    out = run_to_end(restore_photo(raw_spec, photo, LoadOptions(device="cpu")))
    assert out.rgb.shape == photo.rgb.shape
    assert "no Bayer mosaic" in out.meta.extra["note"]
    with pytest.raises(ImageWriteError, match="a DNG result needs a Bayer sensor"):
        save_photo(tmp_path / "x.dng", out)
    # a part (a preview) comes out as in a full run
    full = run_to_end(restore_photo(busy_raw_spec, photo, CPU))
    crop = (101, 230, 250, 397)
    y0, y1, x0, x1 = crop
    part = Photo(
        photo.rgb[y0:y1, x0:x1], photo.meta.copy(extra={**photo.meta.extra, RAW_CROP: crop})
    )
    mine = run_to_end(restore_photo(busy_raw_spec, part, CPU)).rgb
    assert mine.shape == part.rgb.shape and np.abs(mine - part.rgb).mean() > 1e-2
    # up to float rounding, which the tone curve's steep start makes larger near black
    off = np.abs(mine - full.rgb[y0:y1, x0:x1])
    assert off.mean() < 1e-5 and (off > 1e-3).mean() < 1e-3


def test_srgb_curve_matches_the_standard():
    x = np.array([0.0, 0.0031308, 0.18, 1.0], np.float32)
    assert np.allclose(encode_transfer(x, "srgb"), [0.0, 0.04045, 0.4614, 1.0], atol=2e-4)


@pytest.mark.data
def test_eval_synthetic_raw_runs_the_whole_path(shared_data, capsys):
    """``eval --raw-iso``: DNGs written, read, denoised by the bundled RAW denoiser and
    developed; the denoiser must beat the noisy file on the mosaic and the development."""
    import json

    from deconv_gui import cli

    folder = shared_data / "test" / "Kodak24"
    argv = ["eval", "--model", "redunet-raw-denoise", "--raw-iso", "12800", "--limit", "1"]
    assert cli.main([*argv, "--json", str(folder)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 1
    assert report["output"]["raw_psnr"] > report["input"]["raw_psnr"] + 1.0
    assert report["output"]["srgb_psnr"] > report["input"]["srgb_psnr"] + 1.0
    # "Extra quality": eight Bayer-preserving flips, a cleaner mosaic
    assert cli.main([*argv, "--json", "--extra-quality", str(folder)]) == 0
    extra = json.loads(capsys.readouterr().out)
    assert extra["extra_quality"] and not report["extra_quality"]
    assert extra["output"]["raw_psnr"] > report["output"]["raw_psnr"] + 0.05


def test_suggestion_for_a_noisy_raw_file_is_the_raw_denoiser(noisy_dng):
    from deconv_gui.core.analyze import analyze

    photo = load_image(noisy_dng)
    a = analyze(photo.rgb, photo.meta)
    assert a.raw_snr is not None and a.raw_snr < 40
    assert a.primary == "raw-denoise"
    assert a.summary().startswith("Camera RAW, noisy") and "Denoise the RAW data" in a.summary()


def test_the_suggestion_and_the_raw_denoisers_auto_name_the_same_noise(raw_spec, noisy_dng):
    """One reading, one unit: the suggestion said "signal to noise about 9:1" while the
    result said "noise like ISO 12800 on a full-frame camera" of the same file."""
    from deconv_gui.core.analyze import analyze
    from deconv_gui.core.auto_setting import auto_settings

    photo = load_image(noisy_dng)
    a = analyze(photo.rgb, photo.meta)
    (said,) = auto_settings(run_to_end(restore_photo(raw_spec, photo, CPU)).meta)
    assert a.summary().startswith(f"Camera RAW, noisy ({said.text()}), small")


def test_export_as_dng_keeps_the_sensor_data(raw_spec, noisy_dng, tmp_path):
    from deconv_gui.core.export import ExportError, ExportOptions, export_image

    out = run_to_end(restore_photo(raw_spec, load_image(noisy_dng), LoadOptions(device="cpu")))
    p = export_image(tmp_path / "e.dng", out.rgb, out.meta, ExportOptions(format="dng"))
    assert np.array_equal(open_raw(p).mosaic, out.meta.extra[RAW_MOSAIC])
    with pytest.raises(ExportError, match="sensor's own data"):
        export_image(tmp_path / "f.dng", out.rgb, out.meta, ExportOptions("dng", long_edge=20))


def test_parts_of_one_photo_measure_its_noise_once(busy_raw_spec, tmp_path, monkeypatch):
    from deconv_gui.core import raw_noise

    calls = []
    real = raw_noise.estimate_profile
    monkeypatch.setattr(raw_noise, "estimate_profile", lambda p: calls.append(1) or real(p))
    raw = synthetic("RGGB", (60, 80))
    photo = load_image(write_dng(tmp_path / "p.dng", raw, _noisy_mosaic(raw)))
    for crop in ((0, 20, 0, 30), (30, 50, 40, 70)):
        y0, y1, x0, x1 = crop
        extra = {**photo.meta.extra, RAW_CROP: crop}
        part = Photo(photo.rgb[y0:y1, x0:x1], photo.meta.copy(extra=extra))
        run_to_end(restore_photo(busy_raw_spec, part, CPU))
    assert len(calls) == 1


def test_the_raw_denoiser_says_what_auto_read_as_a_full_frame_iso(raw_spec, noisy_dng, tmp_path):
    """Auto removes 100 % of the noise it reads: the result says how much that was, in the
    photographer's unit (the scene above has a full-frame camera's noise at ISO 12800)."""
    from deconv_gui.core.auto_setting import auto_settings, nominal_iso

    photo = load_image(noisy_dng)
    out = run_to_end(restore_photo(raw_spec, photo, CPU))
    (said,) = auto_settings(out.meta)
    assert said.model == raw_spec.id and said.strength == 100.0  # where the slider stands
    assert 10000 <= nominal_iso(said.value) <= 16000, said.value
    assert said.text() == f"noise like ISO {nominal_iso(said.value)} on a full-frame camera"
    # in a recipe too, and not when the strength is set by hand
    recipe = Recipe((RecipeStep(raw_spec.id),))
    chained = run_to_end(recipe_job(recipe, lambda _id: raw_spec, CPU)(photo))
    assert auto_settings(chained.meta) == (said,)
    by_hand = run_to_end(restore_photo(raw_spec, photo, LoadOptions(device="cpu", strength=80)))
    assert auto_settings(by_hand.meta) == ()
    # a sensor without a Bayer mosaic (the linear RGB path) says it too
    xtrans = synthetic(("GGRGGB", "GGBGGR", "BRGRBG", "GGBGGR", "GGRGGB", "RBGBRG"), (516, 522))
    other = run_to_end(
        restore_photo(raw_spec, load_image(write_dng(tmp_path / "x.dng", xtrans)), CPU)
    )
    assert [a.model for a in auto_settings(other.meta)] == [raw_spec.id]


def test_iso_names_are_the_cameras_own() -> None:
    from deconv_gui.core.auto_setting import AutoSetting, nominal_iso

    assert [nominal_iso(v) for v in (3170, 1180, 13000, 8100, 95, 0)] == [
        3200, 1250, 12800, 8000, 100, 0,
    ]  # fmt: skip
    low = AutoSetting("m", "Noise level", 12.0, "raw-denoise")
    assert low.text() == "very little noise, less than ISO 50 on a full-frame camera"


def test_a_dng_that_cannot_be_made_is_refused_before_the_models_run(tmp_path, raw_files):
    """An X-Trans (or linear) RAW file asked for as DNG was refused only after the whole
    denoise (minutes on a big file); a camera RAW file named .jpg was told "a DNG needs a
    camera RAW photo", while a TIFF output said what it is."""
    from deconv_gui.core.io import ImageReadError
    from deconv_gui.core.naming import PlannedFile
    from deconv_gui.core.pipeline import restore_file
    from tests.rawfiles import CRW

    ran = []

    def work(photo):
        ran.append(photo)
        yield from ()
        return photo

    raw = synthetic(("GGRGGB", "GGBGGR", "BRGRBG", "GGBGGR", "GGRGGB", "RBGBRG"), (516, 522))
    xtrans = write_dng(tmp_path / "xtrans.dng", raw)
    task = PlannedFile(xtrans, tmp_path / "out" / "xtrans_denoised.dng")
    with pytest.raises(ImageWriteError, match="needs a Bayer sensor .* save as TIFF instead"):
        run_to_end(restore_file(task, work))
    assert not ran and not task.output.exists()
    renamed = tmp_path / "IMG_0304.jpg"
    renamed.write_bytes(raw_files.path(CRW).read_bytes())
    task = PlannedFile(renamed, tmp_path / "out" / "IMG_0304_denoised.dng")
    with pytest.raises(ImageReadError, match="it is a camera RAW file named .jpg; give it"):
        run_to_end(restore_file(task, work))
    assert not ran
