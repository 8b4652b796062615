"""The main window's small modal questions: which files, yes or no, and
the About and Keyboard Shortcuts boxes. Each returns what the user chose ("" or None when
cancelled)."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from deconv_gui import __version__
from deconv_gui.gui.model_library import MODEL_EXTENSIONS
from deconv_gui.gui.photo_list import image_filter


def choose_photos(parent: QWidget, start_dir: str) -> list[str]:
    files, _ = QFileDialog.getOpenFileNames(parent, "Open Photos", start_dir, image_filter())
    return list(files)


def choose_folder(parent: QWidget, start_dir: str) -> str:
    return QFileDialog.getExistingDirectory(parent, "Open Folder", start_dir)


def choose_reference(parent: QWidget, start_dir: str) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, "Load Reference Photo", start_dir, image_filter())
    return path


def choose_save_path(parent: QWidget, start: str) -> str:
    """A file name to save a result under (the dialog asks before replacing a file)."""
    path, _ = QFileDialog.getSaveFileName(parent, "Save Result As", start, image_filter())
    return path


def choose_model_file(parent: QWidget, start_dir: str) -> str:
    exts = " ".join(f"*{e}" for e in MODEL_EXTENSIONS)
    path, _ = QFileDialog.getOpenFileName(
        parent, "Import Model", start_dir, f"Model weights ({exts})"
    )
    return path


def ask_yes_no(parent: QWidget, title: str, text: str) -> bool:
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, text, yes | no, no) == yes


def choose_one(parent: QWidget, title: str, text: str, choices: list[str]) -> str | None:
    """One of ``choices`` (the first preselected), or None when cancelled."""
    from PySide6.QtWidgets import QInputDialog

    picked, ok = QInputDialog.getItem(parent, title, text, choices, 0, False)
    return str(picked) if ok else None


def show_about(parent: QWidget) -> None:
    QMessageBox.about(
        parent,
        "About Deconv GUI",
        f"<h3>Deconv GUI {__version__}</h3><p>Denoise, upscale and deblur photos with small "
        "deconvolution networks and classical methods; compare before and after with a live "
        "SSIM readout.</p><p>Your photos stay on this computer.</p>",
    )


def shortcuts_dialog(parent: QWidget, rows: Iterable[tuple[str, str]]) -> QDialog:
    """The keyboard shortcuts (key, what it does), in a dialog that is open (not blocking)
    when returned."""
    dlg = QDialog(parent)
    dlg.setWindowTitle("Keyboard Shortcuts")
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    lay = QVBoxLayout(dlg)
    body = "".join(
        f"<tr><td style='padding:3px 18px 3px 0'><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows
    )
    lay.addWidget(QLabel(f"<table>{body}</table>", dlg))
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dlg)
    buttons.rejected.connect(dlg.reject)
    lay.addWidget(buttons)
    dlg.open()
    return dlg
