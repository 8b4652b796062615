"""Seeded synthetic degradations, for evaluation tables and training pairs.

Every function takes and returns float32 RGB in [0, 1] (the core's image contract); random
ones take a ``numpy.random.Generator`` so the caller owns the seed. A degradation pipeline is
written as a spec string, steps separated by commas and applied in order::

    noise=25                  Gaussian noise, sigma on the 0-255 scale
    pgnoise=A:B               Poisson-Gaussian noise, variance A*x + B (x in [0, 1])
    blur=gaussian:SIGMA       Gaussian blur (kernel covers +-3 sigma)
    blur=motion:LENGTH:ANGLE  linear motion blur, LENGTH px, ANGLE degrees counter-clockwise
    blur=disk:RADIUS          defocus (anti-aliased pillbox)
    downscale=N               antialiased bicubic downscale by 2, 3 or 4 (MATLAB-like)
    jpeg=Q                    JPEG round trip at quality 1-100
    camera=ISO                noise as a camera makes it (`core.camera`): full-frame sensor
                              noise at ISO in the unprocessed raw mosaic, then demosaic,
                              colour matrix, tone curve, sharpening and JPEG quality 90
    grain=SIGMA[:SIZE]        coarse noise, as film grain, video and noise a photo was
                              enlarged with: Gaussian noise drawn on a grid SIZE px apart
                              (default 2), enlarged with bicubic interpolation, of standard
                              deviation SIGMA (0-255 scale); a third of it in colour

``parse_spec("blur=gaussian:1.6,downscale=4,noise=5")`` gives a `Degradation`; its
``apply(gt, seed)`` returns the low-quality image ``lq``, quantised to 8 bits at the end (the
convention of published tables: the 8-bit ground truth is degraded, clipped and rounded).

Blur kernels are convolution kernels (centre at ``(kh // 2, kw // 2)``); `blur` really
convolves (OpenCV's filter2D correlates, so the kernel is flipped), which is what an FFT
Wiener filter given ``Degradation.kernel`` assumes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from deconv_gui.core.image import check_rgb
from deconv_gui.errors import DeconvError

__all__ = [
    "Blur",
    "Degradation",
    "Downscale",
    "GaussianNoise",
    "Grain",
    "Jpeg",
    "PoissonGaussianNoise",
    "add_gaussian_noise",
    "add_grain",
    "add_poisson_gaussian",
    "blur",
    "crop_to_multiple",
    "disk_kernel",
    "downscale_bicubic",
    "gaussian_kernel",
    "jpeg_compress",
    "motion_kernel",
    "parse_kernel",
    "parse_spec",
    "quantize_8bit",
    "upscale_bicubic",
]

SPEC_FORMS = (
    "noise=SIGMA (0-255 scale), pgnoise=A:B, blur=gaussian:SIGMA, "
    "blur=motion:LENGTH:ANGLE, blur=disk:RADIUS, downscale=2|3|4, jpeg=QUALITY (1-100), "
    "camera=ISO (camera-realistic noise), grain=SIGMA[:SIZE] (coarse noise), joined by commas, e.g. 'blur=gaussian:1.6,downscale=4,noise=5'"
)
KERNEL_FORMS = "gaussian:SIGMA, motion:LENGTH:ANGLE or disk:RADIUS, e.g. 'motion:15:30'"
DOWNSCALE_FACTORS = (2, 3, 4)

# Kernel size limits keep a typo from building a 10k x 10k kernel.
MAX_GAUSSIAN_SIGMA = 25.0
MAX_MOTION_LENGTH = 255.0
MAX_DISK_RADIUS = 100.0


# --------------------------------------------------------------------------------- noise


def add_gaussian_noise(
    img: np.ndarray, sigma255: float, rng: np.random.Generator, *, clip: bool = True
) -> np.ndarray:
    """Add white Gaussian noise of standard deviation ``sigma255 / 255``.

    ``clip=False`` keeps values outside [0, 1] (unbiased noise, e.g. for training inputs).
    """
    if not (math.isfinite(sigma255) and sigma255 >= 0):
        raise ValueError(f"noise sigma must be >= 0, got {sigma255}")
    x = np.asarray(img, dtype=np.float32)
    noise = rng.standard_normal(x.shape, dtype=np.float32)
    noise *= np.float32(sigma255 / 255.0)
    noise += x
    return np.clip(noise, 0.0, 1.0, out=noise) if clip else noise


def add_poisson_gaussian(
    img: np.ndarray, a: float, b: float, rng: np.random.Generator, *, clip: bool = True
) -> np.ndarray:
    """Poisson-Gaussian noise (Foi et al. 2008): ``a * Poisson(x / a) + N(0, b)``.

    The variance at intensity x (in [0, 1]) is ``a * x + b``; ``a = 0`` gives plain Gaussian
    noise of variance ``b``. Typical camera values: a ~ 1e-3 - 1e-2, b ~ 1e-5 - 1e-3.
    """
    if not (math.isfinite(a) and math.isfinite(b) and a >= 0 and b >= 0):
        raise ValueError(f"Poisson-Gaussian parameters must be >= 0, got a={a}, b={b}")
    x = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    y = x.copy()
    if a > 0:
        y = (rng.poisson(x.astype(np.float64) / a) * a).astype(np.float32)
    if b > 0:
        y += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(math.sqrt(b))
    return np.clip(y, 0.0, 1.0, out=y) if clip else y


#: the largest grain (px) `grain=` takes
MAX_GRAIN_SIZE = 16.0
#: the part of a grain's variance that differs between the colour channels
GRAIN_COLOUR = 1.0 / 3.0


def add_grain(
    img: np.ndarray,
    sigma255: float,
    size: float,
    rng: np.random.Generator,
    *,
    colour: float = GRAIN_COLOUR,
    clip: bool = True,
) -> np.ndarray:
    """Add coarse noise: white Gaussian noise drawn on a grid ``size`` px apart and enlarged
    to the photo with bicubic interpolation (`size` 1: white noise), then scaled to standard
    deviation ``sigma255 / 255`` in each channel. ``colour`` is the part of its variance
    that differs between the channels (the rest is the same in all three, as luminance
    grain). What film grain, analogue video and noise enlarged with a photo look like: the
    white-noise estimate (`core.noise`) reads it as much weaker than it is."""
    if not (math.isfinite(sigma255) and sigma255 >= 0):
        raise ValueError(f"grain sigma must be >= 0, got {sigma255}")
    if not (math.isfinite(size) and 1.0 <= size <= MAX_GRAIN_SIZE):
        raise ValueError(f"grain size must be 1-{MAX_GRAIN_SIZE:g} px, got {size}")
    x = np.asarray(img, dtype=np.float32)
    h, w = x.shape[:2]
    ch = x.shape[2] if x.ndim == 3 else 1
    gh, gw = math.ceil(h / size) + 3, math.ceil(w / size) + 3  # a cell beyond every edge
    luma = rng.standard_normal((gh, gw, 1), dtype=np.float32)
    chroma = rng.standard_normal((gh, gw, ch), dtype=np.float32)
    coarse = np.sqrt(1.0 - colour) * luma + np.sqrt(colour) * chroma
    # the grid's cells, enlarged, cover the photo from a random offset within one cell
    big = cv2.resize(coarse, (round(gw * size), round(gh * size)), interpolation=cv2.INTER_CUBIC)
    big = big.reshape(big.shape[0], big.shape[1], ch)
    oy, ox = (int(rng.integers(0, max(1, round(size)))) for _ in range(2))
    noise = np.ascontiguousarray(big[oy + round(size) : oy + round(size) + h,
                                     ox + round(size) : ox + round(size) + w])  # fmt: skip
    std = noise.reshape(-1, ch).std(axis=0)
    noise *= np.float32(sigma255 / 255.0) / np.maximum(std, 1e-6).astype(np.float32)
    noise = noise.reshape(x.shape) + x
    return np.clip(noise, 0.0, 1.0, out=noise) if clip else noise


def quantize_8bit(img: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and round to the nearest of the 256 8-bit levels (half up, as MATLAB)."""
    x = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)  # the one new array
    x *= np.float32(255.0)
    x += np.float32(0.5)
    np.floor(x, out=x)
    x /= np.float32(255.0)
    return x


