"""Camera RAW photos through the pipeline (`core.rawpipe`): the RAW denoiser on the mosaic,
DNG and TIFF out, recipes, and the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deconv_gui.core.dng import write_dng
from deconv_gui.core.image import ImageMeta, Photo
from deconv_gui.core.io import load_image
from deconv_gui.core.naming import output_path_for
from deconv_gui.core.pipeline import restore_photo
from deconv_gui.core.raw import open_raw
from deconv_gui.core.raw_noise import reference_profile
from deconv_gui.core.rawpipe import RAW_MOSAIC, encode_transfer, save_photo
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
    # the RAW denoiser after a step that changed the size
    wrong = Recipe((RecipeStep("lanczos-x2"), RecipeStep(raw_spec.id)))
    with pytest.raises(DeconvError, match="must come before"):
        run_to_end(recipe_job(wrong, table.__getitem__, LoadOptions(device="cpu"))(photo))


def test_raw_denoiser_refuses_ordinary_photos(raw_spec):
    photo = Photo(np.full((16, 16, 3), 0.5, np.float32), ImageMeta(path=Path("x.jpg")))
    with pytest.raises(DeconvError, match="works on camera RAW files, and x.jpg is not one"):
        run_to_end(restore_photo(raw_spec, photo, LoadOptions(device="cpu")))


def test_non_bayer_sensors_take_the_linear_rgb_path(raw_spec, tmp_path):
    raw = synthetic(("GGRGGB", "GGBGGR", "BRGRBG", "GGBGGR", "GGRGGB", "RBGBRG"), (516, 522))
    photo = load_image(write_dng(tmp_path / "xtrans.dng", raw))
    out = run_to_end(restore_photo(raw_spec, photo, LoadOptions(device="cpu")))
    assert out.rgb.shape == photo.rgb.shape
    assert "no Bayer mosaic" in out.meta.extra["note"]
    with pytest.raises(ImageWriteError, match="no Bayer mosaic"):
        save_photo(tmp_path / "x.dng", out)


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


def test_export_as_dng_keeps_the_sensor_data(raw_spec, noisy_dng, tmp_path):
    from deconv_gui.core.export import ExportError, ExportOptions, export_image

    out = run_to_end(restore_photo(raw_spec, load_image(noisy_dng), LoadOptions(device="cpu")))
    p = export_image(tmp_path / "e.dng", out.rgb, out.meta, ExportOptions(format="dng"))
    assert np.array_equal(open_raw(p).mosaic, out.meta.extra[RAW_MOSAIC])
    with pytest.raises(ExportError, match="sensor's own data"):
        export_image(tmp_path / "f.dng", out.rgb, out.meta, ExportOptions("dng", long_edge=20))
