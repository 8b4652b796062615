"""`MainWindow`: filmstrip, compare viewer, model panel, live quality readout.

All heavy work runs off the GUI thread: photo loading (`_loader`), saving, references and
simulations (`_io`), quality numbers (`_metrics`) and the restore job or a batch (`_runner`).
Each is driven by the generator machinery of `deconv_gui.gui.runner`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import QEvent, QObject, QSettings, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTextEdit,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from deconv_gui import __version__
from deconv_gui.core import devices
from deconv_gui.core.degrade import parse_kernel, parse_spec
from deconv_gui.core.image import ImageMeta, Photo
from deconv_gui.core.inputs import expand_inputs
from deconv_gui.core.io import (
    READ_EXTENSIONS,
    load_image,
    load_preview,
    save_image,
)
from deconv_gui.core.jobs import restore_job
from deconv_gui.core.naming import output_path_for
from deconv_gui.core.pipeline import output_meta
from deconv_gui.errors import DeconvError
from deconv_gui.gui.batch import BatchDialog, BatchSummary, batch_job
from deconv_gui.gui.compare_view import MODE_LABELS, MODES, CompareView
from deconv_gui.gui.display import (
    DisplayColour,
    DisplayImage,
    display_colour,
    to_bgra8,
    to_rgb8,
)
from deconv_gui.gui.document import Document
from deconv_gui.gui.filmstrip import THUMB, Filmstrip, thumbnail_image
from deconv_gui.gui.preferences import Preferences, PreferencesDialog
from deconv_gui.gui.quality import (
    FinalScores,
    Target,
    TileScores,
    make_overlay,
    make_target,
    region_mean,
    score_result,
    score_tiles,
)
from deconv_gui.gui.quality_panel import QualityPanel, Readout
from deconv_gui.gui.restore_panel import RestorePanel, format_duration
from deconv_gui.gui.runner import JobRunner, TaskQueue
from deconv_gui.gui.widgets import MessageBar, WelcomePage
from deconv_gui.models.registry import ModelRegistry, ModelSpec
from deconv_gui.paths import resource_path, sample_photo, user_home

log = logging.getLogger(__name__)

LARGE_RESULT_MP = 150  # ask before making a result larger than this
BYTES_PER_RESULT_PIXEL = 12 + 6 + 8  # float32 RGB, 8-bit pyramid, SSIM map and comparison
FULL_PHOTOS_KEPT = 2  # full-size photos kept in memory besides the shown one (no work in them)
MODEL_EXTENSIONS = (".safetensors", ".pth", ".pt", ".ckpt")
TILE_SCORE_INTERVAL_MS = 300  # live SSIM: at most this often while a result arrives
VISIBLE_SCORE_DELAY_MS = 150


def image_filter() -> str:
    exts = " ".join(f"*{e}" for e in sorted(READ_EXTENSIONS))
    return f"Images ({exts});;All files (*)"


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders replaced by the images they hold (sorted, not recursive)."""
    return expand_inputs(paths).paths


