"""Helpers of the batch tests: a model that inverts photos, and small PNG files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from deconv_gui.core.spec import LoadOptions


class _Invert:
    scale = 1
    overlap = 2
    device = "cpu"

    def __init__(self, spec: Invert) -> None:
        self.spec = spec

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        self.spec.calls += 1
        if self.spec.fail_above is not None and tile.mean() > self.spec.fail_above:
            raise RuntimeError("the model broke on this photo")
        return 1.0 - tile


@dataclass
class Invert:
    """A model that inverts the photo, counts its calls and fails on bright photos."""

    id: str = "invert"
    task: str = "denoise"
    scale: int = 1
    tiles_well: bool = True
    strength: None = None
    card: dict = field(default_factory=lambda: {"version": "1"})
    fail_above: float | None = None
    calls: int = 0

    def build(self, options: LoadOptions, /) -> _Invert:
        return _Invert(self)


def png(path: Path, value: int, size: tuple[int, int] = (24, 20)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size[1], size[0], 3), value, np.uint8)
    arr[::3, ::2] = 255 - value
    Image.fromarray(arr).save(path)
    return path
