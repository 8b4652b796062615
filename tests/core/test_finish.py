"""Amount and Detail (`core.finish`)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deconv_gui.core.finish import finish, match_size


def _pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean with a sharp edge, noisy, an over-smoothing 'model' result)."""
    rng = np.random.default_rng(seed)
    clean = np.full((96, 96, 3), 0.3, np.float32)
    clean[:, 48:] = 0.7
    noisy = np.clip(clean + rng.normal(0, 0.05, clean.shape).astype(np.float32), 0, 1)
    result = cv2.GaussianBlur(noisy, (0, 0), 2.0)  # removes the noise and blurs the edge
    return clean, noisy, result


def test_amount_blends_between_input_and_result() -> None:
    _, noisy, result = _pair()
    assert finish(noisy, result) is result
    assert np.allclose(finish(noisy, result, amount=0.0), noisy, atol=1e-6)
    half = finish(noisy, result, amount=0.5)
    assert np.allclose(half, np.clip((noisy + result) / 2, 0, 1), atol=1e-6)


def test_detail_gives_back_the_edge_not_the_noise() -> None:
    clean, noisy, result = _pair()
    out = finish(noisy, result, detail=1.0)
    edge = np.s_[:, 44:52]
    flat = np.s_[:, 8:36]
    err_edge_before = np.abs(result[edge] - clean[edge]).mean()
    err_edge_after = np.abs(out[edge] - clean[edge]).mean()
    assert err_edge_after < 0.7 * err_edge_before  # the edge comes back sharper
    noise_before = (result[flat] - clean[flat]).std()
    noise_after = (out[flat] - clean[flat]).std()
    assert noise_after < 0.5 * (noisy[flat] - clean[flat]).std()  # the noise stays away
    assert noise_after < noise_before + 0.01


@pytest.mark.parametrize("detail", [0.0, 0.5])
def test_upscaler_before_is_a_lanczos_enlargement(detail: float) -> None:
    rng = np.random.default_rng(1)
    small = rng.random((20, 30, 3)).astype(np.float32)
    big = rng.random((40, 60, 3)).astype(np.float32)
    assert match_size(small, big).shape == big.shape
    out = finish(small, big, amount=0.0, detail=detail)
    assert out.shape == big.shape
    if detail == 0.0:
        assert np.allclose(out, match_size(small, big), atol=1e-6)
