"""What the crop scripts (`rni15_crops.py`, `jpeg_crops.py`) share: the models named on
their command line and the side-by-side row they write."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def models_named(arg: str) -> tuple[list[Any], list[str]]:
    """The specs of ``arg`` (comma-separated bundled ids or session cards ``runs/NAME/ID.json``,
    their weights beside them) and their names for the printed legend; a session's card is
    named by its run folder ("cam7grain/redunet-denoise-camera")."""
    from deconv_gui.models.bundled import spec_from_card
    from deconv_gui.models.catalog import default_registry

    reg = default_registry()
    models = arg.split(",")
    specs = [spec_from_card(m) if m.endswith(".json") else reg.get(m) for m in models]
    names = [Path(m).parent.name + "/" + sp.id if m.endswith(".json") else sp.id
             for m, sp in zip(models, specs, strict=True)]  # fmt: skip
    return specs, names


def centre_crops(photo: Any, specs: list[Any], side: int) -> tuple[list[Any], list[Any], Any]:
    """The centre ``side`` px square of ``photo`` and of each spec's result on Auto (run on
    the whole photo, then cropped): (tiles, the results as `Photo`s, the crop's slices)."""
    from deconv_gui.core.pipeline import restore_photo
    from deconv_gui.core.spec import LoadOptions
    from deconv_gui.core.tiling import run_to_end

    h, w = photo.rgb.shape[:2]
    s = min(side, h, w)
    y, x = (h - s) // 2, (w - s) // 2
    box = (slice(y, y + s), slice(x, x + s))
    results = [run_to_end(restore_photo(sp, photo, LoadOptions(device="cpu"))) for sp in specs]
    return [photo.rgb[box], *(r.rgb[box] for r in results)], results, box


def save_row(tiles: list[Any], dest: Path) -> None:
    """``tiles`` (same-size RGB float arrays in [0, 1]) side by side with a 4 px white gap,
    written to ``dest`` as an 8-bit PNG."""
    import numpy as np
    from PIL import Image

    gap = np.ones((tiles[0].shape[0], 4, 3), np.float32)
    row = np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)
    Image.fromarray((np.clip(row, 0, 1) * 255 + 0.5).astype(np.uint8)).save(dest)