def jpeg_compress(img: np.ndarray, quality: int) -> np.ndarray:
    """Round trip through an 8-bit JPEG at ``quality`` (1-100, 4:2:0 chroma, OpenCV/libjpeg)."""
    q = int(quality)
    if q != quality or not 1 <= q <= 100:
        raise ValueError(f"JPEG quality must be an integer 1-100, got {quality}")
    rgb8 = np.clip(np.floor(np.asarray(img, dtype=np.float32) * 255.0 + 0.5), 0, 255)
    rgb8 = rgb8.astype(np.uint8)
    grey = rgb8.ndim == 2
    src = rgb8 if grey else cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", src, [cv2.IMWRITE_JPEG_QUALITY, q])
    decoded = (
        cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR) if ok else None
    )
    if decoded is None:  # pragma: no cover - libjpeg does not fail on valid uint8 input
        raise RuntimeError("JPEG round trip failed")
    if not grey:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    return decoded.astype(np.float32) / np.float32(255.0)


# ------------------------------------------------------------------------------- kernels


def _normalized(k: np.ndarray) -> np.ndarray:
    return (k / k.sum()).astype(np.float32)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Isotropic 2D Gaussian, odd size ``2 * ceil(3 sigma) + 1``, float32, sums to 1."""
    if not (math.isfinite(sigma) and 0 < sigma <= MAX_GAUSSIAN_SIGMA):
        raise ValueError(f"Gaussian sigma must be in (0, {MAX_GAUSSIAN_SIGMA:g}], got {sigma}")
    r = math.ceil(3.0 * sigma)
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return _normalized(np.outer(g, g))


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """Linear motion blur: an anti-aliased segment of ``length`` px through the centre.

    ``angle_deg`` is counter-clockwise from the horizontal as the image is seen (0 = left to
    right, 90 = vertical, 45 = lower-left to upper-right). Each pixel is weighted by
    ``max(0, 1 - distance to the segment)``, the segment running from -(length-1)/2 to
    +(length-1)/2 (as MATLAB's ``fspecial('motion')``): at 0 degrees and odd length this is
    exactly a 1 x length box. Odd size, float32, sums to 1.
    """
    if not (math.isfinite(length) and 1 <= length <= MAX_MOTION_LENGTH):
        raise ValueError(f"motion length must be in [1, {MAX_MOTION_LENGTH:g}] px, got {length}")
    if not math.isfinite(angle_deg):
        raise ValueError(f"motion angle must be a finite number of degrees, got {angle_deg}")
    half = (length - 1) / 2.0
    theta = math.radians(angle_deg)
    ux, uy = math.cos(theta), -math.sin(theta)  # rows grow downwards
    r = math.ceil(half) + 1
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    t = np.clip(xx * ux + yy * uy, -half, half)  # closest point on the segment
    dist = np.hypot(xx - t * ux, yy - t * uy)
    k = np.clip(1.0 - dist, 0.0, None)
    k[np.abs(k) < 1e-9] = 0.0  # rounding dust from cos(90 deg) != 0
    return _normalized(_trim_symmetric(k))


def disk_kernel(radius: float) -> np.ndarray:
    """Defocus: a pillbox of ``radius`` px, pixels weighted by the area the disk covers.

    Coverage is integrated on a 16 x 16 sub-pixel grid (anti-aliased edge). Odd size, float32,
    sums to 1.
    """
    if not (math.isfinite(radius) and 0 < radius <= MAX_DISK_RADIUS):
        raise ValueError(f"disk radius must be in (0, {MAX_DISK_RADIUS:g}] px, got {radius}")
    n = 16
    r = max(0, math.ceil(radius + 0.5) - 1)
    sub = (np.arange(n) + 0.5) / n - 0.5
    coords = (np.arange(-r, r + 1)[:, None] + sub[None, :]).ravel()
    inside = (coords[:, None] ** 2 + coords[None, :] ** 2) <= radius * radius
    side = 2 * r + 1
    cover = inside.reshape(side, n, side, n).mean(axis=(1, 3))
    if cover.sum() == 0:  # a disk smaller than one sub-sample: the identity
        cover[r, r] = 1.0
    return _normalized(_trim_symmetric(cover))


def _trim_symmetric(k: np.ndarray) -> np.ndarray:
    """Crop all-zero borders while keeping the centre pixel at the centre (odd sizes)."""
    ys, xs = np.nonzero(k)
    cy, cx = k.shape[0] // 2, k.shape[1] // 2
    ry = int(np.max(np.abs(ys - cy))) if ys.size else 0
    rx = int(np.max(np.abs(xs - cx))) if xs.size else 0
    return k[cy - ry : cy + ry + 1, cx - rx : cx + rx + 1]


def blur(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel with ``kernel`` (true convolution, reflected borders)."""
    k = np.asarray(kernel, dtype=np.float32)
    if k.ndim != 2 or k.size == 0:
        raise ValueError(f"kernel must be a non-empty 2D array, got shape {k.shape}")
    kh, kw = k.shape
    flipped = np.ascontiguousarray(k[::-1, ::-1])
    # After the flip, the kernel's origin (kh // 2, kw // 2) sits at (kh-1-kh//2, kw-1-kw//2).
    anchor = (kw - 1 - kw // 2, kh - 1 - kh // 2)
    x = np.ascontiguousarray(img, dtype=np.float32)
    out = cv2.filter2D(x, cv2.CV_32F, flipped, anchor=anchor, borderType=cv2.BORDER_REFLECT)
    return np.clip(out, 0.0, 1.0, out=out)


# ------------------------------------------------------------------------------ resizing


def crop_to_multiple(img: np.ndarray, factor: int) -> np.ndarray:
    """Crop the bottom/right edges so height and width are multiples of ``factor`` (a view)."""
    h, w = img.shape[:2]
    return img[: h - h % factor, : w - w % factor]


def _resize_pillow(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    x = np.asarray(img, dtype=np.float32)
    planes = [x] if x.ndim == 2 else [x[..., c] for c in range(x.shape[2])]
    out = [
        np.asarray(Image.fromarray(np.ascontiguousarray(p)).resize(size, Image.Resampling.BICUBIC))
        for p in planes
    ]
    res = out[0] if x.ndim == 2 else np.stack(out, axis=-1)
    return np.clip(res, 0.0, 1.0).astype(np.float32, copy=False)


def downscale_bicubic(img: np.ndarray, factor: int) -> np.ndarray:
    """Antialiased bicubic downscale (a = -0.5, kernel widened by ``factor``: MATLAB
    ``imresize`` style, via Pillow on float planes). Crops to a multiple of ``factor`` first,
    so the result is exactly (H // factor, W // factor)."""
    f = int(factor)
    if f != factor or f < 1:
        raise ValueError(f"downscale factor must be a positive integer, got {factor}")
    x = crop_to_multiple(np.asarray(img, dtype=np.float32), f)
    h, w = x.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"image of {img.shape[1]}x{img.shape[0]} px is smaller than factor {f}")
    if f == 1:
        return x.copy()
    return _resize_pillow(x, (w // f, h // f))


def upscale_bicubic(img: np.ndarray, factor: int) -> np.ndarray:
    """Bicubic upscale to exactly (H * factor, W * factor), clipped to [0, 1]."""
    f = int(factor)
    if f != factor or f < 1:
        raise ValueError(f"upscale factor must be a positive integer, got {factor}")
    x = np.asarray(img, dtype=np.float32)
    h, w = x.shape[:2]
    if f == 1:
        return x.copy()
    return _resize_pillow(x, (w * f, h * f))


# --------------------------------------------------------------------------------- specs


def _num(value: float) -> str:
    """Canonical number text: integers without '.0', otherwise the shortest round-trip repr."""
    v = float(value)
    return str(int(v)) if v.is_integer() else repr(v)


@dataclass(frozen=True)
class GaussianNoise:
    sigma: float  # 0-255 scale

    def apply(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return add_gaussian_noise(img, self.sigma, rng)

    def __str__(self) -> str:
        return f"noise={_num(self.sigma)}"


@dataclass(frozen=True)
class PoissonGaussianNoise:
    a: float
    b: float

    def apply(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return add_poisson_gaussian(img, self.a, self.b, rng)

    def __str__(self) -> str:
        return f"pgnoise={_num(self.a)}:{_num(self.b)}"


@dataclass(frozen=True)
class Blur:
    shape: str  # "gaussian" | "motion" | "disk"
    params: tuple[float, ...]  # (sigma,) | (length, angle_deg) | (radius,)

    @property
    def kernel(self) -> np.ndarray:
        if self.shape == "gaussian":
            return gaussian_kernel(*self.params)
        if self.shape == "motion":
            return motion_kernel(*self.params)
        return disk_kernel(*self.params)

    def apply(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return blur(img, self.kernel)

    def __str__(self) -> str:
        return "blur=" + ":".join([self.shape, *(_num(p) for p in self.params)])


@dataclass(frozen=True)
class Downscale:
    factor: int

    def apply(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return downscale_bicubic(img, self.factor)

    def __str__(self) -> str:
        return f"downscale={self.factor}"


@dataclass(frozen=True)
class Jpeg:
    quality: int

    def apply(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return jpeg_compress(img, self.quality)

    def __str__(self) -> str:
        return f"jpeg={self.quality}"


@dataclass(frozen=True)
class CameraNoise:
    """Noise as a camera makes it (`deconv_gui.core.camera.simulate_iso`): sensor noise of a
    full-frame camera at ``iso`` in an unprocessed raw mosaic, then demosaicking, colour
    matrix, tone curve, sharpening and JPEG quality 90."""

    iso: float

    def apply(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from deconv_gui.core.camera import simulate_iso

        out = simulate_iso(img, self.iso, rng)
        h, w = img.shape[:2]
        if out.shape[:2] != (h, w):  # odd sides: the mosaic dropped a row/column
            out = np.pad(out, ((0, h - out.shape[0]), (0, w - out.shape[1]), (0, 0)), "edge")
        return out

    def __str__(self) -> str:
        return f"camera={_num(self.iso)}"


@dataclass(frozen=True)
class Grain:
    """Coarse noise (`add_grain`): standard deviation ``sigma`` (0-255), grain ``size`` px."""

    sigma: float
    size: float = 2.0

    def apply(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return add_grain(img, self.sigma, self.size, rng)

    def __str__(self) -> str:
        return f"grain={_num(self.sigma)}" + ("" if self.size == 2.0 else f":{_num(self.size)}")


Step = GaussianNoise | PoissonGaussianNoise | Blur | Downscale | Jpeg | CameraNoise | Grain


@dataclass(frozen=True)
class Degradation:
    """An ordered, seeded degradation pipeline; ``str()`` gives back its canonical spec."""

    steps: tuple[Step, ...]

    @property
    def scale(self) -> int:
        """Total downscale factor (1 when there is no downscale step)."""
        return math.prod(s.factor for s in self.steps if isinstance(s, Downscale))

    @property
    def kernel(self) -> np.ndarray | None:
        """The blur kernel when there is exactly one blur step, else None."""
        blurs = [s for s in self.steps if isinstance(s, Blur)]
        return blurs[0].kernel if len(blurs) == 1 else None

    @property
    def noise_sigma(self) -> float | None:
        """Gaussian noise sigma (0-255 scale); several noise steps add in quadrature."""
        sigmas = [s.sigma for s in self.steps if isinstance(s, GaussianNoise)]
        return math.sqrt(sum(s * s for s in sigmas)) if sigmas else None

    @property
    def jpeg_quality(self) -> int | None:
        """The quality of the last JPEG step (what a file's tables would say), else None."""
        qs = [s.quality for s in self.steps if isinstance(s, Jpeg)]
        return qs[-1] if qs else None

    def apply(self, img: np.ndarray, seed: int = 0, quantize: bool = True) -> np.ndarray:
        """Degrade ``img`` (H, W, 3) float32 in [0, 1]; same seed, same output.

        With ``quantize`` (the published-table convention) the input is first taken as an
        8-bit image and the result is clipped and rounded to 8-bit levels at the end.
        """
        x = check_rgb(img)
        x = quantize_8bit(x) if quantize else np.clip(x, 0.0, 1.0)
        rng = np.random.default_rng(seed)
        for step in self.steps:
            x = step.apply(x, rng)
        return quantize_8bit(x) if quantize else np.clip(x, 0.0, 1.0).astype(np.float32)

    def __str__(self) -> str:
        return ",".join(str(s) for s in self.steps)


class _SpecError(ValueError):
    """A short reason; the public parsers add the spec and the valid forms."""


def _float(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise _SpecError(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(v):
        raise _SpecError(f"{what} must be a finite number, got {text!r}")
    return v


def _int(text: str, what: str) -> int:
    v = _float(text, what)
    if not v.is_integer():
        raise _SpecError(f"{what} must be a whole number, got {text!r}")
    return int(v)


_KERNEL_ARGS = {"gaussian": ("SIGMA",), "motion": ("LENGTH", "ANGLE"), "disk": ("RADIUS",)}


def _parse_blur(text: str) -> Blur:
    parts = [p.strip() for p in text.strip().split(":")]
    shape, args = parts[0].lower(), parts[1:]
    names = _KERNEL_ARGS.get(shape)
    if names is None:
        raise _SpecError(f"unknown blur kernel {parts[0]!r}")
    if len(args) != len(names):
        raise _SpecError(f"{shape} blur takes {':'.join((shape, *names))}, got {text!r}")
    step = Blur(shape, tuple(_float(a, f"{shape} {n}") for a, n in zip(args, names, strict=True)))
    try:
        step.kernel  # noqa: B018 - builds the kernel to check the ranges
    except ValueError as exc:
        raise _SpecError(str(exc)) from None
    return step


def _parse_step(item: str) -> Step:
    name, sep, value = (part.strip() for part in item.partition("="))
    name = name.lower()
    if not sep or not value:
        raise _SpecError(f"step {item!r} is not NAME=VALUE")
    if name == "noise":
        sigma = _float(value, "noise SIGMA")
        if not 0 < sigma <= 255:
            raise _SpecError(f"noise SIGMA must be in (0, 255] (0-255 scale), got {value!r}")
        return GaussianNoise(sigma)
    if name == "pgnoise":
        parts = value.split(":")
        if len(parts) != 2:
            raise _SpecError(f"pgnoise takes A:B, got {value!r}")
        a, b = _float(parts[0], "pgnoise A"), _float(parts[1], "pgnoise B")
        if a < 0 or b < 0 or a == b == 0:
            raise _SpecError(f"pgnoise A and B must be >= 0 and not both 0, got {value!r}")
        return PoissonGaussianNoise(a, b)
    if name == "blur":
        return _parse_blur(value)
    if name == "downscale":
        factor = _int(value, "downscale factor")
        if factor not in DOWNSCALE_FACTORS:
            raise _SpecError(f"downscale factor must be 2, 3 or 4, got {value!r}")
        return Downscale(factor)
    if name == "jpeg":
        quality = _int(value, "JPEG quality")
        if not 1 <= quality <= 100:
            raise _SpecError(f"JPEG quality must be 1-100, got {value!r}")
        return Jpeg(quality)
    if name == "camera":
        iso = _float(value, "camera ISO")
        if not 25 <= iso <= 409_600:
            raise _SpecError(f"camera ISO must be 25-409600, got {value!r}")
        return CameraNoise(iso)
    if name == "grain":
        parts = value.split(":")
        if len(parts) > 2:
            raise _SpecError(f"grain takes SIGMA or SIGMA:SIZE, got {value!r}")
        sigma = _float(parts[0], "grain SIGMA")
        size = _float(parts[1], "grain SIZE") if len(parts) == 2 else 2.0
        if not 0 < sigma <= 255:
            raise _SpecError(f"grain SIGMA must be in (0, 255] (0-255 scale), got {value!r}")
        if not 1 <= size <= MAX_GRAIN_SIZE:
            raise _SpecError(f"grain SIZE must be 1-{MAX_GRAIN_SIZE:g} px, got {value!r}")
        return Grain(sigma, size)
    raise _SpecError(f"unknown step {name!r}")


def parse_kernel(text: str) -> np.ndarray:
    """``"gaussian:2"``, ``"motion:15:30"`` or ``"disk:4"`` -> a kernel (raises DeconvError)."""
    try:
        return _parse_blur(str(text)).kernel
    except _SpecError as exc:
        raise DeconvError(f"bad blur kernel {text!r}: {exc}; valid forms: {KERNEL_FORMS}") from None


def parse_spec(spec: str) -> Degradation:
    """Parse ``"blur=gaussian:1.6,downscale=4,noise=5"`` into a `Degradation`.

    Raises `DeconvError` (one readable line naming the problem and listing the valid forms).
    """
    items = [item.strip() for item in str(spec).split(",")]
    try:
        if not any(items):
            raise _SpecError("it is empty")
        if not all(items):
            raise _SpecError("it has an empty step (stray comma?)")
        return Degradation(tuple(_parse_step(item) for item in items))
    except _SpecError as exc:
        raise DeconvError(
            f"bad degradation spec {spec!r}: {exc}; valid steps: {SPEC_FORMS}"
        ) from None
