"""The main window's commands in one table: text, shortcut, tip, icon and when each is
enabled, then where each appears (menus, the viewer's context menu, the toolbar).

`Actions` builds the `QAction` objects from `ACTIONS`, connects each to the window's slot of
the same name and enables them from a `UiState` snapshot (`update`). Adding a command is a
row here and a slot in the window. Icons are Lucide SVGs (`icons.themed_icon`), drawn again
in the new text colour when the theme changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMenu,
    QMenuBar,
    QSizePolicy,
    QToolBar,
    QToolButton,
    QWidget,
)

from deconv_gui.gui.compare_view import MODE_LABELS, MODES
from deconv_gui.gui.icons import themed_icon
from deconv_gui.gui.preferences import Preferences
from deconv_gui.gui.theme import PaletteWatcher, mute

if TYPE_CHECKING:
    from deconv_gui.gui.document import Document

K = QKeySequence.StandardKey
Role = QAction.MenuRole
Shortcut = str | QKeySequence.StandardKey | tuple[str, ...] | None


@dataclass(frozen=True)
class UiState:
    """What the enabled state of the commands depends on."""

    has_photo: bool = False  # a photo is shown
    ready: bool = False  # its full photo is in memory
    has_result: bool = False  # it has a complete result
    has_model: bool = False  # a model is chosen
    busy: bool = False  # a run or a batch is going on
    viewable: bool = False  # a picture of it is on screen (not a file that failed to open)
    can_undo: bool = False  # the photo has an earlier result (or a preview hides one)
    can_redo: bool = False

    @classmethod
    def of(cls, doc: Document | None, *, busy: bool, has_model: bool) -> UiState:
        """The state with `doc` shown."""
        if doc is None:
            return cls(has_model=has_model, busy=busy)
        r = doc.result
        has_result = r is not None and not r.partial
        viewable = doc.input_view is not None
        return cls(True, doc.is_ready, has_result, has_model, busy, viewable)


Rule = Callable[[UiState], bool]
MODE_ICONS = {"split": "square-split-horizontal", "side": "columns-2", "flicker": "blinds"}


@dataclass(frozen=True)
class ActionSpec:
    name: str  # also the name of the window's slot it triggers
    text: str
    shortcut: Shortcut = None
    tip: str = ""
    enabled: Rule | None = None  # None: always enabled
    checkable: bool = False
    role: QAction.MenuRole | None = None
    icon: str = ""  # a Lucide icon in resources/icons/lucide


def _ready(s: UiState) -> bool:
    return s.ready


def _viewable(s: UiState) -> bool:
    return s.viewable


def _has_result(s: UiState) -> bool:
    return s.has_result


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open", "&Open Photos…", K.Open, "Open photos (Ctrl+O)", icon="folder-open"),
    ActionSpec("open_folder", "Open &Folder…", None, "Open every photo in a folder"),
    ActionSpec("reference", "Load &Reference…", None,
               "Compare the result with a clean version of the same photo", _ready),
    ActionSpec("simulate", "&Simulate Degradation…", None,
               "Degrade this clean photo, restore it and compare with the original", _ready),
    ActionSpec("save", "&Save Result", K.Save, "Save the result next to the original (Ctrl+S)",
               _has_result, icon="save"),
    ActionSpec("save_as", "Save Result &As…", "Ctrl+Shift+S", "Save the result under a new name",
               _has_result),
    ActionSpec("export", "&Export…", "Ctrl+E",
               "Export the result: format, quality, 8/16-bit, colour space, size (Ctrl+E)",
               _has_result),
    ActionSpec("undo", "&Undo Result", K.Undo, "Show the result before this one (Ctrl+Z)",
               lambda s: s.can_undo and not s.busy),
    ActionSpec("redo", "&Redo Result", K.Redo, "Show the result undone last",
               lambda s: s.can_redo and not s.busy),
    ActionSpec("preview", "&Preview", "Ctrl+P",
               "Process the part in view first, within about a second (Ctrl+P)",
               lambda s: s.ready and not s.busy and s.has_model),
    ActionSpec("compare_models", "Compare &Models…", None,
               "Up to four models on the part in view, side by side", _ready),
    ActionSpec("finetune", "&Fine-tune a Model…", None, "Train a model further on your own photos"),
    ActionSpec("import_model", "&Import Model…", None,
               "Add a model file (.safetensors, .pth) to your model library"),
    ActionSpec("batch", "&Batch Process…", "Ctrl+B",
               "Process the filmstrip or a folder into an output folder", icon="images"),
    ActionSpec("close_photo", "&Close Photo", K.Close, enabled=lambda s: s.has_photo),
    ActionSpec("preferences", "&Preferences…", K.Preferences, role=Role.PreferencesRole),
    ActionSpec("quit", "&Quit", K.Quit, role=Role.QuitRole),
    ActionSpec("run", "&Run", "Ctrl+R", "Restore the photo with the chosen model (Ctrl+R)",
               lambda s: s.ready and not s.busy and s.has_model),
    ActionSpec("cancel", "&Cancel", "Esc", "Stop after the current tile (Esc)",
               lambda s: s.busy),
    *(
        ActionSpec(f"mode_{m}", MODE_LABELS[m], str(i), f"{MODE_LABELS[m]} ({i})", _viewable,
                   checkable=True, icon=MODE_ICONS[m])
        for i, m in enumerate(MODES, start=1)
    ),
    ActionSpec("auto_flicker", "Flick &Automatically", "F",
               "Flick between before and after by itself, twice a second (F)", _viewable,
               checkable=True, icon="play"),
    ActionSpec("swap", "S&wap Sides", "X", "Show the result on the left, the before on the "
               "right (X)", _viewable, checkable=True, icon="arrow-left-right"),
    ActionSpec("show_before", "Show &Before (hold Space)", None,
               "Hold Space to flick to the before picture", lambda s: False),
    ActionSpec("fit", "&Fit in Window", "Ctrl+0", "Fit in window (Ctrl+0)", _viewable,
               icon="scan"),
    ActionSpec("actual_size", "&100 %", "Ctrl+1", "Actual pixels: 100 % (Ctrl+1)", _viewable,
               icon="ratio"),
    ActionSpec("zoom_in", "Zoom &In", ("+", "=", "Ctrl++"), "Zoom in (+)", _viewable,
               icon="zoom-in"),
    ActionSpec("zoom_out", "Zoom &Out", ("-", "Ctrl+-"), "Zoom out (-)", _viewable,
               icon="zoom-out"),
    ActionSpec("overlay_ssim", "SSIM &Map", "M",
               "Show where the result is least alike what it is compared with: SSIM map (M)",
               _has_result, checkable=True, icon="map"),
    ActionSpec("overlay_diff", "&Difference", "D",
               "Show where the result differs from what it is compared with (D)", _has_result,
               checkable=True, icon="diff"),
    ActionSpec("model_card", "Model &Card"),
    ActionSpec("shortcuts", "&Keyboard Shortcuts", "F1"),
    ActionSpec("logs", "Open &Log Folder"),
    ActionSpec("about", "&About Deconv GUI", role=Role.AboutRole),
)  # fmt: skip

SEP = "-"
RECENT = "recent"  # the Open Recent submenu
MODE_ACTIONS = tuple(f"mode_{m}" for m in MODES)
MENUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("&File", ("open", "open_folder", RECENT, SEP, "reference", "simulate", SEP, "save",
               "save_as", "export", "batch", SEP, "close_photo", "preferences", "quit")),
    ("&Edit", ("undo", "redo")),
    ("&View", (*MODE_ACTIONS, "auto_flicker", "swap", "show_before", SEP, "fit", "actual_size",
               "zoom_in", "zoom_out", SEP, "overlay_ssim", "overlay_diff")),
    ("&Process", ("preview", "run", "cancel", SEP, "compare_models", "batch", "model_card",
                  SEP, "finetune", "import_model")),
    ("&Help", ("shortcuts", "logs", "about")),
)  # fmt: skip
VIEW_CONTEXT_MENU = (*MODE_ACTIONS, "auto_flicker", "swap", SEP, "fit", "actual_size",
                     "zoom_in", "zoom_out", SEP, "overlay_ssim", "overlay_diff", SEP, "save",
                     "save_as")  # fmt: skip
TOOLBAR = ("open", "save", "batch", SEP, *MODE_ACTIONS, "auto_flicker", "swap", SEP, "fit",
           "actual_size", SEP, "overlay_ssim", "overlay_diff")  # fmt: skip
TOOLBAR_WITH_TEXT = ("open", "save", "batch")  # the others show their icon only

SHORTCUT_HELP = (
    ("Ctrl+O", "Open photos"),
    ("Ctrl+S", "Save the result (next to the original, with a suffix)"),
    ("Ctrl+Shift+S", "Save the result as…"),
    ("Ctrl+E", "Export (format, quality, colour space, size)"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo a result"),
    ("Ctrl+P", "Preview the part in view"),
    ("Ctrl+B", "Batch process"),
    ("Ctrl+R", "Run the chosen model"),
    ("Esc", "Cancel (stops after the current tile)"),
    ("Space (hold)", "Show the before picture"),
    ("1 / 2 / 3", "Split / side by side / flicker"),
    ("F", "Flick between before and after by itself"),
    ("X", "Swap sides (the result on the left)"),
    ("M / D", "SSIM map / difference overlay"),
    ("Ctrl+0", "Fit in window"),
    ("Ctrl+1", "100 % (one image pixel per screen pixel)"),
    ("+ / -", "Zoom in / out (the wheel zooms around the cursor)"),
    ("Drag", "Pan; drag the split handle to move it"),
    ("Double-click", "Toggle fit and 100 %"),
)


class RecentMenu(QMenu):
    """Open Recent: the photos and folders opened lately (filled each time it opens)."""

    def __init__(
        self, prefs: Preferences, open_path: Callable[[str], object], parent: QWidget
    ) -> None:
        super().__init__("Open &Recent", parent)
        self._prefs = prefs
        self._open_path = open_path
        self.aboutToShow.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self.clear()
        recent = self._prefs.recent_files
        for path in recent:
            a = self.addAction(Path(path).name)
            a.setToolTip(path)
            a.setStatusTip(path)
            a.triggered.connect(lambda _=False, p=path: self._open_path(p))
        if not recent:
            self.addAction("No recent photos").setEnabled(False)
        self.addSeparator()
        clear = self.addAction("Clear Menu")
        clear.setEnabled(bool(recent))
        clear.triggered.connect(self._prefs.clear_recent)


class Actions:
    """The window's `QAction` objects, built from `ACTIONS`.

    ``slots`` maps action names to what they do (a checkable action's slot gets the new
    checked state); every action is added to ``window`` so its shortcut works anywhere.
    """

    def __init__(self, window: QMainWindow, slots: Mapping[str, Callable[..., object]]) -> None:
        self._window = window
        self._specs = {spec.name: spec for spec in ACTIONS}
        self._actions: dict[str, QAction] = {}
        for spec in ACTIONS:
            a = QAction(spec.text, window)
            if isinstance(spec.shortcut, tuple):
                a.setShortcuts([QKeySequence(s) for s in spec.shortcut])
            elif spec.shortcut is not None:
                a.setShortcut(QKeySequence(spec.shortcut))
            if spec.tip:
                a.setStatusTip(spec.tip)
                a.setToolTip(spec.tip)
            a.setCheckable(spec.checkable)
            if spec.role is not None:
                a.setMenuRole(spec.role)
            slot = slots.get(spec.name)
            if slot is not None and spec.checkable:
                a.triggered.connect(slot)
            elif slot is not None:
                a.triggered.connect(lambda _checked=False, s=slot: s())
            window.addAction(a)
            self._actions[spec.name] = a
        self.mode_group = QActionGroup(window)
        for name in MODE_ACTIONS:
            self.mode_group.addAction(self._actions[name])
        self._actions["mode_split"].setChecked(True)
        for name in ("open", "save"):
            self._actions[name].setIconVisibleInMenu(False)
        self.refresh_icons()
        PaletteWatcher(window, self.refresh_icons)

    def refresh_icons(self) -> None:
        """Draw the icons in the window's (new) text colour."""
        pal, dpr = self._window.palette(), self._window.devicePixelRatioF() or 1.0
        for name, spec in self._specs.items():
            if spec.icon:
                self._actions[name].setIcon(themed_icon(spec.icon, pal, dpr))

    def __getitem__(self, name: str) -> QAction:
        return self._actions[name]

    def update(self, state: UiState) -> None:
        """Enable each command by its rule."""
        for name, spec in self._specs.items():
            if spec.enabled is not None:
                self._actions[name].setEnabled(spec.enabled(state))

    def _items(self, names: Iterable[str], owner: QWidget) -> list[QAction]:
        out = []
        for name in names:
            if name == SEP:
                sep = QAction(owner)
                sep.setSeparator(True)
                out.append(sep)
            else:
                out.append(self._actions[name])
        return out

    def build_menus(self, bar: QMenuBar, recent: QMenu) -> None:
        for title, names in MENUS:
            menu = bar.addMenu(title)
            for name in names:
                if name == RECENT:
                    menu.addMenu(recent)
                elif name == SEP:
                    menu.addSeparator()
                else:
                    menu.addAction(self._actions[name])

    def build_context_menu(self, widget: QWidget) -> None:
        """Right-click on `widget` (the viewer): the view's own commands."""
        widget.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        widget.addActions(self._items(VIEW_CONTEXT_MENU, widget))

    def build_toolbar(self) -> QToolBar:
        tb = QToolBar("Main", self._window)
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        tb.setIconSize(QSize(18, 18))
        for name in TOOLBAR:
            if name == SEP:
                tb.addSeparator()
                continue
            tb.addAction(self._actions[name])
            button = tb.widgetForAction(self._actions[name])
            if name in TOOLBAR_WITH_TEXT and isinstance(button, QToolButton):
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        spacer = QWidget(tb)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        tb.addWidget(mute(QLabel("Hold Space to see the before ")))
        self._window.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        return tb
