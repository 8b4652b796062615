"""`ModelLibrary`: the user's model library as the window sees it (import, remove, a
fine-tuned model joining the list); the registry follows every change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QWidget

from deconv_gui.core import devices
from deconv_gui.errors import DeconvError
from deconv_gui.gui.runner import TaskQueue
from deconv_gui.models.registry import ModelRegistry, ModelSpec

if TYPE_CHECKING:
    from deconv_gui.gui.finetune_panel import FineTunePanel

MODEL_EXTENSIONS = (".safetensors", ".pth", ".pt", ".ckpt")


def is_model_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in MODEL_EXTENSIONS


class ModelLibrary(QObject):
    """Imports and removes user models (in the background where slow); opens the fine-tune
    window (``finetune`` while it is open), whose saved models join the list.

    Signals: ``changed(model_id)`` (the registry changed; ``model_id`` is a model to select,
    "" for none), ``imported(spec)``, ``notice(text, kind, timeout_ms)`` for the message bar
    and ``status(text, timeout_ms)`` for the status bar.
    """

    changed = Signal(str)
    imported = Signal(object)
    notice = Signal(str, str, int)
    status = Signal(str, int)

    def __init__(
        self,
        registry: ModelRegistry,
        parent: QObject | None = None,
        *,
        ask: Callable[[str, str], bool] = lambda *_: True,
    ) -> None:
        super().__init__(parent)
        self.registry = registry
        self._ask = ask
        self._io = TaskQueue(self)
        self.finetune: FineTunePanel | None = None

    def import_file(self, path: Path) -> None:
        """Check and copy a weights file into the user library (in the background)."""

        def job() -> ModelSpec:
            from deconv_gui.models.importer import import_model

            return import_model(path)

        def done(spec: ModelSpec) -> None:
            self.registry.register(spec, replace=True)
            self.changed.emit(spec.id)
            self.notice.emit(
                f"Imported {path.name} as “{spec.name}” ({spec.task}"
                + (f" ×{spec.scale}" if spec.scale != 1 else "")
                + ").",
                "info",
                8000,
            )
            self.imported.emit(spec)

        self.status.emit(f"Checking {path.name}…", 0)
        self._io.submit(
            job,
            on_result=done,
            on_error=lambda m, _d: self.notice.emit(
                f"Could not import {path.name}: {m.removeprefix(path.name + ': ')}", "error", 0
            ),
        )

    def remove(self, model_id: str) -> bool:
        """Remove an imported or fine-tuned model (after asking); True when removed."""
        if model_id not in self.registry:
            return False
        spec = self.registry.get(model_id)
        if spec.kind not in ("imported", "finetuned"):
            return False
        from deconv_gui.core.presets import presets_using

        question = f"Remove “{spec.name}” from your model library?"
        using = presets_using(model_id)
        if using:
            names = ", ".join(f"“{n}”" for n in using)
            question += f" The preset(s) {names} use it and will not run any more."
        if not self._ask("Remove model?", question):
            return False
        from deconv_gui.models.importer import remove_model

        try:
            remove_model(model_id)
        except DeconvError as exc:
            self.notice.emit(f"Could not remove {spec.name}: {exc}", "error", 0)
            return False
        self.registry.unregister(model_id)
        self.changed.emit("")
        return True

    def model_saved(self, model_id: str) -> None:
        """A fine-tuned model was saved (and registered): show it in the model list."""
        if model_id not in self.registry:
            self.changed.emit("")
            return
        self.changed.emit(model_id)
        name = self.registry.get(model_id).name
        self.notice.emit(f"“{name}” is in the model list now.", "info", 8000)

    def open_finetune(self, parent: QWidget) -> FineTunePanel:
        """The fine-tune panel in a window of its own (one at a time; closing it stops it)."""
        if self.finetune is not None:
            self.finetune.show()
            self.finetune.raise_()
            self.finetune.activateWindow()
            return self.finetune
        from deconv_gui.gui.finetune_panel import FineTunePanel

        panel = FineTunePanel(self.registry, parent=parent, devices=devices.available_devices())
        panel.setWindowFlag(Qt.WindowType.Window, True)
        panel.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        panel.model_saved.connect(self.model_saved)
        panel.destroyed.connect(self._on_finetune_closed)
        panel.resize(1120, 720)
        panel.show()
        self.finetune = panel
        return panel

    def _on_finetune_closed(self, *_args: object) -> None:
        self.finetune = None

    def shutdown(self) -> None:
        """Stop an import and the fine-tuning (closing its window)."""
        self._io.shutdown()
        if self.finetune is not None:
            self.finetune.shutdown()
            self.finetune.close()
