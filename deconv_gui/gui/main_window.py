"""`MainWindow`: the layout (filmstrip, compare viewer, model and quality panels) and the
wiring between the controllers that do the work and the widgets that show it.

- `PhotoList` (``photos``): open photos, previews, full loads, eviction, recent files.
- `RestoreSession` (``session``): run, cancel, tile progress, results, saving.
- `LiveQuality` (``quality``): references, Simulate, scores, overlays.
- `BatchController` (``batch``) and `ModelLibrary` (``library``).
- `Viewer` (``viewer``): shows the current photo in the compare view and quality panel.
- `Actions` (``commands``): menus, shortcuts and enabled rules, from the table in `actions`.

Every controller does its heavy work in worker threads and reports with signals;
`_connect` routes them to the widgets. Dialogs live in `dialogs`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtWidgets import QMainWindow, QSplitter, QStackedWidget, QWidget

from deconv_gui.core import devices
from deconv_gui.core.pipeline import auto_settings
from deconv_gui.gui import dialogs
from deconv_gui.gui.actions import SHORTCUT_HELP, Actions, RecentMenu, UiState
from deconv_gui.gui.batch import BatchDialog
from deconv_gui.gui.batch_controller import BatchController
from deconv_gui.gui.compare_view import MODES, CompareView
from deconv_gui.gui.crash import log_dir
from deconv_gui.gui.document import DocState, Document
from deconv_gui.gui.filmstrip import Filmstrip
from deconv_gui.gui.live_quality import LiveQuality
from deconv_gui.gui.model_library import ModelLibrary, is_model_path
from deconv_gui.gui.photo_list import PhotoList, badge
from deconv_gui.gui.preferences import Preferences, PreferencesDialog
from deconv_gui.gui.quality_panel import QualityPanel
from deconv_gui.gui.restore_panel import RestorePanel
from deconv_gui.gui.restore_session import RestoreSession
from deconv_gui.gui.simulate_dialog import SimulateDialog
from deconv_gui.gui.viewer import Viewer
from deconv_gui.gui.widgets import (
    MessageBar,
    SideColumn,
    SpacePeek,
    StatusLabels,
    WelcomePage,
    column,
    local_paths,
    reveal,
)
from deconv_gui.gui.workflow import Workflow
from deconv_gui.models.registry import ModelRegistry, ModelSpec, plain_description
from deconv_gui.paths import resource_path, sample_photo, user_home

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """The app window. ``registry`` lists the models; ``settings`` defaults to an INI file in
    the user folder (tests pass their own). ``ask(title, text) -> bool`` asks the user
    (tests replace it)."""

    document_previewed = Signal(object)  # Document whose thumbnail and preview are in
    document_loaded = Signal(object)  # Document, once the full photo is in
    document_failed = Signal(object)  # Document whose loading failed
    result_finished = Signal(object)  # Document with a new result
    quality_updated = Signal()
    saved = Signal(object)  # Path
    busy_changed = Signal(bool)
    model_imported = Signal(object)  # ModelSpec
    overlay_ready = Signal(str)  # "ssim" or "diff", now shown

    def __init__(self, registry: ModelRegistry, settings: QSettings | None = None) -> None:
        super().__init__()
        self.registry = registry
        if settings is None:
            settings = QSettings(str(user_home() / "settings.ini"), QSettings.Format.IniFormat)
        self.prefs = Preferences(settings)
        self.ask: Callable[[str, str], bool] = lambda t, text: dialogs.ask_yes_no(self, t, text)
        self._closing = False

        def ask(title: str, text: str) -> bool:
            return self.ask(title, text)

        def in_use(doc: Document) -> bool:
            return doc is self.session.running_doc

        self.photos = PhotoList(self.prefs, self, ask=ask, in_use=in_use)
        self.session = RestoreSession(
            self.prefs, self, ask=ask, resolve=lambda mid: self.registry.get(mid)
        )
        self.quality = LiveQuality(
            self,
            ask=ask,
            in_use=in_use,
            caveat=lambda doc: self.workflow.advisor.simulate_caveat(doc),
        )
        self.library = ModelLibrary(
            registry, self, ask=ask, choose=lambda t, q, c: dialogs.choose_one(self, t, q, c)
        )

        self.setWindowTitle("Deconv GUI")
        icon = resource_path("icons", "deconv-gui.svg")
        if icon.is_file():
            self.setWindowIcon(QIcon(str(icon)))
        self.setAcceptDrops(True)
        self.setDocumentMode(True)
        self._build_ui()
        self.batch = BatchController(
            self.prefs,
            self,
            settings=self.restore_panel.run_settings,
            can_start=lambda: not self.session.is_busy,
            registry=self.registry,
        )
        self.workflow = Workflow(
            photos=self.photos,
            session=self.session,
            quality=self.quality,
            panel=self.restore_panel,
            view=self.view,
            prefs=self.prefs,
            registry=lambda: self.registry,
            busy=lambda: self.is_busy,
            refresh=self._on_document_changed,
            ask=ask,
            dialog_parent=self,
        )
        self.advisor = self.workflow.advisor
        self.commands = Actions(self, self._slots())
        self.recent_menu = RecentMenu(self.prefs, lambda p: self.open_paths([p]), self)
        self.commands.build_menus(self.menuBar(), self.recent_menu)
        self.commands.build_context_menu(self.view)
        self.toolbar = self.commands.build_toolbar()
        self.peek = SpacePeek(self)
        self._connect()
        self._restore_preferences()
        self._update_status()
        self._update_actions()

    # ================================================================== layout
    def _build_ui(self) -> None:
        self.view = CompareView(self)
        self.view.setAccessibleName("Before and after comparison")
        self.message_bar = MessageBar(self)
        self.welcome = WelcomePage(self)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.view)
        self.filmstrip = Filmstrip(self)
        self.filmstrip.setAccessibleName("Open photos")

        centre = QWidget(self)
        column(centre, [self.message_bar, self.stack, self.filmstrip], stretch=self.stack)

        self.restore_panel = RestorePanel(self.registry, devices.available_devices(), self)
        self.quality_panel = QualityPanel(self)
        scroll = SideColumn([self.restore_panel, self.quality_panel], self)
        side = scroll.widget().layout()
        side.setStretch(0, 1)  # the model panel takes the spare height (its steps list grows)
        side.setStretch(side.count() - 1, 0)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setCollapsible(0, False)
        self.splitter.setSizes([960, 320])
        self.setCentralWidget(self.splitter)
        self.status_labels = StatusLabels(self.statusBar())
        self.viewer = Viewer(self.view, self.quality_panel, self.quality, self.status_labels, self)
        self._update_stack()

    def _slots(self) -> dict[str, Callable[..., object]]:
        """What each command of `actions.ACTIONS` does (a checkable one gets its state)."""
        view = self.view
        return {
            "open": self.open_dialog,
            "open_folder": lambda: self.open_dialog(folder=True),
            "reference": self.load_reference_dialog,
            "simulate": self.simulate_dialog,
            "save": self.save,
            "save_as": self.save_as,
            "export": self.workflow.export_dialog,
            "undo": self.workflow.undo,
            "redo": self.workflow.redo,
            "preview": self.workflow.preview,
            "compare_models": self.workflow.compare_models_dialog,
            "finetune": self.finetune_window,
            "import_model": self.import_model_dialog,
            "batch": self.batch_dialog,
            "close_photo": lambda: self.photos.close(self.photos.current),
            "preferences": self.preferences_dialog,
            "quit": self.close,
            "run": self.run,
            "cancel": self.cancel,
            **{f"mode_{m}": lambda _on, m=m: self.set_compare_mode(m) for m in MODES},
            "auto_flicker": view.set_auto_flicker,
            "swap": view.set_swapped,
            "fit": view.fit,
            "actual_size": lambda: view.set_zoom(1.0),
            "zoom_in": view.zoom_in,
            "zoom_out": view.zoom_out,
            "overlay_ssim": lambda on: self.set_overlay("ssim" if on else ""),
            "overlay_diff": lambda on: self.set_overlay("diff" if on else ""),
            "model_card": self.restore_panel.show_model_card,
            "shortcuts": lambda: dialogs.shortcuts_dialog(self, SHORTCUT_HELP),
            "logs": lambda: reveal(log_dir()),
            "about": lambda: dialogs.show_about(self),
        }

    def action(self, name: str) -> QAction:
        """The command `name` of `actions.ACTIONS` (e.g. "save", "mode_split")."""
        return self.commands[name]

    # ================================================================== wiring
    def _connect(self) -> None:
        view, strip, panel = self.view, self.filmstrip, self.restore_panel
        photos, session, quality = self.photos, self.session, self.quality
        for c in (photos, session, quality, self.batch, self.library, self.viewer):
            c.notice.connect(lambda text, kind, ms: self.show_error(text, kind=kind, timeout_ms=ms))
        for c in (session, quality, self.batch, self.library):
            c.status.connect(self.statusBar().showMessage)

        view.mode_changed.connect(lambda mode: self.action(f"mode_{mode}").setChecked(True))
        view.auto_flicker_changed.connect(self.action("auto_flicker").setChecked)
        view.swapped_changed.connect(self.action("swap").setChecked)
        self.quality_panel.overlay_requested.connect(self.set_overlay)
        self.peek.changed.connect(view.set_show_before)
        self.welcome.open_requested.connect(self.open_dialog)
        self.welcome.sample_requested.connect(lambda: self.open_paths([sample_photo()]))
        strip.show_photos(photos)
        panel.run_requested.connect(self.run)
        panel.cancel_requested.connect(self.cancel)
        panel.model_changed.connect(self._on_model_changed)
        panel.settings_changed.connect(self._update_status)
        panel.remove_requested.connect(self.library.remove)
        panel.recipe_changed.connect(self._update_actions)
        for c in (panel, self.workflow):
            c.notice.connect(lambda text, kind, ms: self.show_error(text, kind=kind, timeout_ms=ms))
        self.viewer.reference_wanted.connect(self.load_reference_dialog)
        self.viewer.simulation_wanted.connect(self.simulate_dialog)
        self.quality_panel.updated.connect(self.quality_updated)

        photos.added.connect(self._update_stack)
        photos.removed.connect(self._update_stack)
        photos.current_changed.connect(self._show_document)
        for signal, public in (
            (photos.previewed, self.document_previewed),
            (photos.loaded, self.document_loaded),
            (photos.failed, self.document_failed),
        ):
            signal.connect(self._on_document_changed)
            signal.connect(public)

        for stopped in (session.finished, session.failed, session.cancelled):
            stopped.connect(quality.stop_tiles)
            stopped.connect(self._on_document_changed)
        session.started.connect(quality.ensure_target)
        session.started.connect(self.message_bar.hide)
        session.started.connect(self._on_document_changed)
        session.tile_done.connect(quality.add_tile)
        session.tile_done.connect(lambda _d, tp: panel.show_tile_progress(tp))
        session.tile_done.connect(lambda d, tp: self.viewer.tile_finished(d, tp.box))
        session.finished.connect(self._show_done)
        session.finished.connect(quality.score_final)
        session.finished.connect(self.result_finished)
        session.failed.connect(lambda: panel.show_message("Failed", done=False))
        session.cancelled.connect(lambda: panel.show_message("Cancelled", done=False))
        session.saved.connect(self._on_saved)

        quality.comparison_changed.connect(self._on_document_changed)
        self.viewer.overlay_ready.connect(self.overlay_ready)

        for runner in (session, self.batch):
            runner.busy_changed.connect(self._on_busy_changed)
            runner.stopping.connect(lambda: panel.show_message("Stopping after the current tile…"))
        self.batch.progressed.connect(panel.show_batch_progress)
        self.batch.finished.connect(lambda s: panel.show_message(f"Batch: {s.text()}", done=True))
        self.library.changed.connect(lambda mid: panel.set_registry(self.registry, select=mid))
        self.library.imported.connect(self.model_imported)

    # ================================================================== preferences
    def _restore_preferences(self) -> None:
        p = self.prefs
        p.restore_layout(self, self.splitter)
        self.restore_panel.apply_preferences(p)
        if p.last_model and p.last_model in self.registry:
            self.restore_panel.select_model(p.last_model)
        if p.compare_mode in MODES:
            self.set_compare_mode(p.compare_mode)
        p.apply_threads()

    def _save_preferences(self) -> None:
        p = self.prefs
        p.save_layout(self, self.splitter)
        self.restore_panel.store_preferences(p)
        p.compare_mode = self.view.mode()
        p.sync()

    def preferences_dialog(self) -> PreferencesDialog:
        """Open the preferences (window-modal, not blocking); OK applies them."""
        dlg = PreferencesDialog(self.prefs, devices.available_devices(), self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(self._apply_preferences)
        dlg.open()
        return dlg

    def _apply_preferences(self) -> None:
        self.restore_panel.apply_preferences(self.prefs)
        self.prefs.apply_threads()
        self._update_status()

    # ================================================================== photos
    @property
    def documents(self) -> Mapping[int, Document]:
        return self.photos.documents

    @property
    def current(self) -> Document | None:
        return self.photos.current

    def open_dialog(self, *, folder: bool = False) -> None:
        """Ask for photos (or a folder of them) and open them."""
        last = self.prefs.last_dir
        paths = [dialogs.choose_folder(self, last)] if folder else dialogs.choose_photos(self, last)
        if paths and paths[0]:
            self.prefs.last_dir = paths[0] if folder else str(Path(paths[0]).parent)
            self.open_paths(paths)

    def open_paths(self, paths: Iterable[str | Path]) -> list[Document]:
        """Open photos (folders are expanded); returns the new documents."""
        self.filmstrip.setUpdatesEnabled(False)
        try:
            return self.photos.open(paths)
        finally:
            self.filmstrip.setUpdatesEnabled(True)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        n = len(local_paths(event.mimeData()))
        if n:
            event.acceptProposedAction()
            self.statusBar().showMessage(f"Drop to open {n} item{'s' if n != 1 else ''}")
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.statusBar().clearMessage()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        paths = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.activateWindow()
        for m in filter(is_model_path, paths):
            self.library.import_file(Path(m))
        photos = [p for p in paths if not is_model_path(p)]
        if photos:
            self.open_paths(photos)

    def _on_document_changed(self, doc: Document) -> None:
        """`doc`'s state, pictures or result changed: its badge, and the view if shown."""
        self._refresh_badge(doc)
        if doc is self.photos.current:
            self._show_document(doc)

    def _refresh_badge(self, doc: Document) -> None:
        if doc.key in self.photos.documents:
            state, tip = badge(doc, running=doc is self.session.running_doc)
            self.filmstrip.set_state(doc.key, state, tooltip=tip)

    def _show_document(self, doc: Document | None) -> None:
        self._drop_other_photos_notice(doc)
        self.viewer.show(doc)
        self._show_run_state(doc)
        self._update_actions()
        self.workflow.show(doc)
        if doc is None:
            self._update_stack()

    def _drop_other_photos_notice(self, doc: Document | None) -> None:
        """Moving on from a photo that could not be opened hides its error: the filmstrip's
        badge and the photo's own page keep saying why. So with a photo's warnings from
        opening it ("records no white balance: ... estimated"): over another photo they
        read as if they were about that one."""
        from deconv_gui.logs import as_sentences

        shown, kind = self.message_bar.text(), self.message_bar.kind
        if not shown or kind not in ("error", "warning"):
            return
        for other in self.photos:
            if other is doc:
                continue
            if (kind == "error" and other.error and other.error in shown) or (
                kind == "warning"
                and other.load_warnings
                and shown == as_sentences(other.load_warnings)
            ):
                self.message_bar.hide()
                return

    def _show_run_state(self, doc: Document | None) -> None:
        """The line under Run tells about the photo on screen: how long its result took and
        its size, or nothing (a run or batch going on shows its own progress there)."""
        if self.is_busy:
            return
        r = doc.result if doc is not None else None
        if r is not None and not r.partial:
            self._show_done(doc)
        else:
            self.restore_panel.show_message("", done=False)
            self.restore_panel.show_measured(())

    def _show_done(self, doc: Document) -> None:
        """The line under Run for `doc`'s complete result: time, size, what Auto chose."""
        r = doc.result
        if r is not None:
            self.restore_panel.show_done(r.seconds, r.view.size, auto_settings(r.meta))

    def _update_stack(self) -> None:
        self.stack.setCurrentWidget(self.view if len(self.photos) else self.welcome)
        self.filmstrip.setVisible(bool(len(self.photos)))

    # ================================================================== view
    def set_compare_mode(self, mode: str) -> None:
        self.view.set_mode(mode)
        self.action(f"mode_{mode}").setChecked(True)

    def set_overlay(self, kind: str) -> None:
        """ "ssim", "diff" or "" (none)."""
        self.action("overlay_ssim").setChecked(kind == "ssim")
        self.action("overlay_diff").setChecked(kind == "diff")
        self.viewer.set_overlay(kind)

    # ================================================================== run / cancel
    def run(self) -> bool:
        """Restore the current photo with the chosen model; False when that cannot start."""
        doc, spec = self.photos.current, self.restore_panel.current_spec()
        if self.is_busy:
            return False
        if doc is not None and doc.state is DocState.ERROR:
            self.show_error(doc.error or f"{doc.name} could not be opened.", kind="error")
            return False  # say why again, not "open a photo" of a photo on screen
        if doc is None or not doc.is_ready or spec is None:
            self.show_error("Open a photo and choose a model first.", kind="info", timeout_ms=4000)
            return False
        self.workflow.live_timer.stop()
        run = self.restore_panel.run_settings()
        if run is None or run.recipe is None:
            return False
        return self.session.run_recipe(doc, run.recipe, run.options, run.tile_size)

    def cancel(self) -> None:
        """Stop the run or the batch after the current tile (else let go of Space)."""
        if not (self.session.cancel() or self.batch.cancel()):
            self.peek.release()

    @property
    def is_busy(self) -> bool:
        return self.session.is_busy or self.batch.is_busy

    def _on_busy_changed(self, busy: bool) -> None:
        self.restore_panel.set_busy(busy)
        self._update_actions()
        self.busy_changed.emit(busy)

    # ================================================================== comparison
    def load_reference_dialog(self) -> None:
        doc = self.photos.current
        if doc is None or not doc.is_ready:
            return
        path = dialogs.choose_reference(self, str(doc.path.parent))
        if path:
            self.quality.load_reference(doc, Path(path))

    def load_reference(self, path: str | Path) -> None:
        """Compare the shown photo's results with a clean version of it (in the background)."""
        if self.photos.current is not None:
            self.quality.load_reference(self.photos.current, Path(path))

    def simulate_dialog(self) -> None:
        doc = self.photos.current
        if doc is None or not doc.is_ready:
            return
        dlg = SimulateDialog(doc.simulation or "noise=25", self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self.quality.simulate(doc, dlg.spec()))
        dlg.open()
        self.simulate_window = dlg

    def simulate(self, spec: str) -> None:
        """Degrade the shown (clean) photo with `spec`; results are then compared with it."""
        if self.photos.current is not None:
            self.quality.simulate(self.photos.current, spec)

    # ================================================================== saving
    def save(self) -> None:
        """Save the shown result: again where it was saved, else under the default name."""
        self.session.save(self.photos.current)

    def save_as(self) -> None:
        doc = self.photos.current
        if doc is None or doc.result is None or doc.result.partial:
            return
        start = str(doc.result.saved_path or self.session.output_path(doc))
        path = dialogs.choose_save_path(self, start)
        if path:  # the dialog already asked before replacing a file
            self.session.save_to(doc, Path(path), overwrite=True)

    def _on_saved(self, doc: Document, path: Path) -> None:
        self._refresh_badge(doc)
        self._update_actions()
        if doc is self.photos.current:
            self.restore_panel.show_saved(str(path))
        self.saved.emit(path)

    # ================================================================== models and batch
    def import_model_dialog(self) -> None:
        path = dialogs.choose_model_file(self, self.prefs.last_dir)
        if path:
            self.library.import_file(Path(path))

    def _on_model_changed(self, spec: ModelSpec | None) -> None:
        self._update_actions()
        if spec is not None:
            self.statusBar().showMessage(plain_description(spec), 5000)

    def finetune_window(self) -> QWidget:
        """The fine-tune panel in a window of its own (one at a time)."""
        return self.library.open_finetune(self)

    def batch_dialog(self) -> BatchDialog | None:
        if self.restore_panel.current_spec() is None:
            self.show_error("Choose a model first.", kind="info", timeout_ms=4000)
            return None
        return self.batch.open_dialog(self.photos.paths())

    # ================================================================== status
    def show_error(self, text: str, *, kind: str = "error", timeout_ms: int = 0) -> None:
        log.info("message (%s): %s", kind, text)
        self.message_bar.show_message(text, kind, timeout_ms)

    def _update_status(self) -> None:
        self.status_labels.show_device(self.restore_panel.device())

    def _update_actions(self) -> None:
        doc = self.photos.current
        has_model = self.restore_panel.current_spec() is not None
        state = replace(
            UiState.of(doc, busy=self.is_busy, has_model=has_model),
            can_undo=self.session.can_undo(doc),
            can_redo=self.session.can_redo(doc),
        )
        self.restore_panel.set_can_run(state.ready)
        self.commands.update(state)
        # the platform's way to mark unsaved work ("*" in the title, a dot on macOS)
        self.setWindowTitle(f"{doc.name}[*] — Deconv GUI" if doc is not None else "Deconv GUI")
        self.setWindowFilePath(str(doc.path) if doc is not None else "")
        self.setWindowModified(doc is not None and doc.unsaved)

    # ================================================================== closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        unsaved = [d for d in self.photos if d.unsaved]
        if unsaved and not self._closing:
            names = ", ".join(d.name for d in unsaved[:3]) + ("…" if len(unsaved) > 3 else "")
            if not self.ask("Quit without saving?", f"Results not saved: {names}. Close anyway?"):
                event.ignore()
                return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Cancel and wait for every worker; save the preferences. Safe to call twice."""
        if self._closing:
            return
        self._closing = True
        self.peek.uninstall()
        self.status_labels.stop()
        self.viewer.stop()
        self.workflow.shutdown()
        for c in (self.session, self.batch, self.photos, self.quality, self.library):
            c.shutdown()
        try:
            self._save_preferences()
        except Exception:  # never block closing
            log.exception("saving preferences failed")
