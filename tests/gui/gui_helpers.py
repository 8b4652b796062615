"""Helpers shared by the GUI tests: a tiny model registry and small photos with metadata."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from deconv_gui.errors import ModelError
from deconv_gui.models.registry import ModelRegistry, ModelSpec, StrengthSpec


# ----------------------------------------------------------------------------- tiny models
class ScaleProcessor:
    """Cheap deterministic processor: a mild contrast change, optionally upscaling x2."""

    def __init__(self, scale: int = 1, delay: float = 0.0, fail_after: int | None = None) -> None:
        self.scale = scale
        self.overlap = 4
        self.device = "cpu"
        self.delay = delay
        self.calls = 0
        self.fail_after = fail_after

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("the tiny model broke on purpose")
        if self.delay:
            time.sleep(self.delay)  # a slow model, in the worker thread
        out = np.clip(0.5 + (tile - 0.5) * 0.8, 0.0, 1.0).astype(np.float32)
        if self.scale != 1:
            out = out.repeat(self.scale, axis=0).repeat(self.scale, axis=1)
        return out


def _conv_processor(options):
    import torch
    from torch import nn

    from deconv_gui.core.runner import TorchProcessor

    conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        for c in range(3):
            conv.weight[c, c] = 1.0 / 9.0  # a 3x3 box blur per channel
    proc = TorchProcessor(conv, scale=1, overlap=2, device="cpu")
    if options.strength is None:  # Auto measures the noise, as the bundled denoisers do

        def prepare(rgb, meta=None):
            from deconv_gui.core.noise import estimate_noise_sigma

            return estimate_noise_sigma(rgb)

        proc.prepare = prepare
    return proc


SLOW_CALLS: list[ScaleProcessor] = []


def _slow(options):
    p = ScaleProcessor(delay=0.04)
    SLOW_CALLS.append(p)
    return p


def _broken_build(options):
    raise ModelError("the weights of 'broken' are missing")


def tiny_registry() -> ModelRegistry:
    strength = StrengthSpec("Noise level", 0.0, 50.0, 15.0, auto=True, unit="σ")
    return ModelRegistry(
        [
            ModelSpec("tiny-conv", "Tiny conv", "denoise", 1, "bundled", "A 1-layer conv.",
                      build=_conv_processor, receptive_field=2, strength=strength,
                      card={"training": "none", "psnr": {"bsd68": 1.0}}),
            ModelSpec("tiny-slow", "Tiny slow", "denoise", 1, "classical", "Slow on purpose.",
                      build=_slow, receptive_field=4),
            ModelSpec("tiny-x2", "Tiny x2", "upscale", 2, "bundled", "Pixel-repeat x2.",
                      build=lambda o: ScaleProcessor(scale=2), receptive_field=4),
            ModelSpec("tiny-broken", "Tiny broken", "deblur", 1, "classical", "Fails to load.",
                      build=_broken_build),
            ModelSpec("tiny-crash", "Tiny crash", "deblur", 1, "imported", "Fails while running.",
                      build=lambda o: ScaleProcessor(fail_after=0)),
        ]
    )  # fmt: skip


# ----------------------------------------------------------------------------- photos
def write_photo(path: Path, size=(96, 72), seed: int = 0, fmt: str | None = None) -> Path:
    """A small photo with EXIF (camera, date) and an sRGB ICC profile."""
    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x / w, y / h, 0.5 + 0.3 * np.sin(x / 7.0)], axis=-1)
    img = np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1)
    pil = Image.fromarray((img * 255).astype(np.uint8), "RGB")
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model 1"  # Model
    exif[0x0132] = "2024:05:01 10:00:00"  # DateTime
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    pil.save(path, format=fmt, exif=exif.tobytes(), icc_profile=icc, quality=95)
    return path


def open_and_wait(qtbot, window, path: Path, timeout: int = 20000):
    """Open a photo and wait until it is fully loaded."""
    with qtbot.waitSignal(window.document_loaded, timeout=timeout) as blocker:
        docs = window.open_paths([path])
    assert docs
    return blocker.args[0]


def swapped_primaries_icc() -> bytes:
    """A minimal ICC v2 RGB display profile whose red and green primaries are sRGB's green
    and red: a pure red pixel in it is a pure green one in sRGB (gamma 2.2 curves)."""
    import struct

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ " + b"\0" * 4 + s15(x) + s15(y) + s15(z)

    text = b"swapped test profile\0"
    desc = (
        b"desc"
        + b"\0" * 4
        + struct.pack(">I", len(text))
        + text
        + b"\0" * 8
        + b"\0" * 3
        + b"\0" * 67
    )
    curve = b"curv" + b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">H", 0x0233) + b"\0\0"
    d50 = (0.9642, 1.0, 0.8249)
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(*d50)),
        (b"rXYZ", xyz(0.3851, 0.7169, 0.0971)),  # sRGB's green
        (b"gXYZ", xyz(0.4361, 0.2225, 0.0139)),  # sRGB's red
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        while (offset + len(data)) % 4:
            data += b"\0"
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
        + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + b"".join(s15(v) for v in d50)
        + b"\0" * 4 + b"\0" * 16 + b"\0" * 28
    )  # fmt: skip
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def ready_document(path: Path):
    """A `Document` with its full photo in memory, as `PhotoList` leaves it after loading."""
    from deconv_gui.core.io import load_image
    from deconv_gui.gui.display import DisplayImage
    from deconv_gui.gui.document import DocState, Document

    photo = load_image(path)
    return Document(
        path=path,
        state=DocState.READY,
        photo=photo,
        photo_view=DisplayImage.from_rgb(photo.rgb),
    )
