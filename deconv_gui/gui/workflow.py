"""`Workflow`: what happens between a photo and a committed result: the suggestion, the
preview of the part in view, live Amount/Detail, undo/redo, export and compare models.

It connects the `RestorePanel` (the recipe), the `RestoreSession` (runs, previews,
refinishes, history), the `Advisor` (suggestions), the `PhotoList` and the compare view (what
is in view); the window forwards its commands (`preview`, `undo`, `redo`, `export_dialog`,
`compare_models_dialog`, `apply_suggestion`) here.

A changed setting waits `LIVE_DELAY_MS`, then reapplies Amount/Detail when only the last
step's sliders moved (no model runs), else previews the part in view again when "Live
preview" is on.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QWidget

from deconv_gui.core.image import Photo
from deconv_gui.core.rawpipe import RAW_MOSAIC, works_on_mosaic
from deconv_gui.core.recipe import Recipe
from deconv_gui.gui.advisor import Advisor
from deconv_gui.gui.compare_models import CompareModelsDialog
from deconv_gui.gui.compare_view import CompareView
from deconv_gui.gui.document import DocState, Document
from deconv_gui.gui.export_dialog import ExportDialog, load_export_options, store_export_options
from deconv_gui.gui.live_quality import LiveQuality
from deconv_gui.gui.photo_list import PhotoList
from deconv_gui.gui.preferences import Preferences
from deconv_gui.gui.recipe_run import preview_box
from deconv_gui.gui.restore_panel import RestorePanel
from deconv_gui.gui.restore_session import RestoreSession
from deconv_gui.gui.widgets import reveal
from deconv_gui.models.registry import ModelRegistry

PREVIEW_SIDE = 512  # longest side of a preview region (result pixels): about 1 s on 2 cores
LIVE_DELAY_MS = 250  # settle time before a changed setting is previewed again
REFINISH_FIRST_PIXELS = 2_000_000  # the visible part refinished first, up to this size
#: the line under Run when the settings no longer match the result shown (Live preview off)
SETTINGS_CHANGED = "Settings changed: the result shown is from the earlier ones; Run applies them"


def preview_side(recipe: Recipe, registry: ModelRegistry) -> int:
    """The input side of a preview region: `PREVIEW_SIDE` result pixels (an upscaler's
    region is smaller in the input, so it takes about as long and fills as much screen)."""
    scale = 1
    for st in recipe.steps:
        scale *= int(registry.get(st.model).scale) if st.model in registry else 1
    return max(64, PREVIEW_SIDE // scale)


def only_finish_differs(a: Recipe, b: Recipe) -> bool:
    """Do `a` and `b` differ at most in the last step's Amount and Detail?"""
    if len(a.steps) != len(b.steps):
        return False
    head = all(
        x.full_key() == y.full_key() for x, y in zip(a.steps[:-1], b.steps[:-1], strict=True)
    )
    return head and a.steps[-1].model_key() == b.steps[-1].model_key()


