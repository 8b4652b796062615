"""`Document`: one open photo in the window, what it is compared with, and its result.

A document is a small mutable entity (its loading `state` and the photo in memory change as
`PhotoList` loads and evicts it); what it is compared with (`Comparison`) and its result
(`Result`) are frozen records that controllers replace whole with `dataclasses.replace`, so
keeping the previous result (to put it back after a cancelled run, or later to undo) is
keeping a reference.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from deconv_gui.core.export import ExportOptions
from deconv_gui.core.image import ImageMeta, Photo
from deconv_gui.core.recipe import Recipe
from deconv_gui.gui.display import DisplayImage
from deconv_gui.gui.quality import FinalScores, Target, TileScores
from deconv_gui.models.registry import ModelSpec

_doc_ids = itertools.count(1)


class DocState(str, Enum):
    """Where loading a photo stands (a ``str`` enum: ``DocState.READY == "ready"``)."""

    LOADING = "loading"  # nothing to show yet
    PREVIEW = "preview"  # a thumbnail (and, while shown, a quick preview); no full photo
    READY = "ready"  # the full photo is in memory
    ERROR = "error"  # it could not be opened (`Document.error` says why)


#: what results are compared with in Simulate: the photo as loaded (clean or not)
SIMULATED_AGAINST = "your photo"


@dataclass(frozen=True, eq=False)
class Comparison:
    """What results are compared with: the input (``key`` "input"), a reference photo
    ("reference"), or the photo itself before a simulated degradation ("sim:SPEC"), whose
    degraded version ``lq`` is then the input that models restore. ``reference_view`` shows
    a loaded reference (in Simulate that is the photo's own view)."""

    key: str = "input"
    reference: np.ndarray | None = None
    reference_name: str = ""
    lq: np.ndarray | None = None
    lq_view: DisplayImage | None = None
    reference_view: DisplayImage | None = None

    @property
    def simulation(self) -> str | None:
        """The degradation spec in Simulate mode, else None."""
        return self.key[4:] if self.key.startswith("sim:") else None

    @property
    def label(self) -> str:
        """The readout's caption against the reference."""
        if self.simulation:
            return f"vs {SIMULATED_AGAINST}"
        return f"vs {self.reference_name or 'reference'}"

    @property
    def blur_kernel(self) -> str:
        """The blur of the simulated degradation ("noise=5,blur=gaussian:2" -> "gaussian:2")."""
        for step in (self.simulation or "").split(","):
            name, _, value = step.strip().partition("=")
            if name == "blur" and value:
                return value
        return ""


@dataclass(frozen=True, eq=False)
class Result:
    """A model's result for one photo. While its tiles arrive ``rgb`` is None (a partial
    result) and ``view`` fills in tile by tile. The quality fields (``tiles``, ``final``,
    ``visible``) are its scores against the document's current comparison target.

    ``recipe`` is what made it (the steps with the Amount and Detail applied); ``raw`` is the
    last step's model output before its Amount and Detail and ``base`` that step's input
    (what Amount blends with), so both sliders are reapplied without rerunning the model. A
    preview of a region has ``preview_box`` (y0, y1, x0, x1 in input pixels) and stays
    partial: its view holds only that region."""

    spec: ModelSpec
    view: DisplayImage
    rgb: np.ndarray | None = None
    meta: ImageMeta | None = None
    seconds: float = 0.0
    saved_path: Path | None = None
    #: the Export settings it was written with there (None: saved as the photo was), so
    #: that Save writes it there the same way again
    saved_options: ExportOptions | None = None
    tiles: TileScores = TileScores()  # running sums over the finished tiles (live estimate)
    final: FinalScores | None = None  # whole-image scores once complete
    visible: tuple[float | None, float | None] = (None, None)  # SSIM over the visible region
    recipe: Recipe | None = None
    raw: np.ndarray | None = None
    base: np.ndarray | None = None
    preview_box: tuple[int, int, int, int] | None = None
    #: a RAW step's (input, output at Amount 1 and Detail 0) when it is the last step:
    #: its Amount and Detail are reapplied on the sensor data (`core.rawpipe.refinish_raw`)
    raw_step: tuple[Photo, Photo] | None = None

    @property
    def partial(self) -> bool:
        return self.rgb is None

    @property
    def is_preview(self) -> bool:
        return self.preview_box is not None


class ResultHistory:
    """The complete results a photo had, oldest first, and those undone (for redo).

    `RestoreSession._set_result` records every complete result: a new model output is
    pushed (and clears redo); the same output refinished (Amount, Detail) or saved replaces
    the newest entry. At most `limit` results are kept (the oldest go)."""

    def __init__(self, limit: int = 8) -> None:
        self.limit = limit
        self.done: list[Result] = []
        self.undone: list[Result] = []

    def record(self, result: Result) -> None:
        top = self.done[-1] if self.done else None
        if top is result:
            return
        if top is not None and top.raw is not None and top.raw is result.raw:
            self.done[-1] = result  # the same model output, finished or saved differently
            return
        self.done.append(result)
        self.undone.clear()
        del self.done[: -self.limit]

    @property
    def latest(self) -> Result | None:
        return self.done[-1] if self.done else None


@dataclass(eq=False)
class Document:
    """One open photo. `PhotoList` owns ``state``, ``error``, ``preview``, ``photo``,
    ``photo_view``, ``alpha_view`` and ``load_warnings``; `LiveQuality` owns ``comparison``
    and ``target``; `RestoreSession` owns ``result``."""

    path: Path
    key: int = field(default_factory=lambda: next(_doc_ids))
    state: DocState = DocState.LOADING
    error: str = ""
    preview: DisplayImage | None = None  # stands in for the photo on screen until it is in
    photo: Photo | None = None
    photo_view: DisplayImage | None = None
    alpha_view: DisplayImage | None = None  # the photo's transparency, to paint through
    load_warnings: tuple[str, ...] = ()  # what reading it warned of (shown once)
    comparison: Comparison = field(default_factory=Comparison)
    target: Target | None = None  # derived from the comparison and the input (a cache)
    result: Result | None = None
    history: ResultHistory = field(default_factory=ResultHistory)  # `RestoreSession` keeps it

    def __repr__(self) -> str:
        return f"<Document {self.path.name!r} {self.state.value}>"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_ready(self) -> bool:
        return self.state is DocState.READY and self.photo is not None

    @property
    def simulation(self) -> str | None:
        return self.comparison.simulation

    @property
    def input_rgb(self) -> np.ndarray | None:
        """What a model restores: the degraded photo in Simulate mode, else the photo."""
        if self.comparison.lq is not None:
            return self.comparison.lq
        return self.photo.rgb if self.photo is not None else None

    @property
    def input_meta(self) -> ImageMeta:
        """The metadata of what a model restores: the photo's; a simulated degradation has
        no alpha and, being an ordinary picture, no RAW record (a RAW step must not work on
        the photo's own sensor data then)."""
        meta = self.photo.meta if self.photo is not None else ImageMeta()
        if self.comparison.lq is None:
            return meta
        return meta.copy(alpha=None, extra={k: v for k, v in meta.extra.items() if k != "raw"})

    @property
    def input_is_raw(self) -> bool:
        """Is what a model restores a camera RAW file's sensor data (`input_meta`)?"""
        return self.input_meta.extra.get("raw") is not None

    @property
    def input_view(self) -> DisplayImage | None:
        if self.comparison.lq_view is not None:
            return self.comparison.lq_view
        return self.photo_view or self.preview

    @property
    def reference_view(self) -> DisplayImage | None:
        """The picture of what results are compared with: the photo itself in Simulate,
        the loaded reference photo, else None."""
        if self.comparison.simulation:
            return self.photo_view
        return self.comparison.reference_view

    @property
    def has_work(self) -> bool:
        """A result, a reference or a simulation: what evicting the photo would lose."""
        return self.result is not None or self.comparison.key != "input"

    @property
    def unsaved(self) -> bool:
        """The result shown is not saved, or a preview hides a result that is not."""
        r = self.result
        if r is not None and r.partial:
            r = self.history.latest
        return r is not None and not r.partial and r.saved_path is None
