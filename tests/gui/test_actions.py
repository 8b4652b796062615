"""The table of commands: every placement names a command, no shortcut is taken twice, the
enabled rules follow the state, and triggering a command calls its slot."""

from __future__ import annotations

import itertools

import pytest
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from deconv_gui.gui.actions import (
    ACTIONS,
    MENUS,
    RECENT,
    SEP,
    TOOLBAR,
    VIEW_CONTEXT_MENU,
    Actions,
    UiState,
)


@pytest.fixture
def window(qtbot):
    w = QMainWindow()
    qtbot.addWidget(w)
    return w


def test_the_table_is_consistent():
    names = [spec.name for spec in ACTIONS]
    assert len(names) == len(set(names))
    placed = [n for _, items in MENUS for n in items] + list(TOOLBAR) + list(VIEW_CONTEXT_MENU)
    assert {n for n in placed if n not in (SEP, RECENT)} <= set(names)
    in_menus = {n for _, items in MENUS for n in items}
    assert set(names) <= in_menus  # every command can be found in a menu


def test_no_shortcut_is_taken_twice(window):
    actions = Actions(window, {})
    keys = [
        (spec.name, seq.toString())
        for spec in ACTIONS
        for seq in actions[spec.name].shortcuts()
        if not seq.isEmpty()
    ]
    taken: dict[str, str] = {}
    for name, key in keys:
        assert key not in taken, f"{key} is the shortcut of both {taken[key]} and {name}"
        taken[key] = name
    assert taken[QKeySequence("Ctrl+R").toString()] == "run"
    assert taken["Esc"] == "cancel"


def test_enabled_rules_follow_the_state(window):
    actions = Actions(window, {})
    for has_photo, ready, has_result, has_model, busy, viewable in itertools.product(
        (False, True), repeat=6
    ):
        state = UiState(has_photo, ready, has_result, has_model, busy, viewable)
        actions.update(state)
        for name in ("mode_split", "auto_flicker", "swap", "fit", "zoom_in"):
            assert actions[name].isEnabled() == viewable
        assert actions["overlay_ssim"].isEnabled() == actions["overlay_diff"].isEnabled()
        assert actions["overlay_ssim"].isEnabled() == has_result
        assert actions["run"].isEnabled() == (ready and not busy and has_model)
        assert actions["cancel"].isEnabled() == busy
        assert actions["save"].isEnabled() == actions["save_as"].isEnabled() == has_result
        assert actions["simulate"].isEnabled() == actions["reference"].isEnabled() == ready
        assert actions["close_photo"].isEnabled() == has_photo
        assert actions["open"].isEnabled() and not actions["show_before"].isEnabled()


def test_ui_state_of_a_document(tmp_path):
    import numpy as np
    from gui_helpers import ready_document, tiny_registry, write_photo

    from deconv_gui.gui.display import DisplayImage
    from deconv_gui.gui.document import Result

    assert UiState.of(None, busy=True, has_model=True) == UiState(has_model=True, busy=True)
    doc = ready_document(write_photo(tmp_path / "p.jpg"))
    state = UiState.of(doc, busy=False, has_model=True)
    assert state == UiState(True, True, False, True, False, viewable=True)
    broken = ready_document(write_photo(tmp_path / "q.jpg"))
    broken.photo = broken.photo_view = None  # nothing to show (as when it failed to open)
    assert not UiState.of(broken, busy=False, has_model=True).viewable
    spec, view = tiny_registry().get("tiny-conv"), DisplayImage.blank(2, 2)
    doc.result = Result(spec, view)  # arriving: not a result to save yet
    assert not UiState.of(doc, busy=True, has_model=True).has_result
    doc.result = Result(spec, view, rgb=np.zeros((2, 2, 3), np.float32))
    assert UiState.of(doc, busy=False, has_model=False).has_result


def test_slots_menus_and_toolbar(window):
    calls: list[object] = []
    actions = Actions(
        window,
        {"save": lambda: calls.append("save"), "overlay_ssim": lambda on: calls.append(on)},
    )
    actions["save"].trigger()
    actions["overlay_ssim"].trigger()
    actions["overlay_ssim"].trigger()
    assert calls == ["save", True, False]
    actions["mode_side"].trigger()
    assert actions["mode_side"].isChecked() and not actions["mode_split"].isChecked()

    recent = QMenu("Open &Recent", window)
    actions.build_menus(window.menuBar(), recent)
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles == [title for title, _ in MENUS]
    # (the menu found as the bar's child: QAction.menu() gave a stale wrapper in PySide6 6.7-6.8)
    (file_menu,) = [m for m in window.menuBar().findChildren(QMenu) if m.title() == MENUS[0][0]]
    assert recent.menuAction() in file_menu.actions()
    toolbar = actions.build_toolbar()
    shown = [a for a in toolbar.actions() if not a.isSeparator()]
    assert shown[: len([n for n in TOOLBAR if n != SEP])] == [
        actions[n] for n in TOOLBAR if n != SEP
    ]
