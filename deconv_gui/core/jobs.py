"""Jobs the GUI's job runner and the CLI drive: generators of `TileProgress` with a result.

The core knows no model registry: a spec is any `RestoreSpec` (``build(options)`` returns a
`TileProcessor`; ``deconv_gui.models.registry.ModelSpec`` in practice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deconv_gui.core.tiling import restore_tiled
from deconv_gui.core.validate import check_options

if TYPE_CHECKING:
    from collections.abc import Generator

    import numpy as np

    from deconv_gui.core.image import ImageMeta
    from deconv_gui.core.spec import LoadOptions, RestoreSpec
    from deconv_gui.core.tiling import TileProgress


def restore_job(
    spec: RestoreSpec,
    photo_rgb: np.ndarray,
    options: LoadOptions,
    tile_size: int | None = None,
    meta: ImageMeta | None = None,
) -> Generator[TileProgress, None, np.ndarray]:
    """Build the model for `options` and restore `photo_rgb` with it, tile by tile.

    The options are checked first (`deconv_gui.core.validate.check_options`: the strength
    within the model's range, a sane tile size). The model is built on the first ``next()``,
    i.e. in the thread that drives the job. A processor with a ``prepare(rgb, meta)`` method
    gets the whole photo and its metadata (or None) first: models use it to measure the
    photo once, so every tile gets the same setting (a noise level; the JPEG remover reads
    the quality of the file's tables from ``meta.extra["jpeg_quality"]``). A model that does not tile well (``spec.tiles_well`` False) gets the
    whole photo as one tile unless a tile size is given; out-of-memory handling still
    applies.
    """
    tile_size = check_options(spec, options, tile_size)
    processor = spec.build(options)
    prepare = getattr(processor, "prepare", None)
    if callable(prepare):  # per-photo set-up, e.g. one noise estimate for all tiles
        prepare(photo_rgb, meta)
    if tile_size is None and not spec.tiles_well:
        tile_size = max(int(photo_rgb.shape[0]), int(photo_rgb.shape[1]))
    return (yield from restore_tiled(processor, photo_rgb, tile_size=tile_size))