class Workflow(QObject):
    """See the module doc. ``registry()`` returns the models now (the library changes it);
    ``busy()`` says whether a run or a batch is going on; ``refresh(doc)`` shows a document
    again (its badge and, when current, the viewer). Signal: ``notice(text, kind, ms)``."""

    notice = Signal(str, str, int)

    def __init__(
        self,
        *,
        photos: PhotoList,
        session: RestoreSession,
        quality: LiveQuality,
        panel: RestorePanel,
        view: CompareView,
        prefs: Preferences,
        registry: Callable[[], ModelRegistry],
        busy: Callable[[], bool],
        refresh: Callable[[Document], None],
        ask: Callable[[str, str], bool],
        dialog_parent: QWidget,
    ) -> None:
        super().__init__(dialog_parent)
        self.photos, self.session, self.quality = photos, session, quality
        self.panel, self.view, self.prefs = panel, view, prefs
        self._registry, self._busy, self._refresh, self._ask = registry, busy, refresh, ask
        self._parent = dialog_parent
        self.advisor = Advisor(registry(), self)
        self.compare_window: CompareModelsDialog | None = None
        self.live_timer = QTimer(self)
        self.live_timer.setSingleShot(True)
        self.live_timer.setInterval(LIVE_DELAY_MS)
        self.live_timer.timeout.connect(self._update_live)
        self._line_before_change = ""  # the line under Run before SETTINGS_CHANGED replaced it

        panel.preview_requested.connect(self.preview)
        panel.compare_requested.connect(self.compare_models_dialog)
        panel.suggestion_requested.connect(self.apply_suggestion)
        panel.recipe_changed.connect(self._on_recipe_changed)
        panel.reveal_requested.connect(self._reveal_saved)
        panel.model_changed.connect(lambda _spec: self.suggest_simulated_kernel())
        photos.loaded.connect(self.advisor.look_at)
        photos.removed.connect(self._on_document_removed)
        self.advisor.analyzed.connect(self._on_analyzed)
        session.previewed.connect(self._on_previewed)
        session.refinished.connect(quality.score_final)
        session.refinished.connect(refresh)
        session.history_changed.connect(self._on_history_changed)
        session.view_changed.connect(
            lambda d, v: view.set_after(v) if d is photos.current else None
        )
        quality.comparison_changed.connect(lambda _d: self.suggest_simulated_kernel())

    # ------------------------------------------------------------------ the photo shown
    def show(self, doc: Document | None) -> None:
        """`doc` is shown now: its suggestion and where its result was saved."""
        self.show_suggestion(doc)
        r = doc.result if doc is not None else None
        self.panel.show_saved(str(r.saved_path) if r is not None and r.saved_path else None)

    def suggest_simulated_kernel(self) -> None:
        """In Simulate mode with a blur, the steps that take a kernel get that blur (so
        deblurring undoes it)."""
        doc = self.photos.current
        if doc is not None and doc.comparison.blur_kernel:
            self.panel.suggest_kernel(doc.comparison.blur_kernel)

    # ------------------------------------------------------------------ undo / redo
    def undo(self) -> None:
        self.session.undo(self.photos.current)

    def redo(self) -> None:
        self.session.redo(self.photos.current)

    def _on_history_changed(self, doc: Document) -> None:
        self._refresh(doc)
        if doc is self.photos.current and doc.result is not None and doc.result.recipe:
            self.panel.set_recipe(doc.result.recipe)  # the settings of what is shown
        if doc.result is not None and not doc.result.partial:
            self.quality.score_final(doc)

    # ------------------------------------------------------------------ preview, live
    def _visible_input_rect(self, doc: Document) -> tuple[float, float, float, float]:
        """The part of `doc`'s input in view (x, y, w, h in input pixels)."""
        rgb = doc.input_rgb
        r = self.view.visible_scene_rect()
        sw, _ = self.view.scene_size()
        f = rgb.shape[1] / max(1, sw) if rgb is not None else 1.0
        return r.x() * f, r.y() * f, r.width() * f, r.height() * f

    def _preview_box(self, doc: Document, recipe: Recipe) -> tuple[int, int, int, int]:
        rgb = doc.input_rgb
        assert rgb is not None
        side = preview_side(recipe, self._registry())
        return preview_box(self._visible_input_rect(doc), (rgb.shape[1], rgb.shape[0]), side)

    def preview(self) -> bool:
        """Process the part of the photo in view first (`preview_side`)."""
        doc, recipe = self.photos.current, self.panel.recipe()
        if self._busy() or doc is None or not doc.is_ready or recipe is None:
            return False
        box = self._preview_box(doc, recipe)
        started = self.session.preview(doc, recipe, self.panel.base_options(), box)
        if started:
            y0, y1, x0, x1 = box
            self.panel.show_message(f"Previewing {x1 - x0} × {y1 - y0} px in view…")
        return started

    def _on_previewed(self, doc: Document) -> None:
        self._refresh(doc)
        r = doc.result
        if doc is self.photos.current and r is not None and r.preview_box is not None:
            y0, y1, x0, x1 = r.preview_box
            self.panel.show_message(
                f"Preview: {x1 - x0} × {y1 - y0} px in {r.seconds:.1f} s  ·  "
                "Run applies the settings to the whole photo",
                done=True,
            )

    def _on_recipe_changed(self) -> None:
        doc = self.photos.current
        if doc is not None and doc.input_is_raw:  # the suggestion notes RAW-less steps
            self.show_suggestion(doc)
        if doc is not None and doc.result is not None and not self._busy():
            self.live_timer.start()

    def _update_live(self) -> None:
        """A setting changed: reapply Amount/Detail to the result, or preview again; with
        Live preview off, say that the result shown no longer matches the settings (an
        earlier step's Amount, a strength, a model: the model has to run again)."""
        doc, recipe = self.photos.current, self.panel.recipe()
        if doc is None or recipe is None or self._busy() or doc.result is None:
            return
        r = doc.result
        label = self.panel.progress_label
        if r.recipe is not None and r.raw is not None and only_finish_differs(r.recipe, recipe):
            last, had = recipe.steps[-1], r.recipe.steps[-1]
            if (last.amount, last.detail) != (had.amount, had.detail):
                self.session.refinish(doc, last.amount, last.detail, self._visible_result_box(doc))
            elif label.text() == SETTINGS_CHANGED:  # set back to the result's own settings
                self.panel.show_message(self._line_before_change, done=True)
            return
        if self.panel.live_check.isChecked():
            self.preview()
        elif r.preview_box is None and label.text() != SETTINGS_CHANGED:
            self._line_before_change = label.text()
            self.panel.show_message(SETTINGS_CHANGED, done=False)

    def _visible_result_box(self, doc: Document) -> tuple[int, int, int, int] | None:
        """The part of the result in view (up to `REFINISH_FIRST_PIXELS`), None when that is
        all of it."""
        r = doc.result
        if r is None or r.raw is None:
            return None
        h, w = r.raw.shape[:2]
        vis = self.view.visible_scene_rect()
        sw, _ = self.view.scene_size()
        f = w / max(1, sw)
        side = int(REFINISH_FIRST_PIXELS**0.5)
        y0, y1, x0, x1 = preview_box(
            (vis.x() * f, vis.y() * f, vis.width() * f, vis.height() * f), (w, h), side
        )
        return (y0, y1, x0, x1) if (y1 - y0) * (x1 - x0) < h * w else None

    # ------------------------------------------------------------------ suggestion
    def _on_analyzed(self, doc: Document) -> None:
        if doc is self.photos.current:
            self.show_suggestion(doc)

    def show_suggestion(self, doc: Document | None) -> None:
        if doc is None:
            self.panel.show_suggestion(
                "Open a photo: a suggestion of what it needs appears here.", can_apply=False
            )
            return
        a = self.advisor.analysis(doc)
        if a is None:
            failed = doc.state is DocState.ERROR
            text = "Could not look at this photo." if failed else "Looking at the photo…"
            self.panel.show_suggestion(text, can_apply=False)
            return
        recipe = self.advisor.suggested_recipe(a, ordinary=not doc.input_is_raw)
        text = self.advisor.suggestion_text(a) + self._raw_steps_note(doc, recipe)
        self.panel.show_suggestion(text, can_apply=recipe is not None)

    def _raw_steps_note(self, doc: Document, suggested: Recipe | None) -> str:
        """A RAW file whose suggestion denoises its sensor data while the steps set up do
        not (the app's steps stay as they were when a RAW file opens, e.g. the photo
        denoiser): Run would denoise the developed picture, which measures 2-4 dB worse on
        noisy RAW files (README's Camera RAW table), so the suggestion says so."""
        if not doc.input_is_raw or suggested is None:
            return ""
        registry = self._registry()

        def on_mosaic(recipe: Recipe | None) -> bool:
            steps = recipe.steps if recipe is not None else ()
            return any(
                st.model in registry and works_on_mosaic(registry.get(st.model)) for st in steps
            )

        if not on_mosaic(suggested) or on_mosaic(self.panel.recipe()):
            return ""
        return (
            ". The steps below work on the developed picture; Apply suggestion to denoise "
            "the sensor data, which does better."
        )

    def apply_suggestion(self) -> bool:
        """Set up the steps the current photo's suggestion names."""
        self.advisor.registry = self._registry()
        doc = self.photos.current
        a = self.advisor.analysis(doc)
        ordinary = doc is not None and not doc.input_is_raw  # e.g. Simulate's degraded copy
        recipe = self.advisor.suggested_recipe(a, ordinary=ordinary) if a is not None else None
        if recipe is None:
            return False
        self.panel.set_recipe(recipe)
        return True

    # ------------------------------------------------------------------ compare, export
    def compare_models_dialog(self) -> CompareModelsDialog | None:
        """Up to four models on the part in view, side by side (not blocking)."""
        doc = self.photos.current
        if doc is None or not doc.is_ready or doc.input_rgb is None:
            self.notice.emit("Open a photo first.", "info", 3000)
            return None
        first = self.panel.current_spec()
        if first is None:
            return None
        box = self._preview_box(doc, Recipe.single(first.id))
        cmp = doc.comparison
        reference = cmp.reference
        if reference is None and cmp.simulation and doc.photo is not None:
            reference = doc.photo.rgb  # Simulate: the photo as it was
        if self.compare_window is not None:
            self.compare_window.close()
        dlg = CompareModelsDialog(
            self._registry(),
            Photo(doc.input_rgb, doc.input_meta.copy(alpha=None)),
            box,
            self.panel.base_options(),
            reference=reference,
            first=first,
            alpha=doc.input_meta.alpha,
            parent=self._parent,
        )
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.destroyed.connect(lambda *_: setattr(self, "compare_window", None))
        self.compare_window = dlg
        dlg.open()
        dlg.run()
        return dlg

    def export_dialog(self) -> ExportDialog | None:
        """Export the shown result: format, quality, bit depth, colour space, size (window-
        modal, not blocking; the choices are remembered)."""
        doc = self.photos.current
        if doc is None or doc.result is None or doc.result.partial:
            return None
        r = doc.result
        options = load_export_options(self.prefs.qsettings)
        start = (r.saved_path or self.session.output_path(doc)).with_suffix(options.extension)
        meta = r.meta or (doc.photo.meta if doc.photo else None)
        dlg = ExportDialog(
            options,
            start,
            size=r.view.size,
            source_bits=meta.bit_depth if meta else 8,
            source_icc=meta.icc_profile if meta else None,
            dng=meta is not None and RAW_MOSAIC in (meta.extra or {}),
            parent=self._parent,
        )
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def go() -> None:
            path, chosen = dlg.path(), dlg.options()
            store_export_options(self.prefs.qsettings, chosen)
            if path.exists() and not self._ask(
                "Replace file?", f"{path.name} already exists in {path.parent}. Replace it?"
            ):
                return
            self.session.export(doc, path, chosen)

        dlg.accepted.connect(go)
        dlg.open()
        return dlg

    def _reveal_saved(self) -> None:
        doc = self.photos.current
        r = doc.result if doc is not None else None
        if r is not None and r.saved_path is not None:
            reveal(r.saved_path.parent)

    # ------------------------------------------------------------------ bookkeeping
    def _on_document_removed(self, doc: Document) -> None:
        self.session.forget(doc)
        self.advisor.forget(doc)

    def shutdown(self) -> None:
        self.live_timer.stop()
        if self.compare_window is not None:
            self.compare_window.shutdown()
        self.advisor.shutdown()
