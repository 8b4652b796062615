"""`Viewer`: shows one document in the compare view and its numbers in the quality panel.

It picks the two pictures to compare (the input and the result; with a reference also the
reference, see `quality_panel.PAIRS`), gives an upscale's input enlarged with Lanczos rather
than stretched pixel blocks (`LiveQuality.enlarged_input`), labels them, shows a photo with
transparency through its alpha over a checkerboard, puts the chosen overlay over the result
once `LiveQuality` has built it, shows the photo and the zoom in the status bar, asks for the
SSIM of the visible region a moment after the view stops moving, and passes the quality
panel's choices on.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from deconv_gui.gui.compare_view import CompareView
from deconv_gui.gui.display import DisplayImage
from deconv_gui.gui.document import DocState, Document
from deconv_gui.gui.live_quality import LiveQuality
from deconv_gui.gui.photo_list import describe_document
from deconv_gui.gui.quality_panel import PAIRS, QualityPanel, Readout
from deconv_gui.gui.widgets import StatusLabels
from deconv_gui.models.registry import plain_name

VISIBLE_SCORE_DELAY_MS = 150
ENLARGED = "enlarged with Lanczos"


class Viewer(QObject):
    """Binds the shown document to `CompareView`, `QualityPanel` and the status labels.

    ``overlay_kind`` is "", "ssim" or "diff"; ``pair`` a `quality_panel.PAIRS` key (which
    two pictures are compared when there is a reference). Signals: ``overlay_ready(kind)``
    once an overlay that was being built is shown; ``reference_wanted()`` and
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
        self.pair = "input"
        self._visible_timer = QTimer(self)
        self._visible_timer.setSingleShot(True)
        self._visible_timer.setInterval(VISIBLE_SCORE_DELAY_MS)
        self._visible_timer.timeout.connect(self.score_visible)
        view.zoom_changed.connect(self._show_zoom)
        view.view_changed.connect(self._visible_timer.start)
        view.set_overlay_opacity(panel.opacity())
        quality.scores_changed.connect(self.update_readout)
        quality.final_scored.connect(self._on_final_scored)
        quality.overlay_ready.connect(self._on_overlay_ready)
        quality.enlarged_ready.connect(self._on_enlarged_ready)
        panel.comparison_requested.connect(self._on_comparison_requested)
        panel.pair_requested.connect(self.set_pair)
        panel.opacity_changed.connect(view.set_overlay_opacity)

    def show(self, doc: Document | None) -> None:
        """Show `doc` (None: nothing) as it is now."""
        self.doc = doc
        view = self.view
        self.labels.photo.setText(describe_document(doc) if doc is not None else "")
        if doc is None:
            view.set_auto_flicker(False)
            view.set_pictures(None, None)
            view.set_transparency(None)
            view.set_placeholder("")
            self.labels.show_zoom(None)
            self.panel.show_readout(Readout())
            self.panel.set_pairs(False)
            self.apply_overlay()
            return
        if doc.input_view is None or doc.state is DocState.ERROR:
            # a photo refused after its quick preview decoded (damaged data) shows no picture
            view.set_pictures(None, None)
            view.set_transparency(None)
            if doc.state is DocState.ERROR:
                view.set_placeholder(f"{doc.name} could not be opened.\n\n{doc.error}")
            else:
                view.set_placeholder(f"Opening {doc.name}…")
        else:
            view.set_placeholder("")
            self._show_pictures(doc)
        self._show_zoom(view.zoom())
        self.apply_overlay()
        self.panel.set_comparison(doc.comparison.key, doc.comparison.reference_name)
        self.panel.set_pairs(
            doc.reference_view is not None, simulate=bool(doc.simulation), current=self.pair
        )
        self.update_readout(doc)
        self._visible_timer.start()

    def _input_at(self, doc: Document, size: tuple[int, int]) -> tuple[DisplayImage, bool]:
        """The input picture to show over a scene of `size`, and whether it was enlarged
        with Lanczos (until the enlargement is ready, the input itself, filtered smoothly)."""
        shown = doc.input_view
        assert shown is not None
        rgb = doc.input_rgb
        if rgb is None or (rgb.shape[1], rgb.shape[0]) == size or shown.size == size:
            return shown, False
        if rgb.shape[1] > size[0] or rgb.shape[0] > size[1]:
            return shown, False  # a smaller scene: shrinking needs no enlargement
        enlarged = self.quality.enlarged_input(doc, size)
        return (enlarged, True) if enlarged is not None else (shown, False)

    def _show_pictures(self, doc: Document) -> None:
        r, sim = doc.result, doc.simulation
        ref_view = doc.reference_view
        pair = self.pair if ref_view is not None else "input"
        rgb = doc.input_rgb
        input_size = (rgb.shape[1], rgb.shape[0]) if rgb is not None else doc.input_view.size  # type: ignore[union-attr]
        input_name = f"Degraded ({sim})" if sim else "Before"
        ref_name = "Your photo" if sim else f"Reference ({doc.comparison.reference_name})"
        after_name = "After"
        if r is not None:
            steps = len(r.recipe.steps) if r.recipe is not None else 1
            name = plain_name(r.spec)
            if r.spec.scale != 1 and f"x{r.spec.scale}" not in name:
                name += f" (×{r.spec.scale})"
            after_name = f"After · {name}" if steps == 1 else f"After · {steps} steps"
            note = (r.meta.extra or {}).get("note") if r.meta is not None else None
            if note:  # how the result was made, when it is not the usual way (RAW sensors)
                after_name += " · " + note.split(":")[0]

        if pair == "reference_input" and ref_view is not None:
            scene = ref_view.size
            after, enlarged = self._input_at(doc, scene)
            before, before_label = ref_view, ref_name
            after_label = input_name + (f", {ENLARGED}" if enlarged else "")
            partial = False
        else:
            scene = r.view.size if r is not None else input_size
            after, partial = (r.view, r.partial) if r is not None else (None, False)
            if pair == "reference" and ref_view is not None:
                before, before_label = ref_view, ref_name
            else:
                before, enlarged = self._input_at(doc, scene)
                before_label = input_name
                if enlarged:
                    before_label = f"{input_name}, {ENLARGED}" if sim else f"Before ({ENLARGED})"
            after_label = after_name
        self.view.set_pictures(before, after, scene_size=scene, partial=partial)
        # the photo's transparency is shown on it and on what is made from it; a reference
        # photo loaded from a file (not Simulate's "your photo") has its own
        photo_before = before is not ref_view or bool(sim)
        self.view.set_transparency(doc.alpha_view, before=photo_before, after=True)
        self.view.set_labels(before_label, after_label)

    def tile_finished(self, doc: Document, box: tuple[int, int, int, int]) -> None:
        """Repaint where a tile of `doc`'s arriving result landed."""
        y0, y1, x0, x1 = box
        if doc is self.doc and y1 > y0 and x1 > x0:
            self.view.tile_finished(box)

    def update_readout(self, doc: Document | None) -> None:
        if doc is not None and doc is self.doc:
            self.panel.show_readout(self.quality.readout(doc))

    def _on_enlarged_ready(self, doc: Document) -> None:
        if doc is self.doc and doc.input_view is not None:
            self._show_pictures(doc)

    def set_pair(self, pair: str) -> None:
        """Which two pictures to compare when there is a reference (a `PAIRS` key)."""
        if pair not in {key for key, *_ in PAIRS}:
            raise ValueError(f"unknown pair {pair!r}")
        self.pair = pair
        if self.doc is not None:
            self.show(self.doc)

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
        self.panel.set_overlay(kind)
        self.apply_overlay()

    def apply_overlay(self) -> None:
        """Draw the chosen overlay over the result (once built; not over the input)."""
        doc, kind = self.doc, self.overlay_kind
        over_result = doc is not None and (
            doc.reference_view is None or self.pair != "reference_input"
        )
        overlay = self.quality.overlay(doc, kind) if doc is not None and over_result else None
        self.view.set_overlay(overlay)

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
