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

A preview works on a part of the photo: a photo whose ``meta.extra[RAW_CROP]`` says which
part of the full-size render its pixels are. The network then runs on the part of the mosaic
that part is developed from (`mosaic_region`, LibRaw's flip and non-square-pixel stretch
undone) with the context its receptive field needs, Auto uses the noise measured on the whole
mosaic, the rest of the mosaic stays as it was, and the development is cut to the part: the
part comes out as in a full run.

The RAW denoiser works on the sensor's data, so it is a recipe's first step (`check_order`):
a model after an RGB step would throw that step's work away.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deconv_gui.core.auto_setting import AUTO, AutoSetting, auto_settings, raw_iso_equivalent
from deconv_gui.core.finish import finish
from deconv_gui.core.image import ImageMeta, Photo
from deconv_gui.core.io import save_image
from deconv_gui.core.jobs import MeasuredOnce, restore_job
from deconv_gui.errors import DeconvError, ImageWriteError

if TYPE_CHECKING:
    from deconv_gui.core.raw import RawData, RawSizes
    from deconv_gui.core.spec import LoadOptions, RestoreSpec
    from deconv_gui.core.tiling import TileProgress

#: ``meta.extra`` key: the (denoised) uint16 mosaic behind a RAW result
RAW_MOSAIC = "raw_mosaic"
#: ``meta.extra`` key: one line about how a result was made, for the status line
NOTE = "note"
#: ``meta.extra`` key: (y0, y1, x0, x1), the part of the full-size render a RAW photo's
#: pixels are, when they are only a part (a preview; see the module doc)
RAW_CROP = "raw_crop"
#: extra mosaic photosites around a part: the demosaicking's and the stretch's reach
DEVELOP_REACH = 8


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
    crop = photo.meta.extra.get(RAW_CROP)
    if crop is not None:
        y0, y1, x0, x1 = crop
        if photo.rgb.shape[:2] != (y1 - y0, x1 - x0):
            raise DeconvError("the RAW denoiser must come before steps that change the size")
    elif RAW_MOSAIC not in photo.meta.extra and photo.rgb.shape[:2] != _render_shape(raw):
        raise DeconvError("the RAW denoiser must come before steps that change the size")
    chosen: list[Any] = []  # the noise profile Auto used
    if not raw.is_bayer:
        result = yield from _linear_rgb_path(
            spec, photo, raw, options, tile_size, amount, detail, chosen.append
        )
        return _said_auto(result, photo.meta, spec, chosen)
    mosaic = photo.meta.extra.get(RAW_MOSAIC, raw.mosaic)
    packed = raw.packed(mosaic, clip=False)
    work, part = packed, None
    if crop is not None:
        part = _packed_part(raw, crop, packed.shape[:2], spec)
        py0, py1, px0, px1 = part
        work = np.ascontiguousarray(packed[py0:py1, px0:px1])
        options = _whole_noise(options, packed, mosaic)
    out = yield from _without_pixels(
        restore_job(
            spec, work, options, tile_size=tile_size, meta=photo.meta, measured=chosen.append
        )
    )
    out = finish(work, out, amount=amount, detail=detail, clip=False)
    if part is not None:
        whole = packed.copy()
        whole[py0:py1, px0:px1] = out
        out = whole
    return _said_auto(_developed(raw, out, photo.meta), photo.meta, spec, chosen)


def _said_auto(result: Photo, before: ImageMeta, spec: RestoreSpec, chosen: list[Any]) -> Photo:
    """``result`` with what Auto chose (`core.auto_setting`): the noise profile it read, as
    a full-frame ISO; unchanged when the strength was set by hand."""
    shot = getattr(chosen[0], "shot", None) if chosen else None
    if shot is not None and spec.strength is not None:
        said = AutoSetting(spec.id, spec.strength.label, raw_iso_equivalent(shot), spec.task)
        result.meta.extra[AUTO] = (*auto_settings(before), said)
    return result


def refinish_raw(before: Photo, result: Photo, amount: float, detail: float) -> Photo | None:
    """A RAW step's Amount and Detail applied again, on the sensor data as a run applies
    them: ``result`` is the step's output at Amount 1, Detail 0, ``before`` its input (a
    RAW photo, or a part of one: ``RAW_CROP``). Returns the developed photo (its part),
    or None for a sensor without a Bayer mosaic (its result has no mosaic to blend)."""
    raw, model = raw_of(result), (result.meta.extra or {}).get(RAW_MOSAIC)
    if raw is None or model is None or not raw.is_bayer:
        return None
    mosaic = before.meta.extra.get(RAW_MOSAIC, raw.mosaic)
    noisy = raw.packed(mosaic, clip=False)
    clean = raw.packed(model, clip=False)
    out = finish(noisy, clean, amount=amount, detail=detail, clip=False)
    return _developed(raw, out, before.meta)


