"""Classical restorers: registered with the right shape, tile cleanly, and actually restore."""

from __future__ import annotations

import numpy as np
import pytest

from deconv_gui.core.degrade import parse_spec
from deconv_gui.core.jobs import restore_job
from deconv_gui.core.metrics import psnr
from deconv_gui.core.tiling import run_to_end
from deconv_gui.errors import DeconvError
from deconv_gui.models.classical import classical_specs
from deconv_gui.models.registry import LoadOptions, ModelRegistry


def _scene(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth photo-like scene with edges (no noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w, yy / h, 0.5 + 0.3 * np.sin(xx / 7.0) * np.cos(yy / 9.0)], axis=-1)
    for _ in range(6):  # a few flat rectangles = sharp edges
        y0, x0 = rng.integers(0, h - 20), rng.integers(0, w - 20)
        img[y0 : y0 + 20, x0 : x0 + 24] = rng.random(3)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


REG = ModelRegistry(classical_specs())


def _run(model_id: str, img: np.ndarray, tile: int | None = None, **opts) -> np.ndarray:
    return run_to_end(restore_job(REG.get(model_id), img, LoadOptions(device="cpu", **opts), tile))


@pytest.mark.parametrize("spec", list(REG), ids=lambda s: s.id)
def test_every_classical_model_keeps_the_contract(spec) -> None:
    img = _scene(40, 56)
    out = _run(spec.id, img)
    assert out.shape == (40 * spec.scale, 56 * spec.scale, 3)
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert spec.kind == "classical" and spec.card


@pytest.mark.parametrize("model_id", ["bicubic-x2", "lanczos-x4", "nlm-denoise"])
def test_tiled_equals_whole(model_id: str) -> None:
    img = _scene(150, 170, seed=3)
    whole = _run(model_id, img, tile=1024, strength=20.0)
    tiled = _run(model_id, img, tile=64, strength=20.0)
    assert np.abs(whole - tiled).max() <= 1.0 / 255.0


def test_nlm_denoises() -> None:
    clean = _scene(seed=1)
    noisy = parse_spec("noise=25").apply(clean, seed=4)
    out = _run("nlm-denoise", noisy)  # automatic noise estimate
    assert psnr(out, clean) > psnr(noisy, clean) + 3.0


@pytest.mark.parametrize("model_id", ["wiener-deblur", "rl-deblur"])
def test_deconvolution_with_the_true_kernel_sharpens(model_id: str) -> None:
    clean = _scene(seed=2)
    blurred = parse_spec("blur=gaussian:1.5").apply(clean, seed=0)
    strength = 1.0 if model_id == "wiener-deblur" else 30.0
    out = _run(model_id, blurred, strength=strength, params={"kernel": "gaussian:1.5"})
    assert psnr(out, clean) > psnr(blurred, clean) + 1.0


def test_bad_kernel_is_a_model_error() -> None:
    with pytest.raises(DeconvError, match="(?i)kernel|blur"):
        _run("wiener-deblur", _scene(), params={"kernel": "square:3"})
