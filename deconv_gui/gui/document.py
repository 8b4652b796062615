"""`Document`: one open photo in the window, what it is compared with, and its result."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deconv_gui.core.image import ImageMeta, Photo
from deconv_gui.gui.display import DisplayImage
from deconv_gui.gui.quality import FinalScores, Target, TileScores
from deconv_gui.models.registry import ModelSpec

_doc_ids = itertools.count(1)


@dataclass(eq=False)
class Document:
    """One open photo, its comparison target and its result."""

    path: Path
    key: int = field(default_factory=lambda: next(_doc_ids))
    state: str = "loading"  # loading | preview | ready | error
    error: str = ""
    preview: DisplayImage | None = None
    photo: Photo | None = None
    photo_view: DisplayImage | None = None
    # what results are compared with
    comparison: str = "input"  # "input", "reference" or "sim:SPEC"
    reference: np.ndarray | None = None
    reference_name: str = ""
    lq: np.ndarray | None = None  # the degraded input in Simulate mode
    lq_view: DisplayImage | None = None
    target: Target | None = None
    generation: int = 0  # bumped whenever target or result change (stale scores are dropped)
    # the result
    result: np.ndarray | None = None
    result_view: DisplayImage | None = None
    result_spec: ModelSpec | None = None
    result_meta: ImageMeta | None = None
    result_partial: bool = False
    result_seconds: float = 0.0
    saved_path: Path | None = None
    scores: TileScores = field(default_factory=TileScores)
    final: FinalScores | None = None
    visible: tuple[float | None, float | None] = (None, None)
    full_requested: bool = False

    def __repr__(self) -> str:
        return f"<Document {self.path.name!r} {self.state}>"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_ready(self) -> bool:
        return self.state == "ready" and self.photo is not None

    @property
    def simulation(self) -> str | None:
        return self.comparison[4:] if self.comparison.startswith("sim:") else None

    @property
    def input_rgb(self) -> np.ndarray | None:
        if self.lq is not None:
            return self.lq
        return self.photo.rgb if self.photo is not None else None

    @property
    def input_view(self) -> DisplayImage | None:
        if self.lq_view is not None:
            return self.lq_view
        return self.photo_view or self.preview

    @property
    def unsaved(self) -> bool:
        return self.result is not None and not self.result_partial and self.saved_path is None

    def clear_result(self) -> None:
        self.result = self.result_view = self.result_spec = self.result_meta = None
        self.result_partial = False
        self.saved_path = None
        self.scores = TileScores()
        self.final = None
        self.visible = (None, None)
        self.generation += 1
