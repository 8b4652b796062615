"""Classical restorers registered as models, so the app works before any network ships and
every network is measured against a baseline in the same run.

- ``nlm-denoise``: OpenCV's non-local means: ``fastNlMeansDenoisingColored`` on 8-bit photos,
  ``fastNlMeansDenoising`` on 16-bit data (so a 16-bit photo keeps its 16-bit levels).
- ``bicubic-x2/x4``, ``lanczos-x2/x4``: interpolation upscalers.
- ``wiener-deblur``: Wiener deconvolution with a chosen kernel (``params["kernel"]``).
- ``rl-deblur``: Richardson-Lucy deconvolution with a chosen kernel.

Each is a `TileProcessor` (numpy in, numpy out) run by the same tiled engine as the networks.
Each processor refuses a strength outside its card's range (NaN and infinities included) with
`deconv_gui.core.validate`'s `OptionError`: the last line of defence behind the option checks
of the CLI and the app (a NaN noise level made Wiener write a black image; a huge iteration
count kept Richardson-Lucy busy for minutes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from deconv_gui.core.validate import check_range
from deconv_gui.errors import ModelError
from deconv_gui.models.registry import LoadOptions, ModelSpec, StrengthSpec

MEASURE_NOTE = (
    "Measured with `deconv-gui eval` (see README, 'Quality'); numbers are in the README table."
)

DEFAULT_KERNEL = "gaussian:1.5"


def _estimate_sigma(img: np.ndarray) -> float:
    from deconv_gui.core.noise import estimate_noise_sigma

    return float(estimate_noise_sigma(img))


def kernel_option(options: LoadOptions) -> np.ndarray:
    from deconv_gui.core.degrade import parse_kernel

    spec = options.params.get("kernel", DEFAULT_KERNEL)
    k = spec.astype(np.float32) if isinstance(spec, np.ndarray) else parse_kernel(str(spec))
    if k.ndim != 2 or k.sum() <= 0:
        raise ModelError(f"invalid blur kernel {spec!r}")
    return (k / k.sum()).astype(np.float32)


@dataclass
class _Base:
    scale: int = 1
    overlap: int = 16
    device: str = "cpu"


def checked_strength(value: float | None, spec: StrengthSpec, model: str) -> float | None:
    """``value`` within ``spec``'s range (None, automatic, passes through); anything else
    (NaN, infinities, out of range) raises `deconv_gui.core.validate.OptionError`."""
    if value is None:
        return None
    return check_range(value, spec.minimum, spec.maximum, f"the {spec.label.lower()} of {model}")


class _NoiseAware(_Base):
    """A processor whose strength is a noise level; None = estimate it once per photo."""

    model = "a classical model"

    def __init__(self, sigma: float | None, **kw: Any) -> None:
        super().__init__(**kw)
        self.sigma = checked_strength(sigma, NOISE_STRENGTH, self.model)

    def prepare(self, rgb: np.ndarray, meta: object = None) -> float | None:
        """Called by the job with the whole photo: one noise estimate for every tile.
        Returns the noise level the tiles get (what Auto measured)."""
        if self.sigma is None:
            self.sigma = _estimate_sigma(rgb)
        return self.sigma

    def noise_level(self, tile: np.ndarray) -> float:
        return self.sigma if self.sigma is not None else _estimate_sigma(tile)


class NLMProcessor(_NoiseAware):
    """Non-local means; ``h`` follows the noise level (0-255 scale).

    Photos whose values are all on the 8-bit grid (every value a multiple of 1/255) run
    OpenCV's colour NLM, which works on 8 bits (Lab, separate luma and chroma strengths).
    Finer data (16-bit photos) runs OpenCV's 16-bit NLM (L1 patch distance, RGB together):
    rounding it to 8 bits would give a 16-bit file 8-bit levels (banding on smooth skies).
    """

    model = "nlm-denoise"

    def __init__(self, sigma: float | None) -> None:
        super().__init__(sigma, scale=1, overlap=16)  # template 7 + search 21 -> radius 13
        self.fine: bool | None = None  # finer than 8 bits? decided once per photo in prepare

    def prepare(self, rgb: np.ndarray, meta: object = None) -> float | None:
        self.fine = finer_than_8_bits(rgb)  # the data decides, whatever the file's depth
        return super().prepare(rgb, meta)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        sigma = self.noise_level(tile)
        if sigma <= 0.5:
            return tile.copy()
        if self.fine if self.fine is not None else finer_than_8_bits(tile):
            # h = 1.2 sigma (x 257 for the 16-bit scale): best mean PSNR on 6 BSD200 (train)
            # photos at sigma 15 and 25, and above the 8-bit colour NLM on the same 16-bit
            # data at sigma 5 to 50 (benchmarks/calibrate_nlm.py --sixteen).
            u16 = np.clip(np.round(tile * 65535.0), 0, 65535).astype(np.uint16)
            out16 = cv2.fastNlMeansDenoising(u16, [1.2 * sigma * 257.0], None, 7, 21, cv2.NORM_L1)
            return out16.astype(np.float32) / np.float32(65535.0)
        # h = 0.55 sigma, hColor = 0.7 sigma: best mean PSNR on 6 BSD200 (train) photos at
        # sigma 15, 25 and 50 (benchmarks/calibrate_nlm.py).
        h, h_color = 0.55 * sigma, 0.7 * sigma
        u8 = np.clip(np.round(tile * 255.0), 0, 255).astype(np.uint8)
        out = cv2.fastNlMeansDenoisingColored(u8, None, h, h_color, 7, 21)
        return out.astype(np.float32) / 255.0


def finer_than_8_bits(rgb: np.ndarray, rows: int = 256) -> bool:
    """Whether any value of ``rgb`` (float in [0, 1]) lies off the 8-bit grid (k / 255)."""
    for y0 in range(0, rgb.shape[0], rows):
        scaled = rgb[y0 : y0 + rows] * np.float32(255.0)
        if np.any(np.abs(scaled - np.rint(scaled)) > 1e-3):
            return True
    return False


class ResizeProcessor(_Base):
    def __init__(self, scale: int, interpolation: int) -> None:
        super().__init__(scale=scale, overlap=8)
        self.interpolation = interpolation

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        h, w = tile.shape[:2]
        out = cv2.resize(tile, (w * self.scale, h * self.scale), interpolation=self.interpolation)
        return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def _pad_for_kernel(img: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, int, int]:
    py, px = k.shape[0], k.shape[1]
    return cv2.copyMakeBorder(img, py, py, px, px, cv2.BORDER_REFLECT), py, px


class WienerProcessor(_NoiseAware):
    """Frequency-domain Wiener filter ``conj(K) Y / (|K|^2 + NSR)`` per channel.

    The noise-to-signal ratio follows the noise level: ``NSR = (sigma/255)^2 / var(Y)``,
    floored so a noise-free input still gets a little regularisation. Tiles get the filter's
    reach (`wiener_reach`, at NSR `REACH_NSR`) as context and FFT padding, so they join
    without seams.
    """

    model = "wiener-deblur"
    REACH_NSR = 1e-3  # about sigma 2 on a typical photo (var 0.06): most uses regularise more

    def __init__(self, kernel: np.ndarray, sigma: float | None) -> None:
        self.reach = max(16, wiener_reach(kernel, self.REACH_NSR))
        super().__init__(sigma, scale=1, overlap=self.reach)
        self.kernel = kernel

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        sigma = self.noise_level(tile)
        var = float(tile.var()) + 1e-6
        nsr = max((sigma / 255.0) ** 2 / var, 1e-4)
        return np.clip(wiener_deconvolve(tile, self.kernel, nsr, self.reach), 0.0, 1.0)


WIENER_MIN_PAD = 32  # px of reflected border around the image before the FFT


def _pad_for_fft(img: np.ndarray, k: np.ndarray, pad: int = 0) -> tuple[np.ndarray, int, int]:
    """Reflect-pad by at least `WIENER_MIN_PAD` px, ``pad`` and the kernel's size, then on
    the bottom and right up to sizes the FFT is fast for. The filter's inverse reaches well
    beyond the kernel (`wiener_reach`): a narrow border lets the FFT's wrap-around carry the
    ringing from one edge into the opposite one."""
    py = max(k.shape[0], WIENER_MIN_PAD, pad)
    px = max(k.shape[1], WIENER_MIN_PAD, pad)
    h, w = img.shape[:2]
    extra_y = cv2.getOptimalDFTSize(h + 2 * py) - (h + 2 * py)
    extra_x = cv2.getOptimalDFTSize(w + 2 * px) - (w + 2 * px)
    padded = cv2.copyMakeBorder(img, py, py + extra_y, px, px + extra_x, cv2.BORDER_REFLECT)
    return padded, py, px


def _wiener_transfer(
    kernel: np.ndarray, shape: tuple[int, int], nsr: float, dtype: type
) -> np.ndarray:
    """The Wiener filter ``conj(K) / (|K|^2 + nsr)`` (rfft2 layout) of ``kernel`` centred at
    the origin of an array of ``shape``."""
    kpad: np.ndarray = np.zeros(shape, dtype)
    kh, kw = kernel.shape
    kpad[:kh, :kw] = kernel
    kpad = np.roll(kpad, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    kf = np.fft.rfft2(kpad)
    return np.conj(kf) / (np.abs(kf) ** 2 + nsr)


def wiener_reach(kernel: np.ndarray, nsr: float, tol: float = 5.0 / 255.0, n: int = 512) -> int:
    """How far (px) the Wiener filter of ``kernel`` at ``nsr`` reaches: the smallest radius
    outside which its impulse response's absolute values sum to less than ``tol`` (at most
    ``n // 2 - 1``). A tile needs this much context for its Wiener output to match the whole
    photo's: near-zeros in a motion or defocus kernel's spectrum give the inverse a long
    ringing tail (about 150 px for motion 11 px at nsr 0.005, 25 px for Gaussian sigma 2)."""
    filt = _wiener_transfer(kernel, (n, n), nsr, np.float64)
    h = np.abs(np.fft.fftshift(np.fft.irfft2(filt, s=(n, n))))
    yy, xx = np.mgrid[0:n, 0:n]
    dist = np.maximum(np.abs(yy - n // 2), np.abs(xx - n // 2))
    beyond = np.bincount(dist.ravel(), weights=h.ravel())[::-1].cumsum()[::-1]
    beyond = np.append(beyond[1:], 0.0)  # beyond[r]: the sum outside radius r
    return min(int(np.argmax(beyond < tol)), n // 2 - 1)


def wiener_deconvolve(img: np.ndarray, kernel: np.ndarray, nsr: float, pad: int = 0) -> np.ndarray:
    """``conj(K) Y / (|K|^2 + nsr)`` per channel of an (H, W, C) float image, reflect-padded
    (`_pad_for_fft`, by at least ``pad``: pass `wiener_reach` when the image is a tile cut
    from a photo); unclipped float32: the deblur network that takes it as its input sees
    the overshoot too."""
    img = np.ascontiguousarray(img, np.float32)
    padded, py, px = _pad_for_fft(img, kernel, pad)
    if padded.ndim == 2:
        padded = padded[:, :, None]
    h, w = padded.shape[:2]
    filt = _wiener_transfer(kernel, (h, w), float(nsr), np.float32)
    out = np.fft.irfft2(np.fft.rfft2(padded, axes=(0, 1)) * filt[:, :, None], s=(h, w), axes=(0, 1))
    out = out[py : py + img.shape[0], px : px + img.shape[1]]
    return out.reshape(img.shape).astype(np.float32)


class RichardsonLucyProcessor(_Base):
    """Richardson-Lucy deconvolution (multiplicative updates, ``iterations`` steps, at most
    `RL_ITERATIONS`'s maximum: the work per tile is bounded)."""

    def __init__(self, kernel: np.ndarray, iterations: float) -> None:
        r = max(kernel.shape) // 2
        super().__init__(scale=1, overlap=max(16, min(128, 2 * r * 4)))
        self.kernel = kernel
        self.flipped = kernel[::-1, ::-1].copy()
        checked = checked_strength(iterations, RL_ITERATIONS, "rl-deblur")
        self.iterations = int(round(RL_ITERATIONS.default if checked is None else checked))

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        y, py, px = _pad_for_kernel(tile, self.kernel)
        y = np.maximum(y, 1e-4)
        x = y.copy()
        for _ in range(self.iterations):
            # filter2D correlates: correlating with the flipped kernel convolves.
            est = cv2.filter2D(x, -1, self.flipped, borderType=cv2.BORDER_REFLECT)
            ratio = y / np.maximum(est, 1e-4)
            x *= cv2.filter2D(ratio, -1, self.kernel, borderType=cv2.BORDER_REFLECT)
        h, w = x.shape[:2]
        return np.clip(x[py : h - py, px : w - px], 0.0, 1.0).astype(np.float32)


NOISE_STRENGTH = StrengthSpec(
    label="Noise level",
    minimum=0.0,
    maximum=75.0,
    default=15.0,
    auto=True,
    unit="σ (0-255)",
    help="Standard deviation of the noise on the 0-255 scale; Auto estimates it from the photo.",
)


RL_ITERATIONS = StrengthSpec(
    label="Iterations",
    minimum=1,
    maximum=100,
    default=20,
    help="More = sharper and noisier.",
)


def _resizer(scale: int, interpolation: int) -> Callable[[LoadOptions], ResizeProcessor]:
    """``build`` of an interpolation model (no options: nothing to choose)."""
    return lambda _options: ResizeProcessor(scale, interpolation)


def _card(what: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"what": what, "params": params, "quality": MEASURE_NOTE}


def classical_specs() -> list[ModelSpec]:
    specs = [
        ModelSpec(
            id="nlm-denoise",
            name="Non-local means (classical)",
            task="denoise",
            scale=1,
            kind="classical",
            description="OpenCV non-local means; filter strength follows the noise level.",
            build=lambda o: NLMProcessor(o.strength),
            receptive_field=16,
            strength=NOISE_STRENGTH,
            architecture="non-local means",
            card=_card(
                "Non-local means denoising (Buades et al. 2005): OpenCV's colour NLM on 8-bit "
                "photos, its 16-bit NLM (L1 patch distance) on 16-bit photos, which keep their "
                "16-bit levels.",
                {
                    "template_window": 7,
                    "search_window": 21,
                    "h": "0.55 x noise level",
                    "h_color": "0.7 x noise level",
                    "h_16bit": "1.2 x noise level (x 257), L1 patch distance",
                },
            ),
        )
    ]
    for scale in (2, 4):
        for key, label, interp in (
            ("bicubic", "Bicubic", cv2.INTER_CUBIC),
            ("lanczos", "Lanczos", cv2.INTER_LANCZOS4),
        ):
            specs.append(
                ModelSpec(
                    id=f"{key}-x{scale}",
                    name=f"{label} x{scale} (classical)",
                    task="upscale",
                    scale=scale,
                    kind="classical",
                    description=f"{label} interpolation to {scale}x the size.",
                    build=_resizer(scale, interp),
                    receptive_field=8,
                    architecture=f"{key} interpolation",
                    card=_card(f"{label} interpolation (OpenCV cv2.resize).", {"scale": scale}),
                )
            )
    specs += [
        ModelSpec(
            id="wiener-deblur",
            name="Wiener deconvolution (classical)",
            task="deblur",
            scale=1,
            kind="classical",
            description="Wiener filter with a chosen blur kernel; strength is the noise level.",
            build=lambda o: WienerProcessor(kernel_option(o), o.strength),
            receptive_field=32,
            strength=NOISE_STRENGTH,
            architecture="Wiener deconvolution",
            params=("kernel",),
            card=_card(
                "Non-blind Wiener deconvolution; needs the blur kernel (e.g. gaussian:2).",
                {"kernel": DEFAULT_KERNEL, "nsr": "(noise/255)^2 / var(image)"},
            ),
        ),
        ModelSpec(
            id="rl-deblur",
            name="Richardson-Lucy (classical)",
            task="deblur",
            scale=1,
            kind="classical",
            description="Richardson-Lucy deconvolution with a chosen blur kernel; strength is the number of iterations.",
            build=lambda o: RichardsonLucyProcessor(
                kernel_option(o), o.strength if o.strength is not None else RL_ITERATIONS.default
            ),
            receptive_field=64,
            strength=RL_ITERATIONS,
            architecture="Richardson-Lucy deconvolution",
            params=("kernel",),
            card=_card(
                "Non-blind Richardson-Lucy deconvolution; needs the blur kernel.",
                {"kernel": DEFAULT_KERNEL, "iterations": 20},
            ),
        ),
    ]
    return specs