class MainWindow(QMainWindow):
    """The app window. ``registry`` lists the models; ``settings`` defaults to an INI file in
    the user folder (tests pass their own)."""

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
        self.documents: dict[int, Document] = {}
        self.current: Document | None = None
        self._running_doc: Document | None = None
        self._run_kind = ""  # "restore" or "batch"
        self._run_started = 0.0
        self._run_backup: dict[str, Any] | None = None
        self._pending_tiles: list[tuple[tuple[int, int, int, int], np.ndarray]] = []
        self._tiles_in_flight = False
        self._fraction_done = 0.0  # of the running result, for the live readout
        self._overlay_kind = ""  # "", "ssim" or "diff"
        self._batch_dialog: BatchDialog | None = None
        self._finetune = None  # the fine-tune window, while open
        self._closing = False
        self._space_down = False
        # questions the user must answer; tests replace this
        self.ask: Callable[[str, str], bool] = self._ask_dialog

        self._runner = JobRunner(self)
        self._loader = TaskQueue(self)  # thumbnails and previews
        self._full_loader = TaskQueue(self)  # the full photo that is shown
        self._loaded_order: list[Document] = []
        self._io = TaskQueue(self)
        self._metrics = TaskQueue(self)
        self._runner.progressed.connect(self._on_runner_progressed)
        self._runner.result_ready.connect(self._on_runner_result_ready)
        self._runner.failed.connect(self._on_runner_failed)
        self._runner.cancelled.connect(self._on_runner_cancelled)
        self._runner.busy_changed.connect(self._on_runner_busy_changed)

        self.setWindowTitle("Deconv GUI")
        icon = resource_path("icons", "deconv-gui.svg")
        if icon.is_file():
            self.setWindowIcon(QIcon(str(icon)))
        self.setAcceptDrops(True)
        self.setDocumentMode(True)
        self._memory_timer = QTimer(self)
        self._memory_timer.setInterval(2000)
        self._memory_timer.timeout.connect(self._update_memory)
        self._memory_timer.start()
        self._tile_timer = QTimer(self)
        self._tile_timer.setSingleShot(True)
        self._tile_timer.setInterval(TILE_SCORE_INTERVAL_MS)
        self._tile_timer.timeout.connect(self._submit_tile_scores)
        self._visible_timer = QTimer(self)
        self._visible_timer.setSingleShot(True)
        self._visible_timer.setInterval(VISIBLE_SCORE_DELAY_MS)
        self._visible_timer.timeout.connect(self._submit_visible_scores)

        self._build_ui()
        self._build_actions()
        self._restore_preferences()
        self._apply_threads()

        QApplication.instance().installEventFilter(self)
        self._update_memory()
        self._update_status()
        self._update_actions()

    # ================================================================== UI
    def _build_ui(self) -> None:
        self.view = CompareView(self)
        self.view.zoom_changed.connect(self._on_zoom_changed)
        self.view.view_changed.connect(lambda: self._visible_timer.start())
        self.view.mode_changed.connect(self._on_mode_changed)

        self.message_bar = MessageBar(self)
        self.welcome = WelcomePage(self)
        self.welcome.open_requested.connect(self.open_dialog)
        self.welcome.sample_requested.connect(lambda: self.open_paths([sample_photo()]))

        self.view.setAccessibleName("Before and after comparison")
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.view)

        self.filmstrip = Filmstrip(self)
        self.filmstrip.setAccessibleName("Open photos")
        self.filmstrip.document_selected.connect(self._on_filmstrip_selected)
        self.filmstrip.remove_requested.connect(
            lambda key: self.close_document(self.documents.get(key))
        )
        self.filmstrip.reveal_requested.connect(self._reveal_document)

        centre = QWidget(self)
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.message_bar)
        cl.addWidget(self.stack, 1)
        cl.addWidget(self.filmstrip)

        devs = devices.available_devices()
        self.restore_panel = RestorePanel(self.registry, devs, self)
        self.restore_panel.run_requested.connect(self.run)
        self.restore_panel.cancel_requested.connect(self.cancel)
        self.restore_panel.model_changed.connect(self._on_model_changed)
        self.restore_panel.settings_changed.connect(self._update_status)
        self.restore_panel.remove_requested.connect(self.remove_model)
        self.quality_panel = QualityPanel(self)
        self.quality_panel.comparison_requested.connect(self._on_comparison_requested)
        self.quality_panel.updated.connect(self.quality_updated)

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

        sb = self.statusBar()
        sb.setSizeGripEnabled(True)
        self.device_label = QLabel()
        self.image_label = QLabel()
        self.memory_label = QLabel()
        self.zoom_label = QLabel()
        for w in (self.image_label, self.zoom_label, self.device_label, self.memory_label):
            w.setContentsMargins(8, 0, 8, 0)
            sb.addPermanentWidget(w)
        self._update_stack()

    def _build_actions(self) -> None:
        def act(text: str, slot, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                if isinstance(shortcut, (list, tuple)):
                    a.setShortcuts([QKeySequence(s) for s in shortcut])
                else:
                    a.setShortcut(QKeySequence(shortcut))
            if tip:
                a.setStatusTip(tip)
                a.setToolTip(tip)
            a.setCheckable(checkable)
            if slot is not None:
                a.triggered.connect(slot)
            self.addAction(a)
            return a

        K = QKeySequence.StandardKey
        self.open_action = act("&Open Photos…", self.open_dialog, K.Open, "Open photos (Ctrl+O)")
        self.open_folder_action = act(
            "Open &Folder…", self.open_folder_dialog, None, "Open every photo in a folder"
        )
        self.reference_action = act(
            "Load &Reference…",
            self.load_reference_dialog,
            None,
            "Compare the result with a clean version of the same photo",
        )
        self.simulate_action = act(
            "&Simulate Degradation…",
            self.simulate_dialog,
            None,
            "Degrade this clean photo, restore it and compare with the original",
        )
        self.save_action = act(
            "&Save Result", self.save, K.Save, "Save the result next to the original (Ctrl+S)"
        )
        self.save_as_action = act(
            "Save Result &As…", self.save_as, "Ctrl+Shift+S", "Save the result under a new name"
        )
        self.finetune_action = act(
            "&Fine-tune a Model…",
            self.finetune_window,
            None,
            "Train a model further on your own photos",
        )
        self.import_model_action = act(
            "&Import Model…",
            self.import_model_dialog,
            None,
            "Add a model file (.safetensors, .pth) to your model library",
        )
        self.batch_action = act(
            "&Batch Process…",
            self.batch_dialog,
            "Ctrl+B",
            "Process the filmstrip or a folder into an output folder",
        )
        self.close_doc_action = act(
            "&Close Photo", lambda: self.close_document(self.current), K.Close
        )
        self.prefs_action = act("&Preferences…", self.preferences_dialog, K.Preferences)
        self.prefs_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.quit_action = act("&Quit", self.close, K.Quit)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        self.run_action = act(
            "&Run", self.run, "Ctrl+R", "Restore the photo with the chosen model (Ctrl+R)"
        )
        self.cancel_action = act("&Cancel", self.cancel, "Esc", "Stop after the current tile (Esc)")

        self.mode_group = QActionGroup(self)
        self.mode_actions: dict[str, QAction] = {}
        for i, mode in enumerate(MODES, start=1):
            a = act(
                MODE_LABELS[mode],
                lambda _=False, m=mode: self.set_compare_mode(m),
                str(i),
                f"{MODE_LABELS[mode]} ({i})",
                checkable=True,
            )
            self.mode_group.addAction(a)
            self.mode_actions[mode] = a
        self.mode_actions["split"].setChecked(True)
        self.fit_action = act("&Fit in Window", self.view.fit, "Ctrl+0", "Fit in window (Ctrl+0)")
        self.actual_action = act(
            "&100 %", lambda: self.view.set_zoom(1.0), "Ctrl+1", "Actual pixels (Ctrl+1)"
        )
        self.zoom_in_action = act(
            "Zoom &In", self.view.zoom_in, ["+", "=", "Ctrl++"], "Zoom in (+)"
        )
        self.zoom_out_action = act("Zoom &Out", self.view.zoom_out, ["-", "Ctrl+-"], "Zoom out (-)")
        self.overlay_ssim_action = act(
            "SSIM &Map",
            lambda on: self.set_overlay("ssim" if on else ""),
            "M",
            "False-colour SSIM map of the result (M)",
            checkable=True,
        )
        self.overlay_diff_action = act(
            "&Difference",
            lambda on: self.set_overlay("diff" if on else ""),
            "D",
            "Absolute difference, amplified (D)",
            checkable=True,
        )
        self.show_before_action = act(
            "Show &Before (hold Space)", None, None, "Hold Space to flick to the before picture"
        )
        self.show_before_action.setEnabled(False)

        self.card_action = act("Model &Card", self.restore_panel._on_info_clicked, None)
        self.shortcuts_action = act("&Keyboard Shortcuts", self.show_shortcuts, "F1")
        self.logs_action = act("Open &Log Folder", self._open_log_folder, None)
        self.about_action = act("&About Deconv GUI", self._about, None)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addActions([self.open_action, self.open_folder_action])
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        m.addSeparator()
        m.addActions([self.reference_action, self.simulate_action])
        m.addSeparator()
        m.addActions([self.save_action, self.save_as_action, self.batch_action])
        m.addSeparator()
        m.addActions([self.close_doc_action, self.prefs_action, self.quit_action])
        m = mb.addMenu("&View")
        m.addActions(list(self.mode_actions.values()))
        m.addAction(self.show_before_action)
        m.addSeparator()
        m.addActions(
            [self.fit_action, self.actual_action, self.zoom_in_action, self.zoom_out_action]
        )
        m.addSeparator()
        m.addActions([self.overlay_ssim_action, self.overlay_diff_action])
        m = mb.addMenu("&Process")
        m.addActions([self.run_action, self.cancel_action])
        m.addSeparator()
        m.addActions([self.batch_action, self.card_action])
        m.addSeparator()
        m.addActions([self.finetune_action, self.import_model_action])
        m = mb.addMenu("&Help")
        m.addActions([self.shortcuts_action, self.logs_action, self.about_action])

        # right-click in the viewer: the view's own commands
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

        def sep() -> QAction:
            a = QAction(self.view)
            a.setSeparator(True)
            return a

        self.view.addActions(
            [
                *self.mode_actions.values(),
                sep(),
                self.fit_action,
                self.actual_action,
                self.zoom_in_action,
                self.zoom_out_action,
                sep(),
                self.overlay_ssim_action,
                self.overlay_diff_action,
                sep(),
                self.save_action,
                self.save_as_action,
            ]
        )

        tb = QToolBar("Main", self)
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tb.setIconSize(QSize(18, 18))
        tb.addAction(self.open_action)
        tb.addAction(self.save_action)
        tb.addAction(self.batch_action)
        tb.addSeparator()
        for a in self.mode_actions.values():
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.fit_action)
        tb.addAction(self.actual_action)
        tb.addSeparator()
        tb.addAction(self.overlay_ssim_action)
        tb.addAction(self.overlay_diff_action)
        spacer = QWidget(tb)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        hint = QLabel("Hold Space to see the original ")
        hint.setEnabled(False)
        tb.addWidget(hint)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb
        for a in (self.open_action, self.save_action):
            a.setIconVisibleInMenu(False)

    # ================================================================== preferences
    def _restore_preferences(self) -> None:
        p = self.prefs
        if p.geometry is not None:
            self.restoreGeometry(p.geometry)
        else:
            self.resize(1280, 800)
        if p.splitter_state is not None:
            self.splitter.restoreState(p.splitter_state)
        self.restore_panel.set_device(p.device)
        self.restore_panel.set_tile_size(p.tile_size)
        self.restore_panel.allow_reduced_precision = p.reduced_precision
        if p.last_model and p.last_model in self.registry:
            self.restore_panel.select_model(p.last_model)
        if p.compare_mode in MODES:
            self.set_compare_mode(p.compare_mode)

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
        self.restore_panel.set_device(self.prefs.device)
        self.restore_panel.set_tile_size(self.prefs.tile_size)
        self.restore_panel.allow_reduced_precision = self.prefs.reduced_precision
        self._apply_threads()
        self._update_status()

    # ================================================================== opening photos
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
        raw = list(paths)
        missing = [p for p in raw if not Path(p).expanduser().exists()]
        if missing:
            for p in missing:
                self.prefs.remove_recent(p)
            names = ", ".join(Path(p).name for p in missing[:3]) + ("…" if len(missing) > 3 else "")
            self.show_error(f"Not found (moved or deleted?): {names}")
            raw = [p for p in raw if p not in missing]
            if not raw:
                return []
        files = expand_paths(raw)
        if not files:
            if raw:
                self.show_error("No photos found in " + ", ".join(str(p) for p in raw))
            return []
        new: list[Document] = []
        first: Document | None = None
        already_open = {d.path: d for d in self.documents.values()}
        self.filmstrip.setUpdatesEnabled(False)
        try:
            for path in files:
                existing = already_open.get(path)
                if existing is not None:
                    first = first or existing
                    continue
                doc = Document(path=path)
                self.documents[doc.key] = doc
                already_open[path] = doc
                self.filmstrip.add_document(doc.key, doc.name, str(path))
                if first is not None:
                    self._queue_preview(doc)  # the first one shown gets the full load at once
                new.append(doc)
                first = first or doc
        finally:
            self.filmstrip.setUpdatesEnabled(True)
        for item in reversed(raw):  # what was asked for (a folder stays one entry)
            if Path(item).exists():
                self.prefs.add_recent(item)
        if first is not None:
            self.select_document(first)
        self._update_stack()
        return new

    def _queue_preview(self, doc: Document) -> None:
        """Thumbnail and quick preview of a photo (the full image loads when it is shown)."""
        path = doc.path

        def job():
            preview = load_preview(path, max_side=1024)
            return DisplayImage.from_rgb(preview), _thumb8(preview)

        self._loader.submit(
            job,
            on_result=lambda value: self._on_preview_loaded(doc, value),
            on_error=lambda msg, _details: self._on_photo_failed(doc, msg),
        )

    def _request_full(self, doc: Document) -> None:
        """Load the full photo of `doc` (the latest request wins; earlier ones are dropped)."""
        if doc.photo is not None or doc.state == "error" or doc.full_requested:
            return
        doc.full_requested = True
        path, want_preview = doc.path, doc.preview is None

        def job():
            if want_preview:
                preview = load_preview(path, max_side=1024)
                yield DisplayImage.from_rgb(preview), _thumb8(preview)
            photo = load_image(path)
            return photo, DisplayImage.from_rgb(photo.rgb, display_colour(photo.meta.icc_profile))

        def dropped() -> None:
            doc.full_requested = False

        self._full_loader.submit(
            job,
            key="full",
            on_progress=lambda item: self._on_preview_loaded(doc, item),
            on_result=lambda value: self._on_photo_loaded(doc, value),
            on_error=lambda msg, _details: self._on_photo_failed(doc, msg),
            on_cancel=dropped,
        )

    def _on_preview_loaded(self, doc: Document, value) -> None:
        if doc.key not in self.documents:
            return
        preview, thumb = value
        # keep the preview only while it stands in for the full photo on screen; a folder of
        # hundreds of photos then costs a thumbnail each
        doc.preview = preview if doc is self.current and doc.photo is None else None
        if doc.state == "loading":
            doc.state = "preview"
        self.filmstrip.set_thumbnail(doc.key, thumbnail_image(thumb))
        if self.filmstrip.state(doc.key) == "loading":
            self.filmstrip.set_state(doc.key, "")
        if doc is self.current:
            self._show_document(doc)
        self.document_previewed.emit(doc)

    def _on_photo_loaded(self, doc: Document, value) -> None:
        doc.full_requested = False
        if doc.key not in self.documents:
            return
        photo, view = value
        doc.photo, doc.photo_view, doc.state, doc.error = photo, view, "ready", ""
        doc.preview = None  # the full photo replaces it
        if self.filmstrip.state(doc.key) == "loading":
            self.filmstrip.set_state(doc.key, "")
        item = self.filmstrip.item_for(doc.key)
        if item is not None:
            item.setToolTip(f"{doc.path}\n{_describe_photo(photo)}")
        self._loaded_order = [d for d in self._loaded_order if d is not doc] + [doc]
        self._unload_spare_photos()
        if doc is self.current:
            self._show_document(doc)
        self.document_loaded.emit(doc)

    def _unload_spare_photos(self) -> None:
        """Keep at most `FULL_PHOTOS_KEPT` full photos that hold no work, besides the shown one.

        A photo with a result, a reference or a simulation, or one being processed, stays.
        """
        spare = [
            d
            for d in self._loaded_order
            if d is not self.current
            and d is not self._running_doc
            and d.result is None
            and d.reference is None
            and d.lq is None
            and d.photo is not None
        ]
        for d in spare[: max(0, len(spare) - FULL_PHOTOS_KEPT)]:
            d.photo = d.photo_view = d.preview = None
            d.target = None
            d.state = "preview"  # the thumbnail stays; selecting it loads the photo again
            self._loaded_order.remove(d)

    def _on_photo_failed(self, doc: Document, message: str) -> None:
        doc.full_requested = False
        if doc.key not in self.documents:
            return
        doc.state, doc.error = "error", message
        self.filmstrip.set_state(doc.key, "error", tooltip=f"{doc.path}\n{message}")
        self.show_error(f"Could not open {doc.name}: {message}")
        if doc is self.current:
            self._show_document(doc)
        self.document_failed.emit(doc)

    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        recent = self.prefs.recent_files
        for path in recent:
            a = menu.addAction(Path(path).name)
            a.setToolTip(path)
            a.setStatusTip(path)
            a.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
        if not recent:
            a = menu.addAction("No recent photos")
            a.setEnabled(False)
        menu.addSeparator()
        clear = menu.addAction("Clear Menu")
        clear.setEnabled(bool(recent))
        clear.triggered.connect(self.prefs.clear_recent)

    def close_document(self, doc: Document | None) -> None:
        if doc is None or doc.key not in self.documents:
            return
        if doc is self._running_doc:
            self.show_error("This photo is being processed: cancel first (Esc).", kind="warning")
            return
        if doc.unsaved and not self.ask(
            "Close photo", f"The result for {doc.name} is not saved. Close it anyway?"
        ):
            return
        keys = self.filmstrip.document_keys()
        idx = keys.index(doc.key) if doc.key in keys else -1
        del self.documents[doc.key]
        self._loaded_order = [d for d in self._loaded_order if d is not doc]
        self.filmstrip.remove(doc.key)
        if doc is self.current:
            self.current = None
            rest = self.filmstrip.document_keys()
            if rest:
                self.select_document(self.documents[rest[min(max(idx, 0), len(rest) - 1)]])
            else:
                self._show_document(None)
        self._update_stack()

    # ================================================================== drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        md = event.mimeData()
        if md.hasUrls() and any(u.isLocalFile() for u in md.urls()):
            event.acceptProposedAction()
            n = sum(1 for u in md.urls() if u.isLocalFile())
            self.statusBar().showMessage(f"Drop to open {n} item{'s' if n != 1 else ''}")
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:
        self.statusBar().clearMessage()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.activateWindow()
            models = [p for p in paths if Path(p).suffix.lower() in MODEL_EXTENSIONS]
            photos = [p for p in paths if p not in models]
            for m in models:
                self.import_model(Path(m))
            if photos:
                self.open_paths(photos)
        else:
            event.ignore()

    # ================================================================== selection / display
    def _on_filmstrip_selected(self, key: object) -> None:
        doc = self.documents.get(key)  # type: ignore[arg-type]
        if doc is not None and doc is not self.current:
            self.select_document(doc)

    def select_document(self, doc: Document) -> None:
        self.current = doc
        self.filmstrip.select(doc.key)
        self._request_full(doc)
        self._show_document(doc)

    def _show_document(self, doc: Document | None) -> None:
        view = self.view
        if doc is None:
            view.set_pictures(None, None)
            self.zoom_label.setText("")
            self.quality_panel.show_readout(Readout())
            self._update_status()
            self._update_actions()
            self._update_stack()
            return
        before = doc.input_view
        after = doc.result_view
        scale = doc.result_spec.scale if doc.result_spec else 1
        if doc.state == "error" and before is None:
            view.set_pictures(None, None)
            view.set_placeholder(f"{doc.name} could not be opened.\n\n{doc.error}")
        elif before is None:
            view.set_pictures(None, None)
            view.set_placeholder(f"Opening {doc.name}…")
        else:
            view.set_placeholder("")
            if after is not None:
                scene = after.size
            elif doc.input_rgb is not None:
                scene = (doc.input_rgb.shape[1], doc.input_rgb.shape[0])
            else:
                scene = before.size
            view.set_pictures(before, after, scene_size=scene, partial=doc.result_partial)
            sim = doc.simulation
            before_label = f"Degraded ({sim})" if sim else "Before"
            after_label = f"After · {doc.result_spec.name}" if doc.result_spec else "After"
            if scale != 1:
                after_label += f" (×{scale})"
            view.set_labels(before_label, after_label)
        self._on_zoom_changed(view.zoom())
        self._apply_overlay()
        self.quality_panel.set_comparison(doc.comparison, doc.reference_name)
        self._update_readout(doc)
        self._update_status()
        self._update_actions()
        self._visible_timer.start()

    def _update_stack(self) -> None:
        self.stack.setCurrentWidget(self.view if self.documents else self.welcome)
        self.filmstrip.setVisible(bool(self.documents))

    # ================================================================== compare modes
    def set_compare_mode(self, mode: str) -> None:
        self.view.set_mode(mode)
        self.mode_actions[mode].setChecked(True)

    def _on_mode_changed(self, mode: str) -> None:
        self.mode_actions[mode].setChecked(True)

    def set_overlay(self, kind: str) -> None:
        """ "ssim", "diff" or "" (none)."""
        self.overlay_ssim_action.setChecked(kind == "ssim")
        self.overlay_diff_action.setChecked(kind == "diff")
        self._overlay_kind = kind
        self._apply_overlay()

    def _apply_overlay(self) -> None:
        kind = self._overlay_kind
        doc = self.current
        final = doc.final if doc is not None else None
        if not kind or final is None or doc.result is None:
            self.view.set_overlay(None)
            return
        overlay = final.overlays.get(kind)
        if overlay is not None:
            self.view.set_overlay(overlay, kind)
            return
        self.view.set_overlay(None)
        target, out = doc.target, doc.result

        def done(img: DisplayImage) -> None:
            final.overlays[kind] = img
            if self.current is doc and doc.final is final:
                self._apply_overlay()
                self.overlay_ready.emit(kind)

        self._metrics.submit(
            lambda: make_overlay(kind, target, out, final), on_result=done, key=f"overlay-{kind}"
        )

    def _on_zoom_changed(self, zoom: float) -> None:
        if self.view.before() is None and self.view.after() is None:
            self.zoom_label.setText("")
            return
        self.zoom_label.setText(f"{zoom * 100:.0f} %" if zoom >= 0.1 else f"{zoom * 100:.1f} %")

    # ================================================================== Space = before
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        t = event.type()
        if t in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and not self._closing:
            ke: QKeyEvent = event  # type: ignore[assignment]
            if (
                ke.key() == Qt.Key.Key_Space
                and self._owns(obj)
                and not _is_text_input(QApplication.focusWidget())
            ):
                if not ke.isAutoRepeat():
                    self._set_space(t == QEvent.Type.KeyPress)
                return True
        elif t == QEvent.Type.ApplicationDeactivate and self._space_down:
            self._set_space(False)
        return False

    def _owns(self, obj: QObject) -> bool:
        return isinstance(obj, QWidget) and obj.window() is self

    def _set_space(self, down: bool) -> None:
        self._space_down = down
        self.view.set_show_before(down)

    # ================================================================== run / cancel
    def run(self) -> bool:
        """Restore the current photo with the chosen model; False when that cannot start."""
        doc = self.current
        spec = self.restore_panel.current_spec()
        if self._runner.is_busy:
            return False
        if doc is None or not doc.is_ready or spec is None:
            self.show_error("Open a photo and choose a model first.", kind="info", timeout_ms=4000)
            return False
        rgb = doc.input_rgb
        kernel = _simulated_kernel(doc.simulation)
        if "kernel" in spec.params and kernel and not self.restore_panel.kernel_edit.text().strip():
            self.restore_panel.kernel_edit.setText(kernel)  # undo the blur that was simulated
        options = self.restore_panel.load_options()
        if "kernel" in spec.params and "kernel" in options.params:
            try:
                parse_kernel(options.params["kernel"])
            except (DeconvError, ValueError) as exc:
                self.show_error(f"Invalid blur kernel: {exc}")
                return False
        tile = self.restore_panel.tile_size()
        h, w = rgb.shape[:2]
        out_mp = h * w * spec.scale**2 / 1e6
        if out_mp > LARGE_RESULT_MP:
            need_gb = out_mp * 1e6 * BYTES_PER_RESULT_PIXEL / 2**30
            if not self.ask(
                "Very large result",
                f"The result will be {w * spec.scale} × {h * spec.scale} ({out_mp:.0f} MP) and "
                f"needs about {need_gb:.0f} GB of memory to show and measure. Go on?",
            ):
                return False
        self._run_backup = {
            k: getattr(doc, k)
            for k in (
                "result",
                "result_view",
                "result_spec",
                "result_meta",
                "saved_path",
                "scores",
                "final",
                "visible",
                "result_seconds",
            )
        }
        doc.clear_result()
        doc.result_view = DisplayImage.blank(h * spec.scale, w * spec.scale)
        doc.result_spec = spec
        doc.result_partial = True
        self._pending_tiles = []
        self._tiles_in_flight = False
        self._running_doc = doc
        self._run_kind = "restore"
        self._run_started = time.monotonic()
        self._ensure_target(doc)
        self.message_bar.hide()
        self.filmstrip.set_state(doc.key, "running")
        if doc is self.current:
            self._show_document(doc)
        self._runner.start(
            lambda: restore_job(spec, rgb, options, tile_size=tile),
            prepare=_tile_painter(
                doc.result_view, display_colour(doc.photo.meta.icc_profile if doc.photo else None)
            ),
        )
        self.statusBar().showMessage(f"Running {spec.name} on {doc.name}…")
        return True

    def cancel(self) -> None:
        if self._runner.is_busy:
            self._runner.cancel()
            self.restore_panel.show_message("Stopping after the current tile…")
        elif self._space_down:
            self._set_space(False)

    @property
    def is_busy(self) -> bool:
        return self._runner.is_busy

    def _on_runner_busy_changed(self, busy: bool) -> None:
        self.restore_panel.set_busy(busy)
        self._update_actions()
        self.busy_changed.emit(busy)

    def _on_runner_progressed(self, item) -> None:
        if self._run_kind == "batch":
            if self._batch_dialog is not None:
                self._batch_dialog.show_progress(item)
            self.restore_panel.show_progress(
                item.index + (1 if item.finished else 0), item.total, unit="photos (batch)"
            )
            return
        tp = item  # its pixels are already in doc.result_view (see _tile_painter)
        doc = self._running_doc
        if doc is None:
            return
        self.restore_panel.show_progress(tp.done, tp.total)
        self.restore_panel.progress_label.setToolTip(
            f"Tiles of {tp.tile_size} px on {tp.device or 'the CPU'}"
            + (f" in {tp.precision}" if tp.precision else "")
            + (f"\n{tp.message}" if tp.message else "")
        )
        if tp.message:
            self.statusBar().showMessage(tp.message, 8000)
        y0, y1, x0, x1 = tp.box
        if y1 <= y0 or x1 <= x0 or doc.result_view is None:
            return
        if doc is self.current:
            self.view.tile_finished(tp.box)
        self._pending_tiles.append((tp.box, tp.pixels))
        self._fraction_done = tp.done / max(1, tp.total)
        if not self._tiles_in_flight and not self._tile_timer.isActive():
            self._tile_timer.start()

    def _on_runner_result_ready(self, value) -> None:
        if self._run_kind == "batch":
            self._on_batch_finished(value)
            return
        doc = self._running_doc
        self._running_doc = None
        self._run_backup = None
        if doc is None:
            return
        spec = doc.result_spec
        doc.result = value
        doc.result_partial = False
        doc.result_seconds = time.monotonic() - self._run_started
        meta = doc.photo.meta if doc.photo is not None else ImageMeta()
        if doc.lq is not None:
            meta = meta.copy(alpha=None)
        doc.result_meta = output_meta(meta, spec.scale if spec else 1)
        self._pending_tiles = []
        self._tile_timer.stop()
        self.filmstrip.set_state(doc.key, "done")
        self.restore_panel.show_message(
            f"Done in {format_duration(doc.result_seconds)}  ·  {value.shape[1]} × {value.shape[0]}",
            done=True,
        )
        self.statusBar().showMessage(
            f"{spec.name if spec else 'Model'} finished on {doc.name}", 6000
        )
        if doc is self.current:
            self.view.set_after_partial(False)
            self._show_document(doc)
        self._submit_final_scores(doc)
        self.result_finished.emit(doc)

    def _restore_backup(self) -> Document | None:
        doc = self._running_doc
        self._running_doc = None
        self._pending_tiles = []
        self._tile_timer.stop()
        if doc is None:
            return None
        backup = self._run_backup or {}
        self._run_backup = None
        doc.generation += 1
        for k, v in backup.items():
            setattr(doc, k, v)
        doc.result_partial = False
        self.filmstrip.set_state(doc.key, "done" if doc.result is not None else "")
        if doc is self.current:
            self._show_document(doc)
        return doc

    def _on_runner_failed(self, message: str, details: str) -> None:
        if self._run_kind == "batch":
            self._on_batch_failed(message)
            return
        doc = self._restore_backup()
        self.restore_panel.show_message("Failed", done=False)
        self.show_error(f"Processing {doc.name if doc else 'the photo'} failed: {message}")

    def _on_runner_cancelled(self) -> None:
        if self._run_kind == "batch":
            self._on_batch_cancelled()
            return
        self._restore_backup()
        self.restore_panel.show_message("Cancelled", done=False)
        self.statusBar().showMessage("Cancelled", 4000)

    # ================================================================== quality numbers
    def _ensure_target(self, doc: Document) -> None:
        """Make sure the comparison target exists (computed in the metrics worker if needed)."""
        if doc.target is not None or doc.input_rgb is None:
            return
        if doc.reference is None:
            doc.target = make_target(doc.input_rgb, None)
            return
        lq, ref, gen = doc.input_rgb, doc.reference, doc.generation
        label = "vs clean original" if doc.simulation else f"vs {doc.reference_name or 'reference'}"

        def done(target: Target) -> None:
            if doc.generation == gen or doc.target is None:
                doc.target = target
                self._update_readout(doc)

        self._metrics.submit(
            lambda: make_target(lq, ref, label),
            on_result=done,
            on_error=lambda m, _d: self.show_error(f"Could not compare: {m}"),
        )

    def _submit_tile_scores(self) -> None:
        doc = self._running_doc
        if doc is None or not self._pending_tiles or self._tiles_in_flight:
            return
        tiles, self._pending_tiles = self._pending_tiles, []
        out_size = doc.result_view.size if doc.result_view else (1, 1)
        gen = doc.generation
        self._tiles_in_flight = True

        def job():
            if doc.target is None:
                return None
            return score_tiles(doc.target, out_size, tiles)

        def done(scores: TileScores | None) -> None:
            self._tiles_in_flight = False
            if scores is not None and doc.generation == gen and doc.result_partial:
                doc.scores.add(scores)
                self._update_readout(doc)
            if self._pending_tiles and self._running_doc is doc:
                self._tile_timer.start()

        def failed(message: str, _details: str) -> None:
            self._tiles_in_flight = False

        self._metrics.submit(job, on_result=done, on_error=failed, on_cancel=lambda: failed("", ""))

    def _submit_final_scores(self, doc: Document) -> None:
        if doc.result is None:
            return
        self._ensure_target(doc)
        out, gen = doc.result, doc.generation

        def job():
            return score_result(doc.target, out) if doc.target is not None else None

        def done(final: FinalScores | None) -> None:
            if final is None or doc.generation != gen:
                return
            doc.final = final
            if doc is self.current:
                self._apply_overlay()
                self._submit_visible_scores()
            self._update_readout(doc)

        self._metrics.submit(
            job,
            on_result=done,
            key=f"final-{doc.key}",
            on_error=lambda m, _d: self.show_error(f"Could not measure the result: {m}"),
        )

    def _submit_visible_scores(self) -> None:
        doc = self.current
        if doc is None or doc.final is None:
            return
        r = self.view.visible_scene_rect()
        rect = (r.x(), r.y(), r.width(), r.height())
        scene = self.view.scene_size()
        final, target, gen = doc.final, doc.target, doc.generation

        def job():
            after = region_mean(final.ssim_map, rect, scene)
            before = region_mean(target.before_map, rect, scene) if target is not None else None
            return before, after

        def done(value) -> None:
            if doc.generation == gen:
                doc.visible = value
                self._update_readout(doc)

        self._metrics.submit(job, on_result=done, key="visible")

    def _update_readout(self, doc: Document | None) -> None:
        if doc is None or doc is not self.current:
            return
        t = doc.target
        r = Readout()
        if t is not None:
            r.label, r.has_reference = t.label, t.has_reference
            r.before_ssim, r.before_psnr = t.before_ssim, t.before_psnr
        elif doc.reference is not None:
            r.has_reference = True
            r.label = "vs clean original" if doc.simulation else f"vs {doc.reference_name}"
        if doc.final is not None:
            r.after_ssim, r.after_psnr = doc.final.ssim, doc.final.psnr
            r.visible_before, r.visible_after = doc.visible
        elif doc.result_partial and doc.scores.area:
            r.after_ssim, r.after_psnr = doc.scores.ssim, doc.scores.psnr
            r.partial = True
            r.fraction = self._fraction_done
        self.quality_panel.show_readout(r)

    # ================================================================== comparison
    def _on_comparison_requested(self, key: str) -> None:
        doc = self.current
        if doc is None or not doc.is_ready:
            self.quality_panel.set_comparison(doc.comparison if doc else "input")
            self.show_error("Open a photo first.", kind="info", timeout_ms=3000)
            return
        if key == "input":
            self.set_comparison(doc, None)
        elif key == "reference":
            self.load_reference_dialog()
        elif key == "custom":
            self.simulate_dialog()
        elif key.startswith("sim:"):
            self.simulate(key[4:])
        self.quality_panel.set_comparison(doc.comparison, doc.reference_name)

    def _busy_guard(self, doc: Document) -> bool:
        if doc is self._running_doc:
            self.show_error(
                "Wait for the run to finish or cancel it (Esc) first.",
                kind="warning",
                timeout_ms=5000,
            )
            return True
        return False

    def set_comparison(self, doc: Document, reference: np.ndarray | None, name: str = "") -> None:
        """Compare with the input (reference None) or with a reference photo."""
        if self._busy_guard(doc):
            return
        if doc.simulation:
            doc.lq = doc.lq_view = None
            doc.clear_result()
        doc.reference = reference
        doc.reference_name = name
        doc.comparison = "reference" if reference is not None else "input"
        self._retarget(doc)

    def _retarget(self, doc: Document) -> None:
        doc.target = None
        doc.final = None
        doc.visible = (None, None)
        doc.scores = TileScores()
        doc.generation += 1
        self._ensure_target(doc)
        if doc.result is not None:
            self._submit_final_scores(doc)
        if doc is self.current:
            self._show_document(doc)

    def load_reference_dialog(self) -> None:
        doc = self.current
        if doc is None or not doc.is_ready:
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Load Reference Photo", str(doc.path.parent), image_filter()
        )
        if path:
            self.load_reference(Path(path))

    def load_reference(self, path: Path, doc: Document | None = None) -> None:
        """Load a clean version of the photo to compare against (in the background)."""
        doc = doc or self.current
        if doc is None or not doc.is_ready or self._busy_guard(doc):
            return

        def job():
            return load_image(path).rgb

        def done(ref: np.ndarray) -> None:
            rgb = doc.photo.rgb
            rh, rw = ref.shape[:2]
            ih, iw = rgb.shape[:2]
            if abs(rw / rh - iw / ih) > 0.01:
                self.show_error(
                    f"The reference {path.name} is {rw} × {rh}: its shape does not match the photo ({iw} × {ih})."
                )
                self.quality_panel.set_comparison(doc.comparison, doc.reference_name)
                return
            self.set_comparison(doc, ref, path.name)
            self.quality_panel.set_comparison(doc.comparison, doc.reference_name)

        self._io.submit(
            job,
            on_result=done,
            on_error=lambda m, _d: self.show_error(f"Could not load the reference: {m}"),
        )

    def simulate_dialog(self) -> None:
        doc = self.current
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

    def simulate(self, spec: str, doc: Document | None = None) -> None:
        """Degrade the (clean) photo with `spec`, then compare results with the original."""
        doc = doc or self.current
        if doc is None or not doc.is_ready or self._busy_guard(doc):
            return
        if doc.unsaved and not self.ask(
            "Discard the result?",
            f"Simulating replaces the input, and the unsaved result for {doc.name} is lost. Go on?",
        ):
            return
        try:
            degradation = parse_spec(spec)
        except (DeconvError, ValueError) as exc:
            self.show_error(f"Invalid degradation '{spec}': {exc}")
            return
        clean = doc.photo.rgb

        colour = display_colour(doc.photo.meta.icc_profile)

        def job():
            lq = np.ascontiguousarray(degradation.apply(clean, seed=0), dtype=np.float32)
            return lq, DisplayImage.from_rgb(lq, colour)

        def done(value) -> None:
            lq, view = value
            doc.clear_result()
            doc.lq, doc.lq_view = lq, view
            doc.reference, doc.reference_name = clean, "clean original"
            doc.comparison = f"sim:{spec}"
            self.filmstrip.set_state(doc.key, "")
            self._retarget(doc)
            self.statusBar().showMessage(
                f"Simulating {spec}: run a model to restore the degraded photo", 8000
            )

        self.statusBar().showMessage(f"Degrading {doc.name} with {spec}…")
        self._io.submit(
            job, on_result=done, on_error=lambda m, _d: self.show_error(f"Simulation failed: {m}")
        )

    # ================================================================== saving
    def default_output_path(self, doc: Document) -> Path:
        spec = doc.result_spec
        suffix = self.prefs.suffix_for(spec.task if spec else "restore", spec.scale if spec else 1)
        if doc.simulation:
            suffix = "_sim" + suffix
        folder = (
            Path(self.prefs.output_dir).expanduser() if self.prefs.output_dir else doc.path.parent
        )
        return output_path_for(doc.path, suffix, out_dir=folder)

    def save(self) -> None:
        """Save the current result: again to where it was saved, else to the default name."""
        doc = self.current
        if doc is None or doc.result is None or doc.result_partial:
            return
        if doc.saved_path is not None:
            self.save_result_to(doc.saved_path, overwrite=True)
            return
        path = self.default_output_path(doc)
        if path.exists():
            if not self.ask(
                "Replace file?", f"{path.name} already exists in {path.parent}. Replace it?"
            ):
                return
            self.save_result_to(path, overwrite=True)
        else:
            self.save_result_to(path)

    def save_as(self) -> None:
        doc = self.current
        if doc is None or doc.result is None or doc.result_partial:
            return
        start = str(doc.saved_path or self.default_output_path(doc))
        path, _ = QFileDialog.getSaveFileName(self, "Save Result As", start, image_filter())
        if path:  # the dialog already asked before replacing a file
            self.save_result_to(Path(path), overwrite=True)

    def save_result_to(self, path: Path, *, overwrite: bool = False) -> None:
        doc = self.current
        if doc is None or doc.result is None:
            return
        result, meta = doc.result, doc.result_meta or ImageMeta()
        if doc.photo is not None and path.resolve() == doc.path.resolve():
            if not self.ask(
                "Replace the original?", f"Replace the original photo {path.name} with the result?"
            ):
                return
            meta = meta.copy(path=None)
            overwrite = True

        def job():
            return save_image(path, result, meta, overwrite=overwrite)

        def done(written: Path) -> None:
            doc.saved_path = Path(written)
            self.filmstrip.set_state(doc.key, "saved", tooltip=f"{doc.path}\nSaved to {written}")
            self.statusBar().showMessage(
                f"Saved {Path(written).name} to {Path(written).parent}", 8000
            )
            self._update_actions()
            self.saved.emit(Path(written))

        self.statusBar().showMessage(f"Saving {path.name}…")
        self._io.submit(
            job,
            on_result=done,
            on_error=lambda m, _d: self.show_error(f"Could not save {path.name}: {m}"),
        )

    # ================================================================== model library
    def import_model_dialog(self) -> None:
        exts = " ".join(f"*{e}" for e in MODEL_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(
            self, "Import Model", self.prefs.last_dir, f"Model weights ({exts})"
        )
        if path:
            self.import_model(Path(path))

    def import_model(self, path: Path) -> None:
        """Check and copy a weights file into the user library (in the background)."""

        def job():
            from deconv_gui.models.importer import import_model

            return import_model(path)

        def done(spec: ModelSpec) -> None:
            self.registry.register(spec, replace=True)
            self.restore_panel.set_registry(self.registry)
            self.restore_panel.select_model(spec.id)
            self.show_error(
                f"Imported {path.name} as “{spec.name}” ({spec.task}"
                + (f" ×{spec.scale}" if spec.scale != 1 else "")
                + ").",
                kind="info",
                timeout_ms=8000,
            )
            self.model_imported.emit(spec)

        self.statusBar().showMessage(f"Checking {path.name}…")
        self._io.submit(
            job,
            on_result=done,
            on_error=lambda m, _d: self.show_error(f"Could not import {path.name}: {m}"),
        )

    def finetune_window(self):
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
        panel.model_saved.connect(self._on_model_saved)
        panel.destroyed.connect(self._on_finetune_closed)
        panel.resize(1120, 720)
        panel.show()
        self._finetune = panel
        return panel

    def _on_finetune_closed(self, *_args) -> None:
        self._finetune = None

    def _on_model_saved(self, model_id: str) -> None:
        """A fine-tuned model was saved (and registered): show it in the model list."""
        self.restore_panel.set_registry(self.registry)
        if model_id in self.registry:
            self.restore_panel.select_model(model_id)
            spec = self.registry.get(model_id)
            self.show_error(
                f"“{spec.name}” is in the model list now.", kind="info", timeout_ms=8000
            )

    def remove_model(self, model_id: str) -> None:
        if model_id not in self.registry:
            return
        spec = self.registry.get(model_id)
        if spec.kind not in ("imported", "finetuned"):
            return
        if not self.ask("Remove model?", f"Remove “{spec.name}” from your model library?"):
            return
        from deconv_gui.models.importer import remove_model

        try:
            remove_model(model_id)
        except DeconvError as exc:
            self.show_error(f"Could not remove {spec.name}: {exc}")
            return
        self.registry.unregister(model_id)
        self.restore_panel.set_registry(self.registry)

    # ================================================================== batch
    def batch_dialog(self) -> BatchDialog | None:
        spec = self.restore_panel.current_spec()
        if spec is None:
            self.show_error("Choose a model first.", kind="info", timeout_ms=4000)
            return None
        if self._batch_dialog is not None:
            self._batch_dialog.raise_()
            return self._batch_dialog
        paths = [
            self.documents[k].path for k in self.filmstrip.document_keys() if k in self.documents
        ]
        dlg = BatchDialog(
            paths,
            spec.name,
            self.prefs.output_dir,
            self.prefs.suffix_for(spec.task, spec.scale),
            self,
        )
        dlg.start_requested.connect(self._start_batch)
        dlg.cancel_requested.connect(self.cancel)
        dlg.finished.connect(self._on_batch_dialog_closed)
        self._batch_dialog = dlg
        dlg.show()
        return dlg

    def _on_batch_dialog_closed(self, *_args) -> None:
        if self._batch_dialog is not None:
            self._batch_dialog.deleteLater()
        self._batch_dialog = None

    def _start_batch(self) -> None:
        dlg = self._batch_dialog
        spec = self.restore_panel.current_spec()
        if dlg is None or spec is None or self._runner.is_busy:
            if dlg is not None and self._runner.is_busy:
                dlg.show_summary("Wait for the current run to finish (or cancel it).")
            return
        try:
            paths = dlg.photo_paths()
        except DeconvError as exc:
            dlg.show_summary(str(exc))
            return
        if not paths:
            dlg.show_summary("No photos to process.")
            return
        options = self.restore_panel.load_options()
        tile = self.restore_panel.tile_size()
        out_dir, suffix, overwrite = dlg.output_dir(), dlg.suffix(), dlg.overwrite()
        if out_dir is None and not suffix:
            dlg.show_summary(
                "Choose an output folder or a name suffix: originals are never replaced."
            )
            return
        self._run_kind = "batch"
        dlg.set_running(True)
        self._runner.start(
            lambda: batch_job(
                paths, spec, options, out_dir, suffix, tile_size=tile, overwrite=overwrite
            )
        )
        self.statusBar().showMessage(f"Batch: {len(paths)} photos with {spec.name}…")

    def _on_batch_finished(self, summary: BatchSummary) -> None:
        self._run_kind = ""
        text = f"Finished: {summary.text()}."
        if summary.failed:
            text += "\nFailed:\n" + "\n".join(f"• {p.name}: {why}" for p, why in summary.failed)
        self.statusBar().showMessage(f"Batch finished: {summary.text()}", 10000)
        self.restore_panel.show_message(f"Batch: {summary.text()}", done=True)
        if self._batch_dialog is not None:
            self._batch_dialog.set_running(False)
            self._batch_dialog.show_summary(text)
        self.last_batch_summary = summary

    def _on_batch_failed(self, message: str) -> None:
        self._run_kind = ""
        if self._batch_dialog is not None:
            self._batch_dialog.set_running(False)
            self._batch_dialog.show_summary(f"The batch stopped: {message}")
        else:
            self.show_error(f"The batch stopped: {message}")

    def _on_batch_cancelled(self) -> None:
        self._run_kind = ""
        if self._batch_dialog is not None:
            self._batch_dialog.set_running(False)
            self._batch_dialog.show_summary("Cancelled. Photos finished so far are saved.")

    # ================================================================== status
    def show_error(self, text: str, *, kind: str = "error", timeout_ms: int = 0) -> None:
        log.info("message (%s): %s", kind, text)
        self.message_bar.show_message(text, kind, timeout_ms)

    def _update_status(self) -> None:
        doc = self.current
        if doc is not None and doc.photo is not None:
            text = _describe_photo(doc.photo)
            if doc.lq is not None:
                text = f"Simulated {doc.simulation}  ·  {text}"
            if doc.result is not None:
                text += f"  →  {doc.result.shape[1]} × {doc.result.shape[0]}"
            self.image_label.setText(text)
        elif doc is not None:
            self.image_label.setText(doc.name)
        else:
            self.image_label.setText("")
        name = self.restore_panel.device()
        try:
            desc = devices.describe_device(devices.resolve_device(name))
        except DeconvError as exc:
            desc = f"{name}: unavailable"
            self.device_label.setToolTip(str(exc))
        self.device_label.setText(("Auto · " if name == "auto" else "") + desc)

    def _update_memory(self) -> None:
        total = devices.memory_in_use()
        self.memory_label.setText(f"Memory {total / 2**30:.2f} GiB")
        self.memory_label.setToolTip(f"In use by Deconv GUI: {devices.memory_report()}")

    def _update_actions(self) -> None:
        doc = self.current
        busy = self._runner.is_busy
        has_result = doc is not None and doc.result is not None and not doc.result_partial
        ready = doc is not None and doc.is_ready
        self.restore_panel.set_can_run(ready)
        self.run_action.setEnabled(
            ready and not busy and self.restore_panel.current_spec() is not None
        )
        self.cancel_action.setEnabled(busy)
        self.save_action.setEnabled(has_result)
        self.save_as_action.setEnabled(has_result)
        self.reference_action.setEnabled(ready)
        self.simulate_action.setEnabled(ready)
        self.close_doc_action.setEnabled(doc is not None)
        # the platform's way to mark unsaved work ("*" in the title, a dot on macOS)
        self.setWindowTitle(f"{doc.name}[*] — Deconv GUI" if doc is not None else "Deconv GUI")
        self.setWindowFilePath(str(doc.path) if doc is not None else "")
        self.setWindowModified(doc is not None and doc.unsaved)

    def _on_model_changed(self, spec: ModelSpec | None) -> None:
        self._update_actions()
        if spec is not None:
            self.statusBar().showMessage(spec.description, 5000)

    def _reveal_document(self, key: object) -> None:
        """Open the folder of the saved result (else of the photo) in the file manager."""
        doc = self.documents.get(key)  # type: ignore[arg-type]
        if doc is not None:
            folder = (doc.saved_path or doc.path).parent
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _open_log_folder(self) -> None:
        from deconv_gui.gui.crash import log_dir

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_dir())))

    def show_shortcuts(self) -> QDialog:
        rows = [
            ("Ctrl+O", "Open photos"),
            ("Ctrl+S", "Save the result (next to the original, with a suffix)"),
            ("Ctrl+Shift+S", "Save the result as…"),
            ("Ctrl+B", "Batch process"),
            ("Ctrl+R", "Run the chosen model"),
            ("Esc", "Cancel (stops after the current tile)"),
            ("Space (hold)", "Show the before picture"),
            ("1 / 2 / 3", "Split / side by side / flicker"),
            ("M / D", "SSIM map / difference overlay"),
            ("Ctrl+0", "Fit in window"),
            ("Ctrl+1", "100 % (one image pixel per screen pixel)"),
            ("+ / -", "Zoom in / out (the wheel zooms around the cursor)"),
            ("Drag", "Pan; drag the split handle to move it"),
            ("Double-click", "Toggle fit and 100 %"),
        ]
        dlg = QDialog(self)
        dlg.setWindowTitle("Keyboard Shortcuts")
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        lay = QVBoxLayout(dlg)
        body = "".join(
            f"<tr><td style='padding:3px 18px 3px 0'><b>{k}</b></td><td>{v}</td></tr>"
            for k, v in rows
        )
        label = QLabel(f"<table>{body}</table>", dlg)
        lay.addWidget(label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dlg)
        buttons.rejected.connect(dlg.reject)
        lay.addWidget(buttons)
        dlg.open()
        return dlg

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About Deconv GUI",
            f"<h3>Deconv GUI {__version__}</h3><p>Denoise, upscale and deblur photos with small "
            "deconvolution networks and classical methods; compare before and after with a live "
            "SSIM readout.</p><p>Your photos stay on this computer.</p>",
        )

    def _ask_dialog(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(
            self,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    # ================================================================== closing
    def closeEvent(self, event: QCloseEvent) -> None:
        unsaved = [d for d in self.documents.values() if d.unsaved]
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
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        for t in (self._memory_timer, self._tile_timer, self._visible_timer):
            t.stop()
        self._runner.shutdown()
        for q in (self._loader, self._full_loader, self._io, self._metrics):
            q.shutdown()
        self._running_doc = None
        try:
            self._save_preferences()
        except Exception:  # never block closing
            log.exception("saving preferences failed")
        if self._batch_dialog is not None:
            self._batch_dialog.close()
        if self._finetune is not None:
            self._finetune.shutdown()
            self._finetune.close()


# ---------------------------------------------------------------------- helpers
def _tile_painter(target: DisplayImage, colour: DisplayColour | None = None):
    """A ``prepare`` hook for the runner: in the worker thread, convert each finished tile and
    write it into `target` (all pyramid levels), so the GUI thread only repaints."""

    def prepare(tp):
        y0, y1, x0, x1 = tp.box
        if y1 > y0 and x1 > x0:
            target.paste(tp.box, to_bgra8(tp.pixels, colour))
        return tp

    return prepare


def _simulated_kernel(simulation: str | None) -> str:
    """The blur kernel of a degradation spec ("noise=5,blur=gaussian:2" -> "gaussian:2")."""
    for step in (simulation or "").split(","):
        name, _, value = step.strip().partition("=")
        if name == "blur" and value:
            return value
    return ""


def _thumb8(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(THUMB.width() * 2 / w, THUMB.height() * 2 / h, 1.0)
    small = cv2.resize(
        rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
    )
    return to_rgb8(small)


def _describe_photo(photo: Photo) -> str:
    m = photo.meta
    parts = [f"{photo.width} × {photo.height}", f"{m.bit_depth}-bit {m.format}"]
    extras = [x for x, present in (("ICC", m.icc_profile), ("EXIF", m.exif)) if present]
    if extras:
        parts.append(" ".join(extras))
    return "  ·  ".join(parts)


def _is_text_input(w: QWidget | None) -> bool:
    if w is None:
        return False
    if isinstance(w, (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox)):
        return True
    return isinstance(w, QComboBox) and w.isEditable()
