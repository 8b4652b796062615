"""Camera RAW photos in the pipeline: the RAW denoiser on the sensor's own data, DNG out.

A RAW file opens as its render (`core.raw.render_raw`: the one development) with the
`RawData` record in ``meta.extra["raw"]``. Models that work on RGB (upscalers, deblur, the
sRGB denoisers) run on that 16-bit render like on any photo. A model whose spec says
``input == "bayer"`` (the RAW denoiser) runs on the mosaic instead (`restore_raw_photo`):

1. the mosaic (the file's, or an earlier RAW step's result in ``meta.extra[RAW_MOSAIC]``)
   normalised by the file's own black and white levels, without clipping the noise below
   black, packed as four half-resolution planes R, G1, G2, B (`core.raw.pack_bayer`);
2. the tiled engine runs the model on the packed planes (the processor measures the noise
   of the whole mosaic once in ``prepare``: `core.raw_noise.estimate_profile`; a model
   tuned on this camera's files uses its fitted profile at the file's ISO instead,
   `core.camera_noise`);
3. Amount and Detail (`core.finish`) are applied to the planes, against the noisy ones;
4. unpacked, scaled back to the sensor's integer values and developed exactly like the
   original, so before and after are judged on the same development. The new mosaic travels
   in ``meta.extra[RAW_MOSAIC]`` for a DNG (`save_photo`).

Sensors without a Bayer mosaic (Fujifilm X-Trans, Foveon, linear DNGs) take the linear-RGB
path: LibRaw's demosaicked, white-balanced linear sRGB is fed to the same network as the
planes (R, G, G, B), and encoded to sRGB afterwards; the result says so in
``meta.extra["note"]`` (the app's status line shows it). There is no mosaic to save then:
such a result is saved as TIFF, not DNG.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deconv_gui.core.finish import finish
from deconv_gui.core.image import Photo
from deconv_gui.core.io import save_image
from deconv_gui.core.jobs import restore_job
from deconv_gui.errors import DeconvError, ImageWriteError

if TYPE_CHECKING:
    from deconv_gui.core.raw import RawData
    from deconv_gui.core.spec import LoadOptions, RestoreSpec
    from deconv_gui.core.tiling import TileProgress

#: ``meta.extra`` key: the (denoised) uint16 mosaic behind a RAW result
RAW_MOSAIC = "raw_mosaic"
#: ``meta.extra`` key: one line about how a result was made, for the status line
NOTE = "note"


def raw_of(photo: Photo) -> RawData | None:
    """The RAW record behind a photo (None for ordinary images)."""
    return (photo.meta.extra or {}).get("raw")


def works_on_mosaic(spec: Any) -> bool:
    """A model that takes a camera's raw data (its card says ``input: bayer``)."""
    return getattr(spec, "input", "rgb") == "bayer"


def restore_raw_photo(
    spec: RestoreSpec,
    photo: Photo,
    options: LoadOptions,
    tile_size: int | None = None,
    *,
    amount: float = 1.0,
    detail: float = 0.0,
) -> Generator[TileProgress, Any, Photo]:
    """Run a RAW model on ``photo``'s mosaic (see the module doc); returns the developed
    result with its mosaic. Raises `DeconvError` for a photo that is not a RAW file."""
    raw = raw_of(photo)
    name = photo.meta.path.name if photo.meta.path is not None else "this photo"
    if raw is None:
        raise DeconvError(
            f"{getattr(spec, 'name', spec.id)} works on camera RAW files, and {name} is not "
            "one (use a denoiser for ordinary photos)"
        )
    if RAW_MOSAIC not in photo.meta.extra and photo.rgb.shape[:2] != _render_shape(raw):
        raise DeconvError("the RAW denoiser must come before steps that change the size")
    if not raw.is_bayer:
        return (yield from _linear_rgb_path(spec, photo, raw, options, tile_size, amount, detail))
    from deconv_gui.core.raw import pack_bayer, render_raw, unpack_bayer

    mosaic = photo.meta.extra.get(RAW_MOSAIC, raw.mosaic)
    packed = pack_bayer(raw.normalized(mosaic, clip=False), raw.cfa)
    out = yield from _without_pixels(
        restore_job(spec, packed, options, tile_size=tile_size, meta=photo.meta)
    )
    out = finish(packed, out, amount=amount, detail=detail, clip=False)
    new = raw.denormalized(unpack_bayer(out, raw.cfa, raw.mosaic.shape))
    result = render_raw(raw, new, colour_space=photo.meta.extra.get("colour_space", "srgb"))
    result.meta.extra[RAW_MOSAIC] = new
    return result


