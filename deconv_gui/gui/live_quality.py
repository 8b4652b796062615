"""`LiveQuality`: what results are compared with, and their SSIM/PSNR, off the GUI thread.

A photo's results are compared with its input, with a reference photo the user loads, or
(Simulate) with the photo itself after a copy of it was degraded on purpose. The comparison
target is built in a worker; while a result arrives, finished tiles are scored in batches
at most every `TILE_SCORE_INTERVAL_MS` for a live estimate; a complete result gets
whole-image scores, an SSIM map, the SSIM of the visible region and, on request, overlays.
Every answer is checked against the document when it arrives: a target, result or scores
that changed meanwhile make it stale, and it is dropped.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from deconv_gui.core.degrade import parse_spec
from deconv_gui.core.io import load_image
from deconv_gui.core.tiling import TileProgress
from deconv_gui.errors import DeconvError
from deconv_gui.gui.display import DisplayImage, Overlay, display_colour
from deconv_gui.gui.document import SIMULATED_AGAINST, Comparison, Document, Result
from deconv_gui.gui.quality import (
    FinalScores,
    Target,
    TileScores,
    enlarged_view,
    make_overlay,
    make_target,
    reference_refusal,
    region_mean,
    score_result,
    score_tiles,
)
from deconv_gui.gui.quality_panel import Readout
from deconv_gui.gui.runner import TaskQueue
from deconv_gui.logs import WarningCollector, as_sentences

TILE_SCORE_INTERVAL_MS = 300  # live SSIM: at most this often while a result arrives

Box = tuple[int, int, int, int]


class LiveQuality(QObject):
    """Comparison targets, scores and overlays of the open photos.

    ``ask(title, text) -> bool`` answers questions (dropping an unsaved result);
    ``in_use(doc) -> bool`` tells a photo being processed (its comparison cannot change).

    Signals: ``comparison_changed(doc)`` (its input or reference changed: show it again),
    ``scores_changed(doc)`` (the readout's numbers changed), ``final_scored(doc)`` (a
    complete result got its scores), ``overlay_ready(doc, kind)``, ``enlarged_ready(doc)``
    (the Lanczos enlargement of its input asked for with `enlarged_input` is ready),
    ``notice(text, kind, timeout_ms)`` for the message bar and ``status(text, timeout_ms)``
    for the status bar.

    Simulating keeps the photo's own result aside (not lost, no question asked) and puts it
    back when the photo is compared with its input or a reference again.
    """

    comparison_changed = Signal(object)
    scores_changed = Signal(object)
    final_scored = Signal(object)
    overlay_ready = Signal(object, str)
    enlarged_ready = Signal(object)
    notice = Signal(str, str, int)
    status = Signal(str, int)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        ask: Callable[[str, str], bool] = lambda *_: True,
        in_use: Callable[[Document], bool] = lambda _doc: False,
        caveat: Callable[[Document], str] = lambda _doc: "",
    ) -> None:
        super().__init__(parent)
        self._ask = ask
        self._in_use = in_use
        self._caveat = caveat  # why Simulate's scores would mislead on a photo, or ""
        self._metrics = TaskQueue(self)
        self._io = TaskQueue(self)  # references and simulations
        self._display = TaskQueue(self)  # enlargements of the input for the viewer
        # the result of the photo itself, kept aside while it is simulated
        self._kept: weakref.WeakKeyDictionary[Document, Result] = weakref.WeakKeyDictionary()
        # the one enlargement kept: (document, its input, size, picture)
        self._enlarged: tuple[Document, np.ndarray, tuple[int, int], DisplayImage] | None = None
        self._enlarging: tuple[Document, np.ndarray, tuple[int, int]] | None = None
        self._tiles_doc: Document | None = None  # the result arriving
        self._pending: list[tuple[Box, np.ndarray]] = []
        self._tiles_in_flight = False
        self._fraction = 0.0  # of the arriving result
        self._tile_timer = QTimer(self)
        self._tile_timer.setSingleShot(True)
        self._tile_timer.setInterval(TILE_SCORE_INTERVAL_MS)
        self._tile_timer.timeout.connect(self._submit_tiles)

    # ================================================================== targets
    def ensure_target(self, doc: Document) -> None:
        """Make sure the comparison target exists (built in the metrics worker if needed)."""
        if doc.target is not None or doc.input_rgb is None:
            return
        cmp = doc.comparison
        if cmp.reference is None:
            doc.target = make_target(doc.input_rgb, None)
            return
        lq, ref = doc.input_rgb, cmp.reference

        def done(target: Target) -> None:
            if doc.comparison is cmp and doc.target is None:
                doc.target = target
                self.scores_changed.emit(doc)

        self._metrics.submit(
            lambda: make_target(lq, ref, cmp.label),
            on_result=done,
            on_error=lambda m, _d: self.notice.emit(f"Could not compare: {m}", "error", 0),
        )

    def _refused_in_use(self, doc: Document) -> bool:
        if self._in_use(doc):
            self.notice.emit(
                "Wait for the run to finish or cancel it (Esc) first.", "warning", 5000
            )
            return True
        return False

    def set_comparison(
        self,
        doc: Document,
        reference: np.ndarray | None,
        name: str = "",
        view: DisplayImage | None = None,
    ) -> None:
        """Compare with the input (reference None) or with a reference photo (shown as
        `view`)."""
        if self._refused_in_use(doc):
            return
        if doc.simulation:  # a result of the degraded photo means nothing any more;
            doc.result = self._kept.pop(doc, None)  # the photo's own result comes back
        key = "reference" if reference is not None else "input"
        self._retarget(doc, Comparison(key, reference, name, reference_view=view))

    def _retarget(self, doc: Document, comparison: Comparison) -> None:
        doc.comparison = comparison
        doc.target = None
        if doc.result is not None:
            doc.result = replace(doc.result, tiles=TileScores(), final=None, visible=(None, None))
        self.ensure_target(doc)
        self.score_final(doc)
        self.comparison_changed.emit(doc)

    def load_reference(self, doc: Document, path: Path) -> None:
        """Load a clean version of the photo to compare against (in the background).

        A reference of another shape, or one that does not show the same scene (its small
        thumbnail unlike the photo's, `quality.lookalike_ssim`), is not used: a warning
        says why, rather than numbers that would mean nothing."""
        if not doc.is_ready or doc.photo is None or self._refused_in_use(doc):
            return
        photo = doc.photo.rgb

        def job() -> tuple[np.ndarray, DisplayImage | None, str, tuple[str, ...]]:
            with WarningCollector() as said:  # e.g. only an animation's first frame is read
                loaded = load_image(path)
            refusal = reference_refusal(photo, loaded.rgb, path.name, doc.name)
            if refusal:
                return loaded.rgb, None, refusal, ()
            view = DisplayImage.from_rgb(loaded.rgb, display_colour(loaded.meta.icc_profile))
            return loaded.rgb, view, "", tuple(said)

        def done(value: tuple[np.ndarray, DisplayImage | None, str, tuple[str, ...]]) -> None:
            ref, view, refusal, said = value
            if doc.photo is None or doc.photo.rgb is not photo:
                return
            if refusal:
                self.notice.emit(refusal, "warning", 0)
                self.comparison_changed.emit(doc)
                return
            self.set_comparison(doc, ref, path.name, view)
            if said:
                self.notice.emit(f"Reading the reference: {as_sentences(said)}", "warning", 0)

        self._io.submit(job, on_result=done, on_error=lambda m, _d: self.notice.emit(m, "error", 0))

    def simulate(self, doc: Document, spec: str) -> None:
        """Degrade the photo with `spec`, then compare results with the photo as it was. A
        photo that is not clean itself gets the caveat (the ``caveat`` callable's words) as
        a notice."""
        if not doc.is_ready or doc.photo is None or self._refused_in_use(doc):
            return
        if (
            doc.simulation
            and doc.unsaved
            and not self._ask(
                "Discard the result?",
                f"The unsaved result of the degraded {doc.name} is lost. Go on?",
            )
        ):
            return
        try:
            degradation = parse_spec(spec)
        except (DeconvError, ValueError) as exc:
            self.notice.emit(f"Invalid degradation '{spec}': {exc}", "error", 0)
            return
        clean = doc.photo.rgb
        colour = display_colour(doc.photo.meta.icc_profile)

        def job() -> tuple[np.ndarray, DisplayImage]:
            lq = np.ascontiguousarray(degradation.apply(clean, seed=0), dtype=np.float32)
            return lq, DisplayImage.from_rgb(lq, colour)

        def done(value: tuple[np.ndarray, DisplayImage]) -> None:
            lq, view = value
            if not doc.simulation and doc.result is not None:
                self._kept[doc] = doc.result  # the photo's own result, back after Simulate
            doc.result = None  # results of the former input
            self._retarget(doc, Comparison(f"sim:{spec}", clean, SIMULATED_AGAINST, lq, view))
            self.status.emit(f"Simulating {spec}: run a model to restore the degraded photo", 8000)
            caveat = self._caveat(doc)
            if caveat:
                self.notice.emit(caveat, "info", 20000)

        self.status.emit(f"Degrading {doc.name} with {spec}…", 0)
        self._io.submit(
            job,
            on_result=done,
            on_error=lambda m, _d: self.notice.emit(f"Simulation failed: {m}", "error", 0),
        )

    # ================================================================== live tile scores
    def add_tile(self, doc: Document, tp: TileProgress) -> None:
        """A tile of `doc`'s arriving result is done: score it with the next batch."""
        y0, y1, x0, x1 = tp.box
        if y1 <= y0 or x1 <= x0 or doc.result is None:
            return
        if doc is not self._tiles_doc:
            self.stop_tiles()
            self._tiles_doc = doc
        self._pending.append((tp.box, tp.pixels))
        self._fraction = tp.done / max(1, tp.total)
        if not self._tiles_in_flight and not self._tile_timer.isActive():
            self._tile_timer.start()

    def stop_tiles(self) -> None:
        """The result stopped arriving (finished, failed or cancelled)."""
        self._pending = []
        self._tiles_doc = None
        self._tile_timer.stop()

    def _submit_tiles(self) -> None:
        doc = self._tiles_doc
        if doc is None or doc.result is None or not self._pending or self._tiles_in_flight:
            return
        tiles, self._pending = self._pending, []
        view = doc.result.view
        self._tiles_in_flight = True

        def job() -> tuple[Target, TileScores] | None:
            target = doc.target
            return None if target is None else (target, score_tiles(target, view.size, tiles))

        def done(value: tuple[Target, TileScores] | None) -> None:
            self._tiles_in_flight = False
            r = doc.result
            if value is not None and r is not None and r.partial and r.view is view:
                target, scores = value
                if doc.target is target:
                    doc.result = replace(r, tiles=r.tiles + scores)
                    self.scores_changed.emit(doc)
            if self._pending and self._tiles_doc is doc:
                self._tile_timer.start()

        def dropped(*_args: object) -> None:
            self._tiles_in_flight = False

        self._metrics.submit(job, on_result=done, on_error=dropped, on_cancel=dropped)

    # ================================================================== final scores
    def score_final(self, doc: Document) -> None:
        """Whole-image scores and the SSIM map of `doc`'s complete result."""
        if doc.result is None or doc.result.rgb is None:
            return
        self.ensure_target(doc)
        out, cmp = doc.result.rgb, doc.comparison

        def job() -> tuple[Target, FinalScores] | None:
            target = doc.target  # built by now if it was queued before (the queue keeps order)
            return None if target is None else (target, score_result(target, out))

        def done(value: tuple[Target, FinalScores] | None) -> None:
            r = doc.result
            if value is None or r is None or r.rgb is not out or doc.comparison is not cmp:
                return  # a new result or comparison came meanwhile: its own scores follow
            if doc.target is not value[0]:
                return
            doc.result = replace(r, final=value[1])
            self.final_scored.emit(doc)
            self.scores_changed.emit(doc)

        self._metrics.submit(
            job,
            on_result=done,
            key=f"final-{doc.key}",
            on_error=lambda m, _d: self.notice.emit(
                f"Could not measure the result: {m}", "error", 0
            ),
        )

    def score_visible(
        self,
        doc: Document,
        rect: tuple[float, float, float, float],
        scene: tuple[int, int],
    ) -> None:
        """SSIM over the part of the scene in view (x, y, w, h in scene px), before and after."""
        if doc.result is None or doc.result.final is None:
            return
        final, target = doc.result.final, doc.target

        def job() -> tuple[float | None, float | None]:
            after = region_mean(final.ssim_map, rect, scene)
            before = region_mean(target.before_map, rect, scene) if target is not None else None
            return before, after

        def done(value: tuple[float | None, float | None]) -> None:
            r = doc.result
            if r is not None and r.final is final and doc.target is target:
                doc.result = replace(r, visible=value)
                self.scores_changed.emit(doc)

        self._metrics.submit(job, on_result=done, key="visible")

    def readout(self, doc: Document) -> Readout:
        """The numbers the quality panel shows for `doc`."""
        t, r, cmp = doc.target, doc.result, doc.comparison
        out = Readout()
        if t is not None:
            out.label, out.has_reference = t.label, t.has_reference
            out.before_ssim, out.before_psnr = t.before_ssim, t.before_psnr
        elif cmp.reference is not None:
            out.has_reference, out.label = True, cmp.label
        if r is not None and r.final is not None:
            out.after_ssim, out.after_psnr = r.final.ssim, r.final.psnr
            out.visible_before, out.visible_after = r.visible
        if t is not None and t.has_reference and r is not None and r.rgb is not None:
            (h, w), (rh, rw) = t.gt.shape[:2], r.rgb.shape[:2]
            out.compared_at = (w, h) if (h, w) != (rh, rw) else None
        elif r is not None and r.partial and r.tiles.area:
            out.after_ssim, out.after_psnr = r.tiles.ssim, r.tiles.psnr
            out.partial = True
            out.fraction = self._fraction
        return out

    # ================================================================== overlays
    def overlay(self, doc: Document, kind: str) -> Overlay | None:
        """The "ssim" or "diff" overlay of `doc`'s result when built; else None, and it is
        built in the background (`overlay_ready` follows)."""
        r, target = doc.result, doc.target
        if not kind or r is None or r.rgb is None or r.final is None or target is None:
            return None
        final, out = r.final, r.rgb
        if kind in final.overlays:
            return final.overlays[kind]

        def done(img: Overlay) -> None:
            final.overlays[kind] = img
            if doc.result is not None and doc.result.final is final:
                self.overlay_ready.emit(doc, kind)

        self._metrics.submit(
            lambda: make_overlay(kind, target, out, final), on_result=done, key=f"overlay-{kind}"
        )
        return None

    # ================================================================== enlarged input
    def enlarged_input(self, doc: Document, size: tuple[int, int]) -> DisplayImage | None:
        """`doc`'s input enlarged with Lanczos to `size` (w, h), the honest "before" of an
        upscale; None while it is made in the background (`enlarged_ready` follows). One
        enlargement is kept (the photo on screen)."""
        rgb = doc.input_rgb
        if rgb is None:
            return None

        def same(entry: tuple | None) -> bool:
            return entry is not None and entry[0] is doc and entry[1] is rgb and entry[2] == size

        if same(self._enlarged):
            return self._enlarged[3]  # type: ignore[index]
        if same(self._enlarging):
            return None  # on its way
        asked = (doc, rgb, size)
        colour = display_colour(doc.photo.meta.icc_profile) if doc.photo is not None else None

        def done(view: DisplayImage) -> None:
            self._enlarging = None
            self._enlarged = (doc, rgb, size, view)
            if doc.input_rgb is rgb:
                self.enlarged_ready.emit(doc)

        def dropped(*_args: object) -> None:
            self._enlarging = None

        self._enlarging = asked
        self._display.submit(
            lambda: enlarged_view(rgb, size, colour),
            on_result=done,
            on_error=dropped,
            on_cancel=dropped,
            key="enlarge",
        )
        return None

    def shutdown(self) -> None:
        self._tile_timer.stop()
        self._enlarged = None
        for q in (self._metrics, self._io, self._display):
            q.shutdown()
