"""`RestoreSession`: run a recipe (one model or several in a row) on one photo at a time,
preview it on a region, reapply Amount and Detail live, keep an undo history of results,
and save or export them.

A run replaces the photo's `Result` with a partial one whose display image fills in tile by
tile (the tiles are converted for display in the worker thread); the previous result is
kept and put back when the run is cancelled or fails. Every change of a photo's result goes
through `_set_result`, which records complete results in the photo's `ResultHistory` (undo,
redo): a new run never drops an earlier result. Each photo has a `StepCache`, so a rerun
starts from the first changed step. Previews and Amount/Detail changes run on a second
queue (`live`), the newest request replacing an older one. Saving writes the result off the
GUI thread under the name `output_path` makes.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from deconv_gui.core.degrade import parse_kernel
from deconv_gui.core.export import ExportOptions, export_image
from deconv_gui.core.image import ImageMeta, Photo
from deconv_gui.core.io import same_file, save_image
from deconv_gui.core.naming import output_path_for
from deconv_gui.core.rawpipe import check_order, works_on_mosaic
from deconv_gui.core.recipe import Recipe, RecipeStep
from deconv_gui.core.tiling import TileProgress
from deconv_gui.errors import DeconvError
from deconv_gui.gui.display import DisplayColour, DisplayImage, display_colour, to_bgra8
from deconv_gui.gui.document import Document, Result
from deconv_gui.gui.preferences import Preferences
from deconv_gui.gui.recipe_run import (
    BoundedStepCache,
    PreviewOutput,
    RecipeOutput,
    preview_job,
    refinish_job,
    run_job,
)
from deconv_gui.gui.runner import JobRunner, TaskQueue
from deconv_gui.logs import WarningCollector
from deconv_gui.models.registry import LoadOptions, ModelSpec, plain_name, recipe_suffix

LARGE_RESULT_MP = 150  # ask before making a result larger than this
CACHED_PHOTOS = 2  # photos whose step outputs are kept for reruns
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
    ``stopping()`` (a cancel was asked for), ``busy_changed(bool)``, ``saved(doc, path)``,
    ``notice(text, kind, timeout_ms)`` for the message bar and ``status(text, timeout_ms)``
    for the status bar. ``previewed(doc)``: a preview of a region is in its result;
    ``refinished(doc)``: Amount/Detail were reapplied to a complete result (its scores are
    stale); ``view_changed(doc, view)``: the visible part of a result being refinished is
    ready to show; ``history_changed(doc)``: undo/redo moved (the result shown changed).

    ``resolve(model_id)`` finds the models of a recipe (the registry's ``get``).
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
    previewed = Signal(object)
    refinished = Signal(object)
    view_changed = Signal(object, object)
    history_changed = Signal(object)

    def __init__(
        self,
        prefs: Preferences,
        parent: QObject | None = None,
        *,
        ask: Callable[[str, str], bool] = lambda *_: True,
        resolve: Callable[[str], ModelSpec] | None = None,
    ) -> None:
        super().__init__(parent)
        self._prefs = prefs
        self._ask = ask
        self._resolve = resolve
        self.runner = JobRunner(self)
        self._io = TaskQueue(self)  # saving
        self.live = TaskQueue(self)  # previews and Amount/Detail, newest first
        self._doc: Document | None = None  # being processed
        self._target = ""  # what it is run on, in words ("sample.jpg", or its simulation)
        self._previous: Result | None = None  # its result before the run
        self._started = 0.0
        # per photo (doc.key), newest last: (the input they were made from, the cache)
        self._caches: dict[int, tuple[weakref.ref[np.ndarray], BoundedStepCache]] = {}
        self._preview_caches: dict[int, tuple[tuple[int, ...], Any, BoundedStepCache]] = {}
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
        """Restore `doc`'s input with `spec` (a one-step recipe); False when that cannot
        start."""
        step = RecipeStep(spec.id, options.strength, params=dict(options.params))
        return self.run_recipe(doc, Recipe((step,)), options, tile_size, specs={spec.id: spec})

    def run_recipe(
        self,
        doc: Document,
        recipe: Recipe,
        options: LoadOptions,
        tile_size: int | None = None,
        *,
        specs: dict[str, ModelSpec] | None = None,
    ) -> bool:
        """Run `recipe` on `doc`'s input (device and precision from ``options``; each step's
        strength and params its own); False when that cannot start."""
        rgb = doc.input_rgb
        if self.is_busy or not doc.is_ready or rgb is None:
            return False
        resolve = self._resolver(specs)
        chain = self._checked_chain(recipe, resolve, doc)
        if chain is None:
            return False
        scale = 1
        for sp in chain:
            scale *= int(sp.scale)
        h, w = rgb.shape[:2]
        out_mp = h * w * scale**2 / 1e6
        if out_mp > LARGE_RESULT_MP:
            need_gb = out_mp * 1e6 * BYTES_PER_RESULT_PIXEL / 2**30
            if not self._ask(
                "Very large result",
                f"The result will be {w * scale} × {h * scale} ({out_mp:.0f} MP) and "
                f"needs about {need_gb:.0f} GB of memory to show and measure. Go on?",
            ):
                return False
        self.live.cancel()  # a preview or refinish of the old result is no longer wanted
        spec = chain[-1]
        view = DisplayImage.blank(h * scale, w * scale)
        self._previous = doc.result
        self._doc = doc
        self._target = self._what_is_restored(doc)
        self._started = time.monotonic()
        kept = doc.history.latest
        self._set_result(doc, Result(spec=spec, view=view, recipe=recipe))
        self.started.emit(doc)
        colour = self._colour(doc)
        source = Photo(rgb, doc.input_meta)
        cache = self._cache_for(doc, rgb)
        self.runner.start(
            lambda: run_job(
                recipe, resolve, options, source, tile_size=tile_size, cache=cache, colour=colour
            ),
            prepare=tile_painter(view, colour),
        )
        what = plain_name(spec) if len(chain) == 1 else f"{len(chain)} steps"
        self.status.emit(f"Running {what} on {self._target}…", 0)
        if kept is not None and kept.saved_path is None:
            self.notice.emit(
                "The previous result is kept: Undo (Ctrl+Z) brings it back.", "info", 5000
            )
        return True

    def _resolver(self, specs: dict[str, ModelSpec] | None) -> Callable[[str], ModelSpec]:
        from deconv_gui.errors import ModelError

        def resolve(model_id: str) -> ModelSpec:
            if specs and model_id in specs:
                return specs[model_id]
            if self._resolve is None:
                raise ModelError(f"unknown model '{model_id}'")
            return self._resolve(model_id)

        return resolve

    def _checked_chain(
        self, recipe: Recipe, resolve: Callable[[str], ModelSpec], doc: Document
    ) -> list[ModelSpec] | None:
        """The recipe's models, or None (said in a notice) when one is unknown, a step's
        blur kernel is invalid, or a RAW step cannot run on `doc`'s input."""
        try:
            chain = [resolve(st.model) for st in recipe.steps]
            check_order(chain)
        except DeconvError as exc:
            self.notice.emit(str(exc), "error", 0)
            return None
        raw_step = next((sp for sp in chain if works_on_mosaic(sp)), None)
        if raw_step is not None and not doc.input_is_raw:
            what = (
                f"the simulated {doc.simulation} copy is an ordinary picture"
                if doc.simulation
                else f"{doc.name} is not a camera RAW file"
            )
            self.notice.emit(
                f"{plain_name(raw_step)} works on a camera RAW file's sensor data, and {what}: "
                "choose a denoiser for ordinary photos.",
                "error",
                0,
            )
            return None
        for st, sp in zip(recipe.steps, chain, strict=True):
            if "kernel" in sp.params and "kernel" in st.params:
                try:
                    parse_kernel(st.params["kernel"])
                except (DeconvError, ValueError) as exc:
                    self.notice.emit(f"Invalid blur kernel: {exc}", "error", 0)
                    return None
        return chain

    def _cache_for(self, doc: Document, rgb: np.ndarray) -> BoundedStepCache:
        """`doc`'s step cache for the input `rgb` (a new one when the input changed, e.g.
        Simulate degraded it, or the photo was loaded again)."""
        held = self._caches.pop(doc.key, None)
        if held is None or held[0]() is not rgb:
            held = (weakref.ref(rgb), BoundedStepCache())
        self._caches[doc.key] = held  # newest last
        while len(self._caches) > CACHED_PHOTOS:
            del self._caches[next(iter(self._caches))]
        return held[1]

    def forget(self, doc: Document) -> None:
        """Drop what is kept for `doc` (its step outputs): it was closed."""
        self._caches.pop(doc.key, None)
        self._preview_caches.pop(doc.key, None)

    @staticmethod
    def _colour(doc: Document) -> DisplayColour | None:
        return display_colour(doc.photo.meta.icc_profile if doc.photo else None)

    def cancel(self) -> bool:
        """Stop after the current tile; False when nothing runs."""
        if not self.runner.is_busy:
            return False
        self.runner.cancel()
        self.stopping.emit()
        return True

    @staticmethod
    def _what_is_restored(doc: Document) -> str:
        """The photo's name, or in Simulate its degraded copy's (the run restores that)."""
        sim = doc.comparison.simulation
        return f"the simulated {sim} copy of {doc.name}" if sim else doc.name

    def _set_result(self, doc: Document, result: Result | None) -> None:
        """The one place a photo's result changes: complete results go into its history."""
        doc.result = result
        if result is not None and not result.partial:
            doc.history.record(result)

    def _on_progressed(self, tp: TileProgress) -> None:
        if self._doc is not None:
            self.tile_done.emit(self._doc, tp)

    def _on_result_ready(self, out: RecipeOutput) -> None:
        doc, self._doc, self._previous = self._doc, None, None
        if doc is None or doc.result is None:
            return
        r = doc.result
        seconds = time.monotonic() - self._started
        photo = out.photo
        self._set_result(
            doc,
            replace(
                r,
                rgb=photo.rgb,
                meta=photo.meta,
                seconds=seconds,
                view=out.view or r.view,
                raw=out.raw,
                base=out.base,
                raw_step=out.raw_step,
            ),
        )
        steps = len(r.recipe.steps) if r.recipe is not None else 1
        what = plain_name(r.spec) if steps == 1 else f"{steps} steps"
        self.status.emit(f"{what} finished on {self._target}", 6000)
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
            self.status.emit(f"Processing {doc.name} failed", 6000)  # not "Running…" still
            self.failed.emit(doc, message)
            self.notice.emit(f"Processing {doc.name} failed: {message}", "error", 0)

    def _on_cancelled(self) -> None:
        doc = self._put_back()
        if doc is not None:
            self.cancelled.emit(doc)
            self.status.emit("Cancelled", 4000)

    # ------------------------------------------------------------------ undo / redo
    def can_undo(self, doc: Document | None) -> bool:
        if doc is None or doc is self._doc:
            return False
        r = doc.result
        return bool(doc.history.done) and (r is not None and (r.partial or r in doc.history.done))

    def can_redo(self, doc: Document | None) -> bool:
        return doc is not None and doc is not self._doc and bool(doc.history.undone)

    def undo(self, doc: Document | None) -> bool:
        """Show the result before this one (a preview: the result it hides; the first result:
        none). False when there is nothing to undo."""
        if not self.can_undo(doc):
            return False
        assert doc is not None
        self.live.cancel()
        h = doc.history
        if doc.result is not None and doc.result.partial:
            doc.result = h.latest  # drop the preview
        else:
            h.undone.append(h.done.pop())
            doc.result = h.latest
        self.history_changed.emit(doc)
        return True

    def redo(self, doc: Document | None) -> bool:
        if not self.can_redo(doc):
            return False
        assert doc is not None
        self.live.cancel()
        h = doc.history
        h.done.append(h.undone.pop())
        doc.result = h.latest
        self.history_changed.emit(doc)
        return True

    # ------------------------------------------------------------------ preview, refinish
    def preview(
        self,
        doc: Document,
        recipe: Recipe,
        options: LoadOptions,
        box: tuple[int, int, int, int],
        *,
        specs: dict[str, ModelSpec] | None = None,
    ) -> bool:
        """Run `recipe` on the region `box` (y0, y1, x0, x1 of the input) of `doc` in the
        background; its result shows that region only (`previewed`). A newer preview
        replaces one still waiting or running."""
        rgb = doc.input_rgb
        if self.is_busy or not doc.is_ready or rgb is None:
            return False
        resolve = self._resolver(specs)
        chain = self._checked_chain(recipe, resolve, doc)
        if chain is None:
            return False
        held = self._preview_caches.get(doc.key)
        if held is not None and held[0] == box and held[1]() is rgb:
            cache = held[2]
        else:  # another region or another input: outputs of the old one do not apply
            cache = BoundedStepCache(8)
        self._preview_caches[doc.key] = (box, weakref.ref(rgb), cache)
        source = Photo(rgb, doc.input_meta)
        colour = self._colour(doc)
        spec = chain[-1]
        started = time.monotonic()

        def done(out: PreviewOutput) -> None:
            if doc.input_rgb is not rgb or doc is self._doc:
                return  # the input changed (Simulate) or a full run started meanwhile
            result = Result(
                spec=spec,
                view=out.view,
                meta=out.meta,
                seconds=time.monotonic() - started,
                recipe=recipe,
                raw=out.raw,
                base=out.base,
                preview_box=out.box,
                raw_step=out.raw_step,
            )
            self._set_result(doc, result)
            self.previewed.emit(doc)

        self.live.cancel()
        self.live.submit(
            lambda: preview_job(recipe, resolve, options, source, box, cache=cache, colour=colour),
            on_result=done,
            on_error=lambda m, _d: self.notice.emit(f"Preview failed: {m}", "error", 0),
            key="preview",
        )
        return True

    def refinish(
        self,
        doc: Document,
        amount: float,
        detail: float,
        region: tuple[int, int, int, int] | None = None,
    ) -> bool:
        """Apply the last step's Amount and Detail (0-1) again to `doc`'s result without
        rerunning its model. A complete result shows ``region`` (y0, y1, x0, x1 in result
        pixels, the visible part) first (`view_changed`), then the whole (`refinished`); a
        preview is redone on its region (`previewed`). False when there is nothing to redo."""
        r = doc.result
        if r is None or r.raw is None or r.base is None or r.recipe is None or doc is self._doc:
            return False
        steps = r.recipe.steps
        recipe = Recipe((*steps[:-1], replace(steps[-1], amount=amount, detail=detail)))
        colour = self._colour(doc)
        raw, base = r.raw, r.base
        if r.is_preview:
            assert r.preview_box is not None
            y0, _, x0, _ = r.preview_box
            s = round(raw.shape[0] / max(1, r.preview_box[1] - y0))
            job = refinish_job(
                raw, base, amount, detail, view=None, region=None, colour=colour,
                paste_at=(y0 * s, x0 * s), full_size=(r.view.height, r.view.width),
                raw_step=r.raw_step,
            )  # fmt: skip
        else:
            job = refinish_job(
                raw, base, amount, detail, view=r.view, region=region, colour=colour,
                raw_step=r.raw_step,
            )  # fmt: skip

        def same() -> Result | None:
            """`doc`'s result now if it is still this model output (its scores or where
            it was saved may have come meanwhile: that is the same result), else None (a
            run or an undo replaced it)."""
            cur = doc.result
            kept = cur is not None and cur.raw is r.raw and cur.preview_box == r.preview_box
            return cur if kept else None

        def shown(view: DisplayImage) -> None:
            if same() is not None:
                self.view_changed.emit(doc, view)

        def done(value: tuple[np.ndarray, DisplayImage, ImageMeta | None]) -> None:
            rgb, view, meta = value
            cur = same()
            if cur is None:
                return
            meta = meta or cur.meta  # a RAW step's: the new sensor data, for a DNG
            if cur.is_preview:
                self._set_result(doc, replace(cur, view=view, recipe=recipe, meta=meta))
                self.previewed.emit(doc)
                return
            changes: dict[str, Any] = {"rgb": rgb, "view": view, "meta": meta, "recipe": recipe}
            if cur.recipe != recipe:  # no longer what was saved: closing asks again
                changes.update(saved_path=None, saved_options=None)
            self._set_result(doc, replace(cur, **changes, final=None, visible=(None, None)))
            self.refinished.emit(doc)

        self.live.cancel()
        self.live.submit(
            job,
            on_result=done,
            on_progress=shown,
            on_error=lambda m, _d: self.notice.emit(
                f"Applying Amount/Detail failed: {m}", "error", 0
            ),
            key="finish",
        )
        return True

    # ------------------------------------------------------------------ saving
    def output_path(self, doc: Document) -> Path:
        """Where a result of `doc` is saved by default: the one place that names outputs."""
        r = doc.result
        spec = r.spec if r is not None else None
        steps = r.recipe.steps if r is not None and r.recipe is not None else ()
        if len(steps) > 1 and self._resolve is not None and not self._prefs.suffix:
            try:
                suffix = recipe_suffix(self._resolve(st.model) for st in steps)
            except DeconvError:
                suffix = "_restored"
        else:
            suffix = self._prefs.suffix_for(
                spec.task if spec else "restore", spec.scale if spec else 1
            )
        if doc.simulation:
            suffix = "_sim" + suffix
        out_dir = self._prefs.output_dir
        folder = Path(out_dir).expanduser() if out_dir else doc.path.parent
        return output_path_for(doc.path, suffix, out_dir=folder)

    def export(self, doc: Document, path: Path, options: ExportOptions) -> None:
        """Write `doc`'s result to `path` as `options` say (format, quality, bit depth,
        colour space, long edge) in the background; the dialog asked before replacing."""
        self.save_to(doc, path, overwrite=True, options=options)

    def save(self, doc: Document | None) -> None:
        """Save `doc`'s result: again where it was saved (and as: an exported result with
        its Export settings), else under `output_path`."""
        if doc is None or doc.result is None or doc.result.partial:
            return
        if doc.result.saved_path is not None:  # again, as it was written there (Export or not)
            self.save_to(
                doc, doc.result.saved_path, overwrite=True, options=doc.result.saved_options
            )
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

    def save_to(
        self,
        doc: Document,
        path: Path,
        *,
        overwrite: bool = False,
        options: ExportOptions | None = None,
    ) -> None:
        """Write `doc`'s result to `path` in the background, with export ``options`` as they
        say, else as the photo was. The original photo is never replaced (as in the CLI and
        Batch): saving onto it is refused with a message."""
        r = doc.result
        if r is None or r.rgb is None:
            return
        result, meta = r.rgb, r.meta or ImageMeta()
        if same_file(path, doc.path):
            self.notice.emit(
                f"Not saved: {path.name} is the original photo, which is never replaced. "
                "Save the result under another name or in another folder.",
                "error",
                0,
            )
            return

        def done(value: tuple[Path, tuple[str, ...]]) -> None:
            written, said = Path(value[0]), value[1]
            if doc is self._doc and self._previous is not None and self._previous.rgb is result:
                # a run started meanwhile
                self._previous = replace(self._previous, saved_path=written, saved_options=options)
            elif doc.result is not None and doc.result.rgb is result:
                self._set_result(
                    doc, replace(doc.result, saved_path=written, saved_options=options)
                )
            self.status.emit(f"Saved {written.name} to {written.parent}", 8000)
            if said:  # e.g. transparency a JPEG cannot hold
                self.notice.emit(f"Saved {written.name}, but: " + "; ".join(said), "warning", 0)
            self.saved.emit(doc, written)

        self.status.emit(f"Saving {path.name}…", 0)

        def write() -> tuple[Path, tuple[str, ...]]:
            with WarningCollector() as said:
                if options is not None:
                    written = export_image(path, result, meta, options, overwrite=overwrite)
                else:
                    written = save_image(path, result, meta, overwrite=overwrite)
            return written, tuple(said)

        def failed(message: str, _detail: str) -> None:
            self.status.emit(f"Not saved: {path.name}", 8000)  # the "Saving…" line goes
            said = message if path.name in message else f"Could not save {path.name}: {message}"
            self.notice.emit(
                f"{said.rstrip('.')}. File > Save Result As… saves it elsewhere.", "error", 0
            )

        self._io.submit(write, on_result=done, on_error=failed)

    def shutdown(self) -> None:
        """Cancel and wait for the run and any save."""
        self.runner.shutdown()
        self._io.shutdown()
        self.live.shutdown()
        self._doc = self._previous = None
        self._caches.clear()
        self._preview_caches.clear()