def _developed(raw: RawData, planes: np.ndarray, meta: ImageMeta) -> Photo:
    """Normalised packed ``planes`` (`RawData.packed`) as sensor values, developed like the
    original, with the values in ``meta.extra[RAW_MOSAIC]``; cut to ``meta``'s part
    (``RAW_CROP``)."""
    from deconv_gui.core.raw import render_raw, unpack_bayer

    new = raw.denormalized(unpack_bayer(planes, raw.cfa, raw.mosaic.shape))
    result = render_raw(raw, new, colour_space=meta.extra.get("colour_space", "srgb"))
    result.meta.extra[RAW_MOSAIC] = new
    crop = meta.extra.get(RAW_CROP)
    return result if crop is None else _cut(result, crop)


def check_order(specs: Sequence[Any]) -> None:
    """Refuse a recipe whose RAW step comes after an RGB step (`DeconvError`): the RAW
    denoiser works on the sensor's data and would throw the earlier steps' work away."""
    for i, spec in enumerate(specs):
        if works_on_mosaic(spec) and i > 0 and not all(works_on_mosaic(s) for s in specs[:i]):
            name = getattr(spec, "name", spec.id)
            raise DeconvError(
                f"{name} works on the camera's sensor data, so it must be the first step"
            )


def check_dng_output(ext: str | None, steps: Sequence[tuple[str, Any]]) -> None:
    """Refuse DNG output (``ext`` ".dng") for a recipe of (model id, spec) ``steps`` that is
    not all RAW denoisers (`ImageWriteError`): a DNG holds sensor data, and only they make
    it. Called before any photo is processed, not after each."""
    if (ext or "").lower() != ".dng":
        return
    rgb = [model for model, spec in steps if not works_on_mosaic(spec)]
    if rgb:
        raise ImageWriteError(
            f"a DNG holds the sensor's data, which {', '.join(rgb)} does not make: only the "
            "RAW denoiser's result can be saved as DNG (save as .tif)"
        )


def mosaic_region(sizes: RawSizes, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The part (y0, y1, x0, x1) of the visible mosaic that the region ``box`` (y0, y1, x0,
    x1) of a full-size render is developed from: LibRaw's flip undone (dcraw's
    ``flip_index``: a transpose, then mirrored rows, then mirrored columns of the image
    before the flip), then its stretch of non-square pixels."""
    y0, y1, x0, x1 = box
    oh, ow = sizes.output_height, sizes.output_width
    if sizes.flip & 4:
        y0, y1, x0, x1, oh, ow = x0, x1, y0, y1, ow, oh
    if sizes.flip & 2:
        y0, y1 = oh - y1, oh - y0
    if sizes.flip & 1:
        x0, x1 = ow - x1, ow - x0
    fy, fx = sizes.height / oh, sizes.width / ow
    return (
        max(0, math.floor(y0 * fy)),
        min(sizes.height, math.ceil(y1 * fy)),
        max(0, math.floor(x0 * fx)),
        min(sizes.width, math.ceil(x1 * fx)),
    )


def _reach(spec: Any) -> int:
    """Context (network input pixels) around a part so it comes out as in a full run: the
    network's context radius, as the tiled engine gives each tile."""
    return int(getattr(spec, "receptive_field", 16))


def _aligned(start: int, spec: Any) -> int:
    """A part's first row or column moved back onto the grid the tiled engine uses for the
    whole picture (multiples of the network's ``pad_multiple``: a network that downsamples
    gives other values off it)."""
    align = max(1, int((getattr(spec, "card", None) or {}).get("pad_multiple", 1)))
    return start - start % align


