"""`MainWindow`: the layout (filmstrip, compare viewer, model and quality panels) and the
wiring between the controllers that do the work and the widgets that show it.

- `PhotoList` (``photos``): open photos, previews, full loads, eviction, recent files.
- `RestoreSession` (``session``): run, cancel, tile progress, results, saving.
- `LiveQuality` (``quality``): references, Simulate, scores, overlays.
- `BatchController` (``batch``) and `ModelLibrary` (``library``).
- `Actions` (``commands``): menus, shortcuts and enabled rules, from the table in `actions`.

Every controller does its heavy work in worker threads and reports with signals;
`_connect` routes them here. The window keeps only view state (the overlay shown).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QInputDialog,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from deconv_gui import __version__
from deconv_gui.core import devices
from deconv_gui.core.tiling import TileProgress
from deconv_gui.gui.actions import Actions, RecentMenu, UiState, shortcuts_dialog
from deconv_gui.gui.batch import BatchDialog, BatchProgress, BatchSummary
from deconv_gui.gui.batch_controller import BatchController
from deconv_gui.gui.compare_view import MODES, CompareView
from deconv_gui.gui.document import DocState, Document
from deconv_gui.gui.filmstrip import Filmstrip
from deconv_gui.gui.live_quality import LiveQuality
from deconv_gui.gui.model_library import MODEL_EXTENSIONS, ModelLibrary, is_model_path
from deconv_gui.gui.photo_list import PhotoList, describe_photo, image_filter
from deconv_gui.gui.preferences import Preferences, PreferencesDialog
from deconv_gui.gui.quality_panel import QualityPanel, Readout
from deconv_gui.gui.restore_panel import RestorePanel, format_duration
from deconv_gui.gui.restore_session import RestoreSession
from deconv_gui.gui.widgets import MessageBar, SpacePeek, StatusLabels, WelcomePage
from deconv_gui.models.registry import ModelRegistry, ModelSpec
from deconv_gui.paths import resource_path, sample_photo, user_home

log = logging.getLogger(__name__)

VISIBLE_SCORE_DELAY_MS = 150
STOPPING = "Stopping after the current tile…"


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
        self.ask: Callable[[str, str], bool] = self._ask_dialog
        self._overlay_kind = ""  # "", "ssim" or "diff"
        self._finetune: QWidget | None = None  # the fine-tune window, while open
        self._closing = False

        def ask(title: str, text: str) -> bool:
            return self.ask(title, text)

        def in_use(doc: Document) -> bool:
            return doc is self.session.running_doc

        self.photos = PhotoList(self.prefs, self, ask=ask, in_use=in_use)
        self.session = RestoreSession(self.prefs, self, ask=ask)
        self.quality = LiveQuality(self, ask=ask, in_use=in_use)
        self.library = ModelLibrary(registry, self, ask=ask)
        self._visible_timer = QTimer(self)
        self._visible_timer.setSingleShot(True)
        self._visible_timer.setInterval(VISIBLE_SCORE_DELAY_MS)
        self._visible_timer.timeout.connect(self._score_visible)

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
        )
        self.commands = Actions(self, self._slots())
        self.recent_menu = RecentMenu(self.prefs, lambda p: self.open_paths([p]), self)
        self.commands.build_menus(self.menuBar(), self.recent_menu)
        self.commands.build_context_menu(self.view)
        self.toolbar = self.commands.build_toolbar()
        self.peek = SpacePeek(self)
        self._connect()
        self._restore_preferences()
        self._apply_threads()
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
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.message_bar)
        cl.addWidget(self.stack, 1)
        cl.addWidget(self.filmstrip)

        self.restore_panel = RestorePanel(self.registry, devices.available_devices(), self)
        self.quality_panel = QualityPanel(self)
        side = QWidget(self)
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.setSpacing(0)
        sl.addWidget(self.restore_panel)
        line = QFrame(side)
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        sl.addWidget(line)
        sl.addWidget(self.quality_panel)
        sl.addStretch(1)
        side.setMinimumWidth(290)
        scroll = QScrollArea(self)
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setCollapsible(0, False)
        self.splitter.setSizes([960, 320])
        self.setCentralWidget(self.splitter)
        self.status_labels = StatusLabels(self.statusBar())
        self._update_stack()

    def _slots(self) -> dict[str, Callable[..., object]]:
        """What each command of `actions.ACTIONS` does (a checkable one gets its state)."""
        view = self.view
        return {
            "open": self.open_dialog,
            "open_folder": self.open_folder_dialog,
            "reference": self.load_reference_dialog,
            "simulate": self.simulate_dialog,
            "save": self.save,
            "save_as": self.save_as,
            "finetune": self.finetune_window,
            "import_model": self.import_model_dialog,
            "batch": self.batch_dialog,
            "close_photo": lambda: self.photos.close(self.photos.current),
            "preferences": self.preferences_dialog,
            "quit": self.close,
            "run": self.run,
            "cancel": self.cancel,
            **{f"mode_{m}": lambda _on, m=m: self.set_compare_mode(m) for m in MODES},
            "fit": view.fit,
            "actual_size": lambda: view.set_zoom(1.0),
            "zoom_in": view.zoom_in,
            "zoom_out": view.zoom_out,
            "overlay_ssim": lambda on: self.set_overlay("ssim" if on else ""),
            "overlay_diff": lambda on: self.set_overlay("diff" if on else ""),
            "model_card": self.restore_panel.show_model_card,
            "shortcuts": self.show_shortcuts,
            "logs": self._open_log_folder,
            "about": self._about,
        }

    def action(self, name: str) -> QAction:
        """The command `name` of `actions.ACTIONS` (e.g. "save", "mode_split")."""
        return self.commands[name]

    # ================================================================== wiring
    def _connect(self) -> None:
        view, strip, panel = self.view, self.filmstrip, self.restore_panel
        photos, session, quality = self.photos, self.session, self.quality
        for c in (photos, session, quality, self.library):
            c.notice.connect(self._notice)
        for c in (session, quality, self.batch, self.library):
            c.status.connect(self.statusBar().showMessage)

        view.zoom_changed.connect(self._on_zoom_changed)
        view.view_changed.connect(self._visible_timer.start)
        view.mode_changed.connect(lambda mode: self.action(f"mode_{mode}").setChecked(True))
        self.peek.changed.connect(view.set_show_before)
        self.welcome.open_requested.connect(self.open_dialog)
        self.welcome.sample_requested.connect(lambda: self.open_paths([sample_photo()]))
        strip.document_selected.connect(self._on_filmstrip_selected)
        strip.remove_requested.connect(lambda key: photos.close(photos.get(key)))
        strip.reveal_requested.connect(self._reveal_document)
        panel.run_requested.connect(self.run)
        panel.cancel_requested.connect(self.cancel)
        panel.model_changed.connect(self._on_model_changed)
        panel.settings_changed.connect(self._update_status)
        panel.remove_requested.connect(self.library.remove)
        self.quality_panel.comparison_requested.connect(self._on_comparison_requested)
        self.quality_panel.updated.connect(self.quality_updated)

        photos.added.connect(lambda d: strip.add_document(d.key, d.name, str(d.path)))
        photos.added.connect(self._update_stack)
        photos.removed.connect(lambda d: strip.remove(d.key))
        photos.removed.connect(self._update_stack)
        photos.current_changed.connect(self._on_current_changed)
        photos.thumbnail_ready.connect(lambda d, image: strip.set_thumbnail(d.key, image))
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
        session.started.connect(self._on_run_started)
        session.tile_done.connect(quality.add_tile)
        session.tile_done.connect(self._on_tile_done)
        session.finished.connect(self._on_run_finished)
        session.failed.connect(self._on_run_failed)
        session.cancelled.connect(self._on_run_cancelled)
        session.saved.connect(self._on_saved)

        quality.comparison_changed.connect(self._on_document_changed)
        quality.scores_changed.connect(self._update_readout)
        quality.final_scored.connect(self._on_final_scored)
        quality.overlay_ready.connect(self._on_overlay_ready)

        for runner in (session, self.batch):
            runner.busy_changed.connect(self._on_busy_changed)
            runner.stopping.connect(lambda: panel.show_message(STOPPING))
        self.batch.progressed.connect(self._on_batch_progressed)
        self.batch.finished.connect(self._on_batch_finished)
        self.batch.failed.connect(self._on_batch_failed)
        self.library.changed.connect(self._on_models_changed)
        self.library.imported.connect(self.model_imported)

    # ================================================================== preferences
    def _restore_preferences(self) -> None:
        p = self.prefs
        if p.geometry is not None:
            self.restoreGeometry(p.geometry)
        else:
            self.resize(1280, 800)
        if p.splitter_state is not None:
            self.splitter.restoreState(p.splitter_state)
        self._apply_run_preferences()
        if p.last_model and p.last_model in self.registry:
            self.restore_panel.select_model(p.last_model)
        if p.compare_mode in MODES:
            self.set_compare_mode(p.compare_mode)

    def _apply_run_preferences(self) -> None:
        self.restore_panel.set_device(self.prefs.device)
        self.restore_panel.set_tile_size(self.prefs.tile_size)
        self.restore_panel.set_allow_reduced_precision(self.prefs.reduced_precision)

    def _save_preferences(self) -> None:
        p = self.prefs
        p.geometry = self.saveGeometry()
        p.splitter_state = self.splitter.saveState()
        p.device = self.restore_panel.device()
        p.tile_size = self.restore_panel.tile_size() or 0
        spec = self.restore_panel.current_spec()
        if spec is not None:
            p.last_model = spec.id
        p.compare_mode = self.view.mode()
        p.sync()

    def _apply_threads(self) -> None:
        n = self.prefs.threads
        if n > 0:
            try:
                devices.set_cpu_threads(n)
            except (ValueError, RuntimeError) as exc:
                log.warning("could not set %d threads: %s", n, exc)

    def preferences_dialog(self) -> PreferencesDialog:
        """Open the preferences (window-modal, not blocking); OK applies them."""
        dlg = PreferencesDialog(self.prefs, devices.available_devices(), self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self._apply_preferences(dlg))
        dlg.open()
        return dlg

    def _apply_preferences(self, dlg: PreferencesDialog) -> None:
        dlg.apply()
        self._apply_run_preferences()
        self._apply_threads()
        self._update_status()

    # ================================================================== photos
    @property
    def documents(self):
        return self.photos.documents

    @property
    def current(self) -> Document | None:
        return self.photos.current

    def open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open Photos", self.prefs.last_dir, image_filter()
        )
        if files:
            self.prefs.last_dir = str(Path(files[0]).parent)
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open Folder", self.prefs.last_dir)
        if d:
            self.prefs.last_dir = d
            self.open_paths([d])

    def open_paths(self, paths: Iterable[str | Path]) -> list[Document]:
        """Open photos (folders are expanded); returns the new documents."""
        self.filmstrip.setUpdatesEnabled(False)
        try:
            return self.photos.open(paths)
        finally:
            self.filmstrip.setUpdatesEnabled(True)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        md = event.mimeData()
        if md.hasUrls() and any(u.isLocalFile() for u in md.urls()):
            event.acceptProposedAction()
            n = sum(1 for u in md.urls() if u.isLocalFile())
            self.statusBar().showMessage(f"Drop to open {n} item{'s' if n != 1 else ''}")
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.statusBar().clearMessage()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
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

    def _on_filmstrip_selected(self, key: object) -> None:
        doc = self.photos.get(key)
        if doc is not None and doc is not self.photos.current:
            self.photos.select(doc)

    def _on_current_changed(self, doc: Document | None) -> None:
        if doc is not None:
            self.filmstrip.select(doc.key)
        self._show_document(doc)

    def _on_document_changed(self, doc: Document) -> None:
        """`doc`'s state, pictures or result changed: its badge, and the view if shown."""
        self._refresh_badge(doc)
        if doc is self.photos.current:
            self._show_document(doc)

    def _refresh_badge(self, doc: Document) -> None:
        if doc.key not in self.photos.documents:
            return
        r, tip = doc.result, None
        if doc.state is DocState.ERROR:
            state, tip = "error", f"{doc.path}\n{doc.error}"
        elif doc is self.session.running_doc:
            state = "running"
        elif r is not None and not r.partial:
            state = "saved" if r.saved_path else "done"
        else:
            state = "loading" if doc.state is DocState.LOADING else ""
        if tip is None and r is not None and r.saved_path is not None:
            tip = f"{doc.path}\nSaved to {r.saved_path}"
        elif tip is None and doc.photo is not None:
            tip = f"{doc.path}\n{describe_photo(doc.photo)}"
        self.filmstrip.set_state(doc.key, state, tooltip=tip)

    def _show_document(self, doc: Document | None) -> None:
        view = self.view
        if doc is None:
            view.set_pictures(None, None)
            self.status_labels.show_zoom(None)
            self.quality_panel.show_readout(Readout())
            self._update_status()
            self._update_actions()
            self._update_stack()
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
                scene = r.view.size
            elif rgb is not None:
                scene = (rgb.shape[1], rgb.shape[0])
            after = r.view if r is not None else None
            view.set_pictures(before, after, scene_size=scene, partial=r is not None and r.partial)
            sim = doc.simulation
            after_label = "After"
            if r is not None:
                after_label = f"After · {r.spec.name}"
                after_label += f" (×{r.spec.scale})" if r.spec.scale != 1 else ""
            view.set_labels(f"Degraded ({sim})" if sim else "Before", after_label)
        self._on_zoom_changed(view.zoom())
        self._apply_overlay()
        self.quality_panel.set_comparison(doc.comparison.key, doc.comparison.reference_name)
        self._update_readout(doc)
        self._update_status()
        self._update_actions()
        self._visible_timer.start()

    def _update_stack(self) -> None:
        self.stack.setCurrentWidget(self.view if len(self.photos) else self.welcome)
        self.filmstrip.setVisible(bool(len(self.photos)))

    def _reveal_document(self, key: object) -> None:
        """Open the folder of the saved result (else of the photo) in the file manager."""
        doc = self.photos.get(key)
        if doc is not None:
            saved = doc.result.saved_path if doc.result is not None else None
            folder = (saved or doc.path).parent
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # ================================================================== view
    def set_compare_mode(self, mode: str) -> None:
        self.view.set_mode(mode)
        self.action(f"mode_{mode}").setChecked(True)

    def set_overlay(self, kind: str) -> None:
        """ "ssim", "diff" or "" (none)."""
        self.action("overlay_ssim").setChecked(kind == "ssim")
        self.action("overlay_diff").setChecked(kind == "diff")
        self._overlay_kind = kind
        self._apply_overlay()

    def _apply_overlay(self) -> None:
        doc, kind = self.photos.current, self._overlay_kind
        overlay = self.quality.overlay(doc, kind) if doc is not None else None
        self.view.set_overlay(overlay, kind)

    def _on_overlay_ready(self, doc: Document, kind: str) -> None:
        if doc is self.photos.current:
            self._apply_overlay()
            self.overlay_ready.emit(kind)

    def _on_zoom_changed(self, zoom: float) -> None:
        empty = self.view.before() is None and self.view.after() is None
        self.status_labels.show_zoom(None if empty else zoom)

    # ================================================================== run / cancel
    def run(self) -> bool:
        """Restore the current photo with the chosen model; False when that cannot start."""
        doc, spec = self.photos.current, self.restore_panel.current_spec()
        if self.is_busy:
            return False
        if doc is None or not doc.is_ready or spec is None:
            self.show_error("Open a photo and choose a model first.", kind="info", timeout_ms=4000)
            return False
        self.restore_panel.suggest_kernel(doc.comparison.blur_kernel)  # undo a simulated blur
        run = self.restore_panel.run_settings()
        return run is not None and self.session.run(doc, run.spec, run.options, run.tile_size)

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

    def _on_run_started(self, doc: Document) -> None:
        self.quality.ensure_target(doc)
        self.message_bar.hide()
        self._on_document_changed(doc)

    def _on_tile_done(self, doc: Document, tp: TileProgress) -> None:
        self.restore_panel.show_progress(
            tp.done,
            tp.total,
            detail=f"Tiles of {tp.tile_size} px on {tp.device or 'the CPU'}"
            + (f" in {tp.precision}" if tp.precision else "")
            + (f"\n{tp.message}" if tp.message else ""),
        )
        if tp.message:
            self.statusBar().showMessage(tp.message, 8000)
        y0, y1, x0, x1 = tp.box
        if doc is self.photos.current and y1 > y0 and x1 > x0:
            self.view.tile_finished(tp.box)

    def _on_run_finished(self, doc: Document) -> None:
        r = doc.result
        if r is None or r.rgb is None:
            return
        h, w = r.rgb.shape[:2]
        self.restore_panel.show_message(
            f"Done in {format_duration(r.seconds)}  ·  {w} × {h}", done=True
        )
        self.quality.score_final(doc)
        self.result_finished.emit(doc)

    def _on_run_failed(self, doc: Document, message: str) -> None:
        self.restore_panel.show_message("Failed", done=False)
        self.show_error(f"Processing {doc.name} failed: {message}")

    def _on_run_cancelled(self, _doc: Document) -> None:
        self.restore_panel.show_message("Cancelled", done=False)
        self.statusBar().showMessage("Cancelled", 4000)

    # ================================================================== quality
    def _update_readout(self, doc: Document | None) -> None:
        if doc is not None and doc is self.photos.current:
            self.quality_panel.show_readout(self.quality.readout(doc))

    def _on_final_scored(self, doc: Document) -> None:
        if doc is self.photos.current:
            self._apply_overlay()
            self._score_visible()

    def _score_visible(self) -> None:
        doc = self.photos.current
        if doc is not None:
            r = self.view.visible_scene_rect()
            rect = (r.x(), r.y(), r.width(), r.height())
            self.quality.score_visible(doc, rect, self.view.scene_size())

    def _on_comparison_requested(self, key: str) -> None:
        doc = self.photos.current
        if doc is None or not doc.is_ready:
            self.quality_panel.set_comparison(doc.comparison.key if doc else "input")
            self.show_error("Open a photo first.", kind="info", timeout_ms=3000)
            return
        if key == "input":
            self.quality.set_comparison(doc, None)
        elif key == "reference":
            self.load_reference_dialog()
        elif key == "custom":
            self.simulate_dialog()
        elif key.startswith("sim:"):
            self.quality.simulate(doc, key[4:])
        self.quality_panel.set_comparison(doc.comparison.key, doc.comparison.reference_name)

    def load_reference_dialog(self) -> None:
        doc = self.photos.current
        if doc is None or not doc.is_ready:
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Load Reference Photo", str(doc.path.parent), image_filter()
        )
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
        text, ok = QInputDialog.getText(
            self,
            "Simulate Degradation",
            "Degrade the photo with (comma-separated steps applied in order):\n"
            "noise=25 · pgnoise=A:B · blur=gaussian:2 · blur=motion:15:30 · blur=disk:3 · downscale=2 · jpeg=40",
            text=doc.simulation or "noise=25",
        )
        if ok and text.strip():
            self.simulate(text.strip())

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
        path, _ = QFileDialog.getSaveFileName(self, "Save Result As", start, image_filter())
        if path:  # the dialog already asked before replacing a file
            self.session.save_to(doc, Path(path), overwrite=True)

    def _on_saved(self, doc: Document, path: Path) -> None:
        self._refresh_badge(doc)
        self._update_actions()
        self.saved.emit(path)

    # ================================================================== models and batch
    def import_model_dialog(self) -> None:
        exts = " ".join(f"*{e}" for e in MODEL_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(
            self, "Import Model", self.prefs.last_dir, f"Model weights ({exts})"
        )
        if path:
            self.library.import_file(Path(path))

    def _on_models_changed(self, select_id: str) -> None:
        self.restore_panel.set_registry(self.registry)
        if select_id:
            self.restore_panel.select_model(select_id)

    def _on_model_changed(self, spec: ModelSpec | None) -> None:
        self._update_actions()
        if spec is not None:
            self.statusBar().showMessage(spec.description, 5000)

    def finetune_window(self) -> QWidget:
        """The fine-tune panel in a window of its own (one at a time; closing it stops it)."""
        if self._finetune is not None:
            self._finetune.show()
            self._finetune.raise_()
            self._finetune.activateWindow()
            return self._finetune
        from deconv_gui.gui.finetune_panel import FineTunePanel

        panel = FineTunePanel(self.registry, parent=self, devices=devices.available_devices())
        panel.setWindowFlag(Qt.WindowType.Window, True)
        panel.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        panel.model_saved.connect(self.library.model_saved)
        panel.destroyed.connect(self._on_finetune_closed)
        panel.resize(1120, 720)
        panel.show()
        self._finetune = panel
        return panel

    def _on_finetune_closed(self, *_args: object) -> None:
        self._finetune = None

    def batch_dialog(self) -> BatchDialog | None:
        if self.restore_panel.current_spec() is None:
            self.show_error("Choose a model first.", kind="info", timeout_ms=4000)
            return None
        return self.batch.open_dialog(self.photos.paths())

    def _on_batch_progressed(self, bp: BatchProgress) -> None:
        done = bp.index + (1 if bp.finished else 0)
        self.restore_panel.show_progress(done, bp.total, unit="photos (batch)")

    def _on_batch_finished(self, summary: BatchSummary) -> None:
        self.statusBar().showMessage(f"Batch finished: {summary.text()}", 10000)
        self.restore_panel.show_message(f"Batch: {summary.text()}", done=True)

    def _on_batch_failed(self, message: str) -> None:
        if self.batch.dialog is None:
            self.show_error(f"The batch stopped: {message}")

    # ================================================================== status
    def show_error(self, text: str, *, kind: str = "error", timeout_ms: int = 0) -> None:
        log.info("message (%s): %s", kind, text)
        self.message_bar.show_message(text, kind, timeout_ms)

    def _notice(self, text: str, kind: str, timeout_ms: int) -> None:
        self.show_error(text, kind=kind, timeout_ms=timeout_ms)

    def _update_status(self) -> None:
        doc = self.photos.current
        text = ""
        if doc is not None and doc.photo is not None:
            text = describe_photo(doc.photo)
            if doc.comparison.lq is not None:
                text = f"Simulated {doc.simulation}  ·  {text}"
            if doc.result is not None and doc.result.rgb is not None:
                h, w = doc.result.rgb.shape[:2]
                text += f"  →  {w} × {h}"
        elif doc is not None:
            text = doc.name
        self.status_labels.photo.setText(text)
        self.status_labels.show_device(self.restore_panel.device())

    def _update_actions(self) -> None:
        doc = self.photos.current
        state = UiState(
            has_photo=doc is not None,
            ready=doc is not None and doc.is_ready,
            has_result=doc is not None and doc.result is not None and not doc.result.partial,
            has_model=self.restore_panel.current_spec() is not None,
            busy=self.is_busy,
        )
        self.restore_panel.set_can_run(state.ready)
        self.commands.update(state)
        # the platform's way to mark unsaved work ("*" in the title, a dot on macOS)
        self.setWindowTitle(f"{doc.name}[*] — Deconv GUI" if doc is not None else "Deconv GUI")
        self.setWindowFilePath(str(doc.path) if doc is not None else "")
        self.setWindowModified(doc is not None and doc.unsaved)

    def _open_log_folder(self) -> None:
        from deconv_gui.gui.crash import log_dir

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_dir())))

    def show_shortcuts(self):
        return shortcuts_dialog(self)

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About Deconv GUI",
            f"<h3>Deconv GUI {__version__}</h3><p>Denoise, upscale and deblur photos with small "
            "deconvolution networks and classical methods; compare before and after with a live "
            "SSIM readout.</p><p>Your photos stay on this computer.</p>",
        )

    def _ask_dialog(self, title: str, text: str) -> bool:
        yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
        return QMessageBox.question(self, title, text, yes | no, no) == yes

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
        self._visible_timer.stop()
        for c in (self.session, self.batch, self.photos, self.quality, self.library):
            c.shutdown()
        try:
            self._save_preferences()
        except Exception:  # never block closing
            log.exception("saving preferences failed")
        if self._finetune is not None:
            self._finetune.shutdown()  # type: ignore[attr-defined]
            self._finetune.close()
