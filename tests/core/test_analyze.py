"""The automatic suggestion (`core.analyze`)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deconv_gui.core.analyze import (
    NOISE_MIN_SIDE,
    NOISY_AFTER_JPEG,
    NOISY_REMOVED,
    NOISY_SIGMA,
    PROBE_SIDE,
    analyze,
    blur_measure,
    probe_crops,
    removed_rms,
)
from deconv_gui.core.degrade import parse_spec
from deconv_gui.core.image import ImageMeta


def _scene(h: int = 640, w: int = 1600, seed: int = 0) -> np.ndarray:
    """A sharp, photo-like picture: coloured shapes with hard edges and some texture."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32) + 0.45
    for _ in range(60):
        c = tuple(float(v) for v in rng.uniform(0.1, 0.9, 3))
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        cv2.rectangle(img, (x0, y0), (x0 + int(rng.integers(20, 200)), y0 + 80), c, -1)
    texture = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 0.7)
    return np.clip(img + 0.08 * (texture[:, :, None] - 0.5), 0, 1)


@pytest.mark.parametrize(
    ("spec", "first"),
    [
        ("noise=25", "denoise"),
        ("jpeg=15", "jpeg"),
        ("blur=gaussian:2.5", "deblur"),
        ("downscale=4", "upscale"),
    ],
)
def test_first_step_fits_the_degradation(spec: str, first: str) -> None:
    a = analyze(parse_spec(spec).apply(_scene(), seed=1))
    assert a.primary == first, a.summary()


def test_a_clean_big_photo_needs_nothing() -> None:
    a = analyze(_scene())
    assert a.steps == ()
    assert a.summary().endswith("nothing to do")


def test_summary_in_plain_words_with_the_file_quality() -> None:
    img = parse_spec("noise=12").apply(_scene(), seed=2)
    a = analyze(img, ImageMeta(extra={"jpeg_quality": 60.0}))
    assert a.jpeg_source == "file"
    assert [s.task for s in a.steps] == ["jpeg", "denoise"]
    text = a.summary()
    assert text.startswith("Noisy (about 12), saved as JPEG quality 60:")
    assert text.endswith("Remove JPEG artifacts, then Denoise")
    assert a.to_json()["primary"] == "jpeg"


def test_blur_measure_orders_sharp_and_blurred() -> None:
    x = _scene()
    assert blur_measure(x) < blur_measure(cv2.GaussianBlur(x, (0, 0), 1.5)) < 1.0
    assert blur_measure(np.full((64, 64, 3), 0.5, np.float32)) == 0.0


@pytest.fixture(scope="module")
def denoiser():
    """The app's noise probe: the bundled default denoiser."""
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.models.registry import noise_probe

    spec = noise_probe(default_registry())
    assert spec is not None and spec.kind == "bundled"
    return spec


def test_camera_noise_that_the_estimate_misses_is_found_by_the_denoiser(denoiser) -> None:
    """Noise as a camera makes it (demosaicked, sharpened, JPEG quality 90) reads low on
    the white-noise estimate; what the default denoiser removes shows it, and the plan is
    that denoiser on Auto, with no JPEG step before it (it was trained on such files)."""
    noisy = parse_spec("camera=3200").apply(_scene(), seed=1)
    alone = analyze(noisy)
    assert alone.noise_sigma < NOISY_SIGMA and alone.noise_removed is None
    assert "denoise" not in [s.task for s in alone.steps]
    a = analyze(noisy, denoiser=denoiser)
    assert a.noise_removed is not None and a.noise_removed >= NOISY_REMOVED and a.noisy
    assert a.jpeg_quality is not None and a.jpeg_quality >= 85
    assert [(s.task, s.strength) for s in a.steps] == [("denoise", None)]
    assert a.summary().startswith(f"Noisy (about {a.noise_removed:.0f}), once saved as JPEG")
    assert a.to_json()["noise_removed"] == a.noise_removed
    # Auto sets the white-noise estimate, far below the "about N" the summary names: the
    # setting must not be called a noise level beside it (the app shows both at once)
    assert alone.noise_sigma < a.noise_removed / 2
    assert denoiser.strength is not None and "noise" not in denoiser.strength.label.lower()


