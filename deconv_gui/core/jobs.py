"""Jobs the GUI's job runner and the CLI drive: generators of `TileProgress` with a result.

The core knows no model registry: a spec is any `RestoreSpec` (``build(options)`` returns a
`TileProcessor`; ``deconv_gui.models.registry.ModelSpec`` in practice).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from deconv_gui.core.tiling import restore_tiled
from deconv_gui.core.validate import check_options

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    import numpy as np

    from deconv_gui.core.image import ImageMeta
    from deconv_gui.core.spec import LoadOptions, RestoreSpec
    from deconv_gui.core.tiling import TileProgress

T = TypeVar("T")


def restore_job(
    spec: RestoreSpec,
    photo_rgb: np.ndarray,
    options: LoadOptions,
    tile_size: int | None = None,
    meta: ImageMeta | None = None,
    *,
    measured: Callable[[Any], None] | None = None,
) -> Generator[TileProgress, None, np.ndarray]:
    """Build the model for `options` and restore `photo_rgb` with it, tile by tile.

    The options are checked first (`deconv_gui.core.validate.check_options`: the strength
    within the model's range, a sane tile size). The model is built on the first ``next()``,
    i.e. in the thread that drives the job. A processor with a ``prepare(rgb, meta)`` method
    gets the whole photo and its metadata (or None) first: models use it to measure the
    photo once, so every tile gets the same setting (a noise level; the JPEG remover reads
    the quality of the file's tables from ``meta.extra["jpeg_quality"]``) and return the
    strength that gives (`prepared_strength`). On Auto (``options.strength`` None) that
    value (a float), or the RAW denoiser's `NoiseProfile`, goes to ``measured``, so a caller
    can say what Auto chose. A model that does not
    tile well (``spec.tiles_well`` False) gets the whole photo as one tile unless a tile
    size is given; out-of-memory handling still applies.
    """
    tile_size = check_options(spec, options, tile_size)
    processor = spec.build(options)
    setting = _prepared(processor, photo_rgb, meta)
    if measured is not None and options.strength is None and setting is not None:
        measured(setting)
    if tile_size is None and not spec.tiles_well:
        tile_size = max(int(photo_rgb.shape[0]), int(photo_rgb.shape[1]))
    return (yield from restore_tiled(processor, photo_rgb, tile_size=tile_size))


def prepared_strength(processor: Any, photo_rgb: np.ndarray, meta: Any = None) -> float | None:
    """Run ``processor.prepare(photo_rgb, meta)`` when it has one (per-photo set-up: one
    noise estimate for every tile) and return the strength it settled on, in the model's
    strength units (a noise level, a JPEG quality); None when it has no such number (no
    ``prepare``, or a RAW noise profile)."""
    value = _prepared(processor, photo_rgb, meta)
    return value if isinstance(value, float) else None


def _prepared(processor: Any, photo_rgb: np.ndarray, meta: Any) -> Any:
    """What ``processor.prepare`` settled on: a finite number as a float, another setting
    (a RAW `NoiseProfile`) as it is; None without a ``prepare`` or a setting."""
    prepare = getattr(processor, "prepare", None)
    if not callable(prepare):
        return None
    value = prepare(photo_rgb, meta)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    return value


def auto_strength(
    spec: RestoreSpec, photo_rgb: np.ndarray, options: LoadOptions, meta: ImageMeta | None = None
) -> float | None:
    """What Auto would set ``spec``'s strength to on this photo (what `restore_job` measures
    on it), measured on the CPU without running the model; None when a strength is set, the
    model has no strength, or its Auto is not one number."""
    if options.strength is not None or spec.strength is None:
        return None
    processor = spec.build(replace(options, device="cpu"))
    return prepared_strength(processor, photo_rgb, meta)


class MeasuredOnce:
    """Measurements of whole photos, kept for the previews of their parts that follow: one
    per (photo array, key), the ``keep`` made last, each guarded by a weak reference to its
    array (an id is reused once the array is gone)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._held: dict[tuple[int, str], tuple[weakref.ref[np.ndarray], Any]] = {}

    def get(self, array: np.ndarray, key: str, measure: Callable[[], T]) -> T:
        """The value kept for ``array`` and ``key``, else ``measure()`` (then kept)."""
        held = self._held.get((id(array), key))
        if held is not None and held[0]() is array:
            return held[1]
        value = measure()
        self._held[(id(array), key)] = (weakref.ref(array), value)
        while len(self._held) > self.keep:
            del self._held[next(iter(self._held))]
        return value