_NO_PIXELS = np.zeros((0, 0, 3), np.float32)


def _without_pixels(
    job: Generator[TileProgress, Any, np.ndarray],
) -> Generator[TileProgress, Any, np.ndarray]:
    """The job's progress without its tiles' pixels: they are sensor planes, not part of
    the picture (the developed result only exists at the end), so each record says nothing
    is final yet (an empty box), as the tiled engine does for intermediate calls."""
    while True:
        try:
            tp = next(job)
        except StopIteration as stop:
            return stop.value
        yield replace(tp, box=(0, 0, 0, 0), pixels=_NO_PIXELS)


def _render_shape(raw: RawData) -> tuple[int, int]:
    """(height, width) of a full-size render (after the flip and any pixel stretch)."""
    return raw.sizes.output_height, raw.sizes.output_width


def _linear_rgb_path(
    spec: RestoreSpec,
    photo: Photo,
    raw: RawData,
    options: LoadOptions,
    tile_size: int | None,
    amount: float,
    detail: float,
) -> Generator[TileProgress, Any, Photo]:
    """Non-Bayer sensors: the network on LibRaw's linear sRGB as planes (R, G, G, B)."""
    from deconv_gui.core.raw import render_raw

    space = photo.meta.extra.get("colour_space", "srgb")
    linear = render_raw(raw, colour_space=space, linear=True)
    lin = linear.rgb
    planes = np.stack([lin[..., 0], lin[..., 1], lin[..., 1], lin[..., 2]], axis=2)
    out = yield from _without_pixels(
        restore_job(spec, planes, options, tile_size=tile_size, meta=photo.meta)
    )
    out = finish(planes, out, amount=amount, detail=detail)
    rgb_lin = np.stack([out[..., 0], 0.5 * (out[..., 1] + out[..., 2]), out[..., 3]], axis=2)
    rgb = encode_transfer(rgb_lin, space)
    meta = photo.meta.copy(path=None, extra={**photo.meta.extra, NOTE: _NON_BAYER_NOTE})
    meta.extra.pop(RAW_MOSAIC, None)
    return Photo(rgb, meta)


_NON_BAYER_NOTE = (
    "this sensor has no Bayer mosaic (e.g. X-Trans): denoised after demosaicking, on linear "
    "RGB; saved as TIFF, not DNG"
)


def encode_transfer(linear: np.ndarray, colour_space: str) -> np.ndarray:
    """Linear values -> the colour space's tone curve (the render's own): sRGB's piecewise
    curve, Adobe RGB's gamma 563/256, ProPhoto's 461/256."""
    x = np.clip(np.asarray(linear, np.float32), 0.0, 1.0)
    if colour_space == "srgb":
        out = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    else:
        gamma = 563 / 256 if colour_space == "adobe-rgb" else 461 / 256
        out = np.power(x, 1 / gamma)
    return np.ascontiguousarray(out, dtype=np.float32)


def save_photo(
    path: str | Path, photo: Photo, *, overwrite: bool = False, quality: int = 95
) -> Path:
    """Save a result: a ``.dng`` name writes the RAW result's mosaic as a DNG
    (`core.dng.write_dng`); anything else goes through `core.io.save_image`."""
    out = Path(path)
    if out.suffix.lower() != ".dng":
        return save_image(out, photo.rgb, photo.meta, overwrite=overwrite, quality=quality)
    raw = raw_of(photo)
    mosaic = (photo.meta.extra or {}).get(RAW_MOSAIC)
    name = out.name
    if raw is None:
        raise ImageWriteError(f"Cannot save {name}: a DNG needs a camera RAW photo")
    if mosaic is None:
        why = (
            "this sensor has no Bayer mosaic"
            if not raw.is_bayer
            else "only the RAW denoiser's result is sensor data (save as TIFF)"
        )
        raise ImageWriteError(f"Cannot save {name} as DNG: {why}")
    from deconv_gui.core.dng import write_dng

    return write_dng(out, raw, mosaic, overwrite=overwrite)
