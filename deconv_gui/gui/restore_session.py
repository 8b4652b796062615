"""`RestoreSession`: run a model on one photo at a time, and keep and save its result.

A run replaces the photo's `Result` with a partial one whose display image fills in tile by
tile (the tiles are converted for display in the worker thread); the previous result is
kept and put back when the run is cancelled or fails. Every change of a photo's result goes
through `_set_result`, the one place where a per-photo undo history would record it.
Saving writes the result off the GUI thread under the name `output_path` makes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from deconv_gui.core.degrade import parse_kernel
from deconv_gui.core.image import ImageMeta, Photo
from deconv_gui.core.io import save_image
from deconv_gui.core.naming import output_path_for
from deconv_gui.core.pipeline import restore_photo
from deconv_gui.core.tiling import TileProgress
from deconv_gui.errors import DeconvError
from deconv_gui.gui.display import DisplayColour, DisplayImage, display_colour, to_bgra8
from deconv_gui.gui.document import Document, Result
from deconv_gui.gui.preferences import Preferences
from deconv_gui.gui.runner import JobRunner, TaskQueue
from deconv_gui.models.registry import LoadOptions, ModelSpec

LARGE_RESULT_MP = 150  # ask before making a result larger than this
BYTES_PER_RESULT_PIXEL = 12 + 6 + 8  # float32 RGB, 8-bit pyramid, SSIM map and comparison


def tile_painter(target: DisplayImage, colour: DisplayColour | None = None):
    """A ``prepare`` hook for the runner: in the worker thread, convert each finished tile and
    write it into `target` (all pyramid levels), so the GUI thread only repaints."""

    def prepare(tp: TileProgress) -> TileProgress:
        y0, y1, x0, x1 = tp.box
        if y1 > y0 and x1 > x0:
            target.paste(tp.box, to_bgra8(tp.pixels, colour))
        return tp

    return prepare


class RestoreSession(QObject):
    """Runs one restore job at a time on its own `JobRunner` and owns the photos' results.

    ``prefs`` names the saved files; ``ask(title, text) -> bool`` answers questions (a very
    large result, replacing a file).

    Signals: ``started(doc)`` (its result is a blank partial one now), ``tile_done(doc, tp)``
    (the tile's pixels are in the result's view already), ``finished(doc)`` (a complete
    result), ``failed(doc, message)`` and ``cancelled(doc)`` (the previous result is back),
    ``stopping()`` (a cancel was asked for), ``busy_changed(bool)``, ``saved(doc, path)``, ``notice(text, kind, timeout_ms)`` for the
    message bar and ``status(text, timeout_ms)`` for the status bar.
    """

    started = Signal(object)
    tile_done = Signal(object, object)
    finished = Signal(object)
    failed = Signal(object, str)
    cancelled = Signal(object)
    stopping = Signal()
    busy_changed = Signal(bool)
    saved = Signal(object, object)
    notice = Signal(str, str, int)
    status = Signal(str, int)

    def __init__(
        self,
        prefs: Preferences,
        parent: QObject | None = None,
        *,
        ask: Callable[[str, str], bool] = lambda *_: True,
    ) -> None:
        super().__init__(parent)
        self._prefs = prefs
        self._ask = ask
        self.runner = JobRunner(self)
        self._io = TaskQueue(self)  # saving
        self._doc: Document | None = None  # being processed
        self._previous: Result | None = None  # its result before the run
        self._started = 0.0
        self.runner.progressed.connect(self._on_progressed)
        self.runner.result_ready.connect(self._on_result_ready)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.busy_changed.connect(self.busy_changed)

    @property
    def is_busy(self) -> bool:
        return self.runner.is_busy

    @property
    def running_doc(self) -> Document | None:
        return self._doc

    # ------------------------------------------------------------------ run / cancel
    def run(
        self, doc: Document, spec: ModelSpec, options: LoadOptions, tile_size: int | None = None
    ) -> bool:
        """Restore `doc`'s input with `spec`; False when that cannot start."""
        rgb = doc.input_rgb
        if self.is_busy or not doc.is_ready or rgb is None:
            return False
        if "kernel" in spec.params and "kernel" in options.params:
            try:
                parse_kernel(options.params["kernel"])
            except (DeconvError, ValueError) as exc:
                self.notice.emit(f"Invalid blur kernel: {exc}", "error", 0)
                return False
        h, w = rgb.shape[:2]
        out_mp = h * w * spec.scale**2 / 1e6
        if out_mp > LARGE_RESULT_MP:
            need_gb = out_mp * 1e6 * BYTES_PER_RESULT_PIXEL / 2**30
            if not self._ask(
                "Very large result",
                f"The result will be {w * spec.scale} × {h * spec.scale} ({out_mp:.0f} MP) and "
                f"needs about {need_gb:.0f} GB of memory to show and measure. Go on?",
            ):
                return False
        view = DisplayImage.blank(h * spec.scale, w * spec.scale)
        self._previous = doc.result
        self._doc = doc
        self._started = time.monotonic()
        self._set_result(doc, Result(spec=spec, view=view))
        self.started.emit(doc)
        colour = display_colour(doc.photo.meta.icc_profile if doc.photo else None)
        source = Photo(rgb, self._input_meta(doc))
        self.runner.start(
            lambda: restore_photo(spec, source, options, tile_size=tile_size),
            prepare=tile_painter(view, colour),
        )
        self.status.emit(f"Running {spec.name} on {doc.name}…", 0)
        return True

    def cancel(self) -> bool:
        """Stop after the current tile; False when nothing runs."""
        if not self.runner.is_busy:
            return False
        self.runner.cancel()
        self.stopping.emit()
        return True

    @staticmethod
    def _input_meta(doc: Document) -> ImageMeta:
        """The metadata of what a run restores: the photo's (a simulated degradation has
        no alpha; `restore_photo` makes the result's from it)."""
        meta = doc.photo.meta if doc.photo is not None else ImageMeta()
        return meta.copy(alpha=None) if doc.comparison.lq is not None else meta

    def _set_result(self, doc: Document, result: Result | None) -> None:
        doc.result = result

    def _on_progressed(self, tp: TileProgress) -> None:
        if self._doc is not None:
            self.tile_done.emit(self._doc, tp)

    def _on_result_ready(self, photo: Photo) -> None:
        doc, self._doc, self._previous = self._doc, None, None
        if doc is None or doc.result is None:
            return
        r = doc.result
        seconds = time.monotonic() - self._started
        self._set_result(doc, replace(r, rgb=photo.rgb, meta=photo.meta, seconds=seconds))
        self.status.emit(f"{r.spec.name} finished on {doc.name}", 6000)
        self.finished.emit(doc)

    def _put_back(self) -> Document | None:
        doc, self._doc = self._doc, None
        previous, self._previous = self._previous, None
        if doc is not None:
            self._set_result(doc, previous)
        return doc

    def _on_failed(self, message: str, _details: str) -> None:
        doc = self._put_back()
        if doc is not None:
            self.failed.emit(doc, message)
            self.notice.emit(f"Processing {doc.name} failed: {message}", "error", 0)

    def _on_cancelled(self) -> None:
        doc = self._put_back()
        if doc is not None:
            self.cancelled.emit(doc)
            self.status.emit("Cancelled", 4000)

    # ------------------------------------------------------------------ saving
    def output_path(self, doc: Document) -> Path:
        """Where a result of `doc` is saved by default: the one place that names outputs."""
        spec = doc.result.spec if doc.result is not None else None
        suffix = self._prefs.suffix_for(spec.task if spec else "restore", spec.scale if spec else 1)
        if doc.simulation:
            suffix = "_sim" + suffix
        out_dir = self._prefs.output_dir
        folder = Path(out_dir).expanduser() if out_dir else doc.path.parent
        return output_path_for(doc.path, suffix, out_dir=folder)

    def save(self, doc: Document | None) -> None:
        """Save `doc`'s result: again where it was saved, else under `output_path`."""
        if doc is None or doc.result is None or doc.result.partial:
            return
        if doc.result.saved_path is not None:
            self.save_to(doc, doc.result.saved_path, overwrite=True)
            return
        path = self.output_path(doc)
        if path.exists():
            if not self._ask(
                "Replace file?", f"{path.name} already exists in {path.parent}. Replace it?"
            ):
                return
            self.save_to(doc, path, overwrite=True)
        else:
            self.save_to(doc, path)

    def save_to(self, doc: Document, path: Path, *, overwrite: bool = False) -> None:
        """Write `doc`'s result to `path` in the background (asks before replacing the
        original photo)."""
        r = doc.result
        if r is None or r.rgb is None:
            return
        result, meta = r.rgb, r.meta or ImageMeta()
        if doc.photo is not None and path.resolve() == doc.path.resolve():
            if not self._ask(
                "Replace the original?", f"Replace the original photo {path.name} with the result?"
            ):
                return
            meta = meta.copy(path=None)
            overwrite = True

        def done(written: Path) -> None:
            written = Path(written)
            if doc is self._doc and self._previous is not None and self._previous.rgb is result:
                self._previous = replace(self._previous, saved_path=written)  # a run started
            elif doc.result is not None and doc.result.rgb is result:
                self._set_result(doc, replace(doc.result, saved_path=written))
            self.status.emit(f"Saved {written.name} to {written.parent}", 8000)
            self.saved.emit(doc, written)

        self.status.emit(f"Saving {path.name}…", 0)
        self._io.submit(
            lambda: save_image(path, result, meta, overwrite=overwrite),
            on_result=done,
            on_error=lambda m, _d: self.notice.emit(f"Could not save {path.name}: {m}", "error", 0),
        )

    def shutdown(self) -> None:
        """Cancel and wait for the run and any save."""
        self.runner.shutdown()
        self._io.shutdown()
        self._doc = self._previous = None
