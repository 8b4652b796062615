"""`BatchController`: the batch dialog, presets, and its own runner driving `batch_job`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from deconv_gui.core.batch import JobInfo, OutputSettings, local_executor, photo_work
from deconv_gui.core.pipeline import FileProgress
from deconv_gui.core.presets import Preset, list_presets, load_preset, save_preset
from deconv_gui.core.rawpipe import check_dng_output
from deconv_gui.core.recipe import Recipe
from deconv_gui.core.watch import WatchStatus
from deconv_gui.errors import DeconvError
from deconv_gui.gui.batch import (
    BatchDialog,
    BatchPlan,
    BatchSummary,
    batch_job,
    summary_text,
)
from deconv_gui.gui.preferences import Preferences
from deconv_gui.gui.restore_panel import RunSettings
from deconv_gui.gui.runner import JobRunner
from deconv_gui.models.registry import ModelRegistry, ModelSpec, plain_name, recipe_suffix


class BatchController(QObject):
    """Processes many photos with the model panel's settings or a preset into a folder.

    ``settings()`` returns the model panel's `RunSettings` when a batch starts (None when no
    model is chosen); ``can_start()`` is False while something else runs (one job at a
    time). ``registry`` resolves the models of presets (without it, only the model panel's
    model can run). ``dialog_parent`` parents the dialog.

    Signals: ``progressed(BatchProgress)``, ``finished(BatchSummary)`` (after the dialog
    shows the summary), ``failed(message)``, ``cancelled()``, ``stopping()`` (a cancel was asked
    for), ``busy_changed(bool)``, ``notice(text, kind, timeout_ms)`` for the message bar
    (when the dialog is closed) and ``status(text, timeout_ms)`` for the status bar.
    """

    progressed = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    stopping = Signal()
    busy_changed = Signal(bool)
    notice = Signal(str, str, int)
    status = Signal(str, int)

    def __init__(
        self,
        prefs: Preferences,
        dialog_parent: QWidget,
        *,
        settings: Callable[[], RunSettings | None],
        can_start: Callable[[], bool] = lambda: True,
        registry: ModelRegistry | None = None,
    ) -> None:
        super().__init__(dialog_parent)
        self._prefs = prefs
        self._parent = dialog_parent
        self._settings = settings
        self._can_start = can_start
        self._registry = registry
        self.runner = JobRunner(self)
        self.dialog: BatchDialog | None = None
        self.last_summary: BatchSummary | None = None
        self.runner.progressed.connect(self._on_progressed)
        self.runner.result_ready.connect(self._on_result_ready)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.busy_changed.connect(self.busy_changed)

    @property
    def is_busy(self) -> bool:
        return self.runner.is_busy

    def open_dialog(self, paths: list[Path]) -> BatchDialog | None:
        """Show the batch dialog for `paths` (the filmstrip's photos); None without a model."""
        run = self._settings()
        if run is None:
            return None
        if self.dialog is not None:
            self.dialog.raise_()
            return self.dialog
        recipe = self._panel(run)
        resolve = self._resolve(run)
        dlg = BatchDialog(
            paths,
            self._recipe_name(recipe, resolve),
            self._prefs.output_dir,
            self._suffix_for(recipe, resolve),
            self._parent,
            presets=self._preset_names(),
        )
        dlg.start_requested.connect(self.start)
        dlg.cancel_requested.connect(self.cancel)
        dlg.preset_chosen.connect(self._on_preset_chosen)
        dlg.save_preset_requested.connect(self.save_preset)
        dlg.finished.connect(self._on_dialog_closed)
        self.dialog = dlg
        dlg.show()
        return dlg

    def _on_dialog_closed(self, *_args: object) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = None

    # ------------------------------------------------------------ presets
    def _preset_names(self) -> list[str]:
        found, _problems = list_presets()
        return [p.name for p in found]

    def _resolve(self, run: RunSettings) -> Callable[[str], ModelSpec]:
        registry = self._registry

        def resolve(model_id: str) -> ModelSpec:
            if registry is not None:
                return registry.get(model_id)
            if model_id == run.spec.id:
                return run.spec
            raise DeconvError(f"unknown model '{model_id}'")

        return resolve

    def _suffix_for(self, recipe: Recipe, resolve: Callable[[str], ModelSpec]) -> str:
        """One model: the suffix the preferences give its task; several: `recipe_suffix`."""
        specs = [resolve(s.model) for s in recipe.steps]
        if len(specs) == 1:
            return self._prefs.suffix_for(specs[0].task, specs[0].scale)
        return recipe_suffix(specs)

    def _on_preset_chosen(self, name: str) -> None:
        dlg, run = self.dialog, self._settings()
        if dlg is None or run is None:
            return
        try:
            preset = load_preset(name) if name else None
            output = preset.output if preset is not None else OutputSettings()
            recipe = preset.recipe if preset is not None else self._panel(run)
            suffix = output.suffix
            if suffix is None:
                suffix = self._suffix_for(recipe, self._resolve(run))
        except DeconvError as exc:
            dlg.show_summary(str(exc))
            return
        dlg.show_output_settings(output, suffix)
        steps = ", ".join(s.model for s in recipe.steps)
        dlg.show_summary(f"Preset {name}: {steps}." if name else " ")

    @staticmethod
    def _panel(run: RunSettings) -> Recipe:
        """The model panel's recipe: every step, with its strength, Amount and Detail."""
        if run.recipe is not None:
            return run.recipe
        o = run.options
        return Recipe.single(run.spec.id, strength=o.strength, params=dict(o.params))

    @staticmethod
    def _recipe_name(recipe: Recipe, resolve: Callable[[str], ModelSpec]) -> str:
        """The steps as the model panel names them ("Denoise - camera noise, then Upscale
        x2"), with an Amount below 100 % or a Detail above 0 % said."""
        names = []
        for st in recipe.steps:
            name = plain_name(resolve(st.model))
            mix = [f"Amount {st.amount:.0%}"] * (st.amount < 1) + [f"Detail {st.detail:.0%}"] * (
                st.detail > 0
            )
            names.append(f"{name} ({', '.join(mix)})" if mix else name)
        return ", then ".join(names)

    def save_preset(self, name: str) -> bool:
        """Save the dialog's settings (its preset's recipe, or the model panel's) and output
        settings as preset ``name`` (replacing one of that name); False with the reason."""
        dlg, run = self.dialog, self._settings()
        if dlg is None or run is None:
            return False
        try:
            chosen = dlg.preset_name()
            recipe = load_preset(chosen).recipe if chosen else self._panel(run)
            preset = Preset(name, Recipe(recipe.steps, name), dlg.output_settings())
            save_preset(preset)
        except DeconvError as exc:
            dlg.show_summary(str(exc))
            return False
        dlg.set_presets(self._preset_names(), current=preset.name)
        dlg.show_summary(f"Saved preset {preset.name}.")
        return True

    # ------------------------------------------------------------ running
    def start(self) -> bool:
        """Start the batch the dialog describes; False (with the reason in the dialog) when
        it cannot."""
        dlg, run = self.dialog, self._settings()
        if dlg is None or run is None:
            return False
        if self.is_busy or not self._can_start():
            dlg.show_summary("Wait for the current run to finish (or cancel it).")
            return False
        try:
            watch = dlg.watch_options()
            files = [] if watch is not None else dlg.photo_files()
            out_dir, suffix = dlg.output_dir(), dlg.suffix()
            if watch is not None and out_dir is None:
                raise DeconvError("Watching a folder needs an output folder.")
            if watch is None and not files:
                raise DeconvError("No photos to process.")
            if out_dir is None and not suffix:
                raise DeconvError(
                    "Choose an output folder or a name suffix: originals are never replaced."
                )
            resolve = self._resolve(run)
            preset = dlg.preset_name()
            recipe = load_preset(preset).recipe if preset else self._panel(run)
            output = dlg.output_settings()
            check_dng_output(output.format, [(st.model, resolve(st.model)) for st in recipe.steps])
            job = JobInfo.of(
                recipe,
                resolve,
                output,
                allow_fp16=run.options.allow_fp16,
                ensemble=run.options.ensemble,
            )
            work = photo_work(
                recipe, resolve, run.options, tile_size=run.tile_size, bit_depth=output.bit_depth
            )
        except DeconvError as exc:
            dlg.show_summary(str(exc))
            return False
        execute = local_executor(work, quality=output.quality)
        overwrite, force = dlg.overwrite(), dlg.force()
        dlg.set_running(True, watching=watch is not None)
        self.runner.start(
            lambda: batch_job(
                files, out_dir, job, execute, suffix, overwrite=overwrite, force=force, watch=watch
            )
        )
        what = preset or self._recipe_name(recipe, resolve)
        if watch is not None:
            self.status.emit(f"Batch: watching {watch.folder} with {what}…", 0)
        else:
            self.status.emit(f"Batch: {len(files)} photos with {what}…", 0)
        return True

    def cancel(self) -> bool:
        if not self.runner.is_busy:
            return False
        self.runner.cancel()
        self.stopping.emit()
        return True

    def _on_progressed(self, item: object) -> None:
        dlg = self.dialog
        if isinstance(item, FileProgress):
            if dlg is not None:
                dlg.show_progress(item)
            self.progressed.emit(item)
        elif dlg is None:
            return
        elif isinstance(item, BatchPlan):
            dlg.show_plan(item)
        elif isinstance(item, WatchStatus):
            dlg.show_watch(item)

    def _on_result_ready(self, summary: BatchSummary) -> None:
        self.last_summary = summary
        if self.dialog is not None:
            self.dialog.set_running(False)
            self.dialog.show_summary(summary_text(summary))
        self.status.emit(f"Batch finished: {summary.text()}", 10000)
        self.finished.emit(summary)

    def _on_failed(self, message: str, _details: str) -> None:
        if self.dialog is not None:
            self.dialog.set_running(False)
            self.dialog.show_summary(f"The batch stopped: {message}")
        else:
            self.notice.emit(f"The batch stopped: {message}", "error", 0)
        self.failed.emit(message)

    def _on_cancelled(self) -> None:
        if self.dialog is not None:
            self.dialog.set_running(False)
            self.dialog.show_summary(
                "Stopped. Photos finished so far are saved; Start again goes on from there."
            )
        self.cancelled.emit()

    def shutdown(self) -> None:
        self.runner.shutdown()
        if self.dialog is not None:
            self.dialog.close()
