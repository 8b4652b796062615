"""`Viewer`: shows one document in the compare view and its numbers in the quality panel.

It draws the input and the result (or a placeholder), labels them, puts the chosen overlay
over the result once `LiveQuality` has built it, shows the photo and the zoom in the status
bar, asks for the SSIM of the visible region a moment after the view stops moving, and
passes the quality panel's "compare with" choice on.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from deconv_gui.gui.compare_view import CompareView
from deconv_gui.gui.document import DocState, Document
from deconv_gui.gui.live_quality import LiveQuality
from deconv_gui.gui.photo_list import describe_document
from deconv_gui.gui.quality_panel import QualityPanel, Readout
from deconv_gui.gui.widgets import StatusLabels

VISIBLE_SCORE_DELAY_MS = 150


class Viewer(QObject):
    """Binds the shown document to `CompareView`, `QualityPanel` and the status labels.

    ``overlay_kind`` is "", "ssim" or "diff". Signals: ``overlay_ready(kind)`` once an
    overlay that was being built is shown; ``reference_wanted()`` and
    ``simulation_wanted()`` when the user picks a reference photo or a custom degradation
    to compare with (the window asks which); ``notice(text, kind, timeout_ms)``.
    """

    overlay_ready = Signal(str)
    reference_wanted = Signal()
    simulation_wanted = Signal()
    notice = Signal(str, str, int)

    def __init__(
        self,
        view: CompareView,
        panel: QualityPanel,
        quality: LiveQuality,
        labels: StatusLabels,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.view, self.panel, self.quality, self.labels = view, panel, quality, labels
        self.doc: Document | None = None
        self.overlay_kind = ""
        self._visible_timer = QTimer(self)
        self._visible_timer.setSingleShot(True)
        self._visible_timer.setInterval(VISIBLE_SCORE_DELAY_MS)
        self._visible_timer.timeout.connect(self.score_visible)
        view.zoom_changed.connect(self._show_zoom)
        view.view_changed.connect(self._visible_timer.start)
        quality.scores_changed.connect(self.update_readout)
        quality.final_scored.connect(self._on_final_scored)
        quality.overlay_ready.connect(self._on_overlay_ready)
        panel.comparison_requested.connect(self._on_comparison_requested)

    def show(self, doc: Document | None) -> None:
        """Show `doc` (None: nothing) as it is now."""
        self.doc = doc
        view = self.view
        self.labels.photo.setText(describe_document(doc) if doc is not None else "")
        if doc is None:
            view.set_pictures(None, None)
            self.labels.show_zoom(None)
            self.panel.show_readout(Readout())
            return
        before, r = doc.input_view, doc.result
        if before is None:
            view.set_pictures(None, None)
            if doc.state is DocState.ERROR:
                view.set_placeholder(f"{doc.name} could not be opened.\n\n{doc.error}")
            else:
                view.set_placeholder(f"Opening {doc.name}…")
        else:
            view.set_placeholder("")
            rgb, scene = doc.input_rgb, before.size
            if r is not None:
                scene = r.view.size  # an upscale: the input is stretched over the result
            elif rgb is not None:
                scene = (rgb.shape[1], rgb.shape[0])
            after = r.view if r is not None else None
            view.set_pictures(before, after, scene_size=scene, partial=r is not None and r.partial)
            after_label = "After"
            if r is not None:
                after_label = f"After · {r.spec.name}"
                after_label += f" (×{r.spec.scale})" if r.spec.scale != 1 else ""
            sim = doc.simulation
            view.set_labels(f"Degraded ({sim})" if sim else "Before", after_label)
        self._show_zoom(view.zoom())
        self.apply_overlay()
        self.panel.set_comparison(doc.comparison.key, doc.comparison.reference_name)
        self.update_readout(doc)
        self._visible_timer.start()

    def tile_finished(self, doc: Document, box: tuple[int, int, int, int]) -> None:
        """Repaint where a tile of `doc`'s arriving result landed."""
        y0, y1, x0, x1 = box
        if doc is self.doc and y1 > y0 and x1 > x0:
            self.view.tile_finished(box)

    def update_readout(self, doc: Document | None) -> None:
        if doc is not None and doc is self.doc:
            self.panel.show_readout(self.quality.readout(doc))

    def _on_comparison_requested(self, key: str) -> None:
        """The quality panel's "compare with" choice: "input", "reference", "sim:SPEC" or
        "custom"."""
        doc = self.doc
        if doc is None or not doc.is_ready:
            self.panel.set_comparison(doc.comparison.key if doc else "input")
            self.notice.emit("Open a photo first.", "info", 3000)
            return
        if key == "input":
            self.quality.set_comparison(doc, None)
        elif key == "reference":
            self.reference_wanted.emit()
        elif key == "custom":
            self.simulation_wanted.emit()
        elif key.startswith("sim:"):
            self.quality.simulate(doc, key[4:])
        self.panel.set_comparison(doc.comparison.key, doc.comparison.reference_name)

    # ------------------------------------------------------------------ overlays
    def set_overlay(self, kind: str) -> None:
        """ "ssim", "diff" or "" (none)."""
        self.overlay_kind = kind
        self.apply_overlay()

    def apply_overlay(self) -> None:
        doc, kind = self.doc, self.overlay_kind
        overlay = self.quality.overlay(doc, kind) if doc is not None else None
        self.view.set_overlay(overlay, kind)

    def _on_overlay_ready(self, doc: Document, kind: str) -> None:
        if doc is self.doc:
            self.apply_overlay()
            self.overlay_ready.emit(kind)

    # ------------------------------------------------------------------ zoom, visible region
    def _show_zoom(self, zoom: float) -> None:
        empty = self.view.before() is None and self.view.after() is None
        self.labels.show_zoom(None if empty else zoom)

    def _on_final_scored(self, doc: Document) -> None:
        if doc is self.doc:
            self.apply_overlay()
            self.score_visible()

    def score_visible(self) -> None:
        if self.doc is not None:
            r = self.view.visible_scene_rect()
            rect = (r.x(), r.y(), r.width(), r.height())
            self.quality.score_visible(self.doc, rect, self.view.scene_size())

    def stop(self) -> None:
        self._visible_timer.stop()