def test_the_probe_leaves_a_clean_photo_clean(denoiser) -> None:
    a = analyze(_scene(), denoiser=denoiser)
    assert a.noise_removed is not None and a.noise_removed < NOISY_REMOVED
    assert a.steps == () and not a.noisy


def test_noise_the_estimate_sees_needs_no_probe(denoiser) -> None:
    a = analyze(parse_spec("noise=25").apply(_scene(), seed=3), denoiser=denoiser)
    assert a.noise_removed is None  # not run: the estimate already says noisy
    assert [(s.task, s.strength) for s in a.steps] == [("denoise", 25.0)]


def test_a_denoiser_that_cannot_run_leaves_the_estimate(caplog) -> None:
    class Broken:
        id = "broken"

        def build(self, options):  # noqa: ANN001, ANN201 - the RestoreSpec protocol
            raise RuntimeError("weights unreadable")

    flat = np.full((640, 1600, 3), 0.5, np.float32)  # the estimate reads 0: the probe runs
    with caplog.at_level("WARNING"):
        a = analyze(flat, denoiser=Broken())
    assert a.noise_removed is None and a.steps == ()
    assert "weights unreadable" in caplog.text


def test_probe_crops() -> None:
    big = np.zeros((1000, 1500, 3), np.float32)
    crops = probe_crops(big)
    assert len(crops) == 3 and all(c.shape == (PROBE_SIDE, PROBE_SIDE, 3) for c in crops)
    small = np.zeros((100, 90, 3), np.float32)
    assert all(c.shape == (90, 90, 3) for c in probe_crops(small))
    tiny = np.zeros((40, 40, 3), np.float32)
    assert [c.shape for c in probe_crops(tiny)] == [(40, 40, 3)]  # one crop, not three


def test_a_photo_smaller_than_a_probe_crop_is_not_probed(denoiser) -> None:
    """Small photos are mostly downscaled ones: their fine detail is not taken for noise."""
    small = cv2.resize(_scene(), (PROBE_SIDE + 40, PROBE_SIDE - 1), interpolation=cv2.INTER_AREA)
    assert analyze(small, denoiser=denoiser).noise_removed is None
    big_enough = cv2.resize(_scene(), (PROBE_SIDE + 40, PROBE_SIDE), interpolation=cv2.INTER_AREA)
    assert analyze(big_enough, denoiser=denoiser).noise_removed is not None


