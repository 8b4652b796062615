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

#: what a model that keeps the photo's size can be used for, in the words the app asks in,
#: and its task (`models.importer.IMPORT_TASKS`): the app picks a Denoise step's model among
#: the denoisers, so a downloaded denoiser imported as a general restorer was never chosen
TASK_CHOICES = (
    ("Remove noise (denoise)", "denoise"),
    ("Sharpen, remove blur (deblur)", "deblur"),
    ("Something else (general restoration)", "restore"),
)
TASK_WORDS = {"denoise": "denoiser", "deblur": "sharpener", "restore": "general restorer",
              "upscale": "upscaler"}  # fmt: skip


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
        choose: Callable[[str, str, list[str]], str | None] = lambda _t, _q, c: c[-1],
    ) -> None:
        super().__init__(parent)
        self.registry = registry
        self._ask = ask
        # (title, question, choices) -> the choice, None when cancelled
        self._choose = choose
        self._io = TaskQueue(self)
        self.finetune: FineTunePanel | None = None

    def import_file(self, path: Path) -> None:
        """Check and copy a weights file into the user library (in the background). A model
        that keeps the photo's size is asked what it does (`TASK_CHOICES`); an upscaler is
        an upscaler."""

        def failed(m: str, _d: str) -> None:
            self.status.emit("", 1)
            self.notice.emit(
                f"Could not import {path.name}: {m.removeprefix(path.name + ': ')}", "error", 0
            )

        def inspected(info: object) -> None:
            task = None
            if getattr(info, "scale", 1) == 1:
                labels = [label for label, _ in TASK_CHOICES]
                picked = self._choose(
                    "What does this model do?",
                    f"{path.name} keeps the photo's size. What is it for? (The app picks a "
                    "Denoise step's model among the denoisers.)",
                    labels,
                )
                if picked is None:
                    self.status.emit("", 1)
                    return
                task = dict(TASK_CHOICES).get(picked, "restore")
            self._io.submit(lambda: add(task), on_result=done, on_error=failed)

        def add(task: str | None) -> ModelSpec:
            from deconv_gui.models.importer import import_model

            return import_model(path, task=task)

        def done(spec: ModelSpec) -> None:
            self.registry.register(spec, replace=True)
            self.changed.emit(spec.id)
            what = TASK_WORDS.get(spec.task, spec.task)
            self.notice.emit(
                f"Imported {path.name} as “{spec.name}” ({what}"
                + (f" ×{spec.scale}" if spec.scale != 1 else "")
                + ").",
                "info",
                8000,
            )
            self.imported.emit(spec)

        def inspect() -> object:
            from deconv_gui.models.importer import inspect_model

            return inspect_model(path)

        self.status.emit(f"Checking {path.name}…", 0)
        self._io.submit(inspect, on_result=inspected, on_error=failed)

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
