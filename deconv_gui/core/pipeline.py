"""Photo-level restore: a model over a `Photo`, keeping everything else the photographer had.

`restore_photo` wraps the tiled job (`jobs.restore_job`) and carries the metadata across:
EXIF, ICC and bit depth travel unchanged, an alpha plane is resized when the model upscales.
The CLI, the GUI's batch mode and the self-test all use it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from deconv_gui.core.image import ImageMeta, Photo
from deconv_gui.core.jobs import restore_job
from deconv_gui.core.tiling import TileProgress

if TYPE_CHECKING:
    from deconv_gui.models.registry import LoadOptions, ModelSpec


def output_meta(meta: ImageMeta, scale: int) -> ImageMeta:
    """Metadata for a result `scale` times the size of the source (alpha resized to match)."""
    alpha = meta.alpha
    if alpha is not None and scale != 1:
        h, w = alpha.shape
        alpha = cv2.resize(alpha, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
        alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    return meta.copy(alpha=alpha, path=None)


def restore_photo(
    spec: ModelSpec, photo: Photo, options: LoadOptions, tile_size: int | None = None
) -> Generator[TileProgress, Any, Photo]:
    """Generator: yields `TileProgress` per tile, returns the restored `Photo`."""
    out = yield from restore_job(spec, photo.rgb, options, tile_size=tile_size)
    return Photo(out, output_meta(photo.meta, spec.scale))