def test_a_thumbnail_is_not_called_noisy_for_its_fine_detail() -> None:
    """On a few hundred pixels the estimate takes detail for noise: a clean 40x16 picture
    read 6.3 and was told "Noisy (about 6): Denoise, then Upscale x4"."""
    thumb = cv2.resize(_scene(seed=0), (40, 16), interpolation=cv2.INTER_AREA)
    a = analyze(thumb)
    assert a.noise_sigma >= NOISY_SIGMA  # what the estimate reads there
    assert not a.noise_judged and not a.noisy
    assert [s.task for s in a.steps] == ["upscale"]
    assert a.summary() == ("Small (40x16: too few pixels to tell noise from detail): Upscale x4")
    assert a.to_json()["noise_judged"] is False
    # from NOISE_MIN_SIDE on, noise is judged as before
    side = NOISE_MIN_SIDE
    noisy = parse_spec("noise=15").apply(
        cv2.resize(_scene(seed=0), (side * 5 // 2, side), interpolation=cv2.INTER_AREA), seed=3
    )
    b = analyze(noisy)
    assert b.noise_judged and b.noisy and b.primary == "denoise", b.summary()


def test_removed_rms_counts_noise_not_softened_texture_nor_clipped_areas() -> None:
    rng = np.random.default_rng(0)
    h, w = 200, 200
    clean = np.full((h, w, 3), 0.5, np.float32)
    texture = rng.random((h, w // 2)).astype(np.float32)
    clean[:, w // 2 :] += 0.2 * (texture[:, :, None] - 0.5)  # fine texture on the right
    softened = clean.copy()
    softened[:, w // 2 :] = cv2.GaussianBlur(clean[:, w // 2 :], (0, 0), 1.5)
    whole = float(np.sqrt(np.mean(np.square(clean - softened)))) * 255
    # a clean photo whose texture the denoiser softened: nothing removed where it is smooth
    assert whole > 8 and removed_rms(clean, softened) < 0.5
    # noise of sigma 6 everywhere, removed: measured where the result is smooth
    noisy = clean + rng.normal(0, 6 / 255, clean.shape).astype(np.float32)
    assert removed_rms(noisy, softened) == pytest.approx(6.0, rel=0.1)
    # the smoothest part is clipped white (no noise there): measured elsewhere
    clipped = np.full((h, w, 3), 0.5, np.float32)
    clipped[:, : w // 2] = 1.0
    noisy = clipped.copy()
    noisy[:, w // 2 :] += rng.normal(0, 6 / 255, (h, w // 2, 3)).astype(np.float32)
    assert removed_rms(noisy, clipped) == pytest.approx(6.0, rel=0.1)


@pytest.mark.parametrize(("folder", "name"), [("Set14", "img_007.png"), ("McMaster", "5.png")])
def test_clean_busy_photos_are_not_read_as_noisy(
    shared_data, denoiser, folder: str, name: str
) -> None:
    """Clean photos with fine texture everywhere, which the denoiser softens: what it takes
    out of their busy parts (4.6-5.1 RMS) was read as camera noise before `removed_rms`."""
    from deconv_gui.core.io import load_image

    path = shared_data / "test" / folder / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    a = analyze(load_image(path).rgb, denoiser=denoiser)
    assert a.noise_removed is not None and a.noise_removed < NOISY_REMOVED
    assert not a.noisy and "denoise" not in [s.task for s in a.steps]


@pytest.fixture(scope="module")
def jpeg_remover():
    """The app's JPEG artifact remover, run before the probe where the JPEG step comes first."""
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.models.registry import jpeg_probe

    spec = jpeg_probe(default_registry())
    assert spec is not None and spec.kind == "bundled"
    return spec


def test_a_clean_photo_saved_at_a_low_jpeg_quality_gets_no_denoise(
    shared_data, tmp_path, denoiser, jpeg_remover
) -> None:
    """Blocking and ringing read as noise to the probe (4.4 RMS on this busy photo at
    quality 20), so a clean photo was told "Remove JPEG artifacts, then Denoise": the
    Denoise step softens what the JPEG step gave back. What is left after the JPEG step
    decides."""
    from PIL import Image

    from deconv_gui.core.io import load_image

    path = shared_data / "test" / "Kodak24" / "kodim05.png"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    jpg = tmp_path / "kodim05_q20.jpg"
    Image.open(path).convert("RGB").save(jpg, quality=20)
    photo = load_image(jpg)
    before = analyze(photo.rgb, photo.meta, denoiser=denoiser)  # the probe alone
    assert before.noise_removed is not None and before.noise_removed >= NOISY_REMOVED
    assert [s.task for s in before.steps][:2] == ["jpeg", "denoise"]
    a = analyze(photo.rgb, photo.meta, denoiser=denoiser, jpeg_remover=jpeg_remover)
    assert a.noise_removed == before.noise_removed  # the first reading, as it was
    assert a.noise_after_jpeg is not None and a.noise_after_jpeg < NOISY_AFTER_JPEG
    assert [s.task for s in a.steps][:1] == ["jpeg"] and "denoise" not in [s.task for s in a.steps]
    assert not a.noisy and a.summary().startswith("Saved as JPEG quality 20")
    assert a.to_json()["noise_after_jpeg"] == a.noise_after_jpeg


def test_camera_noise_left_after_the_jpeg_step_keeps_the_denoise(denoiser, jpeg_remover) -> None:
    """ISO 12800 saved at quality 45: the JPEG step first, and the noise it leaves is
    denoised (a Denoise there gained 1.69 dB on 12 CBSD68 photos,
    `benchmarks/jpeg_then_denoise.py`)."""
    noisy = parse_spec("camera=12800,jpeg=45").apply(_scene(), seed=2)
    a = analyze(noisy, denoiser=denoiser, jpeg_remover=jpeg_remover)
    assert a.noise_after_jpeg is not None and a.noise_after_jpeg >= NOISY_AFTER_JPEG
    assert [s.task for s in a.steps] == ["jpeg", "denoise"] and a.noisy
    assert a.summary().startswith(f"Noisy (about {a.noise_removed:.0f})")