def _packed_part(
    raw: RawData, crop: tuple[int, int, int, int], shape: tuple[int, int], spec: Any
) -> tuple[int, int, int, int]:
    """The packed planes' part (y0, y1, x0, x1) holding the mosaic region the render's
    ``crop`` is developed from, with `DEVELOP_REACH` photosites and the network's context
    around it (`core.raw.pack_bayer` puts red's photosite (r, c) at (0, 0))."""
    from deconv_gui.core.raw import bayer_origin

    r, c = bayer_origin(raw.cfa)
    y0, y1, x0, x1 = mosaic_region(raw.sizes, crop)
    d, reach = DEVELOP_REACH, _reach(spec)
    h, w = shape
    return (
        _aligned(max(0, (y0 - d + r) // 2 - reach), spec),
        min(h, (y1 + d + r + 1) // 2 + reach),
        _aligned(max(0, (x0 - d + c) // 2 - reach), spec),
        min(w, (x1 + d + c + 1) // 2 + reach),
    )


#: the noise measured on the last few whole mosaics (a file's or a RAW step's result), by
#: the mosaic: previews of one photo measure it once
_MEASURED = MeasuredOnce(keep=4)


def _whole_noise(options: LoadOptions, planes: np.ndarray, source: np.ndarray) -> LoadOptions:
    """``options`` with the noise Auto measures on the whole of ``planes`` (a part alone
    would measure differently from a full run), made from the mosaic ``source``."""
    from deconv_gui.core.raw_noise import MEASURED_PROFILE, estimate_profile

    if options.params.get("noise_profile") is not None:
        return options
    profile = _MEASURED.get(source, "noise profile", lambda: estimate_profile(planes))
    return replace(options, params={**options.params, MEASURED_PROFILE: profile})


def _cut(photo: Photo, crop: tuple[int, int, int, int]) -> Photo:
    """The part ``crop`` of a full-size development, marked as that part."""
    y0, y1, x0, x1 = crop
    meta = photo.meta.copy(extra={**photo.meta.extra, RAW_CROP: crop})
    return Photo(np.ascontiguousarray(photo.rgb[y0:y1, x0:x1]), meta)


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
    measured: Callable[[Any], None],
) -> Generator[TileProgress, Any, Photo]:
    """Non-Bayer sensors: the network on LibRaw's linear sRGB as planes (R, G, G, B)."""
    from deconv_gui.core.raw import render_raw

    space = photo.meta.extra.get("colour_space", "srgb")
    linear = render_raw(raw, colour_space=space, linear=True)
    lin = linear.rgb
    planes = np.stack([lin[..., 0], lin[..., 1], lin[..., 1], lin[..., 2]], axis=2)
    crop = photo.meta.extra.get(RAW_CROP)
    inner: tuple[slice, slice] = (slice(None), slice(None))
    if crop is not None:  # the render is the picture's own geometry: no mosaic to map to
        y0, y1, x0, x1 = crop
        h, w = planes.shape[:2]
        m = _reach(spec)
        py0, px0 = _aligned(max(0, y0 - m), spec), _aligned(max(0, x0 - m), spec)
        options = _whole_noise(options, planes, raw.mosaic)
        planes = np.ascontiguousarray(planes[py0 : min(h, y1 + m), px0 : min(w, x1 + m)])
        inner = (slice(y0 - py0, y1 - py0), slice(x0 - px0, x1 - px0))
    out = yield from _without_pixels(
        restore_job(spec, planes, options, tile_size=tile_size, meta=photo.meta, measured=measured)
    )
    out = finish(planes, out, amount=amount, detail=detail)
    rgb_lin = np.stack([out[..., 0], 0.5 * (out[..., 1] + out[..., 2]), out[..., 3]], axis=2)
    rgb = np.ascontiguousarray(encode_transfer(rgb_lin, space)[inner])
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


def dng_refusal(photo: Photo) -> str | None:
    """Why no DNG can be made of `photo`, known as soon as it is read, before any model
    runs (None: one can, from the RAW denoiser's result)."""
    raw = raw_of(photo)
    if raw is None:
        return "a DNG needs a camera RAW photo"
    if not raw.is_bayer:
        return (
            "a DNG result needs a Bayer sensor (the RAW denoiser works on Bayer data), and "
            "this one has none (e.g. X-Trans, or linear DNG data): save as TIFF instead"
        )
    return None


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
    refused = dng_refusal(photo)
    if refused is not None:
        raise ImageWriteError(f"Cannot save {name}: {refused}")
    if mosaic is None:
        why = "only the RAW denoiser's result is sensor data (save as TIFF)"
        raise ImageWriteError(f"Cannot save {name} as DNG: {why}")
    assert raw is not None
    from deconv_gui.core.dng import write_dng

    return write_dng(out, raw, mosaic, overwrite=overwrite)
