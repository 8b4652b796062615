"""The generator jobs `RestoreSession` drives for a recipe: a whole photo, a preview of a
region, and Amount/Detail reapplied to a result (`refinish`). No widgets: they run in a
worker thread and return small records.

A run keeps what the live sliders need: the last step's model output (``raw``) and its input
(``base``). The earlier steps go through `core.recipe.recipe_job` with the photo's
`StepCache`; the last step's model output is kept in the same cache under the key
`recipe_job` gives it (the earlier steps in full and this step's model, strength and
params), so a rerun after a change starts from the first changed step.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from deconv_gui.core.finish import finish
from deconv_gui.core.image import Photo
from deconv_gui.core.jobs import MeasuredOnce, auto_strength
from deconv_gui.core.pipeline import restore_photo
from deconv_gui.core.rawpipe import RAW_CROP, raw_of, refinish_raw, works_on_mosaic
from deconv_gui.core.recipe import Recipe, StepCache, check_result_size, recipe_job
from deconv_gui.core.spec import LoadOptions, RestoreSpec
from deconv_gui.core.tiling import TileProgress
from deconv_gui.gui.display import DisplayColour, DisplayImage, to_bgra8

Resolve = Callable[[str], RestoreSpec]
NO_BOX = (0, 0, 0, 0)
#: context around a preview region (input pixels) so its edges come out as in a full run
PREVIEW_MARGIN = 32
#: a preview's crop starts on this grid of the photo: JPEG's 8x8 blocks (which the JPEG
#: remover's Auto reads from the pixels) and the networks' sampling grids (their
#: ``pad_multiple``, which the tiled engine keeps) fall where they do in a full run
PREVIEW_GRID = 8
#: photos whose first step's Auto measurement is kept (`_whole_photo_auto`)
AUTO_KEPT = 8
#: context around a region whose Amount/Detail is reapplied first (the pyramid's blurs)
FINISH_MARGIN = 16


class BoundedStepCache(StepCache):
    """A `StepCache` that keeps only the `limit` outputs used last (full-size outputs of
    several strengths would otherwise pile up)."""

    def __init__(self, limit: int = 4) -> None:
        super().__init__()
        self.limit = limit
        self._lru: OrderedDict[tuple[str, ...], Photo] = OrderedDict()

    def get(self, prefix: tuple[str, ...]) -> Photo | None:
        photo = self._lru.get(prefix)
        if photo is not None:
            self._lru.move_to_end(prefix)
        return photo

    def put(self, prefix: tuple[str, ...], photo: Photo) -> None:
        self._lru[prefix] = photo
        self._lru.move_to_end(prefix)
        while len(self._lru) > self.limit:
            self._lru.popitem(last=False)

    def clear(self) -> None:
        self._lru.clear()

    def __len__(self) -> int:
        return len(self._lru)


@dataclass(frozen=True)
class RecipeOutput:
    """A recipe's result: the finished ``photo``, the last step's model output ``raw`` and
    its input ``base``, and the display image when the job made one (else the tiles painted
    it)."""

    photo: Photo
    raw: np.ndarray
    base: np.ndarray
    view: DisplayImage | None = None
    raw_step: tuple[Photo, Photo] | None = None  # see `Result.raw_step`


@dataclass(frozen=True)
class PreviewOutput:
    """A preview of ``box`` (y0, y1, x0, x1, input pixels): the finished region, the last
    step's model output and input over it, the total scale and a view of the whole result
    size holding only that region."""

    box: tuple[int, int, int, int]
    rgb: np.ndarray
    raw: np.ndarray
    base: np.ndarray
    scale: int
    view: DisplayImage
    meta: Any = None
    raw_step: tuple[Photo, Photo] | None = None  # see `Result.raw_step`


def recipe_work(
    recipe: Recipe,
    resolve: Resolve,
    base: LoadOptions,
    photo: Photo,
    *,
    tile_size: int | None = None,
    cache: StepCache | None = None,
) -> Generator[TileProgress, Any, RecipeOutput]:
    """Run `recipe` on `photo`; yields tile progress (the earlier steps' tiles with an empty
    box, so only the last step's are painted) and returns a `RecipeOutput`."""
    steps = recipe.steps
    n = len(steps)
    last = steps[-1]
    check_result_size(photo, [resolve(s.model) for s in steps])  # before any step runs
    mid = photo
    if n > 1:
        head = recipe_job(
            Recipe(steps[:-1]), resolve, base, tile_size=tile_size, cache=cache, of_steps=n
        )
        mid = yield from _hide_boxes(head(photo))
    key = (*(s.full_key() for s in steps[:-1]), last.model_key())
    out = cache.get(key) if cache is not None else None
    if out is None:
        options = replace(base, strength=last.strength, params=dict(last.params))
        job = restore_photo(resolve(last.model), mid, options, tile_size=tile_size)
        label = f"step {n}/{n}: {last.model}" if n > 1 else ""
        out = yield from _labelled(job, label)
        if cache is not None:
            cache.put(key, out)
    if works_on_mosaic(resolve(last.model)):  # Amount and Detail on the sensor data
        exact = (
            out
            if (last.amount, last.detail) == (1.0, 0.0)
            else refinish_raw(mid, out, last.amount, last.detail)
        )
        if exact is not None:
            return RecipeOutput(exact, out.rgb, mid.rgb, raw_step=(mid, out))
    rgb = finish(mid.rgb, out.rgb, amount=last.amount, detail=last.detail)
    return RecipeOutput(Photo(rgb, out.meta), out.rgb, mid.rgb)


def _mapped(
    job: Generator[TileProgress, Any, Photo], change: Callable[[TileProgress], TileProgress]
) -> Generator[TileProgress, Any, Photo]:
    """`job`'s items changed by `change`, and its return value (closed when this is)."""
    try:
        while True:
            try:
                tp = next(job)
            except StopIteration as stop:
                return stop.value
            yield change(tp)
    finally:
        job.close()


def _hide_boxes(job: Generator[TileProgress, Any, Photo]) -> Generator[TileProgress, Any, Photo]:
    return _mapped(job, lambda tp: replace(tp, box=NO_BOX))


def _labelled(
    job: Generator[TileProgress, Any, Photo], label: str
) -> Generator[TileProgress, Any, Photo]:
    return _mapped(job, lambda tp: replace(tp, message=label)) if label else job


def run_job(
    recipe: Recipe,
    resolve: Resolve,
    base: LoadOptions,
    photo: Photo,
    *,
    tile_size: int | None,
    cache: StepCache | None,
    colour: DisplayColour | None,
) -> Generator[TileProgress, Any, RecipeOutput]:
    """A whole-photo run: `recipe_work`, then the display image when the painted tiles are
    not the result (a cached last step, or Amount/Detail applied)."""
    painted = False
    work = recipe_work(recipe, resolve, base, photo, tile_size=tile_size, cache=cache)
    while True:
        try:
            tp = next(work)
        except StopIteration as stop:
            out: RecipeOutput = stop.value
            break
        painted = painted or tp.box != NO_BOX
        yield tp
    if not painted or out.photo.rgb is not out.raw:
        out = replace(out, view=DisplayImage.from_rgb(out.photo.rgb, colour))
    return out


def preview_box(
    visible: tuple[float, float, float, float], size: tuple[int, int], max_side: int
) -> tuple[int, int, int, int]:
    """The input region to preview: the ``visible`` rect (x, y, w, h, input pixels) clipped
    to the photo (``size`` = width, height) and cut to at most ``max_side`` per side around
    its centre. Returns (y0, y1, x0, x1)."""
    w, h = size
    x, y, vw, vh = visible
    x0, y0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
    x1, y1 = min(w, int(np.ceil(x + vw))), min(h, int(np.ceil(y + vh)))
    if x1 <= x0 or y1 <= y0:
        x0, y0, x1, y1 = 0, 0, w, h
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    bw, bh = min(x1 - x0, max_side), min(y1 - y0, max_side)
    x0 = min(max(0, cx - bw // 2), w - bw)
    y0 = min(max(0, cy - bh // 2), h - bh)
    return y0, y0 + bh, x0, x0 + bw


def preview_job(
    recipe: Recipe,
    resolve: Resolve,
    base: LoadOptions,
    photo: Photo,
    box: tuple[int, int, int, int],
    *,
    cache: StepCache | None,
    colour: DisplayColour | None,
) -> Generator[TileProgress, Any, PreviewOutput]:
    """Run `recipe` on the region `box` of `photo` (with `PREVIEW_MARGIN` of context, from
    the `PREVIEW_GRID` line before it, and the first step's Auto measured on the whole
    photo), so that the region comes out as in a full run."""
    y0, y1, x0, x1 = box
    h, w = photo.rgb.shape[:2]
    m, g = PREVIEW_MARGIN, PREVIEW_GRID
    cy0, cy1 = max(0, y0 - m) // g * g, min(h, y1 + m)
    cx0, cx1 = max(0, x0 - m) // g * g, min(w, x1 + m)
    meta = photo.meta.copy(alpha=None)
    if raw_of(photo) is not None:  # a RAW step works on the mosaic behind this part
        meta = meta.copy(extra={**meta.extra, RAW_CROP: (cy0, cy1, cx0, cx1)})
    crop = Photo(np.ascontiguousarray(photo.rgb[cy0:cy1, cx0:cx1]), meta)
    recipe = _whole_photo_auto(recipe, resolve, base, photo)
    work = recipe_work(recipe, resolve, base, crop, cache=cache)
    out = yield from _hide_boxes(work)
    inner = (y0 - cy0, y1 - cy0, x0 - cx0, x1 - cx0)
    raw, mid = _cut(out.raw, crop.rgb, inner), _cut(out.base, crop.rgb, inner)
    rgb = _cut(out.photo.rgb, crop.rgb, inner)
    scale = max(1, round(out.raw.shape[0] / crop.rgb.shape[0]))
    view = DisplayImage.blank(h * scale, w * scale)
    view.paste((y0 * scale, y1 * scale, x0 * scale, x1 * scale), to_bgra8(rgb, colour))
    return PreviewOutput(box, rgb, raw, mid, scale, view, out.photo.meta, out.raw_step)


_AUTO_MEASURED = MeasuredOnce(keep=AUTO_KEPT)


def _whole_photo_auto(recipe: Recipe, resolve: Resolve, base: LoadOptions, photo: Photo) -> Recipe:
    """`recipe` with its first step's Auto strength measured on the whole photo, as a full
    run measures it (`core.jobs.auto_strength`): the part in view alone measures otherwise
    (a part with no flat area reads noisier; a part that does not start on a JPEG block
    reads as no JPEG at all). Kept per photo for the previews that follow. A RAW step
    measures the whole mosaic itself (`core.rawpipe`); later steps' inputs exist only as the
    part, and are measured there."""
    first = recipe.steps[0]
    spec = resolve(first.model)
    st = spec.strength
    if first.strength is not None or not getattr(st, "auto", False) or works_on_mosaic(spec):
        return recipe  # (a model without Auto, e.g. an imported one, is not even built)
    options = replace(base, params=dict(first.params))
    value = _AUTO_MEASURED.get(
        photo.rgb, first.model, lambda: auto_strength(spec, photo.rgb, options, photo.meta)
    )
    if value is None:
        return recipe
    value = min(max(value, st.minimum), st.maximum)
    return replace(recipe, steps=(replace(first, strength=value), *recipe.steps[1:]))


def _cut(arr: np.ndarray, crop: np.ndarray, inner: tuple[int, int, int, int]) -> np.ndarray:
    """The part of `arr` (a step's output over `crop`, at any scale) over `inner`."""
    s = arr.shape[0] / crop.shape[0]
    y0, y1, x0, x1 = (round(v * s) for v in inner)
    return np.ascontiguousarray(arr[y0:y1, x0:x1])


def refinish_job(
    raw: np.ndarray,
    base: np.ndarray,
    amount: float,
    detail: float,
    *,
    view: DisplayImage | None,
    region: tuple[int, int, int, int] | None,
    colour: DisplayColour | None,
    paste_at: tuple[int, int] = (0, 0),
    full_size: tuple[int, int] | None = None,
    raw_step: tuple[Photo, Photo] | None = None,
) -> Generator[DisplayImage, Any, tuple[np.ndarray, DisplayImage, Any]]:
    """Amount and Detail applied again to a result's ``raw`` against ``base``.

    With a ``region`` (y0, y1, x0, x1 in ``raw``'s pixels) of a full result, that part is
    done first and yielded as a copy of ``view`` with it pasted in (what the screen shows
    within a moment); then the whole, returned with its display image and its metadata
    (None: unchanged). A preview's crop (``full_size`` = the result's height and width)
    comes back as a view of that size with the crop pasted at ``paste_at``. A RAW step's
    result (``raw_step``, `Result.raw_step`) has the whole done on the sensor data and
    developed again, as a run does (`core.rawpipe.refinish_raw`); the part shown first is
    blended in RGB, which comes close."""
    if view is not None and region is not None:
        y0, y1, x0, x1 = region
        m = FINISH_MARGIN
        h, w = raw.shape[:2]
        cy0, cy1, cx0, cx1 = max(0, y0 - m), min(h, y1 + m), max(0, x0 - m), min(w, x1 + m)
        s = base.shape[0] / h
        part = finish(
            base[round(cy0 * s) : round(cy1 * s), round(cx0 * s) : round(cx1 * s)],
            raw[cy0:cy1, cx0:cx1],
            amount=amount,
            detail=detail,
        )
        shown = DisplayImage([lv.copy() for lv in view.levels])
        shown.paste(region, to_bgra8(part[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0], colour))
        yield shown
    exact = refinish_raw(*raw_step, amount, detail) if raw_step is not None else None
    meta = None
    if exact is None:
        rgb = finish(base, raw, amount=amount, detail=detail)
    else:
        rgb, meta = exact.rgb, exact.meta
        crop = exact.meta.extra.get(RAW_CROP)
        if crop is not None:  # a preview: its region within the part the RAW step ran on
            y0, x0 = paste_at[0] - crop[0], paste_at[1] - crop[2]
            rgb = np.ascontiguousarray(rgb[y0 : y0 + raw.shape[0], x0 : x0 + raw.shape[1]])
    if full_size is None:
        return rgb, DisplayImage.from_rgb(rgb, colour), meta
    out = DisplayImage.blank(*full_size)
    py, px = paste_at
    out.paste((py, py + rgb.shape[0], px, px + rgb.shape[1]), to_bgra8(rgb, colour))
    return rgb, out, meta
