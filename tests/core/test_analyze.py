"""The automatic suggestion (`core.analyze`)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deconv_gui.core.analyze import analyze, blur_measure
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
